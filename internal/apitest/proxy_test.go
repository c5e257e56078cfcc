package apitest_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/netip"
	"testing"

	"github.com/clinicemr/usermanager/internal/apitest"
	"github.com/clinicemr/usermanager/internal/demo"
)

// The client address sessions, the audit trail and sign-in throttling see
// comes from X-Forwarded-For only when a trusted proxy sent it, and only its
// last untrusted hop: a client cannot choose its own address.
func TestClientAddressBehindTrustedProxy(t *testing.T) {
	t.Parallel()
	loginFrom := func(env *apitest.Env, xff string) string {
		t.Helper()
		body, _ := json.Marshal(map[string]any{
			"query":     `mutation($in: LoginInput!) { login(input: $in) { accessToken } }`,
			"variables": map[string]any{"in": map[string]any{"login": demo.AdminUsername, "password": env.Password}},
		})
		req, _ := http.NewRequest(http.MethodPost, env.Server.URL+"/graphql", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if xff != "" {
			req.Header.Set("X-Forwarded-For", xff)
		}
		res, err := env.Server.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var out struct {
			Data struct{ Login struct{ AccessToken string } }
		}
		if err := json.NewDecoder(res.Body).Decode(&out); err != nil || out.Data.Login.AccessToken == "" {
			t.Fatalf("login: %v %+v", err, out)
		}
		c := env.Anonymous()
		c.Token = out.Data.Login.AccessToken
		var sessions struct {
			Sessions []struct {
				ClientIP string
				Current  bool
			}
		}
		c.MustDo(`{ sessions { clientIp current } }`, nil, &sessions)
		for _, s := range sessions.Sessions {
			if s.Current {
				return s.ClientIP
			}
		}
		t.Fatal("no current session")
		return ""
	}

	direct := apitest.New(t, "sqlite3", apitest.Options{})
	if got := loginFrom(direct, "203.0.113.9"); got != "127.0.0.1" {
		t.Fatalf("without trusted proxies X-Forwarded-For was believed: %q", got)
	}
	proxied := apitest.New(t, "sqlite3", apitest.Options{TrustedProxies: []netip.Prefix{
		netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("10.0.0.0/8"),
	}})
	for xff, want := range map[string]string{
		"203.0.113.9":                         "203.0.113.9",
		"198.51.100.7, 203.0.113.9":           "203.0.113.9", // the client wrote the first hop itself
		"203.0.113.9, 10.1.2.3":               "203.0.113.9", // through a second, trusted proxy
		"":                                    "127.0.0.1",
		"not-an-address":                      "127.0.0.1",
		"2001:db8::1":                         "2001:db8::1",
		"198.51.100.7, 203.0.113.9, 10.0.0.1": "203.0.113.9",
	} {
		if got := loginFrom(proxied, xff); got != want {
			t.Errorf("X-Forwarded-For %q: client %q, want %q", xff, got, want)
		}
	}
}
