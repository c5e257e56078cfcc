// Package heapwatch measures the heap while something is written, for the
// tests that prove an export streams in bounded memory.
package heapwatch

import (
	"io"
	"runtime"
)

// Writer passes writes on to W and samples the heap in use every Every
// bytes (64 KiB when zero).
type Writer struct {
	W     io.Writer
	Every int

	// Written, Peak (bytes of heap in use) and Samples so far.
	Written int
	Peak    uint64
	Samples int

	sinceLast int
}

func (s *Writer) Write(p []byte) (int, error) {
	s.Written += len(p)
	s.sinceLast += len(p)
	every := s.Every
	if every <= 0 {
		every = 64 << 10
	}
	if s.sinceLast >= every {
		s.sinceLast = 0
		s.Sample()
	}
	return s.W.Write(p)
}

// Sample reads the heap in use now.
func (s *Writer) Sample() {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	s.Peak = max(s.Peak, m.HeapInuse)
	s.Samples++
}

// Baseline collects garbage and samples the heap, so Peak starts from what
// is live before the writing begins; it returns that baseline.
func (s *Writer) Baseline() uint64 {
	runtime.GC()
	s.Sample()
	return s.Peak
}

// MB is n bytes in megabytes, for messages.
func MB(n uint64) float64 { return float64(n) / (1 << 20) }
