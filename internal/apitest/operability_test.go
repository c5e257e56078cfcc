package apitest_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"

	"github.com/clinicemr/usermanager/internal/apitest"
	"github.com/clinicemr/usermanager/internal/demo"
	"github.com/clinicemr/usermanager/internal/requestinfo"
)

// opsPost sends a GraphQL request with extra headers and returns the raw
// response.
func opsPost(t *testing.T, env *apitest.Env, c *apitest.Client, body string, headers map[string]string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, env.Server.URL+"/graphql", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if c != nil && c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	res, err := env.Server.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Body.Close() })
	return res
}

// An incoming X-Request-Id is kept when well-formed, so one ID follows a
// request through the proxy and this server; anything else is replaced.
func TestRequestIDKeptWhenWellFormed(t *testing.T) {
	t.Parallel()
	env := apitest.New(t, "sqlite3", apitest.Options{})
	for _, tc := range []struct {
		sent string
		kept bool
	}{
		{"4bf92f3577b34da6a3ce929d0e0e4736", true},
		{"0f8fad5b-d9cb-469f-a165-70867728950e", true},
		{"lb-7:42.x", true},
		{"", false},
		{"two words", false},
		{"evil\tline", false},
		{"<script>", false},
		{strings.Repeat("a", 129), false},
	} {
		res := opsPost(t, env, nil, `{"query":"{ __typename }"}`, map[string]string{"X-Request-Id": tc.sent})
		got := res.Header.Get("X-Request-Id")
		if tc.kept && got != tc.sent {
			t.Errorf("X-Request-Id %q: answered %q, want it kept", tc.sent, got)
		}
		if !tc.kept && (got == tc.sent || len(got) != 16) {
			t.Errorf("X-Request-Id %q: answered %q, want a new 16-digit ID", tc.sent, got)
		}
	}
}

// A browser on an allowed origin may send the headers real clients add:
// Apollo's client awareness, W3C trace context, Sentry's.
func TestCORSAllowsClientHeaders(t *testing.T) {
	t.Parallel()
	env := apitest.New(t, "sqlite3", apitest.Options{})
	// As browsers send it: lower case, sorted, no spaces.
	want := "apollographql-client-name,apollographql-client-version,authorization,baggage,content-type,sentry-trace,traceparent,tracestate,x-clinic-id,x-request-id"
	req, _ := http.NewRequest(http.MethodOptions, env.Server.URL+"/graphql", nil)
	req.Header.Set("Origin", "http://localhost:3000")
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", want)
	res, err := env.Server.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	allowed := strings.ToLower(res.Header.Get("Access-Control-Allow-Headers"))
	for _, h := range strings.Split(want, ",") {
		if !strings.Contains(allowed, h) {
			t.Errorf("preflight does not allow %q (Access-Control-Allow-Headers: %q, status %d)", h, allowed, res.StatusCode)
		}
	}
	if got := res.Header.Get("Access-Control-Allow-Origin"); got != "http://localhost:3000" {
		t.Errorf("Access-Control-Allow-Origin = %q", got)
	}
	// Another origin still gets nothing.
	req.Header.Set("Origin", "https://evil.example")
	res, err = env.Server.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if got := res.Header.Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("another origin was allowed: %q", got)
	}
}

