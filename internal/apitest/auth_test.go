package apitest_test

// Sign-in, tokens and sessions through the public GraphQL API (R25, R29), on
// SQLite and on PostgreSQL.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/clinicemr/usermanager/ent/privacy"
	"github.com/clinicemr/usermanager/ent/user"
	"github.com/clinicemr/usermanager/internal/apitest"
	"github.com/clinicemr/usermanager/internal/demo"
)

const (
	authCodeUnauthenticated     = "UNAUTHENTICATED"
	authCodeInvalidCredentials  = "INVALID_CREDENTIALS"
	authCodeInvalidRefreshToken = "INVALID_REFRESH_TOKEN"

	authSessionFields = `accessToken accessTokenExpiresAt refreshToken refreshTokenExpiresAt
		user { id username email status } userErrors { field message code }`

	authLoginMutation = `mutation($l: String!, $p: String!) { login(input: {login: $l, password: $p}) { ` +
		authSessionFields + ` } }`
	authRefreshMutation = `mutation($r: String!) { refreshSession(input: {refreshToken: $r}) { ` +
		authSessionFields + ` } }`
	authLogoutMutation = `mutation { logout { userErrors { field message code } } }`

	authViewerQuery = `{ viewer { id username status } }`
	authUsersQuery  = `{ users(first: 5) { totalCount edges { node { id username } } } }`
)

type authSessionUser struct {
	ID       string
	Username string
	Email    string
	Status   string
}

type authSessionPayload struct {
	AccessToken           *string
	AccessTokenExpiresAt  *time.Time
	RefreshToken          *string
	RefreshTokenExpiresAt *time.Time
	User                  *authSessionUser
	UserErrors            []apitest.UserError
}

// authPost sends a GraphQL request with the given Authorization header value
// (none when empty). It is safe to call from any goroutine: it returns errors
// instead of failing the test.
func authPost(env *apitest.Env, authorization, query string, vars map[string]any) (*apitest.Response, error) {
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequest(http.MethodPost, env.Server.URL+"/graphql", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	res, err := env.Server.Client().Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, err
	}
	r := &apitest.Response{Status: res.StatusCode, Body: raw}
	if err := json.Unmarshal(raw, r); err != nil {
		return nil, fmt.Errorf("response is not JSON (status %d): %s", res.StatusCode, raw)
	}
	return r, nil
}

func authMustPost(t *testing.T, env *apitest.Env, authorization, query string, vars map[string]any) *apitest.Response {
	t.Helper()
	r, err := authPost(env, authorization, query, vars)
	if err != nil {
		t.Fatalf("POST /graphql: %v", err)
	}
	authAssertNoSecrets(t, env, r.Body)
	return r
}

func authBearer(token string) string { return "Bearer " + token }

// authAssertNoSecrets fails if a response body shows a password or a hash.
func authAssertNoSecrets(t *testing.T, env *apitest.Env, body []byte) {
	t.Helper()
	lower := strings.ToLower(string(body))
	if env.Password != "" && strings.Contains(string(body), env.Password) {
		t.Fatalf("response contains the password: %s", body)
	}
	for _, s := range []string{"argon2", "$argon", "password_hash", "passwordhash"} {
		if strings.Contains(lower, s) {
			t.Fatalf("response contains %q: %s", s, body)
		}
	}
}

// authDecodeField decodes data.<field> of a response that must have no errors.
func authDecodeField(t *testing.T, r *apitest.Response, field string, out any) {
	t.Helper()
	if len(r.Errors) > 0 {
		t.Fatalf("unexpected errors: %s", r.Body)
	}
	var data map[string]json.RawMessage
	r.Decode(t, &data)
	raw, ok := data[field]
	if !ok {
		t.Fatalf("no data.%s in %s", field, r.Body)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		t.Fatalf("decoding data.%s: %v (%s)", field, err, r.Body)
	}
}

func authDoLogin(t *testing.T, env *apitest.Env, authorization, login, password string) (*apitest.Response, authSessionPayload) {
	t.Helper()
	r := authMustPost(t, env, authorization, authLoginMutation, map[string]any{"l": login, "p": password})
	var p authSessionPayload
	authDecodeField(t, r, "login", &p)
	return r, p
}

func authDoRefresh(t *testing.T, env *apitest.Env, refreshToken string) (*apitest.Response, authSessionPayload) {
	t.Helper()
	r := authMustPost(t, env, "", authRefreshMutation, map[string]any{"r": refreshToken})
	var p authSessionPayload
	authDecodeField(t, r, "refreshSession", &p)
	return r, p
}

// authAssertSession checks a successful login or refresh answer.
func authAssertSession(t *testing.T, env *apitest.Env, what string, p authSessionPayload, username string) {
	t.Helper()
	if len(p.UserErrors) != 0 {
		t.Fatalf("%s: userErrors %+v", what, p.UserErrors)
	}
	if p.AccessToken == nil || *p.AccessToken == "" || p.RefreshToken == nil || *p.RefreshToken == "" {
		t.Fatalf("%s: missing tokens: %+v", what, p)
	}
	if *p.AccessToken == *p.RefreshToken {
		t.Fatalf("%s: access and refresh tokens are the same", what)
	}
	if p.User == nil || p.User.Username != username || p.User.Status != "ACTIVE" {
		t.Fatalf("%s: user = %+v, want %s ACTIVE", what, p.User, username)
	}
	now := env.Clock.Now()
	if p.AccessTokenExpiresAt == nil || !p.AccessTokenExpiresAt.After(now) {
		t.Fatalf("%s: accessTokenExpiresAt = %v, want after %v", what, p.AccessTokenExpiresAt, now)
	}
	if p.RefreshTokenExpiresAt == nil || !p.RefreshTokenExpiresAt.After(*p.AccessTokenExpiresAt) {
		t.Fatalf("%s: refreshTokenExpiresAt = %v, want after the access token's %v",
			what, p.RefreshTokenExpiresAt, p.AccessTokenExpiresAt)
	}
}

