package apitest_test

// API tests of the audit trail (SPEC R31): what is recorded, who may read
// it, filters and pagination, and that it cannot be changed.

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"entgo.io/ent/dialect"

	"github.com/clinicemr/usermanager/ent/auditevent"
	"github.com/clinicemr/usermanager/ent/privacy"
	"github.com/clinicemr/usermanager/internal/apitest"
	"github.com/clinicemr/usermanager/internal/demo"
	"github.com/clinicemr/usermanager/internal/gid"
)

const audEventsQuery = `query($after: Cursor, $first: Int, $before: Cursor, $last: Int, $orderBy: AuditEventOrder, $filter: AuditEventSearch) {
  auditEvents(after: $after, first: $first, before: $before, last: $last, orderBy: $orderBy, filter: $filter) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node {
      id createdAt action actorUsername targetType before after outcome reason clientIP requestID
      actor { username } targetUser { username }
    } }
  }
}`

type audEvent struct {
	ID, CreatedAt, Action, ActorUsername, TargetType string
	Before, After                                    map[string]any
	Outcome, Reason, ClientIP, RequestID             string
	Actor, TargetUser                                *struct{ Username string }
}

type audConn struct {
	TotalCount int
	PageInfo   struct {
		HasNextPage, HasPreviousPage bool
		StartCursor, EndCursor       *string
	}
	Edges []struct {
		Cursor string
		Node   audEvent
	}
}

func (c audConn) actions() []string {
	var out []string
	for _, e := range c.Edges {
		out = append(out, e.Node.Action)
	}
	return out
}

// audEvents runs auditEvents; vars may hold after, first, before, last,
// orderBy and filter. It returns the connection, or nil and the response on
// GraphQL errors.
func audEvents(t *testing.T, c *apitest.Client, vars map[string]any) (*audConn, *apitest.Response) {
	t.Helper()
	r := c.Do(audEventsQuery, vars)
	if len(r.Errors) > 0 {
		return nil, r
	}
	var out struct{ AuditEvents audConn }
	r.Decode(t, &out)
	return &out.AuditEvents, r
}

func audMustEvents(t *testing.T, c *apitest.Client, vars map[string]any) (*audConn, *apitest.Response) {
	t.Helper()
	conn, r := audEvents(t, c, vars)
	if conn == nil {
		t.Fatalf("auditEvents(%v): %s", vars, r.Body)
	}
	return conn, r
}

// audLogin signs in and returns the login payload's raw body.
func audLogin(t *testing.T, env *apitest.Env, login, password string) []byte {
	t.Helper()
	r := env.Anonymous().Do(`mutation($l: String!, $p: String!) { login(input: {login: $l, password: $p}) { accessToken userErrors { code } } }`,
		map[string]any{"l": login, "p": password})
	if len(r.Errors) > 0 {
		t.Fatalf("login: %s", r.Body)
	}
	return r.Body
}

