package apitest_test

// Security tests: the attacks an outsider, a signed-in member of staff or a
// manager of another organization would try against sign-in (R29), password
// resets (R30), sessions (R25) and the GraphQL endpoint itself, on SQLite and
// on PostgreSQL. JWT forgery and refresh-token reuse are in auth_test.go,
// the WebSocket Origin check in websocket_test.go.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clinicemr/usermanager/internal/apitest"
	"github.com/clinicemr/usermanager/internal/demo"
	"github.com/clinicemr/usermanager/internal/lockout"
)

const (
	secCodeTooMany      = "TOO_MANY_ATTEMPTS"
	secCodeInvalidCreds = "INVALID_CREDENTIALS"
	secCodeInvalidReset = "INVALID_RESET_TOKEN"
	secCodeWeak         = "WEAK_PASSWORD"

	secLoginMutation = `mutation($l: String!, $p: String!) { login(input: {login: $l, password: $p}) {
		accessToken refreshToken userErrors { field message code } } }`
	secRequestResetMutation = `mutation($l: String!) { requestPasswordReset(input: {login: $l}) { message } }`
	secResetMutation        = `mutation($t: String!, $p: String!) { resetPassword(input: {token: $t, password: $p}) {
		succeeded userErrors { field message code } } }`
	secSessionsQuery = `query($u: ID) { sessions(userId: $u) { id createdAt expiresAt clientIp userAgent current } }`
	secRevokeById    = `mutation($s: ID) { revokeSessions(input: {sessionId: $s}) { revoked userErrors { field message code } } }`
	secRevokeByUser  = `mutation($u: ID) { revokeSessions(input: {userId: $u}) { revoked userErrors { field message code } } }`

	// Strong passwords (R7) that hold no demo user's name.
	secStrong1 = "Glacier!Walnut-Trombone-47"
	secStrong2 = "Velvet#Orbit-Cactus-2025x"
	secStrong3 = "Maple*Quasar-Lantern-88z"
	secStrong4 = "Nimbus&Falcon-Granite-19q"
	secStrong5 = "Correct-Horse-Battery-Staple-9!"
	secStrong6 = "Tr0ub4dor&3-horse-Battery"
)

type secLoginPayload struct {
	AccessToken  *string
	RefreshToken *string
	UserErrors   []apitest.UserError
}

// secPost sends a GraphQL request with extra headers and returns the
// response and the wall time of the round trip. It does not fail the test on
// a non-JSON answer (status and body are kept).
func secPost(t *testing.T, env *apitest.Env, header http.Header, body []byte) (*apitest.Response, http.Header, time.Duration) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, env.Server.URL+"/graphql", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header[k] = v
	}
	started := time.Now()
	res, err := env.Server.Client().Do(req)
	if err != nil {
		t.Fatalf("POST /graphql: %v", err)
	}
	raw, err := io.ReadAll(res.Body)
	res.Body.Close()
	took := time.Since(started)
	if err != nil {
		t.Fatal(err)
	}
	r := &apitest.Response{Status: res.StatusCode, Body: raw}
	_ = json.Unmarshal(raw, r)
	return r, res.Header, took
}

func secBody(t *testing.T, query string, vars map[string]any) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// secLogin tries to sign in (from the test's address, with extra headers).
func secLogin(t *testing.T, env *apitest.Env, login, password string, header http.Header) (secLoginPayload, *apitest.Response) {
	t.Helper()
	r, _, _ := secPost(t, env, header, secBody(t, secLoginMutation, map[string]any{"l": login, "p": password}))
	if len(r.Errors) > 0 {
		t.Fatalf("login %s: %s", login, r.Body)
	}
	var out struct{ Login secLoginPayload }
	r.Decode(t, &out)
	return out.Login, r
}

// secWantLoginCode checks a refused sign-in: no tokens, one userError code.
func secWantLoginCode(t *testing.T, what string, p secLoginPayload, code string) {
	t.Helper()
	if p.AccessToken != nil || p.RefreshToken != nil {
		t.Fatalf("%s: signed in, want %s", what, code)
	}
	if len(p.UserErrors) != 1 || p.UserErrors[0].Code != code {
		t.Fatalf("%s: userErrors %+v, want one %s", what, p.UserErrors, code)
	}
}

func secWantSignedIn(t *testing.T, what string, p secLoginPayload) {
	t.Helper()
	if p.AccessToken == nil || len(p.UserErrors) > 0 {
		t.Fatalf("%s: not signed in: %+v", what, p.UserErrors)
	}
}

// secLockedUntil reads User.lockedUntil as c.
func secLockedUntil(t *testing.T, c *apitest.Client, userID string) *time.Time {
	t.Helper()
	var out struct {
		Node *struct{ LockedUntil *time.Time }
	}
	c.MustDo(`query($id: ID!) { node(id: $id) { ... on User { lockedUntil } } }`, map[string]any{"id": userID}, &out)
	if out.Node == nil {
		t.Fatalf("user %s not visible", userID)
	}
	return out.Node.LockedUntil
}

// secWantRefused checks a GraphQL error with one of codes and no data for
// the field.
func secWantRefused(t *testing.T, what string, r *apitest.Response, field string, codes ...string) {
	t.Helper()
	if len(r.Errors) == 0 || !slices.Contains(codes, r.Code()) {
		t.Fatalf("%s: want an error with a code in %v, got %s", what, codes, r.Body)
	}
	if len(r.Data) > 0 && string(r.Data) != "null" {
		var data map[string]json.RawMessage
		_ = json.Unmarshal(r.Data, &data)
		if v, ok := data[field]; ok && string(v) != "null" {
			t.Fatalf("%s: data.%s = %s with the error", what, field, v)
		}
	}
}

func secRequestReset(t *testing.T, env *apitest.Env, login string) (*apitest.Response, time.Duration) {
	t.Helper()
	r, _, took := secPost(t, env, nil, secBody(t, secRequestResetMutation, map[string]any{"l": login}))
	if len(r.Errors) > 0 {
		t.Fatalf("requestPasswordReset(%s): %s", login, r.Body)
	}
	return r, took
}

