//go:build race

package audit_test

// raceDetector: the tests run with -race, which slows them several times
// and inflates the heap they measure.
const raceDetector = true