// TestAudTrailOfAProfile: a createUser, an updateUser, a setUserPassword, a
// failed and a successful sign-in are recorded, newest first, with who,
// what, before and after (never secrets), where from and the outcome; the
// trail filters by action and time and paginates; other organizations and
// staff without View Users do not see it; it cannot be changed.
func TestAudTrailOfAProfile(t *testing.T) {
	t.Parallel()
	apitest.ForEachDatabase(t, func(t *testing.T, env *apitest.Env) {
		p := profSetup(t, env)
		const username = "aud.user"
		const password1, password2 = profStrong, profStrong2

		// The five events, in order.
		in := p.input(username, "CLERICAL", profNorthside)
		created := profMustSucceed(t, p.admin, "createUser", in).User
		id := created.ID
		profMustSucceed(t, p.admin, "updateUser", map[string]any{"id": id, "lastName": "Castellanos", "fullName": "Robin Castellanos"})
		profMustSucceed(t, p.admin, "setUserPassword", map[string]any{"userId": id, "password": password2})
		if body := audLogin(t, env, username, password1); !strings.Contains(string(body), "INVALID_CREDENTIALS") {
			t.Fatalf("sign-in with the old password: %s", body)
		}
		env.Login(username, password2)
		// A failed sign-in of a demo user.
		if body := audLogin(t, env, "pt.jordan", "Wrong-Password-123!"); !strings.Contains(string(body), "INVALID_CREDENTIALS") {
			t.Fatalf("sign-in with a wrong password: %s", body)
		}

		want := []string{"SIGN_IN_SUCCEEDED", "SIGN_IN_FAILED", "USER_PASSWORD_SET", "USER_UPDATED", "USER_CREATED"}
		all, raw := audMustEvents(t, p.admin, map[string]any{"filter": map[string]any{"userId": id}})
		if got := all.actions(); !slices.Equal(got, want) || all.TotalCount != len(want) {
			t.Fatalf("events = %v (totalCount %d), want %v", got, all.TotalCount, want)
		}
		byAction := map[string]audEvent{}
		for _, e := range all.Edges {
			byAction[e.Node.Action] = e.Node
		}

		t.Run("who, where from, outcome", func(t *testing.T) {
			for i, e := range all.Edges {
				ev := e.Node
				if ev.ClientIP == "" || ev.RequestID == "" {
					t.Errorf("%s: clientIP %q requestID %q, want both", ev.Action, ev.ClientIP, ev.RequestID)
				}
				if ev.TargetUser == nil || ev.TargetUser.Username != username {
					t.Errorf("%s: targetUser = %+v", ev.Action, ev.TargetUser)
				}
				wantOutcome := "SUCCESS"
				if ev.Action == "SIGN_IN_FAILED" {
					wantOutcome = "FAILURE"
				}
				if ev.Outcome != wantOutcome {
					t.Errorf("%s: outcome %s, want %s", ev.Action, ev.Outcome, wantOutcome)
				}
				if i > 0 && ev.CreatedAt > all.Edges[i-1].Node.CreatedAt && len(ev.CreatedAt) == len(all.Edges[i-1].Node.CreatedAt) {
					t.Errorf("not newest first: %s at %s after %s", ev.Action, ev.CreatedAt, all.Edges[i-1].Node.CreatedAt)
				}
			}
			for _, a := range []string{"USER_CREATED", "USER_UPDATED", "USER_PASSWORD_SET"} {
				ev := byAction[a]
				if ev.ActorUsername != demo.AdminUsername || ev.Actor == nil || ev.Actor.Username != demo.AdminUsername {
					t.Errorf("%s: actor %q %+v, want admin", a, ev.ActorUsername, ev.Actor)
				}
			}
			if ev := byAction["SIGN_IN_SUCCEEDED"]; ev.ActorUsername != username || ev.Actor == nil || ev.Actor.Username != username {
				t.Errorf("SIGN_IN_SUCCEEDED: actor %q %+v, want %s", ev.ActorUsername, ev.Actor, username)
			}
			if ev := byAction["SIGN_IN_FAILED"]; ev.Reason == "" {
				t.Errorf("SIGN_IN_FAILED has no reason")
			}
		})

		t.Run("before and after", func(t *testing.T) {
			upd := byAction["USER_UPDATED"]
			if upd.Before["lastName"] != "Testcase" || upd.After["lastName"] != "Castellanos" ||
				upd.Before["fullName"] != "Robin Testcase" || upd.After["fullName"] != "Robin Castellanos" {
				t.Errorf("USER_UPDATED before %v after %v", upd.Before, upd.After)
			}
			if _, ok := upd.After["email"]; ok {
				t.Errorf("USER_UPDATED lists an unchanged field: %v", upd.After)
			}
			cr := byAction["USER_CREATED"]
			if cr.After["username"] != username || cr.After["lastName"] != "Testcase" {
				t.Errorf("USER_CREATED after = %v", cr.After)
			}
			// Never a secret, anywhere in the trail.
			body := strings.ToLower(string(raw.Body))
			for _, secret := range []string{password1, password2, "Wrong-Password-123!", env.Password} {
				if strings.Contains(string(raw.Body), secret) {
					t.Errorf("the trail holds a password: %s", raw.Body)
				}
			}
			for _, s := range []string{"argon2", "password_hash", "passwordhash", "\"password\""} {
				if strings.Contains(body, s) {
					t.Errorf("the trail holds %q: %s", s, raw.Body)
				}
			}
			pw := byAction["USER_PASSWORD_SET"]
			b, _ := json.Marshal(map[string]any{"before": pw.Before, "after": pw.After})
			if strings.Contains(strings.ToLower(string(b)), "password\":") || strings.Contains(string(b), "$") {
				t.Errorf("USER_PASSWORD_SET before/after = %s", b)
			}
		})

		t.Run("failed sign-in of a demo user", func(t *testing.T) {
			jordan := p.userID(t, "pt.jordan")
			conn, _ := audMustEvents(t, p.admin, map[string]any{"filter": map[string]any{"userId": jordan, "actions": []string{"SIGN_IN_FAILED"}}})
			if conn.TotalCount != 1 || len(conn.Edges) != 1 {
				t.Fatalf("pt.jordan's failed sign-ins = %v", conn.actions())
			}
			ev := conn.Edges[0].Node
			if ev.Outcome != "FAILURE" || ev.ClientIP == "" || ev.RequestID == "" || ev.TargetUser == nil || ev.TargetUser.Username != "pt.jordan" {
				t.Errorf("event = %+v", ev)
			}
		})

		t.Run("filter by actions", func(t *testing.T) {
			for _, tc := range []struct {
				actions, want []string
			}{
				{[]string{"SIGN_IN_FAILED", "SIGN_IN_SUCCEEDED"}, []string{"SIGN_IN_SUCCEEDED", "SIGN_IN_FAILED"}},
				{[]string{"USER_CREATED"}, []string{"USER_CREATED"}},
				{[]string{"USER_TYPE_CHANGED"}, nil},
			} {
				conn, _ := audMustEvents(t, p.admin, map[string]any{"filter": map[string]any{"userId": id, "actions": tc.actions}})
				if got := conn.actions(); !slices.Equal(got, tc.want) || conn.TotalCount != len(tc.want) {
					t.Errorf("actions %v: %v (totalCount %d), want %v", tc.actions, got, conn.TotalCount, tc.want)
				}
			}
			// By actor: admin's actions on the user.
			admin := profUserIDAs(t, p.admin, demo.AdminUsername)
			conn, _ := audMustEvents(t, p.admin, map[string]any{"filter": map[string]any{"userId": id, "actorId": admin}})
			if got := conn.actions(); !slices.Equal(got, []string{"USER_PASSWORD_SET", "USER_UPDATED", "USER_CREATED"}) {
				t.Errorf("by actor admin: %v", got)
			}
		})

		t.Run("filter by time", func(t *testing.T) {
			pwAt, createdAt := byAction["USER_PASSWORD_SET"].CreatedAt, byAction["USER_CREATED"].CreatedAt
			for _, tc := range []struct {
				name   string
				filter map[string]any
				want   []string
			}{
				{"from (inclusive)", map[string]any{"from": pwAt}, []string{"SIGN_IN_SUCCEEDED", "SIGN_IN_FAILED", "USER_PASSWORD_SET"}},
				{"to (exclusive)", map[string]any{"to": pwAt}, []string{"USER_UPDATED", "USER_CREATED"}},
				{"from and to", map[string]any{"from": createdAt, "to": pwAt}, []string{"USER_UPDATED", "USER_CREATED"}},
				{"from the first event", map[string]any{"from": createdAt}, want},
				{"before everything", map[string]any{"to": createdAt}, nil},
			} {
				f := map[string]any{"userId": id}
				for k, v := range tc.filter {
					f[k] = v
				}
				conn, _ := audMustEvents(t, p.admin, map[string]any{"filter": f})
				if got := conn.actions(); !slices.Equal(got, tc.want) || conn.TotalCount != len(tc.want) {
					t.Errorf("%s %v: %v (totalCount %d), want %v", tc.name, tc.filter, got, conn.TotalCount, tc.want)
				}
			}
		})

		t.Run("pagination", func(t *testing.T) {
			filter := map[string]any{"userId": id}
			var got []string
			var after any
			for page := 0; page < 5; page++ {
				conn, _ := audMustEvents(t, p.admin, map[string]any{"filter": filter, "first": 2, "after": after})
				if conn.TotalCount != len(want) {
					t.Errorf("page %d: totalCount %d", page, conn.TotalCount)
				}
				got = append(got, conn.actions()...)
				if wantNext := len(got) < len(want); conn.PageInfo.HasNextPage != wantNext {
					t.Errorf("page %d: hasNextPage %v, want %v", page, conn.PageInfo.HasNextPage, wantNext)
				}
				if !conn.PageInfo.HasNextPage || conn.PageInfo.EndCursor == nil {
					break
				}
				after = *conn.PageInfo.EndCursor
			}
			if !slices.Equal(got, want) {
				t.Errorf("pages = %v, want %v", got, want)
			}
			conn, _ := audMustEvents(t, p.admin, map[string]any{"filter": filter, "last": 2})
			if got := conn.actions(); !slices.Equal(got, want[3:]) || !conn.PageInfo.HasPreviousPage {
				t.Errorf("last 2 = %v (hasPreviousPage %v), want %v", got, conn.PageInfo.HasPreviousPage, want[3:])
			}
			conn, _ = audMustEvents(t, p.admin, map[string]any{"filter": filter, "orderBy": map[string]any{"field": "CREATED_AT", "direction": "ASC"}})
			rev := slices.Clone(want)
			slices.Reverse(rev)
			if got := conn.actions(); !slices.Equal(got, rev) {
				t.Errorf("oldest first = %v, want %v", got, rev)
			}
		})

		t.Run("another organization sees none of it", func(t *testing.T) {
			harbor := env.LoginDemo("harbor.admin")
			conn, r := audEvents(t, harbor, map[string]any{"filter": map[string]any{"userId": id}})
			if conn != nil && (conn.TotalCount != 0 || len(conn.Edges) != 0) {
				t.Errorf("harbor.admin sees %d events of a Sunrise user: %v", conn.TotalCount, conn.actions())
			}
			if conn == nil && r.Code() != "NOT_FOUND" && r.Code() != "FORBIDDEN" {
				t.Errorf("harbor.admin: %s", r.Body)
			}
			own, ownRaw := audMustEvents(t, harbor, map[string]any{"first": 100})
			if own.TotalCount == 0 {
				t.Errorf("harbor.admin's own trail is empty (their sign-in is missing)")
			}
			sunrise := []string{demo.AdminUsername, username, "pt.jordan", "front.desk", "billing.lee"}
			for _, e := range own.Edges {
				if slices.Contains(sunrise, e.Node.ActorUsername) || (e.Node.TargetUser != nil && slices.Contains(sunrise, e.Node.TargetUser.Username)) {
					t.Errorf("harbor.admin sees a Sunrise event: %+v", e.Node)
				}
			}
			if strings.Contains(strings.ToLower(string(ownRaw.Body)), "sunrise") {
				t.Errorf("harbor.admin's trail mentions Sunrise: %s", ownRaw.Body)
			}
		})

		t.Run("staff without View Users", func(t *testing.T) {
			conn, r := audEvents(t, env.LoginDemo("front.desk"), map[string]any{"filter": map[string]any{"userId": id}})
			if conn != nil && (conn.TotalCount != 0 || len(conn.Edges) != 0) {
				t.Errorf("front.desk sees %d events", conn.TotalCount)
			}
			if conn == nil && r.Code() != "FORBIDDEN" {
				t.Errorf("front.desk: %s", r.Body)
			}
			conn, r = audEvents(t, env.Anonymous(), nil)
			if conn != nil || r.Code() != "UNAUTHENTICATED" {
				t.Errorf("anonymous: %s", r.Body)
			}
		})

		t.Run("no mutation changes the trail", func(t *testing.T) {
			var schema struct {
				Schema struct {
					MutationType struct{ Fields []struct{ Name string } }
				} `json:"__schema"`
			}
			profMustDo(t, p.admin, `{ __schema { mutationType { fields { name } } } }`, nil, &schema)
			if len(schema.Schema.MutationType.Fields) == 0 {
				t.Fatal("no mutations listed")
			}
			for _, f := range schema.Schema.MutationType.Fields {
				// exportAuditEvents only reads the trail (and appends its
				// own record, as every change does).
				if strings.Contains(strings.ToLower(f.Name), "audit") && f.Name != "exportAuditEvents" {
					t.Errorf("mutation %s touches the audit trail", f.Name)
				}
			}
		})

		t.Run("append-only below the API", func(t *testing.T) {
			rawID, err := gid.Decode(byAction["USER_CREATED"].ID)
			if err != nil {
				t.Fatal(err)
			}
			ctx := privacy.DecisionContext(context.Background(), privacy.Allow)
			client := env.DB.Client
			upd := client.AuditEvent.UpdateOneID(rawID)
			upd.Mutation().SetReason("x")
			if err := upd.Exec(ctx); err == nil {
				t.Errorf("UpdateOneID(...).SetReason succeeded")
			}
			bulk := client.AuditEvent.Update().Where(auditevent.ID(rawID))
			bulk.Mutation().SetReason("x")
			if err := bulk.Exec(ctx); err == nil {
				t.Errorf("Update().Where(id).SetReason succeeded")
			}
			if err := client.AuditEvent.DeleteOneID(rawID).Exec(ctx); err == nil {
				t.Errorf("DeleteOneID succeeded")
			}
			if n, err := client.AuditEvent.Delete().Where(auditevent.ID(rawID)).Exec(ctx); err == nil {
				t.Errorf("Delete().Where(id) succeeded (%d rows)", n)
			}
			if env.Dialect == dialect.Postgres {
				if _, err := env.DB.SQL.ExecContext(ctx, `UPDATE audit_events SET reason = 'x' WHERE id = $1`, rawID); err == nil {
					t.Errorf("raw UPDATE of audit_events succeeded")
				}
				if _, err := env.DB.SQL.ExecContext(ctx, `DELETE FROM audit_events WHERE id = $1`, rawID); err == nil {
					t.Errorf("raw DELETE from audit_events succeeded")
				}
			}
			ev, err := client.AuditEvent.Get(ctx, rawID)
			if err != nil {
				t.Fatalf("the event is gone: %v", err)
			}
			if ev.Reason == "x" {
				t.Errorf("the event was changed")
			}
			conn, _ := audMustEvents(t, p.admin, map[string]any{"filter": map[string]any{"userId": id}})
			if got := conn.actions(); !slices.Equal(got, want) {
				t.Errorf("trail afterwards = %v", got)
			}
		})
	})
}

