package apitest_test

// API tests of the license history in the audit trail (SPEC R31, issue #11
// item 4): every change of a clinic's billed total records LICENSES_CHANGED
// with the class, the clinic, the total before and after, and its cause.

import (
	"testing"
	"time"

	"github.com/clinicemr/usermanager/internal/apitest"
	"github.com/clinicemr/usermanager/internal/audit"
	"github.com/clinicemr/usermanager/internal/demo"
)

// audLicAll returns every LICENSES_CHANGED record c may read, page by page.
func audLicAll(t *testing.T, c *apitest.Client) []audEvent {
	t.Helper()
	var out []audEvent
	vars := map[string]any{"first": 100, "filter": map[string]any{"actions": []string{"LICENSES_CHANGED"}}}
	for {
		conn, _ := audMustEvents(t, c, vars)
		for _, e := range conn.Edges {
			out = append(out, e.Node)
		}
		if !conn.PageInfo.HasNextPage {
			return out
		}
		vars["after"] = *conn.PageInfo.EndCursor
	}
}

// audLicWhere returns the LICENSES_CHANGED records c reads whose "after"
// has key set to value (an adjustment's or a clinic's ID).
func audLicWhere(t *testing.T, c *apitest.Client, key, value string) []audEvent {
	t.Helper()
	var out []audEvent
	for _, e := range audLicAll(t, c) {
		if e.After[key] == value {
			out = append(out, e)
		}
	}
	return out
}

// audLicOfAdjustment returns the one record of an adjustment's completion.
func audLicOfAdjustment(t *testing.T, c *apitest.Client, adjustmentID string) audEvent {
	t.Helper()
	got := audLicWhere(t, c, "adjustmentId", adjustmentID)
	if len(got) != 1 {
		t.Fatalf("adjustment %s: %d LICENSES_CHANGED records, want 1: %+v", adjustmentID, len(got), got)
	}
	return got[0]
}

// audLicTotal is a record's "total" (JSON numbers decode as float64).
func audLicTotal(m map[string]any) int {
	f, _ := m["total"].(float64)
	return int(f)
}

// audLicCheck checks a record's clinic, class, totals and cause.
func audLicCheck(t *testing.T, ev audEvent, clinicID, class string, before, after int, cause string) {
	t.Helper()
	if ev.TargetType != "Clinic" || ev.After["clinicId"] != clinicID || ev.After["cause"] != cause {
		t.Errorf("record = %s on %v, after %v; want the clinic %s, cause %s", ev.TargetType, ev.After["clinicId"], ev.After, clinicID, cause)
	}
	if ev.Before["class"] != class || ev.After["class"] != class {
		t.Errorf("class %v -> %v, want %s", ev.Before["class"], ev.After["class"], class)
	}
	if b, a := audLicTotal(ev.Before), audLicTotal(ev.After); b != before || a != after {
		t.Errorf("%s total %d -> %d, want %d -> %d (before %v, after %v)", class, b, a, before, after, ev.Before, ev.After)
	}
	if ev.Outcome != "SUCCESS" {
		t.Errorf("outcome %s", ev.Outcome)
	}
}

// audLicProcess has Support process an adjustment and wants it to end in
// status.
func audLicProcess(t *testing.T, support *apitest.Client, id, status string) {
	t.Helper()
	p, r := adjAct(t, support, "processLicenseAdjustment", id, nil)
	if p.Adjustment == nil || p.Adjustment.Status != status {
		t.Fatalf("processing %s: %+v %s, want %s", id, p, r.Body, status)
	}
}

