package gid

import (
	"strings"
	"testing"
)

func TestUnmarshalAndCheck(t *testing.T) {
	good := Encode(4294967297)
	if id, err := UnmarshalID(good); err != nil || id != 4294967297 || Check(good) != "" {
		t.Fatalf("UnmarshalID(%q) = %d, %v; Check %q", good, id, err, Check(good))
	}
	for _, bad := range []any{"", "x", "\x00", Encode(1) + "=", strings.Repeat("A", 100000), "dW06LTE", 12, nil} {
		id, err := UnmarshalID(bad)
		if err != nil || id != Invalid {
			t.Errorf("UnmarshalID(%.20q) = %d, %v; want Invalid and no error (the input check reports it)", bad, id, err)
		}
		if Check(bad) == "" {
			t.Errorf("Check(%.20q) accepts a malformed ID", bad)
		}
	}
}