// audNewEvents returns the events of the organization added since before
// (a set of event IDs), newest first.
func audNewEvents(t *testing.T, c *apitest.Client, before map[string]bool, filter map[string]any) []audEvent {
	t.Helper()
	conn, _ := audMustEvents(t, c, map[string]any{"first": 100, "filter": filter})
	var out []audEvent
	for _, e := range conn.Edges {
		if !before[e.Node.ID] {
			out = append(out, e.Node)
		}
	}
	return out
}

func audEventIDs(t *testing.T, c *apitest.Client) map[string]bool {
	t.Helper()
	conn, _ := audMustEvents(t, c, map[string]any{"first": 100})
	ids := map[string]bool{}
	for _, e := range conn.Edges {
		ids[e.Node.ID] = true
	}
	return ids
}

// audIDList reads a list of IDs from before/after.
func audIDList(v any) []string {
	list, _ := v.([]any)
	var out []string
	for _, x := range list {
		out = append(out, strings.Trim(strings.TrimSpace(audJSON(x)), `"`))
	}
	slices.Sort(out)
	return out
}

func audJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestAudRecordsProfileChanges: changes to clinic access, permissions, user
// type, home clinic and clinics are recorded with before and after values
// that name objects by the IDs the API uses; refused changes record no
// change (R31).
func TestAudRecordsProfileChanges(t *testing.T) {
	t.Parallel()
	apitest.ForEachDatabase(t, func(t *testing.T, env *apitest.Env) {
		p := profSetup(t, env)
		support := env.LoginDemo(demo.SupportUsername)
		casey, taylor, jordan := p.userID(t, "ot.casey"), p.userID(t, "pta.taylor"), p.userID(t, "pt.jordan")
		down, north := p.clinics[profDowntown], p.clinics[profNorthside]

		t.Run("clinic access", func(t *testing.T) {
			seen := audEventIDs(t, p.admin)
			profMustSucceed(t, p.admin, "updateUser", map[string]any{"id": casey, "clinicIds": []string{down, north}})
			evs := audNewEvents(t, p.admin, seen, map[string]any{"userId": casey})
			if len(evs) != 1 || evs[0].Action != "USER_CLINICS_CHANGED" {
				t.Fatalf("events = %+v, want one USER_CLINICS_CHANGED", evs)
			}
			ev := evs[0]
			if ev.ActorUsername != demo.AdminUsername || ev.Outcome != "SUCCESS" || ev.ClientIP == "" || ev.RequestID == "" {
				t.Errorf("event = %+v", ev)
			}
			// The clinics are named by their API IDs, so a client can resolve
			// them with node(id:).
			if got := audIDList(ev.Before["clinicIds"]); !slices.Equal(got, []string{down}) {
				t.Errorf("before.clinicIds = %v, want [%s] (the Downtown clinic's ID)", got, down)
			}
			if got, want := audIDList(ev.After["clinicIds"]), profSorted(down, north); !slices.Equal(got, want) {
				t.Errorf("after.clinicIds = %v, want %v", got, want)
			}
		})

		t.Run("home clinic", func(t *testing.T) {
			seen := audEventIDs(t, p.admin)
			profMustSucceed(t, p.admin, "updateUser", map[string]any{"id": jordan, "homeClinicId": north})
			evs := audNewEvents(t, p.admin, seen, map[string]any{"userId": jordan, "actions": []string{"USER_UPDATED"}})
			if len(evs) != 1 {
				t.Fatalf("events = %+v, want one USER_UPDATED", evs)
			}
			if got := strings.Trim(audJSON(evs[0].Before["homeClinicId"]), `"`); got != down {
				t.Errorf("before.homeClinicId = %s, want %s (the Downtown clinic's ID)", got, down)
			}
			if got := strings.Trim(audJSON(evs[0].After["homeClinicId"]), `"`); got != north {
				t.Errorf("after.homeClinicId = %s, want %s (the Northside clinic's ID)", got, north)
			}
		})

		t.Run("permissions", func(t *testing.T) {
			seen := audEventIDs(t, p.admin)
			profMustSucceed(t, p.admin, "updateUser", map[string]any{"id": casey, "permissions": []string{"VIEW_PATIENTS", "EDIT_PATIENTS"}})
			evs := audNewEvents(t, p.admin, seen, map[string]any{"userId": casey})
			if len(evs) != 1 || evs[0].Action != "USER_PERMISSIONS_CHANGED" {
				t.Fatalf("events = %+v, want one USER_PERMISSIONS_CHANGED", evs)
			}
			if b, a := audJSON(evs[0].Before), audJSON(evs[0].After); !strings.Contains(b, "FINISH_SOAP_NOTES") || strings.Contains(a, "FINISH_SOAP_NOTES") || !strings.Contains(a, "EDIT_PATIENTS") {
				t.Errorf("before %s after %s", b, a)
			}
		})

		t.Run("user type", func(t *testing.T) {
			seen := audEventIDs(t, p.admin)
			profMustSucceed(t, support, "changeUserType", map[string]any{"userId": taylor, "userType": "COTA"})
			evs := audNewEvents(t, p.admin, seen, map[string]any{"userId": taylor})
			if len(evs) != 1 || evs[0].Action != "USER_TYPE_CHANGED" {
				t.Fatalf("events = %+v, want one USER_TYPE_CHANGED", evs)
			}
			ev := evs[0]
			if ev.ActorUsername != demo.SupportUsername || ev.Before["userType"] != "PTA" || ev.After["userType"] != "COTA" {
				t.Errorf("event = %+v", ev)
			}
		})

		t.Run("clinic renamed", func(t *testing.T) {
			seen := audEventIDs(t, p.admin)
			profMustDo(t, p.admin, profUpdateClinic, map[string]any{"in": map[string]any{"id": p.clinics[profLakeview], "name": "Sunrise Lakeshore"}}, nil)
			evs := audNewEvents(t, p.admin, seen, map[string]any{"actions": []string{"CLINIC_UPDATED"}})
			if len(evs) != 1 {
				t.Fatalf("events = %+v, want one CLINIC_UPDATED", evs)
			}
			ev := evs[0]
			if ev.ActorUsername != demo.AdminUsername || ev.TargetType != "Clinic" || ev.Before["name"] != profLakeview || ev.After["name"] != "Sunrise Lakeshore" {
				t.Errorf("event = %+v", ev)
			}
		})

		t.Run("refused changes record no change", func(t *testing.T) {
			seen := audEventIDs(t, p.admin)
			in := p.input("aud.refused", "PT", profNorthside)
			in["npi"] = "1234567890"
			if out := profMustCall(t, p.admin, "createUser", in); out.User != nil {
				t.Fatal("invalid createUser succeeded")
			}
			if out := profMustCall(t, p.admin, "updateUser", map[string]any{"id": casey, "email": "not-an-email", "lastName": "Changed"}); out.User != nil {
				t.Fatal("invalid updateUser succeeded")
			}
			if out := profMustCall(t, p.admin, "updateUser", map[string]any{"id": jordan, "homeClinicId": p.clinics[profLakeview],
				"clinicIds": []string{down, north, p.clinics[profLakeview]}}); out.User != nil {
				t.Fatal("move without a license succeeded")
			}
			for _, ev := range audNewEvents(t, p.admin, seen, nil) {
				if ev.Outcome != "FAILURE" {
					t.Errorf("a refused change was recorded as a change: %+v", ev)
				}
			}
		})
	})
}