type secResetPayload struct {
	Succeeded  bool
	UserErrors []apitest.UserError
}

func secReset(t *testing.T, env *apitest.Env, token, password string) secResetPayload {
	t.Helper()
	var out struct{ ResetPassword secResetPayload }
	env.Anonymous().MustDo(secResetMutation, map[string]any{"t": token, "p": password}, &out)
	return out.ResetPassword
}

func secWantResetCode(t *testing.T, what string, p secResetPayload, code string) {
	t.Helper()
	if p.Succeeded || len(p.UserErrors) != 1 || p.UserErrors[0].Code != code {
		t.Fatalf("%s: %+v, want not succeeded with one %s", what, p, code)
	}
}

var secTokenRE = regexp.MustCompile(`reset-password\?token=([A-Za-z0-9_-]+)`)

// secMailTokens returns the reset tokens of the outbox's messages to email.
func secMailTokens(t *testing.T, env *apitest.Env, email string) []string {
	t.Helper()
	var out []string
	for _, text := range env.Mail() {
		if !strings.Contains(strings.ToLower(text), "to: <"+email+">") && !strings.Contains(strings.ToLower(text), "to: "+email) {
			continue
		}
		for _, m := range secTokenRE.FindAllStringSubmatch(text, -1) {
			out = append(out, m[1])
		}
	}
	return out
}

// secWaitToken waits for a reset email to email holding a token not in
// seen, and returns it (adding it to seen).
func secWaitToken(t *testing.T, env *apitest.Env, email string, seen map[string]bool) string {
	t.Helper()
	var token string
	adjEventually(t, "a new reset email to "+email, 10*time.Second, func() bool {
		for _, tok := range secMailTokens(t, env, email) {
			if !seen[tok] {
				token = tok
				return true
			}
		}
		return false
	})
	seen[token] = true
	return token
}

func secMedian(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// secLogBuffer collects the process's slog and log output during a test
// (at debug level, so that nothing the server logs escapes the check).
type secLogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *secLogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *secLogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func secCaptureLog(t *testing.T) *secLogBuffer {
	buf := &secLogBuffer{}
	prev, prevOut, prevFlags := slog.Default(), log.Writer(), log.Flags()
	// Still shown as usual, for diagnosis.
	out := io.MultiWriter(buf, prevOut)
	slog.SetDefault(slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: slog.LevelDebug})))
	t.Cleanup(func() {
		slog.SetDefault(prev)
		log.SetOutput(prevOut)
		log.SetFlags(prevFlags)
	})
	return buf
}

// Sign-in, resets and sessions under attack (R25, R29, R30), on one server
// per database: each part uses its own demo accounts, so they do not
// interfere (the address threshold is raised so that the parts' failures
// together do not lock the test's address; TestSecAddressLockSpansAccounts
// tests that lock).
func TestSecAccountsUnderAttack(t *testing.T) {
	// Not parallel: it reads the process-wide log.
	logs := secCaptureLog(t)
	opts := apitest.Options{AccessTTL: 24 * time.Hour, Lockout: lockout.Policy{IPThreshold: 100}}
	apitest.ForEachDatabaseWith(t, opts, func(t *testing.T, env *apitest.Env) {
		admin := env.LoginDemo(demo.AdminUsername)
		t.Log("brute force on one account (pt.jordan)")
		secCheckLockout(t, env, admin)
		t.Log("login answers: unknown name, wrong password, inactive account (spt.avery, pt.fillin)")
		secCheckLoginAnswers(t, env)
		t.Log("requestPasswordReset answers and timing (ot.casey, pt.fillin)")
		secCheckResetRequests(t, env)
		t.Log("reset links (pt.sam)")
		secCheckResetLinks(t, env, admin, logs)
		t.Log("sessions (slp.riley, pta.taylor, harbor.admin)")
		secCheckSessions(t, env, admin)
		t.Log("oversized requests")
		secCheckOversized(t, env, admin)
	})
}

