package apitest_test

import (
	"strings"
	"testing"
	"time"

	"github.com/clinicemr/usermanager/internal/apitest"
	"github.com/clinicemr/usermanager/internal/demo"
)

const adjRequest = `mutation($in: RequestLicenseAdjustmentInput!) { requestLicenseAdjustment(input: $in) {
	adjustment { id status kind class quantity releaseReason explanation dueAt rejectionReason clinic { name } requestedBy { username } }
	userErrors { field code message } } }`

type adjAdjustment struct {
	ID, Status, Kind, Class string
	Quantity                int
	ReleaseReason           *string
	Explanation             string
	RejectionReason         *string
	Clinic                  struct{ Name string }
	RequestedBy             *struct{ Username string }
	ProcessedBy             *struct{ Username string }
}

type adjPayload struct {
	Adjustment *adjAdjustment
	UserErrors []apitest.UserError
}

func adjAsk(t *testing.T, c *apitest.Client, in map[string]any) adjPayload {
	t.Helper()
	var out struct{ RequestLicenseAdjustment adjPayload }
	c.MustDo(adjRequest, map[string]any{"in": in}, &out)
	return out.RequestLicenseAdjustment
}

func adjAct(t *testing.T, c *apitest.Client, mutation, id string, extra map[string]any) (adjPayload, *apitest.Response) {
	t.Helper()
	in := map[string]any{"adjustmentId": id}
	for k, v := range extra {
		in[k] = v
	}
	typ := "LicenseAdjustmentInput"
	if mutation == "rejectLicenseAdjustment" {
		typ = "RejectLicenseAdjustmentInput"
	}
	r := c.Do(`mutation($in: `+typ+`!) { `+mutation+`(input: $in) {
		adjustment { id status rejectionReason processedBy { username } } userErrors { field code message } } }`,
		map[string]any{"in": in})
	var out map[string]adjPayload
	if len(r.Errors) == 0 {
		r.Decode(t, &out)
	}
	return out[mutation], r
}

func adjPending(t *testing.T, c *apitest.Client, clinicID, class string) (adds, releases int) {
	t.Helper()
	var out struct {
		LicenseCounts []struct {
			Class                             string
			PendingAdditions, PendingReleases int
		}
	}
	c.MustDo(`query($c: ID) { licenseCounts(clinicId: $c) { class pendingAdditions pendingReleases } }`, map[string]any{"c": clinicID}, &out)
	for _, lc := range out.LicenseCounts {
		if lc.Class == class {
			return lc.PendingAdditions, lc.PendingReleases
		}
	}
	t.Fatalf("no %s count", class)
	return
}

func adjCode(p adjPayload) string {
	if len(p.UserErrors) == 0 {
		return ""
	}
	return p.UserErrors[0].Code
}

// adjOutbox returns the messages in an Env's outbox whose text contains all
// of words.
func adjOutbox(t *testing.T, env *apitest.Env, words ...string) []string {
	t.Helper()
	var out []string
	for _, text := range env.Mail() {
		ok := true
		for _, w := range words {
			ok = ok && strings.Contains(text, w)
		}
		if ok {
			out = append(out, text)
		}
	}
	return out
}

