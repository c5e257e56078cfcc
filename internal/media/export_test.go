package media

// In tests a decoder panic is not hidden by the recover in validate: it
// crashes the test, so the fuzzers report it (and its input is kept).
func init() { decoderPanic = func(p any) { panic(p) } }

// JPEGScans exposes jpegScans to the tests.
func JPEGScans(b []byte) int { return jpegScans(b, 1<<30) }