// R29: five wrong passwords lock the account, even against the right
// password, by username or email (silently by the other name); managers see and clear the lock, staff
// do not see it; locks double up to the maximum and end by themselves.
func secCheckLockout(t *testing.T, env *apitest.Env, admin *apitest.Client) {
	jordanID := imgUserID(t, admin, "pt.jordan")
	jordan := env.LoginDemo("pt.jordan") // signed in before the attack

	for i := 1; i <= 5; i++ {
		p, _ := secLogin(t, env, "pt.jordan", fmt.Sprintf("Wrong-Guess-%d!", i), nil)
		secWantLoginCode(t, fmt.Sprintf("wrong password %d", i), p, secCodeInvalidCreds)
	}
	p, _ := secLogin(t, env, "pt.jordan", env.Password, nil)
	secWantLoginCode(t, "right password after 5 failures", p, secCodeTooMany)
	if !strings.Contains(p.UserErrors[0].Message, "a minute") {
		t.Errorf("first lock message %q does not say a minute", p.UserErrors[0].Message)
	}
	// By email the lock holds too, but answers as a wrong password would:
	// the email itself has not failed, and an unknown email would answer
	// so (TestSecLockoutDoesNotLinkUsernameAndEmail).
	p, _ = secLogin(t, env, "PT.Jordan@sunrise-therapy.example", env.Password, nil)
	secWantLoginCode(t, "right password by email after 5 failures", p, secCodeInvalidCreds)

	until := secLockedUntil(t, admin, jordanID)
	if until == nil {
		t.Fatal("lockedUntil is null for the admin while the account is locked")
	}
	if d := until.Sub(env.Clock.Now()); d < 50*time.Second || d > 61*time.Second {
		t.Fatalf("first lock lasts %v, want about 1m", d)
	}
	var own struct {
		Viewer struct{ LockedUntil *time.Time }
	}
	jordan.MustDo(`{ viewer { lockedUntil } }`, nil, &own)
	if own.Viewer.LockedUntil != nil {
		t.Fatalf("pt.jordan (no View Users) sees lockedUntil %v", own.Viewer.LockedUntil)
	}

	// The locked user cannot clear their own lock.
	clear := `mutation($id: ID!) { clearLockout(input: {userId: $id}) { user { id lockedUntil } userErrors { code } } }`
	r := jordan.Do(clear, map[string]any{"id": jordanID})
	secWantRefused(t, "pt.jordan clears his own lock", r, "clearLockout", "FORBIDDEN", "NOT_FOUND")
	if secLockedUntil(t, admin, jordanID) == nil {
		t.Fatal("a refused clearLockout cleared the lock")
	}
	var cleared struct {
		ClearLockout struct {
			User       *struct{ LockedUntil *time.Time }
			UserErrors []apitest.UserError
		}
	}
	admin.MustDo(clear, map[string]any{"id": jordanID}, &cleared)
	if cleared.ClearLockout.User == nil || cleared.ClearLockout.User.LockedUntil != nil || len(cleared.ClearLockout.UserErrors) > 0 {
		t.Fatalf("clearLockout: %+v", cleared.ClearLockout)
	}
	p, _ = secLogin(t, env, "pt.jordan", env.Password, nil)
	secWantSignedIn(t, "right password after clearLockout", p)

	// Locks double with each further failure and never exceed the
	// maximum (15m); tries while locked neither count nor lengthen it.
	for i := 1; i <= 5; i++ {
		p, _ = secLogin(t, env, "pt.jordan", fmt.Sprintf("Wrong-Again-%d!", i), nil)
		secWantLoginCode(t, fmt.Sprintf("second streak, wrong password %d", i), p, secCodeInvalidCreds)
	}
	until = secLockedUntil(t, admin, jordanID)
	if until == nil {
		t.Fatal("not locked after the second streak")
	}
	prev := until.Sub(env.Clock.Now())
	var locks []string
	for step, want := range []time.Duration{2 * time.Minute, 4 * time.Minute, 8 * time.Minute, 15 * time.Minute, 15 * time.Minute} {
		p, _ = secLogin(t, env, "pt.jordan", "Wrong-While-Locked-1!", nil)
		secWantLoginCode(t, "a guess while locked", p, secCodeTooMany)
		if again := secLockedUntil(t, admin, jordanID); again == nil || !again.Equal(*until) {
			t.Fatalf("a guess while locked changed the lock from %v to %v", until, again)
		}
		env.Clock.Advance(until.Sub(env.Clock.Now()) + time.Second)
		p, _ = secLogin(t, env, "pt.jordan", fmt.Sprintf("Wrong-After-Lock-%d!", step), nil)
		secWantLoginCode(t, "a wrong guess after the lock ended", p, secCodeInvalidCreds)
		until = secLockedUntil(t, admin, jordanID)
		if until == nil {
			t.Fatalf("step %d: a failure past the threshold did not lock again", step)
		}
		got := until.Sub(env.Clock.Now())
		locks = append(locks, got.Round(time.Second).String())
		if got > 15*time.Minute {
			t.Fatalf("step %d: lock of %v exceeds the maximum of 15m", step, got)
		}
		if got < want-10*time.Second || got > want+time.Second {
			t.Fatalf("step %d: lock of %v, want %v (previous %v)", step, got, want, prev)
		}
		if want < 15*time.Minute && got <= prev {
			t.Fatalf("step %d: lock of %v is not longer than the previous %v", step, got, prev)
		}
		prev = got
	}
	t.Logf("successive locks: 1m then %s", strings.Join(locks, ", "))
	p, _ = secLogin(t, env, "pt.jordan", env.Password, nil)
	secWantLoginCode(t, "right password during the 15m lock", p, secCodeTooMany)
	if !strings.Contains(p.UserErrors[0].Message, "15 minutes") {
		t.Errorf("15m lock message %q", p.UserErrors[0].Message)
	}
	env.Clock.Advance(until.Sub(env.Clock.Now()) + time.Second)
	p, _ = secLogin(t, env, "pt.jordan", env.Password, nil)
	secWantSignedIn(t, "right password once the lock ended", p)
	if secLockedUntil(t, admin, jordanID) != nil {
		t.Fatal("still locked after a successful sign-in")
	}
}

// R29: failures spread over many names from one address lock the address,
// for every account, whatever X-Forwarded-For claims; the accounts
// themselves are not locked.
func TestSecAddressLockSpansAccounts(t *testing.T) {
	t.Parallel()
	opts := apitest.Options{Lockout: lockout.Policy{IPThreshold: 10}}
	apitest.ForEachDatabaseWith(t, opts, func(t *testing.T, env *apitest.Env) {
		admin := env.LoginDemo(demo.AdminUsername)
		names := []string{"pt.jordan", "pt.sam", "spt.avery", "support", "harbor.admin",
			"ghost.one", "ghost.two", "ghost.three@example.com", "ghost.four"}
		for _, n := range names {
			p, _ := secLogin(t, env, n, "Not-The-Password-1!", nil)
			secWantLoginCode(t, "one guess at "+n, p, secCodeInvalidCreds)
		}
		p, _ := secLogin(t, env, demo.AdminUsername, env.Password, nil)
		secWantSignedIn(t, "admin after 9 failures from the address", p)
		p, _ = secLogin(t, env, "ghost.five", "Not-The-Password-1!", nil)
		secWantLoginCode(t, "10th failure", p, secCodeInvalidCreds)

		p, _ = secLogin(t, env, demo.AdminUsername, env.Password, nil)
		secWantLoginCode(t, "admin with the right password from a locked address", p, secCodeTooMany)
		p, _ = secLogin(t, env, "pt.sam", env.Password, nil)
		secWantLoginCode(t, "pt.sam with the right password from a locked address", p, secCodeTooMany)
		spoof := http.Header{"X-Forwarded-For": {"198.51.100.23"}, "X-Real-Ip": {"198.51.100.23"},
			"Forwarded": {"for=198.51.100.23"}}
		p, _ = secLogin(t, env, demo.AdminUsername, env.Password, spoof)
		secWantLoginCode(t, "admin from a locked address claiming another in X-Forwarded-For", p, secCodeTooMany)

		// Accounts tried once are not locked, and sessions go on.
		if until := secLockedUntil(t, admin, imgUserID(t, admin, "pt.jordan")); until != nil {
			t.Fatalf("pt.jordan's account locked by the address lock until %v", until)
		}
		admin.MustDo(`{ viewer { id } }`, nil, nil)

		env.Clock.Advance(61 * time.Second)
		p, _ = secLogin(t, env, demo.AdminUsername, env.Password, nil)
		secWantSignedIn(t, "admin once the address lock ended", p)
	})
}

