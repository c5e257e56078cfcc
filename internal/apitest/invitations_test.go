package apitest_test

// API tests of invitations (issue #13): createUser without a password emails
// the user a single-use, expiring link to set their own, through the reset
// machinery (resetPassword); sendInvitation sends a new one. On SQLite and
// PostgreSQL.

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clinicemr/usermanager/internal/apitest"
)

const (
	invSendMutation = `mutation($in: SendInvitationInput!) { sendInvitation(input: $in) {
		user { id invitationPending } userErrors { field message code } } }`
	invUserQuery = `query($id: ID!) { node(id: $id) { ... on User { invitationPending status } } }`
	invOrgName   = "Sunrise Therapy Group"
	invAdminName = "Alex Morgan"
	// invClerkName is the display name conSetup gives con.clerk.
	invClerkName = "Con con clerk"
	invTTL       = 7 * 24 * time.Hour
)

var invLinkRE = regexp.MustCompile(`reset-password\?token=([A-Za-z0-9_-]+)&invite=1`)

// invCreate has the Company Admin create a Clerical user without a
// password at Downtown (and the extra clinics), and returns their ID.
func invCreate(t *testing.T, c *conEnv, username string, extraClinics ...string) string {
	t.Helper()
	in := conNewUser(username, "CLERICAL", c.clinics[profDowntown], []string{"VIEW_PATIENTS"})
	delete(in, "password")
	for _, name := range extraClinics {
		in["clinicIds"] = append(in["clinicIds"].([]string), c.clinics[name])
	}
	p := profMustSucceed(t, c.admin, "createUser", in)
	if p.User.Status != "ACTIVE" {
		t.Fatalf("%s was saved %s: %v", username, p.User.Status, p.warningCodes())
	}
	return p.User.ID
}

func invEmail(username string) string { return username + "@containment.example" }

// invMail returns the outbox's messages to email.
func invMail(env *apitest.Env, email string) []string {
	var out []string
	for _, text := range env.Mail() {
		if strings.Contains(strings.ToLower(text), "to: <"+email+">") || strings.Contains(strings.ToLower(text), "to: "+email) {
			out = append(out, text)
		}
	}
	return out
}

// invWaitToken waits for an invitation email to email with a token not in
// seen, checks what it says (inviter: who invited them), and returns the
// token (adding it to seen).
func invWaitToken(t *testing.T, env *apitest.Env, email, inviter string, seen map[string]bool) string {
	t.Helper()
	var token, text string
	adjEventually(t, "an invitation email to "+email, 15*time.Second, func() bool {
		for _, m := range invMail(env, email) {
			for _, sub := range invLinkRE.FindAllStringSubmatch(m, -1) {
				if !seen[sub[1]] {
					token, text = sub[1], m
					return true
				}
			}
		}
		return false
	})
	seen[token] = true
	for _, want := range []string{"invited you to " + invOrgName, "expires at", "works once"} {
		if !strings.Contains(strings.Join(strings.Fields(text), " "), want) {
			t.Errorf("the invitation does not say %q:\n%s", want, text)
		}
	}
	if !strings.Contains(text, inviter+" invited you") {
		t.Errorf("the invitation does not name who invited them (%s):\n%s", inviter, text)
	}
	return token
}

func invPasswordSet(t *testing.T, c *apitest.Client, id string) bool {
	t.Helper()
	var out struct {
		Node *struct {
			InvitationPending bool
			Status            string
		}
	}
	profMustDo(t, c, invUserQuery, map[string]any{"id": id}, &out)
	if out.Node == nil {
		t.Fatalf("node(%s) is null", id)
	}
	return !out.Node.InvitationPending
}

type invSendPayload struct {
	User       *struct{ ID string }
	UserErrors []apitest.UserError
}

func invSend(t *testing.T, c *apitest.Client, id string) (*invSendPayload, *apitest.Response) {
	t.Helper()
	r := c.Do(invSendMutation, map[string]any{"in": map[string]any{"userId": id}})
	if len(r.Errors) > 0 {
		return nil, r
	}
	var out struct{ SendInvitation invSendPayload }
	r.Decode(t, &out)
	return &out.SendInvitation, r
}

