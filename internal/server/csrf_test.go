package server

import (
	"net/http"
	"testing"
)

func TestPreflighted(t *testing.T) {
	for _, c := range []struct {
		method, contentType, header string
		want                        bool
	}{
		{"POST", "application/json", "", true},
		{"POST", "application/json; charset=utf-8", "", true},
		{"POST", "application/graphql-response+json", "", true},
		{"POST", "multipart/form-data; boundary=x", "", false},
		{"POST", "Multipart/Form-Data; boundary=x", "", false},
		{"POST", "multipart/form-data; boundary=x", "Apollo-Require-Preflight", true},
		{"POST", "text/plain", "", false},
		{"POST", " text/plain ;charset=UTF-8", "", false},
		{"POST", "application/x-www-form-urlencoded", "", false},
		{"POST", "", "", false},
		{"GET", "", "", false},
		{"GET", "", "Apollo-Require-Preflight", true},
		{"GET", "", "X-Apollo-Operation-Name", true},
		{"GET", "", "GraphQL-Preflight", true},
	} {
		r, _ := http.NewRequest(c.method, "/graphql", nil)
		if c.contentType != "" {
			r.Header.Set("Content-Type", c.contentType)
		}
		if c.header != "" {
			r.Header.Set(c.header, "1")
		}
		if got := preflighted(r); got != c.want {
			t.Errorf("%s %q with %q: preflighted %v, want %v", c.method, c.contentType, c.header, got, c.want)
		}
	}
	// An empty header value forces no preflight in the browser's eyes here.
	r, _ := http.NewRequest("GET", "/graphql", nil)
	r.Header["Apollo-Require-Preflight"] = []string{""}
	if preflighted(r) {
		t.Error("an empty Apollo-Require-Preflight counted")
	}
}