// R29: an unknown name, a known name with a wrong password and an inactive
// account with the right one get byte-identical answers, before and after
// they are locked.
func secCheckLoginAnswers(t *testing.T, env *apitest.Env) {
	tries := []struct{ what, login, password string }{
		{"unknown name", "nobody.here", "Wrong-Guess-1!"},
		{"known name, wrong password", "spt.avery", "Wrong-Guess-1!"},
		{"inactive account, right password", "pt.fillin", env.Password},
	}
	for round := 1; round <= 6; round++ {
		var first *apitest.Response
		for _, try := range tries {
			p, r := secLogin(t, env, try.login, try.password, nil)
			want := secCodeInvalidCreds
			if round == 6 {
				want = secCodeTooMany
			}
			secWantLoginCode(t, fmt.Sprintf("round %d, %s", round, try.what), p, want)
			if first == nil {
				first = r
				if round == 1 || round == 6 {
					t.Logf("round %d answer: %s", round, r.Data)
				}
				continue
			}
			if !bytes.Equal(r.Data, first.Data) {
				t.Fatalf("round %d: %s answers\n%s\nbut %s answers\n%s", round, tries[0].what, first.Data, try.what, r.Data)
			}
		}
	}
}

// R29: the account lock is per account, so it must not tell an attacker
// which email belongs to which username (or that either exists): lock a
// username, then try an email.
func TestSecLockoutDoesNotLinkUsernameAndEmail(t *testing.T) {
	// Not parallel: it measures response times.
	apitest.ForEachDatabaseWith(t, apitest.Options{Serial: true}, func(t *testing.T, env *apitest.Env) {
		answer := func(name, email string) secLoginPayload {
			for i := 1; i <= 5; i++ {
				secLogin(t, env, name, fmt.Sprintf("Wrong-Guess-%d!", i), nil)
			}
			p, _ := secLogin(t, env, email, "Wrong-Guess-6!", nil)
			return p
		}
		known := answer("pt.jordan", "pt.jordan@sunrise-therapy.example")
		unknown := answer("ghost.jordan", "ghost.jordan@sunrise-therapy.example")
		if fmt.Sprint(known) != fmt.Sprint(unknown) {
			t.Fatalf("email after locking its username: existing account answers %+v, unknown one %+v", known.UserErrors, unknown.UserErrors)
		}
	})
}