// Every adjustment Support completes records one LICENSES_CHANGED with the
// clinic, class, totals and the adjustment; a release lowers the total; an
// adjustment cancelled, rejected, or rejected on processing (a release that
// no longer fits) records none. The organization's manager and Support both
// read the records.
func TestAuditLicensesChangedByAdjustments(t *testing.T) {
	t.Parallel()
	apitest.ForEachDatabase(t, func(t *testing.T, env *apitest.Env) {
		admin := env.LoginDemo(demo.AdminUsername)
		support := env.LoginDemo(demo.SupportUsername)
		downtown := stClinicID(t, admin, "Sunrise Downtown")
		therapists, _, _ := stCounts(t, admin, downtown, "THERAPIST")

		// An addition.
		add := adjAsk(t, admin, map[string]any{"clinicId": downtown, "class": "THERAPIST", "kind": "ADD", "quantity": 2})
		if add.Adjustment == nil {
			t.Fatalf("request: %+v", add)
		}
		audLicProcess(t, support, add.Adjustment.ID, "COMPLETED")
		ev := audLicOfAdjustment(t, admin, add.Adjustment.ID)
		audLicCheck(t, ev, downtown, "THERAPIST", therapists, therapists+2, "ADJUSTMENT")
		if ev.ActorUsername != demo.SupportUsername {
			t.Errorf("processed by %q, want %s", ev.ActorUsername, demo.SupportUsername)
		}
		if now, _, _ := stCounts(t, admin, downtown, "THERAPIST"); audLicTotal(ev.After) != now {
			t.Errorf("recorded total %d, licenseCounts says %d", audLicTotal(ev.After), now)
		}

		// A release: the total goes down.
		rel := adjAsk(t, admin, map[string]any{"clinicId": downtown, "class": "THERAPIST", "kind": "RELEASE",
			"quantity": 1, "releaseReason": "STAFF_LEFT", "explanation": "a therapist left"})
		if rel.Adjustment == nil {
			t.Fatalf("release request: %+v", rel)
		}
		audLicProcess(t, support, rel.Adjustment.ID, "COMPLETED")
		ev = audLicOfAdjustment(t, admin, rel.Adjustment.ID)
		audLicCheck(t, ev, downtown, "THERAPIST", therapists+2, therapists+1, "ADJUSTMENT")
		if audLicTotal(ev.Before) <= audLicTotal(ev.After) {
			t.Errorf("a release recorded %d -> %d", audLicTotal(ev.Before), audLicTotal(ev.After))
		}

		// Cancelled by the requester: nothing billed changed.
		cancel := adjAsk(t, admin, map[string]any{"clinicId": downtown, "class": "CLERICAL", "kind": "ADD", "quantity": 1})
		if p, r := adjAct(t, admin, "cancelLicenseAdjustment", cancel.Adjustment.ID, nil); p.Adjustment == nil || p.Adjustment.Status != "CANCELLED" {
			t.Fatalf("cancel: %+v %s", p, r.Body)
		}
		// Rejected by Support.
		reject := adjAsk(t, admin, map[string]any{"clinicId": downtown, "class": "STUDENT", "kind": "ADD", "quantity": 3})
		if p, r := adjAct(t, support, "rejectLicenseAdjustment", reject.Adjustment.ID, map[string]any{"reason": "no order form"}); p.Adjustment == nil || p.Adjustment.Status != "REJECTED" {
			t.Fatalf("reject: %+v %s", p, r.Body)
		}
		// Rejected on processing: a release of every free clerical license,
		// one of which a new user takes meanwhile.
		clericals, _, free := stCounts(t, admin, downtown, "CLERICAL")
		if free == 0 {
			more := adjAsk(t, admin, map[string]any{"clinicId": downtown, "class": "CLERICAL", "kind": "ADD", "quantity": 1})
			audLicProcess(t, support, more.Adjustment.ID, "COMPLETED")
			audLicCheck(t, audLicOfAdjustment(t, admin, more.Adjustment.ID), downtown, "CLERICAL", clericals, clericals+1, "ADJUSTMENT")
			free = 1
		}
		noFit := adjAsk(t, admin, map[string]any{"clinicId": downtown, "class": "CLERICAL", "kind": "RELEASE",
			"quantity": free, "releaseReason": "BUDGET", "explanation": "fewer front-desk shifts"})
		if noFit.Adjustment == nil {
			t.Fatalf("release request: %+v", noFit)
		}
		var created struct {
			CreateUser struct {
				User       *struct{ Status string }
				UserErrors []apitest.UserError
			}
		}
		admin.MustDo(`mutation($in: CreateUserInput!) { createUser(input: $in) { user { status } userErrors { field code message } } }`,
			map[string]any{"in": map[string]any{"username": "desk.new", "email": "desk.new@sunrise-therapy.example",
				"firstName": "Dana", "lastName": "Desk", "userType": "CLERICAL", "homeClinicId": downtown, "clinicIds": []string{downtown},
				"password": "Correct-Horse-Battery-9", "permissions": []string{"VIEW_PATIENTS"}}}, &created)
		if created.CreateUser.User == nil || created.CreateUser.User.Status != "ACTIVE" {
			t.Fatalf("new clerical user: %+v", created.CreateUser)
		}
		audLicProcess(t, support, noFit.Adjustment.ID, "REJECTED")

		for what, id := range map[string]string{"cancelled": cancel.Adjustment.ID, "rejected": reject.Adjustment.ID,
			"rejected on processing": noFit.Adjustment.ID} {
			if got := audLicWhere(t, admin, "adjustmentId", id); len(got) != 0 {
				t.Errorf("%s adjustment recorded LICENSES_CHANGED: %+v", what, got)
			}
		}

		// Support reads the same record, and who processed it.
		ev = audLicOfAdjustment(t, support, add.Adjustment.ID)
		audLicCheck(t, ev, downtown, "THERAPIST", therapists, therapists+2, "ADJUSTMENT")
		if ev.Actor == nil || ev.Actor.Username != demo.SupportUsername {
			t.Errorf("actor %+v, want %s", ev.Actor, demo.SupportUsername)
		}
		// Another organization's manager does not.
		if got := audLicWhere(t, env.LoginDemo("harbor.admin"), "adjustmentId", add.Adjustment.ID); len(got) != 0 {
			t.Errorf("another organization reads the record: %+v", got)
		}
	})
}

