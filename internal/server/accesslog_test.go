package server

import (
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"
)

// A WebSocket's access line waits for the socket to close; meanwhile it
// must not keep the request and its response writer alive (net/http's
// buffers and the headers: about 14 KB per live subscriber, issue #16).
func TestADetachedAccessLineKeepsNoRequest(t *testing.T) {
	var end func()
	handler := accessLog(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		end = detachAccessLine(r.Context())
		w.WriteHeader(http.StatusSwitchingProtocols)
	}))
	collected := make(chan string, 2)
	func() {
		r := httptest.NewRequest(http.MethodGet, "/graphql", nil)
		r.Header.Set("User-Agent", "a subscriber")
		w := httptest.NewRecorder()
		runtime.AddCleanup(r, func(s string) { collected <- s }, "request")
		runtime.AddCleanup(w, func(s string) { collected <- s }, "response writer")
		handler.ServeHTTP(w, r)
	}()
	if end == nil {
		t.Fatal("the handler did not run")
	}
	// Cleanups run on a goroutine of the runtime's after a collection.
	for got, tries := 0, 0; got < 2; tries++ {
		if tries == 100 {
			t.Fatal("a detached request's access line keeps its request or its response writer")
		}
		runtime.GC()
		select {
		case <-collected:
			got++
		case <-time.After(10 * time.Millisecond):
		}
	}
	end() // the line is written; its content is checked in internal/apitest (TestAccessLogOfAWebSocket)
}