// R30: requestPasswordReset answers the same, in about the same time, for an
// active account, an unknown name and an inactive account; only the active
// account gets mail.
func secCheckResetRequests(t *testing.T, env *apitest.Env) {
	kinds := []struct{ what, login string }{
		{"active account", "ot.casey"},
		{"unknown name", "nobody@nowhere.example"},
		{"inactive account", "pt.fillin"},
	}
	times := make([][]time.Duration, len(kinds))
	var first []byte
	for round := 0; round < 5; round++ {
		for i, k := range kinds {
			r, took := secRequestReset(t, env, k.login)
			times[i] = append(times[i], took)
			if first == nil {
				first = r.Body
			} else if !bytes.Equal(r.Body, first) {
				t.Fatalf("%s answers %s, %s answered %s", k.what, r.Body, kinds[0].what, first)
			}
			if took < 290*time.Millisecond {
				t.Errorf("%s answered in %v, under the 300ms floor", k.what, took)
			}
		}
	}
	var medians []time.Duration
	for i, k := range kinds {
		medians = append(medians, secMedian(times[i]))
		t.Logf("requestPasswordReset %s: median %v of %v", k.what, medians[i].Round(time.Millisecond), times[i])
	}
	lo, hi := slices.Min(medians), slices.Max(medians)
	if hi-lo > 100*time.Millisecond {
		t.Fatalf("medians differ by %v (more than 100ms): %v", hi-lo, medians)
	}
	adjEventually(t, "a reset email to ot.casey", 10*time.Second, func() bool {
		return len(secMailTokens(t, env, "ot.casey@sunrise-therapy.example")) > 0
	})
	if n := len(secMailTokens(t, env, "pt.fillin@sunrise-therapy.example")); n > 0 {
		t.Fatalf("the inactive account got %d reset links", n)
	}
	files, _ := filepath.Glob(filepath.Join(env.Outbox, "*.eml"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		if strings.Contains(string(b), "nowhere.example") {
			t.Fatalf("mail sent to an unknown address: %s", f)
		}
	}
}

// R30: reset links work once, within an hour, only for their user; a newer
// link, a manager's setUserPassword and the reset itself void them; a
// reset ends the user's sessions and clears their lockout; R7 applies and a
// refused password leaves the link usable; tokens reach neither the audit
// trail nor the log.
func secCheckResetLinks(t *testing.T, env *apitest.Env, admin *apitest.Client, logs *secLogBuffer) {
	const samEmail = "pt.sam@sunrise-therapy.example"
	samID := imgUserID(t, admin, "pt.sam")
	samOld := env.LoginDemo("pt.sam")
	seen := map[string]bool{}
	anon := env.Anonymous()

	secRequestReset(t, env, "PT.Sam@Sunrise-Therapy.example")
	tok1 := secWaitToken(t, env, samEmail, seen)
	if len(tok1) < 40 {
		t.Fatalf("reset token %q is short", tok1)
	}

	// Guessing: one reset per request, and wrong tokens get nowhere.
	r := anon.Do(`mutation($t: String!) { a: resetPassword(input: {token: $t, password: "Glacier!Walnut-Trombone-47"}) { succeeded }
		b: resetPassword(input: {token: "guess", password: "Glacier!Walnut-Trombone-47"}) { succeeded } }`, map[string]any{"t": tok1})
	limRefused(t, "two resetPassword in one request", r)
	flipped := tok1[:len(tok1)-1] + string(authFlip(tok1[len(tok1)-1]))
	for _, bad := range []string{"", "guess", flipped, strings.ToUpper(tok1), tok1 + "A", strings.Repeat("A", 5000)} {
		secWantResetCode(t, fmt.Sprintf("token %.20q", bad), secReset(t, env, bad, secStrong1), secCodeInvalidReset)
	}

	// R7 applies; a refused password leaves the link usable.
	for _, weak := range []string{"password", "Short1!", "Sunrise-pt.sam-Harbor-99!"} {
		secWantResetCode(t, "weak password "+weak, secReset(t, env, tok1, weak), secCodeWeak)
	}
	if p := secReset(t, env, tok1, secStrong1); !p.Succeeded || len(p.UserErrors) > 0 {
		t.Fatalf("reset with a fresh link: %+v", p)
	}
	secWantResetCode(t, "the same link again", secReset(t, env, tok1, secStrong2), secCodeInvalidReset)
	authAssertTokenRefused(t, env, "pt.sam's access token from before the reset", samOld.Token)
	_, refreshed := authDoRefresh(t, env, samOld.RefreshToken)
	authAssertInvalidRefresh(t, "pt.sam's refresh token from before the reset", refreshed)
	p, _ := secLogin(t, env, "pt.sam", env.Password, nil)
	secWantLoginCode(t, "old password after the reset", p, secCodeInvalidCreds)
	p, _ = secLogin(t, env, "pt.sam", secStrong1, nil)
	secWantSignedIn(t, "new password after the reset", p)
	// The token changed pt.sam's password and nobody else's.
	for _, other := range []string{"pt.jordan", demo.AdminUsername} {
		p, _ = secLogin(t, env, other, env.Password, nil)
		secWantSignedIn(t, other+" after pt.sam's reset", p)
	}

	// Links expire after an hour, not before.
	send := `mutation($id: ID!) { sendPasswordResetEmail(input: {userId: $id}) { user { id } userErrors { code } } }`
	admin.MustDo(send, map[string]any{"id": samID}, nil)
	tok2 := secWaitToken(t, env, samEmail, seen)
	env.Clock.Advance(61 * time.Minute)
	secWantResetCode(t, "a link after 61 minutes", secReset(t, env, tok2, secStrong2), secCodeInvalidReset)
	admin.MustDo(send, map[string]any{"id": samID}, nil)
	tok3 := secWaitToken(t, env, samEmail, seen)
	env.Clock.Advance(59 * time.Minute)
	if p := secReset(t, env, tok3, secStrong2); !p.Succeeded {
		t.Fatalf("a link after 59 minutes: %+v", p)
	}

	// A newer link voids the older one.
	secRequestReset(t, env, "pt.sam")
	tokA := secWaitToken(t, env, samEmail, seen)
	secRequestReset(t, env, "pt.sam")
	tokB := secWaitToken(t, env, samEmail, seen)
	secWantResetCode(t, "a link older than the newest", secReset(t, env, tokA, secStrong3), secCodeInvalidReset)
	if p := secReset(t, env, tokB, secStrong3); !p.Succeeded {
		t.Fatalf("the newest link: %+v", p)
	}

	// A manager's setUserPassword voids an outstanding link.
	secRequestReset(t, env, samEmail)
	tokC := secWaitToken(t, env, samEmail, seen)
	var set struct {
		SetUserPassword struct{ UserErrors []apitest.UserError }
	}
	admin.MustDo(`mutation($id: ID!, $p: String!) { setUserPassword(input: {userId: $id, password: $p}) { userErrors { code } } }`,
		map[string]any{"id": samID, "p": secStrong4}, &set)
	if len(set.SetUserPassword.UserErrors) > 0 {
		t.Fatalf("setUserPassword: %+v", set.SetUserPassword.UserErrors)
	}
	secWantResetCode(t, "a link sent before setUserPassword", secReset(t, env, tokC, secStrong5), secCodeInvalidReset)
	p, _ = secLogin(t, env, "pt.sam", secStrong4, nil)
	secWantSignedIn(t, "the password the manager set", p)

	// Completing a reset clears a lockout.
	for i := 1; i <= 5; i++ {
		secLogin(t, env, "pt.sam", fmt.Sprintf("Wrong-Guess-%d!", i), nil)
	}
	p, _ = secLogin(t, env, "pt.sam", secStrong4, nil)
	secWantLoginCode(t, "pt.sam after 5 failures", p, secCodeTooMany)
	secRequestReset(t, env, "pt.sam")
	tokD := secWaitToken(t, env, samEmail, seen)
	if p := secReset(t, env, tokD, secStrong6); !p.Succeeded {
		t.Fatalf("reset of a locked account: %+v", p)
	}
	p, _ = secLogin(t, env, "pt.sam", secStrong6, nil)
	secWantSignedIn(t, "pt.sam right after resetting a locked account", p)

	// No token in the audit trail (which records the resets) or the log.
	admin = env.LoginDemo(demo.AdminUsername)
	_, ar := audMustEvents(t, admin, map[string]any{"first": 100})
	for _, action := range []string{"PASSWORD_RESET_SENT", "PASSWORD_RESET_COMPLETED"} {
		if !strings.Contains(string(ar.Body), action) {
			t.Errorf("audit trail has no %s event", action)
		}
	}
	logged := logs.String()
	if !strings.Contains(logged, "outbox") {
		t.Fatalf("the log capture saw no mail being written; captured:\n%.2000s", logged)
	}
	for tok := range seen {
		if strings.Contains(string(ar.Body), tok) {
			t.Fatalf("the audit trail holds a reset token")
		}
		if strings.Contains(logged, tok) {
			t.Fatalf("the log holds a reset token")
		}
	}
	t.Logf("checked %d reset tokens against the audit trail (%d bytes) and the log (%d bytes)", len(seen), len(ar.Body), len(logged))
}

type secSession struct {
	ID        string
	CreatedAt time.Time
	ExpiresAt time.Time
	ClientIP  string `json:"clientIp"`
	UserAgent string
	Current   bool
}

func secSessions(t *testing.T, c *apitest.Client, userID any) []secSession {
	t.Helper()
	var out struct{ Sessions []secSession }
	c.MustDo(secSessionsQuery, map[string]any{"u": userID}, &out)
	return out.Sessions
}

type secRevokePayload struct {
	Revoked    int
	UserErrors []apitest.UserError
}

func secRevoke(t *testing.T, c *apitest.Client, mutation string, vars map[string]any) secRevokePayload {
	t.Helper()
	var out struct{ RevokeSessions secRevokePayload }
	c.MustDo(mutation, vars, &out)
	return out.RevokeSessions
}

// R25: a user lists their sessions and ends one; a manager ends all of a
// user's; staff and another organization's manager can do neither to
// someone else, nor send them a reset link or clear their lockout.
func secCheckSessions(t *testing.T, env *apitest.Env, admin *apitest.Client) {
	rileyID := imgUserID(t, admin, "slp.riley")
	s1 := env.LoginDemo("slp.riley")
	s2 := env.LoginDemo("slp.riley")

	list := secSessions(t, s1, nil)
	if len(list) != 2 {
		t.Fatalf("slp.riley's sessions: %+v, want 2", list)
	}
	var mine, other secSession
	for _, s := range list {
		if s.Current {
			mine = s
		} else {
			other = s
		}
	}
	if mine.ID == "" || other.ID == "" || mine.ID == other.ID {
		t.Fatalf("want exactly one current session: %+v", list)
	}
	if mine.ClientIP == "" || mine.UserAgent == "" || !mine.ExpiresAt.After(mine.CreatedAt) {
		t.Fatalf("session details: %+v", mine)
	}
	raw := s1.Do(secSessionsQuery, nil).Body
	for _, secret := range []string{s1.Token, s1.RefreshToken, s2.Token, s2.RefreshToken} {
		if strings.Contains(string(raw), secret) {
			t.Fatalf("sessions shows a token: %s", raw)
		}
	}
	if got := secSessions(t, admin, rileyID); len(got) != 2 || got[0].Current || got[1].Current {
		t.Fatalf("admin's view of slp.riley's sessions: %+v", got)
	}

	// Staff cannot see or end someone else's sessions.
	taylor := env.LoginDemo("pta.taylor")
	var adminSession string
	for _, s := range secSessions(t, admin, nil) {
		if s.Current {
			adminSession = s.ID
		}
	}
	if adminSession == "" {
		t.Fatal("the admin's sessions do not include the current one")
	}
	secWantRefused(t, "pta.taylor lists slp.riley's sessions", taylor.Do(secSessionsQuery, map[string]any{"u": rileyID}), "sessions", "FORBIDDEN", "NOT_FOUND")
	secWantRefused(t, "pta.taylor ends slp.riley's sessions", taylor.Do(secRevokeByUser, map[string]any{"u": rileyID}), "revokeSessions", "FORBIDDEN", "NOT_FOUND")
	secWantRefused(t, "pta.taylor ends the admin's session", taylor.Do(secRevokeById, map[string]any{"s": adminSession}), "revokeSessions", "FORBIDDEN", "NOT_FOUND")

	// Another organization's manager cannot either.
	harbor := env.LoginDemo("harbor.admin")
	secWantRefused(t, "harbor.admin lists slp.riley's sessions", harbor.Do(secSessionsQuery, map[string]any{"u": rileyID}), "sessions", "FORBIDDEN", "NOT_FOUND")
	secWantRefused(t, "harbor.admin ends slp.riley's sessions", harbor.Do(secRevokeByUser, map[string]any{"u": rileyID}), "revokeSessions", "FORBIDDEN", "NOT_FOUND")
	secWantRefused(t, "harbor.admin ends one slp.riley session", harbor.Do(secRevokeById, map[string]any{"s": other.ID}), "revokeSessions", "FORBIDDEN", "NOT_FOUND")
	// Nor send them reset links or clear their lockout.
	send := `mutation($id: ID!) { sendPasswordResetEmail(input: {userId: $id}) { user { id } userErrors { code } } }`
	clear := `mutation($id: ID!) { clearLockout(input: {userId: $id}) { user { id } userErrors { code } } }`
	for _, c := range []struct {
		who    string
		client *apitest.Client
	}{{"harbor.admin", harbor}, {"pta.taylor", taylor}} {
		secWantRefused(t, c.who+" sends slp.riley a reset link", c.client.Do(send, map[string]any{"id": rileyID}), "sendPasswordResetEmail", "FORBIDDEN", "NOT_FOUND")
		secWantRefused(t, c.who+" clears slp.riley's lockout", c.client.Do(clear, map[string]any{"id": rileyID}), "clearLockout", "FORBIDDEN", "NOT_FOUND")
	}
	var seen struct {
		Node *struct{ LockedUntil *time.Time }
	}
	harbor.Do(`query($id: ID!) { node(id: $id) { ... on User { lockedUntil } } }`, map[string]any{"id": rileyID}).Decode(t, &seen)
	if seen.Node != nil {
		t.Fatalf("harbor.admin sees slp.riley: %+v", seen.Node)
	}
	admin.MustDo(`{ viewer { id } }`, nil, nil)
	if got := secSessions(t, s1, nil); len(got) != 2 {
		t.Fatalf("slp.riley's sessions after refused revocations: %+v", got)
	}

	// slp.riley ends the other session: its tokens die, this one lives.
	if p := secRevoke(t, s1, secRevokeById, map[string]any{"s": other.ID}); p.Revoked != 1 || len(p.UserErrors) > 0 {
		t.Fatalf("revoking the other session: %+v", p)
	}
	authAssertTokenRefused(t, env, "the revoked session's access token", s2.Token)
	_, refreshed := authDoRefresh(t, env, s2.RefreshToken)
	authAssertInvalidRefresh(t, "the revoked session's refresh token", refreshed)
	authAssertViewer(t, env, "the session that revoked the other", s1.Token, "slp.riley")
	if got := secSessions(t, s1, nil); len(got) != 1 || !got[0].Current || got[0].ID != mine.ID {
		t.Fatalf("sessions after revoking the other: %+v", got)
	}

	// The admin ends all of slp.riley's sessions.
	if p := secRevoke(t, admin, secRevokeByUser, map[string]any{"u": rileyID}); p.Revoked != 1 || len(p.UserErrors) > 0 {
		t.Fatalf("admin revoking slp.riley's sessions: %+v", p)
	}
	authAssertTokenRefused(t, env, "slp.riley's last session after the admin revoked all", s1.Token)
	if got := secSessions(t, admin, rileyID); len(got) != 0 {
		t.Fatalf("slp.riley's sessions after revoking all: %+v", got)
	}
	authAssertViewer(t, env, "the admin's own session", admin.Token, demo.AdminUsername)
	if n := len(secMailTokens(t, env, "slp.riley@sunrise-therapy.example")); n > 0 {
		t.Fatalf("slp.riley got %d reset links from refused requests", n)
	}
}

// Oversized requests are refused with a clear error, quickly: the time is
// the HTTP round trip as a client sees it.
func secCheckOversized(t *testing.T, env *apitest.Env, admin *apitest.Client) {
	auth := http.Header{"Authorization": {"Bearer " + admin.Token}}

	var aliases strings.Builder
	aliases.WriteString("{")
	for i := range 10000 {
		fmt.Fprintf(&aliases, " a%d: viewer { id }", i)
	}
	aliases.WriteString(" }")
	deep := "{ viewer { " + strings.Repeat("homeClinic { users(first: 1) { edges { node { ", 12) + "id" +
		strings.Repeat(" } } } }", 12) + " } }"
	batch := make([]map[string]any, 1000)
	for i := range batch {
		batch[i] = map[string]any{"query": `mutation { login(input: {login: "admin", password: "guess"}) { accessToken } }`}
	}
	batchBody, _ := json.Marshal(batch)
	huge := secBody(t, `query($pad: String) { viewer { id } }`, map[string]any{"pad": strings.Repeat("x", 1<<20)})

	attacks := []struct {
		name string
		body []byte
		// clear: the refusal must contain one of these.
		clear []string
	}{
		// Refused by the alias limit, or by a limit on the query's length.
		{"10,000 aliases", secBody(t, aliases.String(), nil), []string{"aliases", "token limit"}},
		{"depth 50", secBody(t, deep, nil), []string{"deep"}},
		{"users(first: 100000)", secBody(t, `{ users(first: 100000) { totalCount edges { node { id } } } }`, nil), []string{"100"}},
		{"batch of 1,000 logins", batchBody, []string{"batching is not supported"}},
		{fmt.Sprintf("body of %d bytes", len(huge)), huge, []string{"too large"}},
	}
	for _, a := range attacks {
		r, _, took := secPost(t, env, auth, a.body)
		t.Logf("refused %s in %d ms (status %d, %d-byte request): %.160s", a.name, took.Milliseconds(), r.Status, len(a.body), r.Body)
		if len(r.Errors) == 0 || (len(r.Data) > 0 && string(r.Data) != "null") {
			t.Errorf("%s not refused: status %d %.300s", a.name, r.Status, r.Body)
			continue
		}
		if a.clear != nil && !slices.ContainsFunc(a.clear, func(s string) bool { return strings.Contains(r.Errors[0].Message, s) }) {
			t.Errorf("%s: refusal %q does not say any of %q", a.name, r.Errors[0].Message, a.clear)
		}
		if strings.Contains(string(r.Body), "INVALID_CREDENTIALS") {
			t.Errorf("%s: some of it ran: %.300s", a.name, r.Body)
		}
		if took > time.Second {
			t.Errorf("%s: refused after %v, want under 1s", a.name, took)
		}
	}
	// The server is still fine.
	authAssertViewer(t, env, "admin after the attacks", admin.Token, demo.AdminUsername)
}

// Queries that are small on the wire but make validation itself do a lot
// of work: fragments spread twice at each of many levels (the work doubles
// per level, though execution merges them) and one field repeated
// thousands of times (field-merging validation compares every pair). Each
// must be answered, or refused, quickly.
func TestSecQueryBombsAnsweredQuickly(t *testing.T) {
	// Not parallel: it measures response times.
	apitest.ForEachDatabaseWith(t, apitest.Options{Production: true, Serial: true}, func(t *testing.T, env *apitest.Env) {
		bomb := func(on, top, leaf string, levels int) string {
			var b strings.Builder
			fmt.Fprintf(&b, "query { %s }\n", top)
			for i := range levels {
				fmt.Fprintf(&b, "fragment F%d on %s { ...F%d ...F%d }\n", i, on, i+1, i+1)
			}
			fmt.Fprintf(&b, "fragment F%d on %s { %s }\n", levels, on, leaf)
			return b.String()
		}
		attacks := []struct{ name, query string }{
			// 2^23 spreads; the cost limit refuses it, but only after walking them all.
			{"fragment bomb, 23 levels", bomb("Query", "...F0", "__typename", 23)},
			// Introspection costs nothing, so nothing stops the walk (in
			// production too, where introspection itself is refused).
			{"introspection fragment bomb, 23 levels", bomb("__Schema", "__schema { ...F0 }", "description", 23)},
			{"one field 4,000 times", "{ viewer { " + strings.Repeat("id ", 4000) + "} }"},
		}
		for _, a := range attacks {
			body := secBody(t, a.query, nil)
			r, _, took := secPost(t, env, nil, body)
			t.Logf("%s (%d-byte request): answered in %d ms, status %d: %.160s", a.name, len(body), took.Milliseconds(), r.Status, r.Body)
			// A 209 kB request of 10,000 aliases is refused in well under this.
			if took > 300*time.Millisecond {
				t.Errorf("%s: a %d-byte request kept the server busy for %v (want under 300ms): the work grows without bound with the size of the query",
					a.name, len(body), took)
			}
		}
	})
}

func secGet(t *testing.T, env *apitest.Env, method, path string, header http.Header) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, env.Server.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	res, err := env.Server.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	return res, string(b)
}