func invMustSend(t *testing.T, c *apitest.Client, id string) {
	t.Helper()
	p, r := invSend(t, c, id)
	if p == nil || p.User == nil || len(p.UserErrors) > 0 {
		t.Fatalf("sendInvitation(%s): %s", id, r.Body)
	}
}

func invWantUserError(t *testing.T, what string, c *apitest.Client, id, code string) {
	t.Helper()
	p, r := invSend(t, c, id)
	if p == nil || p.User != nil || len(p.UserErrors) != 1 || p.UserErrors[0].Code != code {
		t.Fatalf("%s: want the userError %s, got %s", what, code, r.Body)
	}
}

// invLoginErrors signs in and returns the userErrors as JSON (no token
// expected).
func invLoginErrors(t *testing.T, env *apitest.Env, login, password string) string {
	t.Helper()
	var out struct{ Login secLoginPayload }
	env.Anonymous().MustDo(secLoginMutation, map[string]any{"l": login, "p": password}, &out)
	if out.Login.AccessToken != nil {
		t.Fatalf("login %s signed in", login)
	}
	b, _ := json.Marshal(out.Login.UserErrors)
	return string(b)
}

// createUser without a password: invitationPending true and an invitation in the
// mail; the user cannot sign in (answered exactly as a wrong password)
// until they set a password with the link's token, once.
func TestInvitationCreateWithoutPassword(t *testing.T) {
	t.Parallel()
	apitest.ForEachDatabase(t, func(t *testing.T, env *apitest.Env) {
		c := conSetup(t, env)
		id := invCreate(t, c, "inv.new")
		if invPasswordSet(t, c.admin, id) {
			t.Fatal("an invited user has invitationPending false")
		}
		token := invWaitToken(t, env, invEmail("inv.new"), invAdminName, map[string]bool{})

		// Sign-in before accepting: as a wrong password of a real account,
		// by username or email, whatever is typed (even an empty-looking
		// guess of what the unusable hash might hold).
		wrong := invLoginErrors(t, env, "con.clerk", "Wrong-password-1!")
		for _, login := range []string{"inv.new", invEmail("inv.new")} {
			for _, pw := range []string{profStrong, "x", "!"} {
				if got := invLoginErrors(t, env, login, pw); got != wrong {
					t.Fatalf("login %s before accepting: %s, want as a wrong password: %s", login, got, wrong)
				}
			}
		}
		if !strings.Contains(wrong, secCodeInvalidCreds) {
			t.Fatalf("a wrong password answers %s", wrong)
		}

		// The strength rules apply (R7), and a refusal leaves the link usable.
		secWantResetCode(t, "a weak password", secReset(t, env, token, "weakling"), secCodeWeak)
		if p := secReset(t, env, token, secStrong1); !p.Succeeded {
			t.Fatalf("accepting the invitation: %+v", p.UserErrors)
		}
		if !invPasswordSet(t, c.admin, id) {
			t.Fatal("invitationPending is still true after accepting the invitation")
		}
		env.Login("inv.new", secStrong1)
		// Single use.
		secWantResetCode(t, "the used link", secReset(t, env, token, secStrong2), secCodeInvalidReset)
		env.Login("inv.new", secStrong1)
	})
}

// The link expires after INVITATION_TTL (7 days by default), not after
// PASSWORD_RESET_TTL.
func TestInvitationLinkExpires(t *testing.T) {
	t.Parallel()
	apitest.ForEachDatabase(t, func(t *testing.T, env *apitest.Env) {
		c := conSetup(t, env)
		invCreate(t, c, "inv.late")
		token := invWaitToken(t, env, invEmail("inv.late"), invAdminName, map[string]bool{})

		// Still valid a day before it expires (a weak password proves the
		// link was accepted without using it up).
		env.Clock.Advance(invTTL - 24*time.Hour)
		secWantResetCode(t, "six days later", secReset(t, env, token, "weakling"), secCodeWeak)
		env.Clock.Advance(24*time.Hour + time.Minute)
		secWantResetCode(t, "after INVITATION_TTL", secReset(t, env, token, secStrong1), secCodeInvalidReset)
		if got := invLoginErrors(t, env, "inv.late", secStrong1); !strings.Contains(got, secCodeInvalidCreds) {
			t.Fatalf("login after the link expired: %s", got)
		}
	})
}

