package apitest_test

import (
	"bytes"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"entgo.io/ent/dialect"

	"github.com/clinicemr/usermanager/internal/apitest"
)

// csrfReset asks for a password reset: anonymous, and it sends mail.
const csrfReset = `mutation($l: String!) { requestPasswordReset(input: {login: $l}) { message } }`

// csrfSend sends a request as a page or a script would, with a plain HTTP
// client (the harness's adds the preflight header to uploads).
func csrfSend(t *testing.T, req *http.Request) (int, http.Header, string) {
	t.Helper()
	res, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, string(body)
}

// csrfMultipart is a GraphQL multipart request (no files) of an operation.
func csrfMultipart(t *testing.T, endpoint, query string, vars map[string]any) *http.Request {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	ops, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	_ = mw.WriteField("operations", string(ops))
	_ = mw.WriteField("map", `{}`)
	_ = mw.Close()
	req, _ := http.NewRequest(http.MethodPost, endpoint, &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return req
}

// Issue 10 item 8: a page on another origin can send GET requests and POSTs
// of forms or text without a CORS preflight. Such requests are refused
// unless a header forces a preflight; JSON POSTs (preflighted anyway) and
// GraphiQL are unaffected.
func TestCSRFRequiresPreflight(t *testing.T) {
	t.Parallel()
	env := apitest.New(t, dialect.SQLite, apitest.Options{ResetMinResponse: time.Millisecond})
	endpoint := env.Server.URL + "/graphql"
	wantRefused := func(what string, req *http.Request) {
		t.Helper()
		status, _, body := csrfSend(t, req)
		var r apitest.Response
		_ = json.Unmarshal([]byte(body), &r)
		if status != http.StatusBadRequest || r.Code() != "BAD_USER_INPUT" || len(r.Errors) != 1 ||
			!strings.Contains(r.Errors[0].Message, "Apollo-Require-Preflight") || strings.Contains(body, `"data"`) {
			t.Fatalf("%s: status %d %s, want 400 naming the header", what, status, body)
		}
	}
	wantServed := func(what string, req *http.Request) string {
		t.Helper()
		status, _, body := csrfSend(t, req)
		if status != http.StatusOK || strings.Contains(body, `"errors"`) {
			t.Fatalf("%s: status %d %s", what, status, body)
		}
		return body
	}

	// The attack: a form posted from another origin, no preflight.
	attack := csrfMultipart(t, endpoint, csrfReset, map[string]any{"l": "admin"})
	attack.Header.Set("Origin", "http://evil.example")
	wantRefused("multipart POST without the header", attack)
	for _, ct := range []string{"text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded", "Multipart/Form-Data; boundary=x", ""} {
		body, _ := json.Marshal(map[string]any{"query": csrfReset, "variables": map[string]any{"l": "admin"}})
		req, _ := http.NewRequest(http.MethodPost, endpoint, bytes.NewReader(body))
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		wantRefused("POST with Content-Type "+ct, req)
	}
	get, _ := http.NewRequest(http.MethodGet, endpoint+"?query="+url.QueryEscape(`{ __typename }`), nil)
	wantRefused("GET without the header", get)

	// A refusal to the admin app's origin is readable by it (CORS).
	fromApp := csrfMultipart(t, endpoint, csrfReset, map[string]any{"l": "admin"})
	fromApp.Header.Set("Origin", "http://localhost:3000")
	if _, h, _ := csrfSend(t, fromApp); h.Get("Access-Control-Allow-Origin") != "http://localhost:3000" {
		t.Errorf("the refusal to the admin app lacks Access-Control-Allow-Origin: %v", h)
	}

	// With a header that forces a preflight, the same requests work.
	for _, h := range []string{"Apollo-Require-Preflight", "X-Apollo-Operation-Name", "GraphQL-Preflight"} {
		get, _ := http.NewRequest(http.MethodGet, endpoint+"?query="+url.QueryEscape(`{ __typename }`), nil)
		get.Header.Set(h, "true")
		if body := wantServed("GET with "+h, get); !strings.Contains(body, `"__typename":"Query"`) {
			t.Fatalf("GET with %s: %s", h, body)
		}
	}
	upload := csrfMultipart(t, endpoint, csrfReset, map[string]any{"l": "pt.jordan"})
	upload.Header.Set("Apollo-Require-Preflight", "true")
	wantServed("multipart POST with the header", upload)
	jsonPost, _ := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(`{"query": "{ __typename }"}`))
	jsonPost.Header.Set("Content-Type", "application/json")
	wantServed("JSON POST without a header", jsonPost)

	// The refused resets did nothing: the accepted one (sent later) is
	// mailed, and no mail went to admin.
	deadline := time.Now().Add(15 * time.Second)
	for !csrfMailed(env, "pt.jordan@sunrise-therapy.example") {
		if time.Now().After(deadline) {
			t.Fatal("the accepted reset was not mailed within 15s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if csrfMailed(env, "admin@sunrise-therapy.example") {
		t.Fatal("a refused request mailed a reset to admin")
	}

	// GraphiQL's page needs no header (it POSTs JSON).
	page, _ := http.NewRequest(http.MethodGet, env.Server.URL+"/", nil)
	if status, _, body := csrfSend(t, page); status != http.StatusOK || !strings.Contains(body, "graphiql") {
		t.Fatalf("GraphiQL page: %d", status)
	}
}

func csrfMailed(env *apitest.Env, to string) bool {
	for _, m := range env.Mail() {
		if strings.Contains(m, to) {
			return true
		}
	}
	return false
}
