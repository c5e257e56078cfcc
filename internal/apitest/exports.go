package apitest

import (
	"encoding/csv"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// ExportLink runs an export mutation, field(input: $in) { url expiresAt
// userErrors }, of input type inputType, and returns the URL it hands out,
// checking it lasts about five minutes; or "" and the response when the
// mutation answers with GraphQL errors.
func (c *Client) ExportLink(t testing.TB, field, inputType string, in map[string]any) (string, *Response) {
	t.Helper()
	r := c.Do(`mutation($in: `+inputType+`!) { `+field+`(input: $in) { url expiresAt userErrors { field code message } } }`,
		map[string]any{"in": in})
	if len(r.Errors) > 0 {
		return "", r
	}
	var out map[string]struct {
		URL        *string
		ExpiresAt  *time.Time
		UserErrors []UserError
	}
	r.Decode(t, &out)
	p := out[field]
	if p.URL == nil || p.ExpiresAt == nil || len(p.UserErrors) > 0 {
		t.Fatalf("%s(%v): %s", field, in, r.Body)
	}
	if d := time.Until(*p.ExpiresAt); d < 4*time.Minute || d > 8*time.Minute {
		t.Errorf("the URL expires in %v, want about 5 minutes", d)
	}
	return *p.URL, r
}

// DownloadCSV downloads an export link with no Authorization header: the
// status, and when 200 the CSV's rows after its header, which must be
// header. link is as handed out (absolute, on the server, under prefix) or
// a path the test altered.
func (e *Env) DownloadCSV(t testing.TB, link, prefix string, header []string) (int, [][]string) {
	t.Helper()
	if strings.HasPrefix(link, "/") {
		link = e.Server.URL + link
	} else if !strings.HasPrefix(link, e.Server.URL+prefix+"/") {
		t.Fatalf("the export URL %q is not absolute on the server under %s", link, prefix)
	}
	resp, err := e.Server.Client().Get(link)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, nil
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/csv; charset=utf-8" {
		t.Errorf("Content-Type = %q", ct)
	}
	if cd := resp.Header.Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment; filename=") {
		t.Errorf("Content-Disposition = %q", cd)
	}
	rows, err := csv.NewReader(resp.Body).ReadAll()
	if err != nil {
		t.Fatalf("the export is not CSV: %v", err)
	}
	if len(rows) == 0 || !slices.Equal(rows[0], header) {
		t.Fatalf("header = %v, want %v", rows[:min(1, len(rows))], header)
	}
	return resp.StatusCode, rows[1:]
}
