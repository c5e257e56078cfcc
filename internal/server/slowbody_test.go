package server

import (
	"testing"
	"time"
)

// The default upload bound lets the largest upload arrive over a slow
// (256 kbit/s) line.
func TestDefaultUploadTimeoutFitsASlowLine(t *testing.T) {
	const bitsPerSecond = 256_000
	need := time.Duration(MaxUploadBytes*8/bitsPerSecond+1) * time.Second
	if DefaultUploadTimeout < need {
		t.Fatalf("DefaultUploadTimeout %v: a %d-byte upload at 256 kbit/s takes %v", DefaultUploadTimeout, MaxUploadBytes, need)
	}
}