// sendInvitation: a new link voids the earlier one; refused once the user
// has a password (NOT_APPLICABLE), while inactive (USER_INACTIVE, as
// sendPasswordResetEmail), for a user the manager may not manage (R33) and
// without Edit Users (FORBIDDEN). requestPasswordReset and
// sendPasswordResetEmail for an invited user send a fresh invitation.
func TestInvitationSendInvitation(t *testing.T) {
	t.Parallel()
	apitest.ForEachDatabase(t, func(t *testing.T, env *apitest.Env) {
		c := conSetup(t, env)
		id := invCreate(t, c, "inv.again")
		email := invEmail("inv.again")
		seen := map[string]bool{}
		first := invWaitToken(t, env, email, invAdminName, seen)

		// The clerk (Edit Users, Downtown) manages this Downtown user.
		invMustSend(t, c.clerk, id)
		second := invWaitToken(t, env, email, invClerkName, seen)
		secWantResetCode(t, "the first link after a new invitation", secReset(t, env, first, secStrong1), secCodeInvalidReset)

		// Anyone asking for a reset of an invited account gets the neutral
		// answer, and the user a fresh invitation (voiding the second).
		var unknown, invited struct{ RequestPasswordReset struct{ Message string } }
		env.Anonymous().MustDo(secRequestResetMutation, map[string]any{"l": "inv.nobody"}, &unknown)
		env.Anonymous().MustDo(secRequestResetMutation, map[string]any{"l": "inv.again"}, &invited)
		if unknown != invited {
			t.Fatalf("requestPasswordReset answers %+v for an invited user, %+v for nobody", invited, unknown)
		}
		third := invWaitToken(t, env, email, invClerkName, seen)
		secWantResetCode(t, "the second link", secReset(t, env, second, secStrong1), secCodeInvalidReset)

		// A manager's sendPasswordResetEmail sends an invitation too.
		r := conDo(c.admin, "sendPasswordResetEmail", "SendPasswordResetEmailInput", "userErrors { code }", map[string]any{"userId": id})
		if len(r.Errors) > 0 || strings.Contains(string(r.Data), "code") {
			t.Fatalf("sendPasswordResetEmail to an invited user: %s", r.Body)
		}
		fourth := invWaitToken(t, env, email, invAdminName, seen)
		secWantResetCode(t, "the third link", secReset(t, env, third, secStrong1), secCodeInvalidReset)

		// Without Edit Users; a manager who lacks one of the user's clinics.
		_, r = invSend(t, c.viewer, id)
		conForbidden(t, "View Users sends an invitation", r, "Edit Users")
		wide := invCreate(t, c, "inv.wide", profNorthside)
		_, r = invSend(t, c.clerk, wide)
		conForbidden(t, "the Downtown clerk invites a Northside user again", r, profNorthside)
		invMustSend(t, c.admin, wide)

		// Inactive: refused as sendPasswordResetEmail refuses it.
		profMustDo(t, c.admin, `mutation($in: SetUserStatusInput!) { setUserStatus(input: $in) { user { status } } }`,
			map[string]any{"in": map[string]any{"userId": id, "status": "INACTIVE"}}, nil)
		invWantUserError(t, "an inactive user", c.admin, id, "USER_INACTIVE")
		profMustDo(t, c.admin, `mutation($in: SetUserStatusInput!) { setUserStatus(input: $in) { user { status } } }`,
			map[string]any{"in": map[string]any{"userId": id, "status": "ACTIVE"}}, nil)

		// Activating them again sends a fresh invitation, voiding the fourth.
		fifth := invWaitToken(t, env, email, invAdminName, seen)
		secWantResetCode(t, "the fourth link after reactivation", secReset(t, env, fourth, secStrong1), secCodeInvalidReset)

		// Accepting makes the invitation not applicable any more.
		if p := secReset(t, env, fifth, secStrong1); !p.Succeeded {
			t.Fatalf("accepting the latest invitation: %+v", p.UserErrors)
		}
		env.Login("inv.again", secStrong1)
		invWantUserError(t, "a user who set a password", c.admin, id, "NOT_APPLICABLE")
		invWantUserError(t, "a user created with a password", c.admin, c.ids["con.clerk"], "NOT_APPLICABLE")
	})
}