// Adjustments processed automatically when their window ends record one
// LICENSES_CHANGED each, by the system.
func TestAuditLicensesChangedAutomatically(t *testing.T) {
	t.Parallel()
	apitest.ForEachDatabaseWith(t, apitest.Options{AdjustmentWindow: 2 * time.Second}, func(t *testing.T, env *apitest.Env) {
		admin := env.LoginDemo(demo.AdminUsername)
		northside := stClinicID(t, admin, "Sunrise Northside")
		assistants, _, _ := stCounts(t, admin, northside, "ASSISTANT")
		// awaitTotal waits for the window to pass and the job to run.
		awaitTotal := func(want int) {
			t.Helper()
			adjEventually(t, "automatic processing", 20*time.Second, func() bool {
				got, _, _ := stCounts(t, admin, northside, "ASSISTANT")
				return got == want
			})
		}
		checkSystem := func(ev audEvent) {
			t.Helper()
			if ev.ActorUsername != audit.SystemActor || ev.Actor != nil {
				t.Errorf("processed automatically, actor %q %+v; want %q", ev.ActorUsername, ev.Actor, audit.SystemActor)
			}
		}

		add := adjAsk(t, admin, map[string]any{"clinicId": northside, "class": "ASSISTANT", "kind": "ADD", "quantity": 3})
		if add.Adjustment == nil {
			t.Fatalf("request: %+v", add)
		}
		awaitTotal(assistants + 3)
		ev := audLicOfAdjustment(t, admin, add.Adjustment.ID)
		audLicCheck(t, ev, northside, "ASSISTANT", assistants, assistants+3, "ADJUSTMENT")
		checkSystem(ev)

		rel := adjAsk(t, admin, map[string]any{"clinicId": northside, "class": "ASSISTANT", "kind": "RELEASE",
			"quantity": 2, "releaseReason": "NO_LONGER_NEEDED", "explanation": "the season is over"})
		if rel.Adjustment == nil {
			t.Fatalf("release request: %+v", rel)
		}
		awaitTotal(assistants + 1)
		ev = audLicOfAdjustment(t, admin, rel.Adjustment.ID)
		audLicCheck(t, ev, northside, "ASSISTANT", assistants+3, assistants+1, "ADJUSTMENT")
		checkSystem(ev)
	})
}