// authAssertUnauthenticated checks that a response is exactly one GraphQL error
// with extensions.code UNAUTHENTICATED and no data for field.
func authAssertUnauthenticated(t *testing.T, what string, r *apitest.Response, field string) {
	t.Helper()
	if len(r.Errors) != 1 || r.Code() != authCodeUnauthenticated {
		t.Fatalf("%s: want one UNAUTHENTICATED error, got %s", what, r.Body)
	}
	if len(r.Data) == 0 || string(r.Data) == "null" {
		return
	}
	var data map[string]json.RawMessage
	if err := json.Unmarshal(r.Data, &data); err != nil {
		t.Fatalf("%s: decoding data: %v", what, err)
	}
	if v, ok := data[field]; ok && string(v) != "null" {
		t.Fatalf("%s: data.%s = %s, want null with the error", what, field, v)
	}
}

// authAssertViewer checks that token signs in username.
func authAssertViewer(t *testing.T, env *apitest.Env, what, token, username string) {
	t.Helper()
	r := authMustPost(t, env, authBearer(token), authViewerQuery, nil)
	var v *authSessionUser
	authDecodeField(t, r, "viewer", &v)
	if v == nil || v.Username != username {
		t.Fatalf("%s: viewer = %+v, want %s (%s)", what, v, username, r.Body)
	}
}

// authAssertTokenRefused checks that token is refused by queries that need a
// viewer and by logout.
func authAssertTokenRefused(t *testing.T, env *apitest.Env, what, token string) {
	t.Helper()
	authAssertUnauthenticated(t, what+": viewer", authMustPost(t, env, authBearer(token), authViewerQuery, nil), "viewer")
	authAssertUnauthenticated(t, what+": users", authMustPost(t, env, authBearer(token), authUsersQuery, nil), "users")
	authAssertUnauthenticated(t, what+": logout", authMustPost(t, env, authBearer(token), authLogoutMutation, nil), "logout")
}

func authAssertInvalidRefresh(t *testing.T, what string, p authSessionPayload) {
	t.Helper()
	if p.AccessToken != nil || p.RefreshToken != nil || p.User != nil ||
		p.AccessTokenExpiresAt != nil || p.RefreshTokenExpiresAt != nil {
		t.Fatalf("%s: refused refresh still returned tokens or a user: %+v", what, p)
	}
	if len(p.UserErrors) != 1 || p.UserErrors[0].Code != authCodeInvalidRefreshToken {
		t.Fatalf("%s: userErrors = %+v, want one %s", what, p.UserErrors, authCodeInvalidRefreshToken)
	}
}

// authSetStatus changes a user's status directly in the database.
func authSetStatus(t *testing.T, env *apitest.Env, username string, status user.Status) {
	t.Helper()
	sys := privacy.DecisionContext(context.Background(), privacy.Allow)
	id, err := env.DB.Client.User.Query().Where(user.UsernameKey(strings.ToLower(username))).OnlyID(sys)
	if err != nil {
		t.Fatalf("finding %s: %v", username, err)
	}
	if err := env.DB.Client.User.UpdateOneID(id).SetStatus(status).Exec(sys); err != nil {
		t.Fatalf("setting %s %s: %v", username, status, err)
	}
}

func authClaimsOf(t *testing.T, token string) jwt.MapClaims {
	t.Helper()
	c := jwt.MapClaims{}
	tok, _, err := jwt.NewParser().ParseUnverified(token, c)
	if err != nil {
		t.Fatalf("parsing token: %v", err)
	}
	if tok.Method.Alg() != "HS256" {
		t.Fatalf("access token alg = %s, want HS256", tok.Method.Alg())
	}
	return c
}

func authWithClaims(base jwt.MapClaims, change func(jwt.MapClaims)) jwt.MapClaims {
	c := jwt.MapClaims{}
	for k, v := range base {
		c[k] = v
	}
	change(c)
	return c
}

func authSign(t *testing.T, method jwt.SigningMethod, key any, c jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, c).SignedString(key)
	if err != nil {
		t.Fatalf("signing: %v", err)
	}
	return s
}

// authErrorSummary lists a response's errors as "path: code message".
func authErrorSummary(r *apitest.Response) string {
	var parts []string
	for _, e := range r.Errors {
		code, _ := e.Extensions["code"].(string)
		parts = append(parts, fmt.Sprintf("%v: %s %q", e.Path, code, e.Message))
	}
	return strings.Join(parts, "; ")
}