func secWantHeaders(t *testing.T, what string, h http.Header, api bool) {
	t.Helper()
	want := map[string]string{
		"X-Content-Type-Options": "nosniff",
		"X-Frame-Options":        "DENY",
		"Referrer-Policy":        "no-referrer",
	}
	if api {
		want["Cache-Control"] = "no-store"
	}
	for k, v := range want {
		if h.Get(k) != v {
			t.Errorf("%s: %s = %q, want %q", what, k, h.Get(k), v)
		}
	}
	csp := h.Get("Content-Security-Policy")
	if !strings.Contains(csp, "frame-ancestors 'none'") || (api && !strings.Contains(csp, "default-src 'none'")) {
		t.Errorf("%s: Content-Security-Policy %q", what, csp)
	}
}

// Every answer carries the security headers; CORS answers only the admin
// app's origin; a mutation cannot ride on a GET (a link or an image).
func secCheckHeadersAndCORS(t *testing.T, env *apitest.Env, admin *apitest.Client) {
	_, h, _ := secPost(t, env, http.Header{"Authorization": {"Bearer " + admin.Token}}, secBody(t, `{ viewer { id } }`, nil))
	secWantHeaders(t, "POST /graphql", h, true)
	if !strings.HasPrefix(h.Get("Content-Type"), "application/") {
		t.Errorf("POST /graphql Content-Type %q", h.Get("Content-Type"))
	}
	r, h, _ := secPost(t, env, nil, []byte(`{"query": `))
	if r.Status < 400 {
		t.Errorf("malformed JSON: status %d", r.Status)
	}
	secWantHeaders(t, "POST /graphql with a malformed body", h, true)
	res, _ := secGet(t, env, http.MethodGet, "/healthz", nil)
	secWantHeaders(t, "GET /healthz", res.Header, false)
	res, _ = secGet(t, env, http.MethodGet, "/", nil)
	secWantHeaders(t, "GET / (GraphiQL)", res.Header, false)

	preflight := func(origin string) *http.Response {
		res, _ := secGet(t, env, http.MethodOptions, "/graphql", http.Header{"Origin": {origin},
			"Access-Control-Request-Method": {"POST"}, "Access-Control-Request-Headers": {"authorization,content-type"}})
		return res
	}
	if got := preflight("http://evil.example").Header.Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("CORS preflight from http://evil.example allowed: %q", got)
	}
	if got := preflight("http://localhost:3000").Header.Get("Access-Control-Allow-Origin"); got != "http://localhost:3000" {
		t.Errorf("CORS preflight from the admin app: Access-Control-Allow-Origin %q", got)
	}
	res, body := secGet(t, env, http.MethodGet, "/graphql?query="+
		"mutation%7BsetUserStatus(input%3A%7BuserId%3A%22x%22%2Cstatus%3AINACTIVE%7D)%7Buser%7Bid%7D%7D%7D",
		http.Header{"Authorization": {"Bearer " + admin.Token}, "Origin": {"http://evil.example"}})
	if res.StatusCode < 400 && !strings.Contains(body, "errors") || strings.Contains(body, `"user":{`) {
		t.Errorf("a mutation over GET: status %d %s", res.StatusCode, body)
	}
	if got := res.Header.Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("GET from http://evil.example answered with Access-Control-Allow-Origin %q", got)
	}
}

