package directory_test

import (
	"testing"

	"github.com/clinicemr/usermanager/ent"
	"github.com/clinicemr/usermanager/internal/directory"
)

func TestCountIsExactUpToTheLimit(t *testing.T) {
	for _, c := range []struct {
		counted, reported int
		exact             bool
	}{
		{0, 0, true},
		{999, 999, true},
		{directory.CountLimit, directory.CountLimit, true},
		{directory.CountLimit + 1, directory.CountLimit, false},
	} {
		conn := &ent.UserConnection{TotalCount: c.counted}
		if got := directory.ReportedCount(conn); got != c.reported {
			t.Errorf("%d counted: totalCount %d, want %d", c.counted, got, c.reported)
		}
		if got := directory.CountIsExact(conn); got != c.exact {
			t.Errorf("%d counted: exact %v, want %v", c.counted, got, c.exact)
		}
	}
}