// createUser with a password is as before: invitationPending false, no invitation.
func TestInvitationNotSentWithAPassword(t *testing.T) {
	t.Parallel()
	apitest.ForEachDatabase(t, func(t *testing.T, env *apitest.Env) {
		c := conSetup(t, env)
		p := profMustSucceed(t, c.admin, "createUser",
			conNewUser("inv.haspw", "CLERICAL", c.clinics[profDowntown], []string{"VIEW_PATIENTS"}))
		if !invPasswordSet(t, c.admin, p.User.ID) {
			t.Fatal("a user created with a password has invitationPending true")
		}
		env.Login("inv.haspw", profStrong)
		// An invitation created afterwards arrives; none went to the first.
		invCreate(t, c, "inv.after")
		invWaitToken(t, env, invEmail("inv.after"), invAdminName, map[string]bool{})
		if m := invMail(env, invEmail("inv.haspw")); len(m) > 0 {
			t.Fatalf("a user created with a password was emailed: %s", m[0])
		}
		conn, _ := audMustEvents(t, c.admin, map[string]any{"first": 50,
			"filter": map[string]any{"userId": p.User.ID, "actions": []string{"INVITATION_SENT"}}})
		if conn.TotalCount != 0 {
			t.Fatalf("INVITATION_SENT recorded for a user created with a password: %v", conn.actions())
		}
	})
}

// The trail records the invitation (INVITATION_SENT: actor, target, expiry,
// never the token), createUser's record says invited, and accepting is
// PASSWORD_RESET_COMPLETED.
func TestInvitationAudit(t *testing.T) {
	t.Parallel()
	apitest.ForEachDatabase(t, func(t *testing.T, env *apitest.Env) {
		c := conSetup(t, env)
		id := invCreate(t, c, "inv.audit")
		seen := map[string]bool{}
		first := invWaitToken(t, env, invEmail("inv.audit"), invAdminName, seen)
		invMustSend(t, c.clerk, id)
		second := invWaitToken(t, env, invEmail("inv.audit"), invClerkName, seen)

		conn, r := audMustEvents(t, c.admin, map[string]any{"first": 50,
			"filter": map[string]any{"userId": id, "actions": []string{"INVITATION_SENT"}}})
		if conn.TotalCount != 2 {
			t.Fatalf("INVITATION_SENT records: %d, want 2: %s", conn.TotalCount, r.Body)
		}
		actors := []string{}
		for _, e := range conn.Edges {
			ev := e.Node
			actors = append(actors, ev.ActorUsername)
			if ev.TargetUser == nil || ev.TargetUser.Username != "inv.audit" || ev.Outcome != "SUCCESS" {
				t.Errorf("INVITATION_SENT target %v, outcome %s", ev.TargetUser, ev.Outcome)
			}
			exp, _ := ev.After["expiresAt"].(string)
			at, err := time.Parse(time.RFC3339, exp)
			if err != nil || at.Sub(env.Clock.Now()) < invTTL-time.Hour || at.Sub(env.Clock.Now()) > invTTL+time.Minute {
				t.Errorf("INVITATION_SENT expiresAt %q (%v), want about 7 days from now", exp, err)
			}
		}
		slices.Sort(actors)
		if !slices.Equal(actors, []string{"admin", "con.clerk"}) {
			t.Errorf("INVITATION_SENT actors %v, want admin and con.clerk", actors)
		}
		for _, tok := range []string{first, second} {
			if strings.Contains(string(r.Body), tok) {
				t.Fatalf("the trail holds an invitation token: %s", r.Body)
			}
		}

		created, _ := audMustEvents(t, c.admin, map[string]any{"first": 5,
			"filter": map[string]any{"userId": id, "actions": []string{"USER_CREATED"}}})
		if created.TotalCount != 1 || created.Edges[0].Node.After["invited"] != true {
			t.Fatalf("USER_CREATED does not say invited: %+v", created.Edges)
		}

		if p := secReset(t, env, second, secStrong1); !p.Succeeded {
			t.Fatalf("accepting: %+v", p.UserErrors)
		}
		done, r := audMustEvents(t, c.admin, map[string]any{"first": 5,
			"filter": map[string]any{"userId": id, "actions": []string{"PASSWORD_RESET_COMPLETED"}}})
		if done.TotalCount != 1 || done.Edges[0].Node.ActorUsername != "inv.audit" {
			t.Fatalf("PASSWORD_RESET_COMPLETED: %s", r.Body)
		}
		for _, tok := range []string{first, second, secStrong1} {
			if strings.Contains(string(r.Body), tok) {
				t.Fatalf("the trail holds a secret: %s", r.Body)
			}
		}
	})
}