// captureLog sends the process-wide log, as JSON lines with request IDs, to
// the returned buffer until the test ends.
func captureLog(t *testing.T) *safeBuffer {
	buf := &safeBuffer{}
	prev := slog.Default()
	slog.SetDefault(slog.New(requestinfo.LogHandler(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	t.Cleanup(func() { slog.SetDefault(prev) })
	return buf
}

// One structured line per request: method, path, status, duration, the
// operation and the viewer, with the request ID; and every other line
// written while serving the request carries the same ID. Variables and
// tokens never appear.
func TestAccessLogAndRequestIDOnEveryLine(t *testing.T) {
	buf := captureLog(t) // not parallel: it reads the process-wide log

	env := apitest.New(t, "sqlite3", apitest.Options{})
	admin := env.LoginDemo(demo.AdminUsername)
	secret := "Sekrit-Variable-Value-42"
	res := opsPost(t, env, admin,
		`{"query":"query FindStaff($q: String) { users(first: 1, filter: {name: $q}) { totalCount } }","variables":{"q":"`+secret+`"}}`,
		map[string]string{"X-Request-Id": "trace-me-1"})
	if res.StatusCode != http.StatusOK {
		t.Fatalf("status %d", res.StatusCode)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	// A malformed argument: logged (at info) while serving the request.
	bad, _ := json.Marshal(map[string]any{"query": `{ duplicateProviders(input: {lastName: "Re\u0000yes"}) { reasons } }`})
	res = opsPost(t, env, admin, string(bad), map[string]string{"X-Request-Id": "trace-me-2"})
	_, _ = io.Copy(io.Discard, res.Body)

	lines := buf.lines(t)
	var access map[string]any
	for _, l := range lines {
		if l["msg"] == "request" && l["request_id"] == "trace-me-1" {
			access = l
		}
	}
	if access == nil {
		t.Fatalf("no access log line with request_id trace-me-1 in:\n%s", buf.String())
	}
	for k, want := range map[string]any{
		"method": "POST", "path": "/graphql", "status": float64(200),
		"operation": "FindStaff", "operation_type": "query",
	} {
		if access[k] != want {
			t.Errorf("access log %s = %v, want %v (%v)", k, access[k], want, access)
		}
	}
	if _, ok := access["duration_ms"].(float64); !ok {
		t.Errorf("access log without duration_ms: %v", access)
	}
	if id, _ := access["viewer_id"].(float64); id == 0 {
		t.Errorf("access log without viewer_id: %v", access)
	}
	out := buf.String()
	if strings.Contains(out, secret) || strings.Contains(out, admin.Token) {
		t.Errorf("the log holds a variable's value or a token:\n%s", out)
	}
	found := false
	for _, l := range lines {
		if l["msg"] != "request" && l["request_id"] == "trace-me-2" {
			found = true
		}
	}
	if !found {
		t.Errorf("no line written while serving request trace-me-2 carries its ID:\n%s", out)
	}
}

// @defer is delivered in parts on every transport that can send parts, and
// refused with a clear message on the one that cannot (a plain POST), where
// it used to stop after the first part.
func TestDeferDeliversEveryPart(t *testing.T) {
	t.Parallel()
	apitest.ForEachDatabase(t, func(t *testing.T, env *apitest.Env) {
		admin := env.LoginDemo(demo.AdminUsername)
		query := `query Me { viewer { id ... @defer(label: "more") { username licenseClass } } }`
		body, _ := json.Marshal(map[string]any{"query": query})

		t.Run("multipart/mixed (Apollo Client)", func(t *testing.T) {
			res := opsPost(t, env, admin, string(body),
				map[string]string{"Accept": "multipart/mixed;deferSpec=20220824, application/json"})
			mediaType, params, err := mime.ParseMediaType(res.Header.Get("Content-Type"))
			if err != nil || mediaType != "multipart/mixed" {
				t.Fatalf("Content-Type %q", res.Header.Get("Content-Type"))
			}
			r := multipart.NewReader(res.Body, params["boundary"])
			var parts []string
			for {
				p, err := r.NextPart()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatalf("after %d parts: %v", len(parts), err)
				}
				b, _ := io.ReadAll(p)
				parts = append(parts, string(b))
			}
			deferCheckParts(t, parts, true)
		})
		for _, protocol := range []string{apitest.SSE, apitest.GraphQLTransportWS} {
			t.Run(protocol, func(t *testing.T) {
				s := admin.Subscribe(protocol, query, nil)
				s.WaitEnded(10 * time.Second)
				var parts []string
				for len(parts) < 10 {
					r, ok := s.Buffered()
					if !ok {
						break
					}
					parts = append(parts, string(r.Body))
				}
				deferCheckParts(t, parts, false)
			})
		}
		t.Run("plain POST is refused, not left hanging", func(t *testing.T) {
			r := admin.Do(query, nil)
			if r.Code() != "BAD_USER_INPUT" || !strings.Contains(string(r.Body), "multipart/mixed") {
				t.Fatalf("answer: %s", r.Body)
			}
			// @defer(if: false) is no deferral.
			r = admin.Do(`query { viewer { id ... @defer(if: false) { username } } }`, nil)
			if len(r.Errors) > 0 {
				t.Fatalf("@defer(if: false): %s", r.Body)
			}
		})
	})
}

// deferCheckParts: a first part with the viewer's id and hasNext true, the
// deferred license class (a resolver: plain fields come at once) in a later
// part at the viewer's path, and a last part with hasNext false. Over
// multipart/mixed later parts are wrapped in "incremental" (Apollo Client's
// format); over SSE and WebSocket they carry path and label themselves
// (Relay's).
func deferCheckParts(t *testing.T, parts []string, incremental bool) {
	t.Helper()
	if len(parts) < 2 {
		t.Fatalf("want at least 2 parts, got %d: %q", len(parts), parts)
	}
	if !strings.Contains(parts[0], `"id"`) || !strings.Contains(parts[0], `"hasNext":true`) || strings.Contains(parts[0], "CLERICAL") {
		t.Errorf("first part: %s", parts[0])
	}
	rest := strings.Join(parts[1:], "\n")
	if !strings.Contains(rest, `"licenseClass":"CLERICAL"`) || !strings.Contains(rest, `"path":["viewer"]`) ||
		!strings.Contains(rest, `"label":"more"`) || strings.Contains(rest, `"incremental"`) != incremental {
		t.Errorf("no deferred license class in %q", parts[1:])
	}
	if last := parts[len(parts)-1]; !strings.Contains(last, `"hasNext":false`) {
		t.Errorf("last part does not end the answer: %s", last)
	}
}

// safeBuffer is a log destination several goroutines write to.
type safeBuffer struct {
	mu  chan struct{}
	buf bytes.Buffer
}

func (b *safeBuffer) lock() {
	if b.mu == nil {
		b.mu = make(chan struct{}, 1)
	}
	b.mu <- struct{}{}
}

func (b *safeBuffer) Write(p []byte) (int, error) {
	b.lock()
	defer func() { <-b.mu }()
	return b.buf.Write(p)
}

func (b *safeBuffer) String() string {
	b.lock()
	defer func() { <-b.mu }()
	return b.buf.String()
}

func (b *safeBuffer) lines(t *testing.T) []map[string]any {
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(b.String()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("not a JSON log line: %s", sc.Text())
		}
		out = append(out, m)
	}
	return out
}

// Shutting down (SHUTDOWN_DRAIN): while draining, /readyz fails and requests
// are still served; then open WebSockets close as a restart, with neither
// "complete" (which would end the client's subscription for good) nor "the
// session has ended" (which would sign the person out), so graphql-ws
// reconnects; new streams are refused with 503 and Retry-After.
func TestDrainThenStreamsToldToReconnect(t *testing.T) {
	t.Parallel()
	for _, protocol := range []string{apitest.GraphQLTransportWS, apitest.GraphQLWS} {
		t.Run(protocol, func(t *testing.T) { drainCheck(t, protocol) })
	}
}

func drainCheck(t *testing.T, protocol string) {
	env := apitest.New(t, "sqlite3", apitest.Options{})
	admin := env.LoginDemo(demo.AdminUsername)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(env.Server.URL, "http")+"/graphql",
		&websocket.DialOptions{Subprotocols: []string{protocol}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	send := func(v any) {
		if err := wsjson.Write(ctx, conn, v); err != nil {
			t.Fatal(err)
		}
	}
	send(map[string]any{"type": "connection_init", "payload": map[string]string{"Authorization": "Bearer " + admin.Token}})
	var ack map[string]any
	if err := wsjson.Read(ctx, conn, &ack); err != nil || ack["type"] != "connection_ack" {
		t.Fatalf("ack: %v %v", ack, err)
	}
	start := "subscribe"
	if protocol == apitest.GraphQLWS {
		start = "start"
	}
	send(map[string]any{"id": "1", "type": start, "payload": map[string]any{
		"query": `subscription { licenseCountsChanged { class total } }`}})

	env.HTTP.Drain()
	res, err := http.Get(env.Server.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("draining: /readyz %d, want 503", res.StatusCode)
	}
	if r := admin.Do(`{ viewer { username } }`, nil); len(r.Errors) > 0 {
		t.Errorf("draining: a query failed: %s", r.Body)
	}

	env.HTTP.EndStreams()
	var got []string
	for {
		var m map[string]any
		err := wsjson.Read(ctx, conn, &m)
		if err != nil {
			if status := websocket.CloseStatus(err); status != websocket.StatusNormalClosure {
				t.Errorf("closed with %v (%v), want a normal closure graphql-ws reconnects after", status, err)
			}
			break
		}
		if m["type"] != "next" && m["type"] != "data" && m["type"] != "ping" && m["type"] != "ka" {
			got = append(got, fmt.Sprint(m))
		}
	}
	if len(got) > 0 {
		t.Errorf("messages before the close, want none: %v", got)
	}
	// A new stream is turned away until the instance is gone.
	_, res, err = websocket.Dial(ctx, "ws"+strings.TrimPrefix(env.Server.URL, "http")+"/graphql",
		&websocket.DialOptions{Subprotocols: []string{protocol}})
	if err == nil || res == nil || res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" {
		t.Errorf("a new WebSocket while stopping: %v %v", res, err)
	}
}

// opsMetrics scrapes /metrics.
func opsMetrics(t *testing.T, env *apitest.Env) string {
	t.Helper()
	res, err := http.Get(env.Server.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %d %s", res.StatusCode, b)
	}
	return string(b)
}

// Prometheus metrics on the real schema: operations by name and outcome,
// their latency, active subscriptions, the job queue, mail, the database
// pool and HTTP requests.
func TestMetricsOfTheRunningServer(t *testing.T) {
	t.Parallel()
	apitest.ForEachDatabase(t, func(t *testing.T, env *apitest.Env) {
		admin := env.LoginDemo(demo.AdminUsername)
		admin.MustDo(`query StaffPage { users(first: 1) { totalCount } }`, nil, nil)
		admin.Do(`query Broken { node(id: "nonsense") { id } }`, nil)
		sub := admin.Subscribe(apitest.GraphQLTransportWS, `subscription Counts { licenseCountsChanged { class total } }`, nil)
		env.Anonymous().Do(`mutation($l: String!) { requestPasswordReset(input: {login: $l}) { message } }`,
			map[string]any{"l": "pt.jordan"})

		want := []string{
			`usermanager_graphql_operations_total{operation="StaffPage",outcome="ok",type="query"} 1`,
			`usermanager_graphql_operation_duration_seconds_count{operation="StaffPage",type="query"} 1`,
			`usermanager_graphql_active_subscriptions 1`,
			`usermanager_http_requests_total{code="200",route="graphql"}`,
			`usermanager_jobs{state="available"}`,
			`go_sql_open_connections{db_name="main"}`,
		}
		deadline := time.Now().Add(10 * time.Second)
		var body string
		for {
			body = opsMetrics(t, env)
			missing := ""
			for _, w := range want {
				if !strings.Contains(body, w) {
					missing = w
					break
				}
			}
			// The reset email is sent by a job, a moment after the answer.
			if missing == "" && !strings.Contains(body, `usermanager_mail_total{outcome="sent"} 1`) {
				missing = "the reset email"
			}
			if missing == "" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no %s in /metrics:\n%s", missing, body)
			}
			time.Sleep(50 * time.Millisecond)
		}
		if !strings.Contains(body, `usermanager_graphql_operations_total{operation="Broken",outcome="client_error",type="query"} 1`) {
			t.Errorf("the refused node(id) is not a client error:\n%s", grepLines(body, "Broken"))
		}
		sub.Close()
		sub.WaitEnded(5 * time.Second)
		for !strings.Contains(opsMetrics(t, env), "usermanager_graphql_active_subscriptions 0") {
			if time.Now().After(deadline) {
				t.Fatal("the ended subscription is still counted")
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

func grepLines(s, substr string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// A WebSocket's access line is written when it closes, with its
// operations and viewer, as for any request.
func TestAccessLogOfAWebSocket(t *testing.T) {
	buf := captureLog(t) // not parallel: it reads the process-wide log

	env := apitest.New(t, "sqlite3", apitest.Options{})
	admin := env.LoginDemo(demo.AdminUsername)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, _, err := dialGraphQL(t, env, http.Header{"X-Request-Id": []string{"trace-ws"}})
	if err != nil {
		t.Fatal(err)
	}
	init, _ := json.Marshal(map[string]string{"Authorization": "Bearer " + admin.Token})
	query, _ := json.Marshal(map[string]string{"query": "query WhoAmI { viewer { username } }"})
	var msg wsMessage
	for _, m := range []wsMessage{{Type: "connection_init", Payload: init}, {ID: "1", Type: "subscribe", Payload: query}} {
		if err := wsjson.Write(ctx, conn, m); err != nil {
			t.Fatal(err)
		}
		if err := wsjson.Read(ctx, conn, &msg); err != nil {
			t.Fatal(err)
		}
	}
	if msg.Type != "next" {
		t.Fatalf("answer to WhoAmI: %+v", msg)
	}
	if err := conn.Close(websocket.StatusNormalClosure, ""); err != nil {
		t.Fatal(err)
	}
	var access map[string]any
	for access == nil && ctx.Err() == nil {
		for _, l := range buf.lines(t) {
			if l["msg"] == "request" && l["request_id"] == "trace-ws" {
				access = l
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	if access == nil {
		t.Fatalf("no access log line with request_id trace-ws in:\n%s", buf.String())
	}
	for k, want := range map[string]any{
		"method": "GET", "path": "/graphql", "status": float64(http.StatusSwitchingProtocols),
		"operation": "WhoAmI", "operation_type": "query",
	} {
		if access[k] != want {
			t.Errorf("access log %s = %v, want %v (%v)", k, access[k], want, access)
		}
	}
	if id, _ := access["viewer_id"].(float64); id == 0 {
		t.Errorf("access log without viewer_id: %v", access)
	}
}