func adjEventually(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// R26: every transition of an adjustment and every refusal; completion
// changes the totals and emails the requester (R27).
func TestAdjustmentLifecycle(t *testing.T) {
	t.Parallel()
	apitest.ForEachDatabase(t, func(t *testing.T, env *apitest.Env) {
		admin := env.LoginDemo(demo.AdminUsername)
		support := env.LoginDemo(demo.SupportUsername)
		downtown := stClinicID(t, admin, "Sunrise Downtown")
		total, _, _ := stCounts(t, admin, downtown, "THERAPIST")

		// Add 2: pending, shown in counts, totals unchanged.
		add := adjAsk(t, admin, map[string]any{"clinicId": downtown, "class": "THERAPIST", "kind": "ADD", "quantity": 2})
		if add.Adjustment == nil || add.Adjustment.Status != "PENDING" || add.Adjustment.RequestedBy.Username != demo.AdminUsername {
			t.Fatalf("request: %+v", add)
		}
		if adds, _ := adjPending(t, admin, downtown, "THERAPIST"); adds != 2 {
			t.Fatalf("pending additions %d, want 2", adds)
		}
		// A manager cannot process; Support can; once only.
		if _, r := adjAct(t, admin, "processLicenseAdjustment", add.Adjustment.ID, nil); r.Code() != "FORBIDDEN" {
			t.Fatalf("manager processing: %s", r.Body)
		}
		done, _ := adjAct(t, support, "processLicenseAdjustment", add.Adjustment.ID, nil)
		if done.Adjustment == nil || done.Adjustment.Status != "COMPLETED" || done.Adjustment.ProcessedBy == nil {
			t.Fatalf("process: %+v", done)
		}
		if again, _ := adjAct(t, support, "processLicenseAdjustment", add.Adjustment.ID, nil); adjCode(again) != "INVALID_STATUS_TRANSITION" {
			t.Fatalf("processing twice: %+v", again)
		}
		if got, _, _ := stCounts(t, admin, downtown, "THERAPIST"); got != total+2 {
			t.Fatalf("total %d after adding 2 to %d", got, total)
		}
		if adds, _ := adjPending(t, admin, downtown, "THERAPIST"); adds != 0 {
			t.Fatalf("pending additions %d after processing", adds)
		}
		adjEventually(t, "completion email", 10*time.Second, func() bool {
			return len(adjOutbox(t, env, "To: <admin@sunrise-therapy.example>", "License adjustment completed", "Sunrise Downtown")) == 1
		})

		// Release: reason and explanation required; not more than available.
		_, _, available := stCounts(t, admin, downtown, "THERAPIST")
		bad := adjAsk(t, admin, map[string]any{"clinicId": downtown, "class": "THERAPIST", "kind": "RELEASE", "quantity": 1})
		if len(bad.UserErrors) != 2 || bad.Adjustment != nil {
			t.Fatalf("release without reason and explanation: %+v", bad)
		}
		over := adjAsk(t, admin, map[string]any{"clinicId": downtown, "class": "THERAPIST", "kind": "RELEASE",
			"quantity": available + 1, "releaseReason": "NO_LONGER_NEEDED", "explanation": "two therapists left"})
		if adjCode(over) != "RELEASE_EXCEEDS_AVAILABLE" || !strings.Contains(over.UserErrors[0].Message, "Sunrise Downtown") {
			t.Fatalf("release beyond available: %+v", over)
		}
		for _, q := range []int{0, -1, 10001} {
			if p := adjAsk(t, admin, map[string]any{"clinicId": downtown, "class": "THERAPIST", "kind": "ADD", "quantity": q}); adjCode(p) != "INVALID_QUANTITY" {
				t.Fatalf("quantity %d: %+v", q, p)
			}
		}
		rel := adjAsk(t, admin, map[string]any{"clinicId": downtown, "class": "THERAPIST", "kind": "RELEASE",
			"quantity": available, "releaseReason": "STAFF_LEFT", "explanation": "two therapists left"})
		if rel.Adjustment == nil || *rel.Adjustment.ReleaseReason != "STAFF_LEFT" {
			t.Fatalf("release: %+v", rel)
		}
		// Pending releases count against what may be released next.
		if p := adjAsk(t, admin, map[string]any{"clinicId": downtown, "class": "THERAPIST", "kind": "RELEASE",
			"quantity": 1, "releaseReason": "BUDGET", "explanation": "x"}); adjCode(p) != "RELEASE_EXCEEDS_AVAILABLE" {
			t.Fatalf("release on top of a pending release: %+v", p)
		}
		// Meanwhile a license is used: the release no longer fits and is
		// rejected with the reason.
		created := struct {
			CreateUser struct {
				User       *struct{ Status string }
				UserErrors []apitest.UserError
			}
		}{}
		admin.MustDo(`mutation($in: CreateUserInput!) { createUser(input: $in) { user { status } userErrors { field code message } } }`,
			map[string]any{"in": map[string]any{"username": "pt.new", "email": "pt.new@sunrise-therapy.example",
				"firstName": "Nova", "lastName": "Newhire", "userType": "PT", "homeClinicId": downtown, "clinicIds": []string{downtown},
				"password": "Correct-Horse-Battery-9", "npi": "1245319599", "licenseNumber": "00000",
				"permissions": []string{"VIEW_PATIENTS"}}}, &created)
		if created.CreateUser.User == nil || created.CreateUser.User.Status != "ACTIVE" {
			t.Fatalf("new therapist: %+v", created.CreateUser)
		}
		rej, _ := adjAct(t, support, "processLicenseAdjustment", rel.Adjustment.ID, nil)
		if rej.Adjustment == nil || rej.Adjustment.Status != "REJECTED" || rej.Adjustment.RejectionReason == nil ||
			!strings.Contains(*rej.Adjustment.RejectionReason, "assigned") {
			t.Fatalf("release that no longer fits: %+v", rej)
		}
		if got, _, _ := stCounts(t, admin, downtown, "THERAPIST"); got != total+2 {
			t.Fatalf("a rejected release changed the total: %d", got)
		}
		adjEventually(t, "rejection email", 10*time.Second, func() bool {
			return len(adjOutbox(t, env, "License adjustment rejected", "assigned")) == 1
		})

		// Cancel: only the requester, only while pending.
		c := adjAsk(t, admin, map[string]any{"clinicId": downtown, "class": "CLERICAL", "kind": "ADD", "quantity": 1, "explanation": "new front desk"})
		if _, r := adjAct(t, support, "cancelLicenseAdjustment", c.Adjustment.ID, nil); r.Code() != "FORBIDDEN" {
			t.Fatalf("cancel by another user: %s", r.Body)
		}
		cancelled, _ := adjAct(t, admin, "cancelLicenseAdjustment", c.Adjustment.ID, nil)
		if cancelled.Adjustment == nil || cancelled.Adjustment.Status != "CANCELLED" {
			t.Fatalf("cancel: %+v", cancelled)
		}
		if p, _ := adjAct(t, support, "processLicenseAdjustment", c.Adjustment.ID, nil); adjCode(p) != "INVALID_STATUS_TRANSITION" {
			t.Fatalf("processing a cancelled adjustment: %+v", p)
		}
		if p, _ := adjAct(t, admin, "cancelLicenseAdjustment", c.Adjustment.ID, nil); adjCode(p) != "INVALID_STATUS_TRANSITION" {
			t.Fatalf("cancelling twice: %+v", p)
		}

		// Reject: Support, with a reason.
		r := adjAsk(t, admin, map[string]any{"clinicId": downtown, "class": "STUDENT", "kind": "ADD", "quantity": 3})
		if p, _ := adjAct(t, support, "rejectLicenseAdjustment", r.Adjustment.ID, map[string]any{"reason": "  "}); adjCode(p) != "REQUIRED" {
			t.Fatalf("reject without reason: %+v", p)
		}
		rejected, _ := adjAct(t, support, "rejectLicenseAdjustment", r.Adjustment.ID, map[string]any{"reason": "Billing needs a signed order form"})
		if rejected.Adjustment == nil || rejected.Adjustment.Status != "REJECTED" || *rejected.Adjustment.RejectionReason != "Billing needs a signed order form" {
			t.Fatalf("reject: %+v", rejected)
		}

		// The list: filters and tenant isolation.
		var list struct {
			LicenseAdjustments struct {
				TotalCount int
				Edges      []struct{ Node adjAdjustment }
			}
		}
		admin.MustDo(`query($f: LicenseAdjustmentSearch) { licenseAdjustments(filter: $f, first: 50) { totalCount edges { node { id status kind } } } }`,
			map[string]any{"f": map[string]any{"clinicId": downtown, "statuses": []string{"REJECTED"}}}, &list)
		if list.LicenseAdjustments.TotalCount != 2 {
			t.Fatalf("rejected adjustments: %+v", list)
		}
		harbor := env.LoginDemo("harbor.admin")
		harbor.MustDo(`{ licenseAdjustments(first: 50) { totalCount edges { node { id status kind } } } }`, nil, &list)
		if list.LicenseAdjustments.TotalCount != 0 {
			t.Fatalf("another organization sees adjustments: %+v", list)
		}
		if _, r := adjAct(t, harbor, "cancelLicenseAdjustment", r.Adjustment.ID, nil); r.Code() != "NOT_FOUND" {
			t.Fatalf("another organization's adjustment: %s", r.Body)
		}
		if p := harbor.Do(adjRequest, map[string]any{"in": map[string]any{"clinicId": downtown, "class": "THERAPIST", "kind": "ADD", "quantity": 1}}); p.Code() != "NOT_FOUND" {
			t.Fatalf("requesting for another organization's clinic: %s", p.Body)
		}
	})
}

// R26: anything still pending when the window ends is processed
// automatically, once.
func TestAdjustmentProcessedAutomatically(t *testing.T) {
	t.Parallel()
	apitest.ForEachDatabaseWith(t, apitest.Options{AdjustmentWindow: 2 * time.Second}, func(t *testing.T, env *apitest.Env) {
		admin := env.LoginDemo(demo.AdminUsername)
		northside := stClinicID(t, admin, "Sunrise Northside")
		total, _, _ := stCounts(t, admin, northside, "ASSISTANT")
		add := adjAsk(t, admin, map[string]any{"clinicId": northside, "class": "ASSISTANT", "kind": "ADD", "quantity": 3})
		if add.Adjustment == nil {
			t.Fatalf("request: %+v", add)
		}
		adjEventually(t, "automatic processing", 20*time.Second, func() bool {
			got, _, _ := stCounts(t, admin, northside, "ASSISTANT")
			return got == total+3
		})
		var node struct {
			Node adjAdjustment
		}
		admin.MustDo(`query($id: ID!) { node(id: $id) { ... on LicenseAdjustment { status processedBy { username } } } }`,
			map[string]any{"id": add.Adjustment.ID}, &node)
		if node.Node.Status != "COMPLETED" || node.Node.ProcessedBy != nil {
			t.Fatalf("after the window: %+v", node.Node)
		}
		adjEventually(t, "completion email", 10*time.Second, func() bool {
			return len(adjOutbox(t, env, "License adjustment completed", "Sunrise Northside")) == 1
		})
		time.Sleep(time.Second)
		if got, _, _ := stCounts(t, admin, northside, "ASSISTANT"); got != total+3 {
			t.Fatalf("total %d, want %d", got, total+3)
		}
	})
}