// A user created Inactive without a password is not emailed (their link
// could not be used: resetPassword refuses inactive accounts); once active,
// sendInvitation invites them.
func TestInvitationOfAnInactiveUser(t *testing.T) {
	t.Parallel()
	apitest.ForEachDatabase(t, func(t *testing.T, env *apitest.Env) {
		c := conSetup(t, env)
		in := conNewUser("inv.later", "CLERICAL", c.clinics[profDowntown], []string{"VIEW_PATIENTS"})
		delete(in, "password")
		in["status"] = "INACTIVE"
		p := profMustSucceed(t, c.admin, "createUser", in)
		if p.User.Status != "INACTIVE" || invPasswordSet(t, c.admin, p.User.ID) {
			t.Fatalf("created %s, password set %v", p.User.Status, invPasswordSet(t, c.admin, p.User.ID))
		}
		created, _ := audMustEvents(t, c.admin, map[string]any{"first": 5,
			"filter": map[string]any{"userId": p.User.ID, "actions": []string{"USER_CREATED"}}})
		if created.TotalCount != 1 || created.Edges[0].Node.After["invited"] != true || created.Edges[0].Node.After["invitationSent"] != false {
			t.Fatalf("USER_CREATED of an inactive invited user: %+v", created.Edges)
		}
		invWantUserError(t, "an inactive invited user", c.admin, p.User.ID, "USER_INACTIVE")
		if m := invMail(env, invEmail("inv.later")); len(m) > 0 {
			t.Fatalf("an inactive user was emailed an invitation: %s", m[0])
		}
		// Activating them sends the invitation, without a sendInvitation.
		profMustDo(t, c.admin, `mutation($in: SetUserStatusInput!) { setUserStatus(input: $in) { user { status } } }`,
			map[string]any{"in": map[string]any{"userId": p.User.ID, "status": "ACTIVE"}}, nil)
		token := invWaitToken(t, env, invEmail("inv.later"), invAdminName, map[string]bool{})
		sent, _ := audMustEvents(t, c.admin, map[string]any{"first": 5,
			"filter": map[string]any{"userId": p.User.ID, "actions": []string{"INVITATION_SENT"}}})
		if sent.TotalCount != 1 {
			t.Fatalf("INVITATION_SENT on activation: %d records", sent.TotalCount)
		}
		if r := secReset(t, env, token, secStrong1); !r.Succeeded {
			t.Fatalf("accepting: %+v", r.UserErrors)
		}
		env.Login("inv.later", secStrong1)
	})
}