// Production mode: no introspection, no field suggestions, no GraphiQL,
// HSTS. The same checks on a development server show each one is a real
// difference; that server also gets the header and CORS checks.
func TestSecProductionMode(t *testing.T) {
	t.Parallel()
	for _, dialect := range apitest.Dialects {
		t.Run(dialect, func(t *testing.T) { secCheckProductionMode(t, dialect) })
	}
}

func secCheckProductionMode(t *testing.T, dialect string) {
	prod := apitest.New(t, dialect, apitest.Options{Production: true})
	dev := apitest.New(t, dialect, apitest.Options{})
	secCheckHeadersAndCORS(t, dev, dev.LoginDemo(demo.AdminUsername))
	for _, s := range []struct {
		name string
		env  *apitest.Env
	}{{"production", prod}, {"development", dev}} {
		production := s.env == prod
		admin := s.env.LoginDemo(demo.AdminUsername)
		for _, q := range []struct{ field, query string }{
			{"__schema", `{ __schema { types { name } } }`},
			{"__type", `{ __type(name: "User") { name fields { name } } }`},
		} {
			r := admin.Do(q.query, nil)
			if !production {
				if len(r.Errors) > 0 || !strings.Contains(string(r.Data), "lockedUntil") && q.field == "__type" {
					t.Fatalf("development %s: %.300s", q.field, r.Body)
				}
				continue
			}
			if len(r.Errors) == 0 || strings.Contains(string(r.Data), `"name"`) {
				t.Fatalf("production %s answered: %.300s", q.field, r.Body)
			}
			if r.Code() == "INTERNAL_SERVER_ERROR" {
				t.Errorf("production %s refused as %s (%q): a deliberate refusal reported and logged as a server fault",
					q.field, r.Code(), r.Errors[0].Message)
			}
		}
		r := admin.Do(`{ viewer { usernme } }`, nil)
		if len(r.Errors) == 0 || !strings.Contains(r.Errors[0].Message, "usernme") {
			t.Fatalf("%s: misspelled field: %s", s.name, r.Body)
		}
		if suggests := strings.Contains(string(r.Body), "Did you mean"); suggests == production {
			t.Fatalf("%s: misspelled field, suggestion shown = %v: %s", s.name, suggests, r.Body)
		}
		res, body := secGet(t, s.env, http.MethodGet, "/", nil)
		if production && res.StatusCode != http.StatusNotFound || !production && res.StatusCode != http.StatusOK {
			t.Fatalf("%s: GET / status %d: %.200s", s.name, res.StatusCode, body)
		}
		for _, path := range []string{"/", "/graphql", "/healthz"} {
			res, _ := secGet(t, s.env, http.MethodGet, path, nil)
			hsts := res.Header.Get("Strict-Transport-Security")
			if production && !strings.Contains(hsts, "max-age=") {
				t.Errorf("production GET %s: no HSTS", path)
			}
			if production {
				secWantHeaders(t, "production GET "+path, res.Header, path == "/graphql")
			}
		}
	}
}