// authNormalizeUser re-encodes a user object with its lists sorted, so two
// answers compare equal whatever order the database returned edges in.
func authNormalizeUser(t *testing.T, raw json.RawMessage) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("decoding user %s: %v", raw, err)
	}
	for k, v := range m {
		list, ok := v.([]any)
		if !ok {
			continue
		}
		sort.Slice(list, func(i, j int) bool {
			a, _ := json.Marshal(list[i])
			b, _ := json.Marshal(list[j])
			return string(a) < string(b)
		})
		m[k] = list
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func authFlip(b byte) byte {
	if b == 'A' {
		return 'B'
	}
	return 'A'
}

func TestAuthLoginByUsernameOrEmail(t *testing.T) {
	t.Parallel()
	apitest.ForEachDatabase(t, func(t *testing.T, env *apitest.Env) {
		cases := []struct{ login, username string }{
			{"admin", demo.AdminUsername},
			{"ADMIN", demo.AdminUsername},
			{"Admin", demo.AdminUsername},
			{"admin@sunrise-therapy.example", demo.AdminUsername},
			{"ADMIN@Sunrise-Therapy.EXAMPLE", demo.AdminUsername},
			{"pt.jordan", "pt.jordan"},
			{"PT.Jordan", "pt.jordan"},
			{"pt.jordan@sunrise-therapy.example", "pt.jordan"},
			{"PT.JORDAN@SUNRISE-THERAPY.EXAMPLE", "pt.jordan"},
			{demo.SupportUsername, demo.SupportUsername},
		}
		for _, tc := range cases {
			r, p := authDoLogin(t, env, "", tc.login, env.Password)
			if len(r.Errors) != 0 || r.Status != http.StatusOK {
				t.Fatalf("login %q: status %d, %s", tc.login, r.Status, r.Body)
			}
			authAssertSession(t, env, "login "+tc.login, p, tc.username)
			if tc.username == "pt.jordan" && p.User.Email != "pt.jordan@sunrise-therapy.example" {
				t.Fatalf("login %q: email = %q", tc.login, p.User.Email)
			}

			// The access token is an HS256 JWT of this server naming the
			// user and a session, living AccessTTL (15 minutes by default).
			c := authClaimsOf(t, *p.AccessToken)
			if c["iss"] != apitest.Issuer {
				t.Fatalf("login %q: iss = %v", tc.login, c["iss"])
			}
			if aud, _ := c.GetAudience(); len(aud) != 1 || aud[0] != apitest.Audience {
				t.Fatalf("login %q: aud = %v", tc.login, c["aud"])
			}
			if sub, _ := c.GetSubject(); sub == "" || c["sid"] == nil || c["sid"] == "" {
				t.Fatalf("login %q: sub/sid missing: %v", tc.login, c)
			}
			exp, _ := c.GetExpirationTime()
			iat, _ := c.GetIssuedAt()
			if exp == nil || iat == nil || exp.Sub(iat.Time) != 15*time.Minute {
				t.Fatalf("login %q: exp %v iat %v, want 15m apart", tc.login, exp, iat)
			}
			if d := p.AccessTokenExpiresAt.Sub(exp.Time); d < -time.Second || d > time.Second {
				t.Fatalf("login %q: accessTokenExpiresAt %v but exp %v", tc.login, p.AccessTokenExpiresAt, exp)
			}

			authAssertViewer(t, env, "login "+tc.login, *p.AccessToken, tc.username)
			r = authMustPost(t, env, authBearer(*p.AccessToken), `{ viewer { id } }`, nil)
			var v struct{ ID string }
			authDecodeField(t, r, "viewer", &v)
			if v.ID != p.User.ID {
				t.Fatalf("login %q: viewer id %s, login user id %s", tc.login, v.ID, p.User.ID)
			}
		}

		// Each sign-in is a session of its own: two logins give different tokens.
		_, p1 := authDoLogin(t, env, "", "admin", env.Password)
		_, p2 := authDoLogin(t, env, "", "admin", env.Password)
		if *p1.AccessToken == *p2.AccessToken || *p1.RefreshToken == *p2.RefreshToken {
			t.Fatal("two sign-ins returned the same tokens")
		}
		if authClaimsOf(t, *p1.AccessToken)["sid"] == authClaimsOf(t, *p2.AccessToken)["sid"] {
			t.Fatal("two sign-ins share a session")
		}
	})
}

func TestAuthLoginFailuresAllLookTheSame(t *testing.T) {
	t.Parallel()
	apitest.ForEachDatabase(t, func(t *testing.T, env *apitest.Env) {
		admin := env.LoginDemo(demo.AdminUsername)

		// pt.fillin is saved Inactive by the demo data (no license left).
		var found struct {
			Users struct {
				Edges []struct {
					Node struct{ Username, Status string }
				}
			}
		}
		admin.MustDo(`{ users(filter: {username: "pt.fillin"}) { edges { node { username status } } } }`, nil, &found)
		fillinInactive := len(found.Users.Edges) == 1 && found.Users.Edges[0].Node.Status == "INACTIVE"

		// pt.jordan signs in fine, then is made inactive.
		if _, p := authDoLogin(t, env, "", "pt.jordan", env.Password); p.AccessToken == nil {
			t.Fatalf("pt.jordan cannot sign in while active: %+v", p.UserErrors)
		}
		authSetStatus(t, env, "pt.jordan", user.StatusINACTIVE)

		wrong := env.Password + "x"
		cases := []struct{ name, login, password string }{
			{"wrong password", "admin", wrong},
			{"wrong password, upper-case login", "ADMIN", wrong},
			{"wrong password by email", "admin@sunrise-therapy.example", wrong},
			{"password in the wrong case", "admin", strings.ToUpper(env.Password)},
			{"empty password", "admin", ""},
			{"unknown username", "no.such.user", env.Password},
			{"unknown email", "nobody@sunrise-therapy.example", env.Password},
			{"empty login", "", env.Password},
			{"inactive user, right password", "pt.jordan", env.Password},
			{"inactive user by email, right password", "PT.JORDAN@sunrise-therapy.example", env.Password},
			{"inactive user, wrong password", "pt.jordan", wrong},
		}
		if fillinInactive {
			cases = append(cases, struct{ name, login, password string }{"demo inactive pt.fillin", "pt.fillin", env.Password})
		} else {
			t.Logf("pt.fillin is not inactive in the demo data (%+v)", found.Users.Edges)
		}

		var first *apitest.Response
		for _, tc := range cases {
			r, p := authDoLogin(t, env, "", tc.login, tc.password)
			if p.AccessToken != nil || p.RefreshToken != nil || p.User != nil ||
				p.AccessTokenExpiresAt != nil || p.RefreshTokenExpiresAt != nil {
				t.Fatalf("%s: got tokens or a user: %s", tc.name, r.Body)
			}
			if len(p.UserErrors) != 1 || p.UserErrors[0].Code != authCodeInvalidCredentials || p.UserErrors[0].Message == "" {
				t.Fatalf("%s: userErrors = %+v, want one %s", tc.name, p.UserErrors, authCodeInvalidCredentials)
			}
			if first == nil {
				first = r
				continue
			}
			if r.Status != first.Status || !bytes.Equal(r.Data, first.Data) {
				t.Fatalf("%s: answer differs from %q:\n got  %d %s\n want %d %s",
					tc.name, cases[0].name, r.Status, r.Data, first.Status, first.Data)
			}
		}
	})
}

func TestAuthTokenRefusedAfterInactivation(t *testing.T) {
	t.Parallel()
	apitest.ForEachDatabase(t, func(t *testing.T, env *apitest.Env) {
		// The administrator (who may search users) and a therapist sign in.
		_, adminLogin := authDoLogin(t, env, "", "admin", env.Password)
		_, jordanLogin := authDoLogin(t, env, "", "pt.jordan", env.Password)
		authAssertSession(t, env, "admin login", adminLogin, "admin")
		authAssertSession(t, env, "pt.jordan login", jordanLogin, "pt.jordan")
		other := env.LoginDemo(demo.SupportUsername)

		r := authMustPost(t, env, authBearer(*adminLogin.AccessToken), authUsersQuery, nil)
		var conn struct{ TotalCount int }
		authDecodeField(t, r, "users", &conn)
		if conn.TotalCount == 0 {
			t.Fatalf("admin sees no users: %s", r.Body)
		}
		authAssertViewer(t, env, "pt.jordan before", *jordanLogin.AccessToken, "pt.jordan")

		authSetStatus(t, env, "admin", user.StatusINACTIVE)
		authSetStatus(t, env, "pt.jordan", user.StatusINACTIVE)

		// R25: the very next request with the existing tokens is refused.
		authAssertTokenRefused(t, env, "inactivated admin", *adminLogin.AccessToken)
		authAssertTokenRefused(t, env, "inactivated pt.jordan", *jordanLogin.AccessToken)
		_, p := authDoRefresh(t, env, *adminLogin.RefreshToken)
		authAssertInvalidRefresh(t, "refresh of inactivated admin", p)
		_, p = authDoRefresh(t, env, *jordanLogin.RefreshToken)
		authAssertInvalidRefresh(t, "refresh of inactivated pt.jordan", p)
		_, p = authDoLogin(t, env, "", "admin", env.Password)
		if p.AccessToken != nil || len(p.UserErrors) != 1 || p.UserErrors[0].Code != authCodeInvalidCredentials {
			t.Fatalf("inactivated admin signs in: %+v", p)
		}

		// Other users are not affected.
		authAssertViewer(t, env, "support", other.Token, demo.SupportUsername)

		// Inactivation ended the sessions for good: activating the user
		// again does not bring the old tokens back; signing in again works.
		authSetStatus(t, env, "pt.jordan", user.StatusACTIVE)
		authAssertTokenRefused(t, env, "pt.jordan's old token after reactivation", *jordanLogin.AccessToken)
		_, p = authDoRefresh(t, env, *jordanLogin.RefreshToken)
		authAssertInvalidRefresh(t, "pt.jordan's old refresh token after reactivation", p)
		_, p = authDoLogin(t, env, "", "pt.jordan", env.Password)
		authAssertSession(t, env, "pt.jordan signs in again", p, "pt.jordan")
	})
}

func TestAuthTokenExpired(t *testing.T) {
	t.Parallel()
	apitest.ForEachDatabaseWith(t, apitest.Options{AccessTTL: time.Minute}, func(t *testing.T, env *apitest.Env) {
		_, login := authDoLogin(t, env, "", "admin", env.Password)
		authAssertSession(t, env, "login", login, "admin")
		access := *login.AccessToken
		if exp, _ := authClaimsOf(t, access).GetExpirationTime(); exp == nil ||
			exp.Sub(env.Clock.Now()) > time.Minute+time.Second {
			t.Fatalf("exp = %v, want within a minute", exp)
		}

		env.Clock.Advance(30 * time.Second)
		authAssertViewer(t, env, "after 30s", access, "admin")

		env.Clock.Advance(90 * time.Second) // 2 minutes after sign-in
		r := authMustPost(t, env, authBearer(access), authViewerQuery, nil)
		authAssertUnauthenticated(t, "expired token: viewer", r, "viewer")
		if !strings.Contains(strings.ToLower(r.Errors[0].Message), "expired") {
			t.Fatalf("expired token: message %q does not mention expiry", r.Errors[0].Message)
		}
		authAssertTokenRefused(t, env, "expired token", access)

		// The refresh token outlives the access token and gives a working one.
		_, p := authDoRefresh(t, env, *login.RefreshToken)
		authAssertSession(t, env, "refresh after expiry", p, "admin")
		authAssertViewer(t, env, "refreshed token", *p.AccessToken, "admin")
		r = authMustPost(t, env, authBearer(*p.AccessToken), authUsersQuery, nil)
		var conn struct{ TotalCount int }
		authDecodeField(t, r, "users", &conn)

		// ...which itself expires after AccessTTL.
		env.Clock.Advance(2 * time.Minute)
		authAssertTokenRefused(t, env, "expired refreshed token", *p.AccessToken)
		_, p2 := authDoRefresh(t, env, *p.RefreshToken)
		authAssertSession(t, env, "second refresh", p2, "admin")
		authAssertViewer(t, env, "second refreshed token", *p2.AccessToken, "admin")

		// The session, and with it every refresh token, ends RefreshTTL
		// (12 hours) after sign-in.
		env.Clock.Advance(12 * time.Hour)
		_, p3 := authDoRefresh(t, env, *p2.RefreshToken)
		authAssertInvalidRefresh(t, "refresh 12 hours after sign-in", p3)
		authAssertTokenRefused(t, env, "access token 12 hours after sign-in", *p2.AccessToken)
	})
}

func TestAuthTokenForgedOrTamperedIsRefused(t *testing.T) {
	t.Parallel()
	apitest.ForEachDatabase(t, func(t *testing.T, env *apitest.Env) {
		admin := env.LoginDemo(demo.AdminUsername)
		jordan := env.LoginDemo("pt.jordan")
		harbor := env.LoginDemo("harbor.admin")
		base := authClaimsOf(t, admin.Token)
		jc := authClaimsOf(t, jordan.Token)
		hc := authClaimsOf(t, harbor.Token)
		now := env.Clock.Now()
		hs256 := jwt.SigningMethodHS256

		// Control: the same claims signed as the server does are accepted,
		// so every refusal below is due to the one thing changed.
		authAssertViewer(t, env, "re-signed legit claims", authSign(t, hs256, apitest.Secret, base), "admin")
		authAssertViewer(t, env, "legit token", admin.Token, "admin")

		parts := strings.Split(admin.Token, ".")
		if len(parts) != 3 {
			t.Fatalf("token %q is not a JWS", admin.Token)
		}
		payloadOf := func(c jwt.MapClaims) string {
			b, err := json.Marshal(c)
			if err != nil {
				t.Fatal(err)
			}
			return base64.RawURLEncoding.EncodeToString(b)
		}
		flipAt := func(s string, i int) string {
			b := []byte(s)
			b[i] = authFlip(b[i])
			return string(b)
		}
		noneToken, err := jwt.NewWithClaims(jwt.SigningMethodNone, base).SignedString(jwt.UnsafeAllowNoneSignatureType)
		if err != nil {
			t.Fatal(err)
		}
		noneHeader := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`))

		cases := []struct{ name, token string }{
			{"payload character flipped", parts[0] + "." + flipAt(parts[1], len(parts[1])/2) + "." + parts[2]},
			{"signature first character flipped", parts[0] + "." + parts[1] + "." + flipAt(parts[2], 0)},
			{"signature middle character flipped", parts[0] + "." + parts[1] + "." + flipAt(parts[2], len(parts[2])/2)},
			{"payload swapped for another user's, signature kept",
				parts[0] + "." + payloadOf(authWithClaims(base, func(c jwt.MapClaims) { c["sub"] = jc["sub"]; c["sid"] = jc["sid"] })) + "." + parts[2]},
			{"signature removed", parts[0] + "." + parts[1] + "."},
			{"alg none", noneToken},
			{"alg none header on the legit payload and signature", noneHeader + "." + parts[1] + "." + parts[2]},
			{"alg none header on the legit payload, no signature", noneHeader + "." + parts[1] + "."},
			{"HS384 with the server secret", authSign(t, jwt.SigningMethodHS384, apitest.Secret, base)},
			{"HS512 with the server secret", authSign(t, jwt.SigningMethodHS512, apitest.Secret, base)},
			{"HS256 with another secret", authSign(t, hs256, []byte("another-signing-secret-0123456789abcdef-0123"), base)},
			{"HS256 with an empty secret", authSign(t, hs256, []byte{}, base)},
			{"wrong issuer", authSign(t, hs256, apitest.Secret, authWithClaims(base, func(c jwt.MapClaims) { c["iss"] = "someone-else" }))},
			{"no issuer", authSign(t, hs256, apitest.Secret, authWithClaims(base, func(c jwt.MapClaims) { delete(c, "iss") }))},
			{"wrong audience", authSign(t, hs256, apitest.Secret, authWithClaims(base, func(c jwt.MapClaims) { c["aud"] = []string{"another-api"} }))},
			{"no audience", authSign(t, hs256, apitest.Secret, authWithClaims(base, func(c jwt.MapClaims) { delete(c, "aud") }))},
			{"missing exp", authSign(t, hs256, apitest.Secret, authWithClaims(base, func(c jwt.MapClaims) { delete(c, "exp") }))},
			{"exp in the past", authSign(t, hs256, apitest.Secret, authWithClaims(base, func(c jwt.MapClaims) {
				c["iat"] = now.Add(-time.Hour).Unix()
				c["nbf"] = now.Add(-time.Hour).Unix()
				c["exp"] = now.Add(-time.Minute).Unix()
			}))},
			{"not yet valid (nbf in the future)", authSign(t, hs256, apitest.Secret, authWithClaims(base, func(c jwt.MapClaims) {
				c["nbf"] = now.Add(time.Hour).Unix()
				c["exp"] = now.Add(2 * time.Hour).Unix()
			}))},
			{"sid of another user's session", authSign(t, hs256, apitest.Secret, authWithClaims(base, func(c jwt.MapClaims) { c["sid"] = jc["sid"] }))},
			{"sid of another organization's user's session", authSign(t, hs256, apitest.Secret, authWithClaims(base, func(c jwt.MapClaims) { c["sid"] = hc["sid"] }))},
			{"sub of another user with own sid", authSign(t, hs256, apitest.Secret, authWithClaims(base, func(c jwt.MapClaims) { c["sub"] = jc["sub"] }))},
			{"no sid", authSign(t, hs256, apitest.Secret, authWithClaims(base, func(c jwt.MapClaims) { delete(c, "sid") }))},
			{"no sub", authSign(t, hs256, apitest.Secret, authWithClaims(base, func(c jwt.MapClaims) { delete(c, "sub") }))},
			{"sid of no session", authSign(t, hs256, apitest.Secret, authWithClaims(base, func(c jwt.MapClaims) { c["sid"] = "999999999" }))},
			{"not a JWT", "not-a-token"},
			{"refresh token sent as access token", admin.RefreshToken},
		}
		for _, tc := range cases {
			r := authMustPost(t, env, authBearer(tc.token), authViewerQuery, nil)
			authAssertUnauthenticated(t, tc.name+": viewer", r, "viewer")
			authAssertTokenRefused(t, env, tc.name, tc.token)
		}

		// The legit sessions are untouched.
		authAssertViewer(t, env, "admin after forgeries", admin.Token, "admin")
		authAssertViewer(t, env, "pt.jordan after forgeries", jordan.Token, "pt.jordan")
	})
}

func TestAuthMalformedAuthorizationHeader(t *testing.T) {
	t.Parallel()
	apitest.ForEachDatabase(t, func(t *testing.T, env *apitest.Env) {
		admin := env.LoginDemo(demo.AdminUsername)
		basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("admin:"+env.Password))
		headers := []string{
			basic,
			"Basic " + admin.Token,
			"Token " + admin.Token,
			admin.Token, // no scheme
			"Bearer",
			"Bearer ",
			"Bearer not.a.token",
			"Bearer " + admin.Token + "." + admin.Token,
			"BearerX" + admin.Token,
			"Digest username=\"admin\"",
		}
		for _, h := range headers {
			name := fmt.Sprintf("Authorization %q", h)
			if strings.HasPrefix(h, "Basic ") && h == basic {
				name = "Authorization: Basic admin:<password>"
			}
			authAssertUnauthenticated(t, name+": viewer", authMustPost(t, env, h, authViewerQuery, nil), "viewer")
			authAssertUnauthenticated(t, name+": users", authMustPost(t, env, h, authUsersQuery, nil), "users")
			authAssertUnauthenticated(t, name+": logout", authMustPost(t, env, h, authLogoutMutation, nil), "logout")

			// Signing in still works on such a request.
			r, p := authDoLogin(t, env, h, "pt.jordan", env.Password)
			if len(r.Errors) != 0 {
				t.Fatalf("%s: login: %s", name, r.Body)
			}
			authAssertSession(t, env, name+": login", p, "pt.jordan")
			authAssertViewer(t, env, name+": token from that login", *p.AccessToken, "pt.jordan")
		}
		// Also with an expired or revoked token in the header.
		revoked := env.LoginDemo("pt.sam")
		revoked.MustDo(authLogoutMutation, nil, nil)
		r, p := authDoLogin(t, env, authBearer(revoked.Token), "pt.sam", env.Password)
		if len(r.Errors) != 0 {
			t.Fatalf("login with a revoked token in the header: %s", r.Body)
		}
		authAssertSession(t, env, "login with a revoked token in the header", p, "pt.sam")
		authAssertViewer(t, env, "admin", admin.Token, "admin")
	})
}

func TestAuthRefreshRotationAndReuse(t *testing.T) {
	t.Parallel()
	apitest.ForEachDatabase(t, func(t *testing.T, env *apitest.Env) {
		_, login := authDoLogin(t, env, "", "admin", env.Password)
		authAssertSession(t, env, "login", login, "admin")
		// A second session of the same user, which reuse of the first
		// session's refresh token must not affect.
		second := env.LoginDemo(demo.AdminUsername)

		r1 := *login.RefreshToken
		_, p := authDoRefresh(t, env, r1)
		authAssertSession(t, env, "refresh", p, "admin")
		if *p.RefreshToken == r1 {
			t.Fatal("refreshSession returned the same refresh token")
		}
		if authClaimsOf(t, *p.AccessToken)["sid"] != authClaimsOf(t, *login.AccessToken)["sid"] {
			t.Fatal("refreshSession started a new session instead of continuing it")
		}
		if p.User.ID != login.User.ID {
			t.Fatalf("refresh user %s, login user %s", p.User.ID, login.User.ID)
		}
		authAssertViewer(t, env, "refreshed token", *p.AccessToken, "admin")
		r2, a2 := *p.RefreshToken, *p.AccessToken

		// Within the grace window of a concurrent refresh (two tabs), the used
		// token is refused but the session the winner continues lives on.
		_, again := authDoRefresh(t, env, r1)
		authAssertInvalidRefresh(t, "used refresh token within the grace window", again)
		authAssertViewer(t, env, "refreshed token after a refused concurrent refresh", a2, "admin")

		// Rotate once more, so there is a newest token that was never used.
		_, p = authDoRefresh(t, env, r2)
		authAssertSession(t, env, "second refresh", p, "admin")
		r3, a3 := *p.RefreshToken, *p.AccessToken
		authAssertViewer(t, env, "newest token", a3, "admin")

		// Past the grace window, the used refresh token is refused, and
		// presenting it ends the whole session: the newest refresh token and
		// the session's access tokens stop working.
		env.Clock.Advance(time.Minute)
		_, p = authDoRefresh(t, env, r1)
		authAssertInvalidRefresh(t, "reuse of the first refresh token", p)
		_, p = authDoRefresh(t, env, r3)
		authAssertInvalidRefresh(t, "newest refresh token after reuse", p)
		authAssertTokenRefused(t, env, "newest access token after reuse", a3)
		authAssertTokenRefused(t, env, "older access token after reuse", a2)
		authAssertTokenRefused(t, env, "login access token after reuse", *login.AccessToken)
		_, p = authDoRefresh(t, env, r2)
		authAssertInvalidRefresh(t, "second refresh token after reuse", p)

		// The other session of the same user keeps working.
		authAssertViewer(t, env, "other session", second.Token, "admin")
		_, p = authDoRefresh(t, env, second.RefreshToken)
		authAssertSession(t, env, "other session refresh", p, "admin")
		authAssertViewer(t, env, "other session refreshed", *p.AccessToken, "admin")

		// Reuse is detected on a fresh session too, right after one rotation.
		_, login = authDoLogin(t, env, "", "pt.jordan", env.Password)
		_, p = authDoRefresh(t, env, *login.RefreshToken)
		authAssertSession(t, env, "pt.jordan refresh", p, "pt.jordan")
		env.Clock.Advance(time.Minute)
		_, again = authDoRefresh(t, env, *login.RefreshToken)
		authAssertInvalidRefresh(t, "pt.jordan reuse", again)
		_, again = authDoRefresh(t, env, *p.RefreshToken)
		authAssertInvalidRefresh(t, "pt.jordan new refresh token after reuse", again)
		authAssertTokenRefused(t, env, "pt.jordan access token after reuse", *p.AccessToken)

		// Refresh tokens that never existed.
		for _, bad := range []string{"", "garbage", strings.Repeat("A", 43), second.Token} {
			_, p = authDoRefresh(t, env, bad)
			authAssertInvalidRefresh(t, fmt.Sprintf("refresh token %q", bad), p)
		}
	})
}

func TestAuthRefreshConcurrentUseSucceedsOnce(t *testing.T) {
	t.Parallel()
	apitest.ForEachDatabase(t, func(t *testing.T, env *apitest.Env) {
		for round := 0; round < 3; round++ {
			_, login := authDoLogin(t, env, "", "admin", env.Password)
			authAssertSession(t, env, "login", login, "admin")
			const n = 10
			var (
				wg    sync.WaitGroup
				start = make(chan struct{})
				resps = make([]*apitest.Response, n)
				errs  = make([]error, n)
			)
			for i := 0; i < n; i++ {
				wg.Add(1)
				go func(i int) {
					defer wg.Done()
					<-start
					resps[i], errs[i] = authPost(env, "", authRefreshMutation, map[string]any{"r": *login.RefreshToken})
				}(i)
			}
			close(start)
			wg.Wait()

			succeeded := 0
			for i := 0; i < n; i++ {
				if errs[i] != nil {
					t.Fatalf("round %d request %d: %v", round, i, errs[i])
				}
				r := resps[i]
				authAssertNoSecrets(t, env, r.Body)
				var p authSessionPayload
				authDecodeField(t, r, "refreshSession", &p)
				if p.AccessToken != nil {
					authAssertSession(t, env, "concurrent refresh", p, "admin")
					succeeded++
					continue
				}
				authAssertInvalidRefresh(t, fmt.Sprintf("round %d request %d", round, i), p)
			}
			if succeeded != 1 {
				t.Fatalf("round %d: %d of %d concurrent refreshes with one token succeeded, want exactly 1", round, succeeded, n)
			}
			// The token is used up whatever happened.
			_, p := authDoRefresh(t, env, *login.RefreshToken)
			authAssertInvalidRefresh(t, "refresh token after the race", p)
		}
	})
}

func TestAuthLogoutEndsOnlyThatSession(t *testing.T) {
	t.Parallel()
	apitest.ForEachDatabase(t, func(t *testing.T, env *apitest.Env) {
		first := env.LoginDemo(demo.AdminUsername)
		second := env.LoginDemo(demo.AdminUsername)
		jordan := env.LoginDemo("pt.jordan")

		r := authMustPost(t, env, authBearer(first.Token), authLogoutMutation, nil)
		var out struct {
			UserErrors []apitest.UserError
		}
		authDecodeField(t, r, "logout", &out)
		if len(out.UserErrors) != 0 {
			t.Fatalf("logout userErrors %+v", out.UserErrors)
		}

		authAssertTokenRefused(t, env, "access token after logout", first.Token)
		r = authMustPost(t, env, authBearer(first.Token), authViewerQuery, nil)
		authAssertUnauthenticated(t, "viewer after logout", r, "viewer")
		_, p := authDoRefresh(t, env, first.RefreshToken)
		authAssertInvalidRefresh(t, "refresh token after logout", p)

		// The same user's other session, and other users, keep working.
		authAssertViewer(t, env, "second session", second.Token, "admin")
		r = authMustPost(t, env, authBearer(second.Token), authUsersQuery, nil)
		var conn struct{ TotalCount int }
		authDecodeField(t, r, "users", &conn)
		authAssertViewer(t, env, "pt.jordan", jordan.Token, "pt.jordan")
		_, p = authDoRefresh(t, env, second.RefreshToken)
		authAssertSession(t, env, "second session refresh", p, "admin")
		authAssertViewer(t, env, "second session refreshed", *p.AccessToken, "admin")

		// A refresh before logout does not survive it either.
		third := env.LoginDemo(demo.AdminUsername)
		_, p = authDoRefresh(t, env, third.RefreshToken)
		authAssertSession(t, env, "third session refresh", p, "admin")
		authMustPost(t, env, authBearer(*p.AccessToken), authLogoutMutation, nil)
		authAssertTokenRefused(t, env, "third session refreshed token after logout", *p.AccessToken)
		authAssertTokenRefused(t, env, "third session first token after logout", third.Token)
		_, p = authDoRefresh(t, env, *p.RefreshToken)
		authAssertInvalidRefresh(t, "third session refresh token after logout", p)

		// Logout needs a viewer.
		authAssertUnauthenticated(t, "anonymous logout", authMustPost(t, env, "", authLogoutMutation, nil), "logout")
	})
}

func TestAuthAnonymousViewer(t *testing.T) {
	t.Parallel()
	apitest.ForEachDatabase(t, func(t *testing.T, env *apitest.Env) {
		r := authMustPost(t, env, "", authViewerQuery, nil)
		if len(r.Errors) != 0 || r.Status != http.StatusOK {
			t.Fatalf("anonymous viewer: status %d, %s", r.Status, r.Body)
		}
		if got := strings.Join(strings.Fields(string(r.Data)), ""); got != `{"viewer":null}` {
			t.Fatalf("anonymous viewer data = %s, want {\"viewer\":null}", r.Data)
		}
		// Queries that need a viewer say so.
		authAssertUnauthenticated(t, "anonymous users", authMustPost(t, env, "", authUsersQuery, nil), "users")
	})
}

func TestAuthResponsesHoldNoSecrets(t *testing.T) {
	t.Parallel()
	apitest.ForEachDatabase(t, func(t *testing.T, env *apitest.Env) {
		// The User type has no field that could carry a password or hash.
		r := authMustPost(t, env, "", `{ __type(name: "User") { fields { name } } }`, nil)
		var typ struct {
			Fields []struct{ Name string }
		}
		authDecodeField(t, r, "__type", &typ)
		if len(typ.Fields) == 0 {
			t.Fatalf("no User fields: %s", r.Body)
		}
		for _, f := range typ.Fields {
			if n := strings.ToLower(f.Name); strings.Contains(n, "password") || strings.Contains(n, "hash") {
				t.Fatalf("User exposes field %q", f.Name)
			}
		}

		// Sign-in, refresh and user listings (every mustPost checks the body).
		_, p := authDoLogin(t, env, "", "admin", env.Password)
		authAssertSession(t, env, "login", p, "admin")
		_, p = authDoRefresh(t, env, *p.RefreshToken)
		authAssertSession(t, env, "refresh", p, "admin")
		r = authMustPost(t, env, authBearer(*p.AccessToken), `{ users(first: 100) { totalCount edges { node {
			id username email fullName status userType } } } }`, nil)
		var conn struct{ TotalCount int }
		authDecodeField(t, r, "users", &conn)
		if conn.TotalCount < 10 {
			t.Fatalf("admin sees %d users", conn.TotalCount)
		}
		authDoLogin(t, env, "", "admin", env.Password+"x")
		authDoLogin(t, env, "", "no.such.user", env.Password)
	})
}

// The user of a login or refreshSession answer shows what the viewer query
// shows: the request has no viewer yet, but the answer is about the user who
// just signed in (SessionPayload.user).
func TestAuthLoginPayloadUserMatchesViewer(t *testing.T) {
	t.Parallel()
	apitest.ForEachDatabase(t, func(t *testing.T, env *apitest.Env) {
		const fields = `id username status homeClinic { name } clinics { name } permissions { key }
			license { id class } licenseClass`
		for _, username := range []string{"pt.jordan", "admin"} {
			r := authMustPost(t, env, "", `mutation($l: String!, $p: String!) { login(input: {login: $l, password: $p}) {
				accessToken refreshToken user { `+fields+` } userErrors { code } } }`,
				map[string]any{"l": username, "p": env.Password})
			if len(r.Errors) != 0 {
				t.Errorf("login %s: the user of the answer cannot be read: %s", username, authErrorSummary(r))
			}
			var login struct {
				AccessToken  *string
				RefreshToken *string
				User         json.RawMessage
			}
			if err := json.Unmarshal(r.Data, &struct{ Login any }{&login}); err != nil || login.AccessToken == nil {
				t.Fatalf("login %s: %v %s", username, err, r.Body)
			}

			r = authMustPost(t, env, authBearer(*login.AccessToken), `{ viewer { `+fields+` } }`, nil)
			var viewer struct{ Viewer json.RawMessage }
			r.Decode(t, &viewer)
			if len(r.Errors) != 0 || string(viewer.Viewer) == "null" {
				t.Fatalf("viewer %s: %s", username, r.Body)
			}
			want := authNormalizeUser(t, viewer.Viewer)
			if got := authNormalizeUser(t, login.User); got != want {
				t.Errorf("login %s: user differs from viewer:\n login  %s\n viewer %s", username, got, want)
			}

			r = authMustPost(t, env, "", `mutation($r: String!) { refreshSession(input: {refreshToken: $r}) {
				accessToken user { `+fields+` } userErrors { code } } }`, map[string]any{"r": *login.RefreshToken})
			if len(r.Errors) != 0 {
				t.Errorf("refreshSession %s: the user of the answer cannot be read: %s", username, authErrorSummary(r))
			}
			var refreshed struct {
				AccessToken *string
				User        json.RawMessage
			}
			if err := json.Unmarshal(r.Data, &struct{ RefreshSession any }{&refreshed}); err != nil || refreshed.AccessToken == nil {
				t.Fatalf("refreshSession %s: %v %s", username, err, r.Body)
			}
			if got := authNormalizeUser(t, refreshed.User); got != want {
				t.Errorf("refreshSession %s: user differs from viewer:\n refresh %s\n viewer  %s", username, got, want)
			}
		}
	})
}

// Every operation that needs a viewer says why the token was refused, so a
// client knows whether to refresh the session (expired) or sign in again.
func TestAuthExpiredTokenReasonOnEveryQuery(t *testing.T) {
	t.Parallel()
	apitest.ForEachDatabaseWith(t, apitest.Options{AccessTTL: time.Minute}, func(t *testing.T, env *apitest.Env) {
		admin := env.LoginDemo(demo.AdminUsername)
		env.Clock.Advance(2 * time.Minute)
		for _, tc := range []struct{ field, query string }{
			{"viewer", authViewerQuery},
			{"users", authUsersQuery},
			{"licenseCounts", `{ licenseCounts { class total inUse available } }`},
			{"logout", authLogoutMutation},
		} {
			r := authMustPost(t, env, authBearer(admin.Token), tc.query, nil)
			authAssertUnauthenticated(t, "expired token: "+tc.field, r, tc.field)
			if msg := r.Errors[0].Message; !strings.Contains(strings.ToLower(msg), "expired") {
				t.Errorf("expired token: %s answers %q, which does not say the token expired", tc.field, msg)
			}
		}
	})
}
