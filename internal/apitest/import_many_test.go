package apitest_test

import (
	"context"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clinicemr/usermanager/ent"
	"github.com/clinicemr/usermanager/ent/auditevent"
	"github.com/clinicemr/usermanager/ent/clinic"
	"github.com/clinicemr/usermanager/ent/license"
	"github.com/clinicemr/usermanager/ent/passwordreset"
	"github.com/clinicemr/usermanager/ent/privacy"
	"github.com/clinicemr/usermanager/ent/user"
	"github.com/clinicemr/usermanager/internal/apitest"
	"github.com/clinicemr/usermanager/internal/demo"
	"github.com/clinicemr/usermanager/internal/gid"
	"github.com/clinicemr/usermanager/internal/passwords"
	"github.com/clinicemr/usermanager/internal/staff"
	"github.com/clinicemr/usermanager/internal/txn"
)

// An import creates a run of rows in one transaction (users.CreateMany), or,
// when a unique index refuses one of them, row by row: either way each
// imported user is what createUser without a password makes of the same
// input. Active in file order while a license is free and Inactive after
// (R23, R24), holding one license while Active; the same audit records, in
// createUser's order (USER_CREATED, then INVITATION_SENT), tied to the
// import; one invitation link and email for each Active user, none for the
// Inactive ones; and license counts that stay exact.
func TestImportMatchesCreateUser(t *testing.T) {
	apitest.ForEachDatabase(t, func(t *testing.T, env *apitest.Env) {
		admin := env.LoginDemo(demo.AdminUsername)
		ctx := privacy.DecisionContext(context.Background(), privacy.Allow)
		client := env.DB.Client
		downtown, addLicenses := impDowntown(t, env)
		downtownID := gid.Encode(downtown.ID)
		available := func() int {
			t.Helper()
			_, _, a := stCounts(t, admin, downtownID, "CLERICAL")
			return a
		}
		createUser := func(username string) *ent.User {
			t.Helper()
			in := map[string]any{"username": username, "email": username + "@example.org", "userType": "CLERICAL",
				"firstName": "Imp", "lastName": "Many", "homeClinicId": downtownID, "clinicIds": []string{downtownID},
				"permissions": []string{"VIEW_PATIENTS"}}
			profMustSucceed(t, admin, "createUser", in)
			return impManyUser(t, client, username)
		}
		row := func(username, status string) string {
			return fmt.Sprintf("%s,%s@example.org,Imp,Many,,CLERICAL,%s,Sunrise Downtown,Sunrise Downtown,View Patients,,,", username, username, status)
		}

		// createUser's answers, Active (a license free) and Inactive (none).
		addLicenses(1)
		refActive := createUser("imp.m.refactive")
		if refActive.Status != user.StatusACTIVE {
			t.Fatalf("createUser with a license free: %s", refActive.Status)
		}

		// A run of rows written at once: the first `free` rows that ask
		// for Active get the free licenses, in file order.
		free := available()
		if free == 0 {
			addLicenses(3)
			free = 3
		}
		var rows, wantActive, wantInactive []string
		for i := range free + 2 {
			name := fmt.Sprintf("imp.m.a%02d", i)
			rows = append(rows, row(name, ""))
			if i < free {
				wantActive = append(wantActive, name)
			} else {
				wantInactive = append(wantInactive, name)
			}
			if i == 1 {
				rows = append(rows, row("imp.m.asked", "INACTIVE"), "imp.m.bad,not-an-email,Imp,Bad,,CLERICAL,,Sunrise Downtown,,View Patients,,,")
				wantInactive = append(wantInactive, "imp.m.asked")
			}
		}
		id := impStart(t, env, admin, impCSV(rows...), false)
		st := impWait(t, admin, id)
		if st.Status != "COMPLETED" || st.Created != free+3 || st.Failed != 1 {
			t.Fatalf("import = %+v", st)
		}
		if a := available(); a != 0 {
			t.Errorf("%d clerical licenses still free at Downtown after the import", a)
		}
		refInactive := createUser("imp.m.refinactive")
		if refInactive.Status != user.StatusINACTIVE {
			t.Fatalf("createUser with no license free: %s", refInactive.Status)
		}
		for _, name := range wantActive {
			u := impManyUser(t, client, name)
			if u.Status != user.StatusACTIVE {
				t.Errorf("%s (a license free) is %s", name, u.Status)
			}
			impManyLike(t, env, u, refActive, id)
		}
		// The records in file order, as createUser would write them one
		// row after the other.
		var wantOrder, gotOrder []string
		for _, r := range rows {
			name := strings.Split(r, ",")[0]
			if name == "imp.m.bad" {
				continue
			}
			wantOrder = append(wantOrder, name+" USER_CREATED")
			if slices.Contains(wantActive, name) {
				wantOrder = append(wantOrder, name+" INVITATION_SENT")
			}
		}
		records, err := client.AuditEvent.Query().Where(auditevent.TargetUserIDNotNil(),
			auditevent.ActionIn(auditevent.ActionUSER_CREATED, auditevent.ActionINVITATION_SENT)).
			Order(ent.Asc(auditevent.FieldID)).WithTargetUser().All(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range records {
			if e.After["bulkOperationId"] == id {
				gotOrder = append(gotOrder, e.Edges.TargetUser.Username+" "+string(e.Action))
			}
		}
		if !slices.Equal(gotOrder, wantOrder) {
			t.Errorf("the import's records:\n%v\nwant\n%v", gotOrder, wantOrder)
		}
		for _, name := range wantInactive {
			u := impManyUser(t, client, name)
			if u.Status != user.StatusINACTIVE {
				t.Errorf("%s (no license free, or asked Inactive) is %s", name, u.Status)
			}
			impManyLike(t, env, u, refInactive, id)
		}

		// A run that a unique index refuses (its first row's username is
		// taken): row by row, with the same answers.
		addLicenses(2)
		rows = []string{row("admin", "")}
		var names []string
		for i := range 4 {
			names = append(names, fmt.Sprintf("imp.m.b%02d", i))
			rows = append(rows, row(names[i], ""))
		}
		id = impStart(t, env, admin, impCSV(rows...), false)
		st = impWait(t, admin, id)
		if st.Status != "COMPLETED" || st.Created != 4 || st.Failed != 1 || !slices.Contains(impCodes(st)[2], "username:USERNAME_TAKEN") {
			t.Fatalf("import = %+v", st)
		}
		active := 0
		for _, name := range names {
			u := impManyUser(t, client, name)
			ref := refInactive
			if u.Status == user.StatusACTIVE {
				active++
				ref = refActive
			}
			impManyLike(t, env, u, ref, id)
		}
		if active != 2 {
			t.Errorf("%d of 4 rows Active with 2 licenses free", active)
		}

		// The kept counts are the licenses' own.
		if bad, err := env.App.Licenses.Check(ctx); err != nil || len(bad) > 0 {
			t.Errorf("license counts: %v %v", bad, err)
		}
		// Inactive users get no email (the Active ones' came meanwhile).
		for _, name := range append(wantInactive, "imp.m.refinactive") {
			if m := invMail(env, name+"@example.org"); len(m) > 0 {
				t.Errorf("%s is Inactive and was emailed", name)
			}
		}
	})
}

func impManyUser(t *testing.T, client *ent.Client, username string) *ent.User {
	t.Helper()
	u, err := client.User.Query().Where(user.Username(username)).
		Only(privacy.DecisionContext(context.Background(), privacy.Allow))
	if err != nil {
		t.Fatalf("%s: %v", username, err)
	}
	return u
}

// impManyRecords are the audit records of a user, oldest first.
func impManyRecords(t *testing.T, client *ent.Client, userID int) []*ent.AuditEvent {
	t.Helper()
	es, err := client.AuditEvent.Query().Where(auditevent.TargetUserID(userID)).Order(ent.Asc(auditevent.FieldID)).
		All(privacy.DecisionContext(context.Background(), privacy.Allow))
	if err != nil {
		t.Fatal(err)
	}
	return es
}

// impManyLike checks that u, imported by the import importID, is what
// createUser made ref: password, records, invitation link and email, and
// license.
func impManyLike(t *testing.T, env *apitest.Env, u, ref *ent.User, importID string) {
	t.Helper()
	ctx := privacy.DecisionContext(context.Background(), privacy.Allow)
	client := env.DB.Client
	if u.Status != ref.Status || u.PasswordSet || u.PasswordHash != passwords.Unusable {
		t.Errorf("%s: status %s (createUser's %s), password set %v", u.Username, u.Status, ref.Status, u.PasswordSet)
	}
	got, want := impManyRecords(t, client, u.ID), impManyRecords(t, client, ref.ID)
	if len(got) != len(want) {
		t.Fatalf("%s: %d records, createUser's %d", u.Username, len(got), len(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.Action != w.Action || g.Reason != w.Reason || g.Outcome != w.Outcome ||
			!reflect.DeepEqual(g.ActorID, w.ActorID) || g.ActorUsername != w.ActorUsername ||
			!reflect.DeepEqual(g.OrganizationID, w.OrganizationID) || g.Before != nil {
			t.Errorf("%s: record %d is %s by %s (%q), createUser's %s by %s (%q)", u.Username, i,
				g.Action, g.ActorUsername, g.Reason, w.Action, w.ActorUsername, w.Reason)
		}
		if g.After["bulkOperationId"] != importID {
			t.Errorf("%s: %s after.bulkOperationId = %v, want the import's %s", u.Username, g.Action, g.After["bulkOperationId"], importID)
		}
		ga, wa := maps.Clone(g.After), maps.Clone(w.After)
		delete(ga, "bulkOperationId")
		for _, m := range []map[string]any{ga, wa} {
			for _, k := range []string{"username", "email", "firstName", "lastName", "fullName"} {
				if _, ok := m[k]; !ok && g.Action == auditevent.ActionUSER_CREATED {
					t.Errorf("%s: USER_CREATED without %s", u.Username, k)
				}
				delete(m, k)
			}
		}
		if g.Action == auditevent.ActionINVITATION_SENT {
			for _, m := range []map[string]any{ga, wa} {
				exp, _ := m["expiresAt"].(string)
				at, err := time.Parse(time.RFC3339, exp)
				if err != nil || at.Sub(env.Clock.Now()) < invTTL-time.Hour || at.Sub(env.Clock.Now()) > invTTL+time.Minute {
					t.Errorf("%s: INVITATION_SENT expiresAt %q, want about 7 days from now", u.Username, exp)
				}
				delete(m, "expiresAt")
			}
		}
		if !reflect.DeepEqual(ga, wa) {
			t.Errorf("%s: %s after = %v, createUser's %v", u.Username, g.Action, ga, wa)
		}
	}
	// The invitation: a link (and its email) exactly when Active.
	links, err := client.PasswordReset.Query().Where(passwordreset.UserID(u.ID)).All(ctx)
	if err != nil {
		t.Fatal(err)
	}
	refLinks, err := client.PasswordReset.Query().Where(passwordreset.UserID(ref.ID)).All(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(links) != len(refLinks) {
		t.Fatalf("%s: %d links, createUser's %d", u.Username, len(links), len(refLinks))
	}
	for _, l := range links {
		if l.UsedAt != nil || l.ExpiresAt.Sub(l.CreatedAt) != invTTL {
			t.Errorf("%s: link used %v, lasting %v", u.Username, l.UsedAt, l.ExpiresAt.Sub(l.CreatedAt))
		}
	}
	if len(links) > 0 {
		adjEventually(t, "the invitation of "+u.Username, 15*time.Second, func() bool {
			for _, m := range invMail(env, u.Email) {
				if strings.Contains(m, invAdminName+" invited you") {
					return true
				}
			}
			return false
		})
	}
	// One license of the class at the home clinic exactly when Active.
	held, err := client.License.Query().Where(license.HolderID(u.ID)).All(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantHeld := 0
	if u.Status == user.StatusACTIVE {
		wantHeld = 1
	}
	if len(held) != wantHeld || wantHeld == 1 && (held[0].Class != staff.ClericalClass || held[0].ClinicID != *u.HomeClinicID) {
		t.Errorf("%s (%s) holds %v", u.Username, u.Status, held)
	}
}

// Live counts hear of an import once per batch of rows and clinic, not once
// per user or transaction: a file of 30 users who each take a license is
// one update, with all 30 in it.
func TestImportLiveCountsOncePerBatch(t *testing.T) {
	apitest.ForEachDatabase(t, func(t *testing.T, env *apitest.Env) {
		admin := env.LoginDemo(demo.AdminUsername)
		downtown, addLicenses := impDowntown(t, env)
		addLicenses(30)
		sub := admin.Subscribe(apitest.GraphQLTransportWS, liveCountsSub, map[string]any{"c": gid.Encode(downtown.ID)})
		first := liveDecodeCounts(t, "first counts", sub.Next(liveWait))
		sub.Quiet(200 * time.Millisecond)

		// After every fifth row, one that repeats its email: the rows are
		// written in six runs, six transactions.
		var rows []string
		for i := range 30 {
			rows = append(rows, fmt.Sprintf("imp.live%d,imp.live%d@example.org,Imp,Live,,CLERICAL,ACTIVE,Sunrise Downtown,Sunrise Downtown,View Patients,,,", i, i))
			if i%5 == 4 {
				rows = append(rows, fmt.Sprintf("imp.again%d,imp.live%d@example.org,Imp,Again,,CLERICAL,ACTIVE,Sunrise Downtown,Sunrise Downtown,View Patients,,,", i, i))
			}
		}
		st := impWait(t, admin, impStart(t, env, admin, impCSV(rows...), false))
		if st.Status != "COMPLETED" || st.Created != 30 || st.Failed != 6 {
			t.Fatalf("import = %+v", st)
		}
		got := liveDecodeCounts(t, "after the import", sub.Next(liveWait))
		if want := first["CLERICAL"].InUse + 30; got["CLERICAL"].InUse != want {
			t.Fatalf("the update has Clerical inUse %d, want %d (all 30 at once)", got["CLERICAL"].InUse, want)
		}
		sub.Quiet(500 * time.Millisecond)
	})
}

// impDowntown is Sunrise Downtown, and a function that gives it n more
// Clerical licenses.
func impDowntown(t *testing.T, env *apitest.Env) (*ent.Clinic, func(n int)) {
	t.Helper()
	ctx := privacy.DecisionContext(context.Background(), privacy.Allow)
	downtown, err := env.DB.Client.Clinic.Query().Where(clinic.Name("Sunrise Downtown")).Only(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return downtown, func(n int) {
		t.Helper()
		if err := txn.WithTx(ctx, env.DB.Client, func(tx *ent.Tx) error {
			return env.App.Licenses.Add(ctx, tx, downtown.OrganizationID, downtown.ID, staff.ClericalClass, n)
		}); err != nil {
			t.Fatal(err)
		}
	}
}