// Licenses given to a clinic when it is created (Support's createClinic and
// createOrganization) start its history: one record per class with licenses,
// from 0, none for a class given none.
func TestAuditLicensesChangedAtClinicCreation(t *testing.T) {
	t.Parallel()
	apitest.ForEachDatabase(t, func(t *testing.T, env *apitest.Env) {
		admin := env.LoginDemo(demo.AdminUsername)
		support := env.LoginDemo(demo.SupportUsername)
		var org struct {
			Viewer struct {
				HomeClinic struct{ Organization struct{ ID string } }
			}
		}
		admin.MustDo(`{ viewer { homeClinic { organization { id } } } }`, nil, &org)
		var out struct {
			CreateClinic struct {
				Clinic     *struct{ ID string }
				UserErrors []apitest.UserError
			}
		}
		support.MustDo(`mutation($in: CreateClinicInput!) { createClinic(input: $in) { clinic { id } userErrors { field code message } } }`,
			map[string]any{"in": map[string]any{"organizationId": org.Viewer.HomeClinic.Organization.ID, "name": "Sunrise Riverside",
				"licenses": []map[string]any{{"class": "THERAPIST", "quantity": 4}, {"class": "CLERICAL", "quantity": 1}, {"class": "STUDENT", "quantity": 0}}}}, &out)
		if out.CreateClinic.Clinic == nil {
			t.Fatalf("createClinic: %+v", out.CreateClinic.UserErrors)
		}
		riverside := out.CreateClinic.Clinic.ID

		// Support reads them. The organization's manager, who has no access
		// to the new clinic, does not (R3).
		if evs := audLicWhere(t, admin, "clinicId", riverside); len(evs) != 0 {
			t.Errorf("a manager without access to the clinic reads %d of its records", len(evs))
		}
		for who, c := range map[string]*apitest.Client{"Support": support} {
			byClass := map[string]audEvent{}
			for _, ev := range audLicWhere(t, c, "clinicId", riverside) {
				class, _ := ev.After["class"].(string)
				if _, twice := byClass[class]; twice {
					t.Errorf("%s: two records of %s", who, class)
				}
				byClass[class] = ev
			}
			if len(byClass) != 2 {
				t.Fatalf("%s: records of classes %v, want THERAPIST and CLERICAL", who, byClass)
			}
			audLicCheck(t, byClass["THERAPIST"], riverside, "THERAPIST", 0, 4, "CLINIC_CREATED")
			audLicCheck(t, byClass["CLERICAL"], riverside, "CLERICAL", 0, 1, "CLINIC_CREATED")
			for _, ev := range byClass {
				if _, ok := ev.After["adjustmentId"]; ok || ev.ActorUsername != demo.SupportUsername {
					t.Errorf("%s: %+v, want no adjustment and Support as the actor", who, ev)
				}
			}
		}

		// A new organization's first clinic, seen by its administrator.
		var created createOrgPayload
		support.MustDo(createOrganization, map[string]any{"in": orgInput("Bayside PT", "bayside.admin", 1)}, &created)
		if p := created.CreateOrganization; p.Clinic == nil {
			t.Fatalf("createOrganization: %+v", p.UserErrors)
		}
		firstClinic := created.CreateOrganization.Clinic.ID
		bayside := env.Login("bayside.admin", "Tr0ub4dor&3-horse-Battery")
		got := audLicWhere(t, bayside, "clinicId", firstClinic)
		want := map[string]int{"CLERICAL": 1, "THERAPIST": 2}
		if len(got) != len(want) {
			t.Fatalf("new organization: %d records, want %d: %+v", len(got), len(want), got)
		}
		for _, ev := range got {
			class, _ := ev.After["class"].(string)
			audLicCheck(t, ev, firstClinic, class, 0, want[class], "CLINIC_CREATED")
			delete(want, class)
		}
		if len(want) != 0 {
			t.Errorf("new organization: no record of %v", want)
		}
	})
}
