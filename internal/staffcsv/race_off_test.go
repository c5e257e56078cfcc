//go:build !race

package staffcsv_test

const raceDetector = false
