//go:build race

package staffcsv_test

const raceDetector = true
