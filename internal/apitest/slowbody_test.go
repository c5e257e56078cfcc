package apitest_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"entgo.io/ent/dialect"

	"github.com/clinicemr/usermanager/internal/apitest"
	"github.com/clinicemr/usermanager/internal/demo"
)

// slowBound is the body bound of these tests (production: 10s, uploads 90s).
const slowBound = time.Second

// slowPost opens a connection, sends the headers of a POST to /graphql
// and then the body, chunk by chunk, every interval, until the body is sent
// or the server stops reading. It returns the connection to read the
// answer from.
func slowPost(t *testing.T, env *apitest.Env, contentType string, length int, chunks [][]byte, interval time.Duration) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", env.Server.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_, err = fmt.Fprintf(conn, "POST /graphql HTTP/1.1\r\nHost: test\r\nContent-Type: %s\r\n"+
		"Apollo-Require-Preflight: true\r\nContent-Length: %d\r\n\r\n", contentType, length)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for _, c := range chunks {
			<-tick.C
			if _, err := conn.Write(c); err != nil {
				return
			}
		}
	}()
	return conn
}

// drip is n one-byte chunks.
func drip(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = []byte(" ")
	}
	return out
}

// Issue 10 item 7: a body that trickles in is cut off after the bound
// (answered 408, or for an upload refused by the multipart reader, and the
// connection closed); one that arrives in time, even in pieces, is served.
func TestSlowBodyIsCutOff(t *testing.T) {
	// Not parallel: it measures a read deadline.
	env := apitest.New(t, dialect.SQLite, apitest.Options{NoDemo: true, BodyTimeout: slowBound, UploadTimeout: 2 * slowBound})
	for _, c := range []struct {
		name, contentType string
		bound             time.Duration
		status            int
	}{
		{"JSON", "application/json", slowBound, http.StatusRequestTimeout},
		{"multipart", "multipart/form-data; boundary=xyz", 2 * slowBound, 0},
	} {
		started := time.Now()
		// 100,000 bytes at 10 bytes a second: hours, if nothing stopped it.
		conn := slowPost(t, env, c.contentType, 100_000, drip(100_000), 100*time.Millisecond)
		_ = conn.SetReadDeadline(started.Add(c.bound + 10*time.Second))
		br := bufio.NewReader(conn)
		res, err := http.ReadResponse(br, nil)
		if err == nil {
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			t.Logf("%s: answered %d after %v", c.name, res.StatusCode, time.Since(started))
			if c.status != 0 && res.StatusCode != c.status {
				t.Errorf("%s: status %d, want %d", c.name, res.StatusCode, c.status)
			}
			if res.StatusCode < 400 {
				t.Errorf("%s: a cut-off body was answered %d", c.name, res.StatusCode)
			}
			// Then the connection is closed.
			if _, err := br.ReadByte(); err == nil {
				t.Errorf("%s: the connection stayed open after the answer", c.name)
			} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Errorf("%s: the connection stayed open after the answer", c.name)
			}
		} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("%s: still reading the body after %v (bound %v)", c.name, time.Since(started), c.bound)
		}
		elapsed := time.Since(started)
		if elapsed < c.bound-100*time.Millisecond || elapsed > c.bound+2*time.Second {
			t.Errorf("%s: cut off after %v, want about %v", c.name, elapsed, c.bound)
		}
		t.Logf("%s: cut off after %v", c.name, elapsed.Round(time.Millisecond))
	}

	// A body in four pieces within the bound is served.
	body := []byte(`{"query": "{ __typename }"}`)
	q := len(body) / 4
	conn := slowPost(t, env, "application/json", len(body), [][]byte{body[:q], body[q : 2*q], body[2*q : 3*q], body[3*q:]}, 100*time.Millisecond)
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK || string(got) != `{"data":{"__typename":"Query"}}` {
		t.Fatalf("a body sent in pieces within the bound: %d %s", res.StatusCode, got)
	}
}

// The bound ends with the body: subscriptions over WebSocket and SSE (whose
// request body is read at once) stay open and live past it.
func TestSlowBodyBoundSparesSubscriptions(t *testing.T) {
	// Not parallel: it measures a read deadline.
	env := apitest.New(t, dialect.SQLite, apitest.Options{BodyTimeout: slowBound, UploadTimeout: slowBound})
	admin := env.LoginDemo(demo.AdminUsername)
	downtown := stClinicID(t, admin, "Sunrise Downtown")
	jordan := imgUserID(t, admin, "pt.jordan")
	status := "INACTIVE"
	for _, protocol := range []string{apitest.GraphQLTransportWS, apitest.SSE} {
		sub := admin.Subscribe(protocol, liveCountsSub, map[string]any{"c": downtown})
		sub.Next(liveWait) // the current counts
		sub.Quiet(3 * slowBound)
		select {
		case <-sub.Ended:
			t.Fatalf("%s: the subscription ended", protocol)
		default:
		}
		if out := stSet(t, admin, jordan, status); out.SetUserStatus.User == nil {
			t.Fatalf("%s: set status %s: %+v", protocol, status, out.SetUserStatus)
		}
		sub.Next(liveWait) // the change, past the bound
		sub.Close()
		status = "ACTIVE"
	}
}
