package apitest_test

// API tests of the live subscriptions (SPEC R22, R25, R27):
// licenseCountsChanged and licenseAdjustmentCompleted over
// graphql-transport-ws, the legacy graphql-ws protocol and server-sent
// events, on SQLite and PostgreSQL, and across two server instances.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clinicemr/usermanager/internal/apitest"
	"github.com/clinicemr/usermanager/internal/demo"
)

const (
	liveCountsSub = `subscription($c: ID) { licenseCountsChanged(clinicId: $c) {
		class total inUse available pendingAdditions pendingReleases } }`
	liveCountsQuery = `query($c: ID) { licenseCounts(clinicId: $c) {
		class total inUse available pendingAdditions pendingReleases } }`
	liveAdjSub = `subscription($c: ID) { licenseAdjustmentCompleted(clinicId: $c) {
		id status kind class quantity rejectionReason clinic { name } processedBy { username } } }`

	// liveProbeReason marks the adjustments liveArm rejects.
	liveProbeReason = "live test probe"
	// livePassword is a Strong password (R7) for users the tests create.
	livePassword = "Tr0ub4dor&3-horse-Battery"
	// liveWait bounds the wait for any one live message.
	liveWait = 5 * time.Second
)

var liveProtocols = []string{apitest.GraphQLTransportWS, apitest.GraphQLWS, apitest.SSE}

// liveCount is one LicenseCount of a subscription message or query.
type liveCount struct {
	Class                             string
	Total, InUse, Available           int
	PendingAdditions, PendingReleases int
}

// liveCounts are counts by class.
type liveCounts map[string]liveCount

func (c liveCounts) String() string {
	var parts []string
	for _, class := range []string{"THERAPIST", "ASSISTANT", "STUDENT", "CLERICAL"} {
		n := c[class]
		parts = append(parts, fmt.Sprintf("%s total=%d inUse=%d available=%d +%d -%d",
			class, n.Total, n.InUse, n.Available, n.PendingAdditions, n.PendingReleases))
	}
	return "{" + strings.Join(parts, "; ") + "}"
}

// with returns a copy of c with class changed by change.
func (c liveCounts) with(class string, change func(n *liveCount)) liveCounts {
	out := liveCounts{}
	for k, v := range c {
		out[k] = v
	}
	n := out[class]
	change(&n)
	out[class] = n
	return out
}

func liveToCounts(t *testing.T, list []liveCount) liveCounts {
	t.Helper()
	out := liveCounts{}
	for _, n := range list {
		if _, dup := out[n.Class]; dup {
			t.Fatalf("class %s counted twice: %+v", n.Class, list)
		}
		out[n.Class] = n
	}
	if len(out) != 4 {
		t.Fatalf("counts of %d classes, want 4: %+v", len(out), list)
	}
	return out
}

// liveQueryCounts answers licenseCounts(clinicId) (nil: the organization).
func liveQueryCounts(t *testing.T, c *apitest.Client, clinicID any) liveCounts {
	t.Helper()
	var out struct{ LicenseCounts []liveCount }
	c.MustDo(liveCountsQuery, map[string]any{"c": clinicID}, &out)
	return liveToCounts(t, out.LicenseCounts)
}

// liveDecodeCounts reads a licenseCountsChanged message.
func liveDecodeCounts(t *testing.T, what string, r apitest.Response) liveCounts {
	t.Helper()
	if len(r.Errors) > 0 {
		t.Fatalf("%s: errors in a counts message: %s", what, r.Body)
	}
	var out struct{ LicenseCountsChanged []liveCount }
	r.Decode(t, &out)
	return liveToCounts(t, out.LicenseCountsChanged)
}

// liveFirstCounts waits for a subscription's first message (the current
// counts) and checks it equals want.
func liveFirstCounts(t *testing.T, what string, sub *apitest.Subscription, want liveCounts) liveCounts {
	t.Helper()
	got := liveDecodeCounts(t, what, sub.Next(liveWait))
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s: first message\n got %v\nwant %v (the current counts)", what, got, want)
	}
	return got
}

// liveExpectCounts waits for the next counts that differ from prev (a
// change can be announced more than once; a repeat of unchanged counts is
// harmless) and checks they are exactly want.
func liveExpectCounts(t *testing.T, what string, sub *apitest.Subscription, prev, want liveCounts) liveCounts {
	t.Helper()
	deadline := time.Now().Add(liveWait)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			t.Fatalf("%s: no new counts within %v (still %v)", what, liveWait, prev)
		}
		got := liveDecodeCounts(t, what, sub.Next(left))
		if reflect.DeepEqual(got, prev) {
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: counts\n got %v\nwant %v\n was %v", what, got, want, prev)
		}
		return got
	}
}

// liveAdjustment is a licenseAdjustmentCompleted message.
type liveAdjustment struct {
	ID, Status, Kind, Class string
	Quantity                int
	RejectionReason         *string
	Clinic                  struct{ Name string }
	ProcessedBy             *struct{ Username string }
}

func liveDecodeAdjustment(t *testing.T, what string, r apitest.Response) liveAdjustment {
	t.Helper()
	if len(r.Errors) > 0 {
		t.Fatalf("%s: errors in an adjustment message: %s", what, r.Body)
	}
	var out struct{ LicenseAdjustmentCompleted liveAdjustment }
	r.Decode(t, &out)
	return out.LicenseAdjustmentCompleted
}

// liveExpectAdjustment checks the next message is adjustment id in status.
func liveExpectAdjustment(t *testing.T, what string, sub *apitest.Subscription, id, status string) liveAdjustment {
	t.Helper()
	got := liveDecodeAdjustment(t, what, sub.Next(liveWait))
	if got.ID != id || got.Status != status {
		t.Fatalf("%s: got adjustment %s %s, want %s %s (%+v)", what, got.ID, got.Status, id, status, got)
	}
	return got
}

// liveExpectRefused checks a subscription is refused with code: one
// message with that error and no data, and then the subscription ends.
func liveExpectRefused(t *testing.T, what string, sub *apitest.Subscription, code string) {
	t.Helper()
	r := sub.Next(liveWait)
	if r.Code() != code {
		t.Fatalf("%s: got %q (%s), want %s", what, r.Code(), r.Body, code)
	}
	if len(r.Data) != 0 && string(r.Data) != "null" {
		t.Fatalf("%s: data with the error: %s", what, r.Body)
	}
	sub.WaitEnded(liveWait)
}

// liveEnded reports whether the subscription has ended.
func liveEnded(sub *apitest.Subscription) bool {
	select {
	case <-sub.Ended:
		return true
	default:
		return false
	}
}

// livePost sends a GraphQL request to env as token without failing the
// test, so that it can run in a goroutine of its own.
func livePost(env *apitest.Env, token, query string, vars map[string]any, out any) (*apitest.Response, error) {
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, env.Server.URL+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := env.Server.Client().Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(res.Body); err != nil {
		return nil, err
	}
	r := &apitest.Response{Status: res.StatusCode, Body: buf.Bytes()}
	if err := json.Unmarshal(buf.Bytes(), r); err != nil {
		return nil, fmt.Errorf("status %d: %s", res.StatusCode, buf.Bytes())
	}
	if len(r.Errors) > 0 {
		return r, fmt.Errorf("errors: %s", r.Body)
	}
	if out != nil {
		if err := json.Unmarshal(r.Data, out); err != nil {
			return r, fmt.Errorf("decoding %s: %v", r.Data, err)
		}
	}
	return r, nil
}

// liveProbe requests a Student addition at a clinic as Support and rejects
// it, returning its id: one licenseAdjustmentCompleted event.
func liveProbe(env *apitest.Env, supportToken, clinicID string) (string, error) {
	var asked struct{ RequestLicenseAdjustment adjPayload }
	if _, err := livePost(env, supportToken, adjRequest, map[string]any{"in": map[string]any{
		"clinicId": clinicID, "class": "STUDENT", "kind": "ADD", "quantity": 1}}, &asked); err != nil {
		return "", err
	}
	if asked.RequestLicenseAdjustment.Adjustment == nil {
		return "", fmt.Errorf("probe request refused: %+v", asked.RequestLicenseAdjustment.UserErrors)
	}
	id := asked.RequestLicenseAdjustment.Adjustment.ID
	var rejected struct{ RejectLicenseAdjustment adjPayload }
	if _, err := livePost(env, supportToken, `mutation($in: RejectLicenseAdjustmentInput!) { rejectLicenseAdjustment(input: $in) {
		adjustment { id status } userErrors { field code message } } }`,
		map[string]any{"in": map[string]any{"adjustmentId": id, "reason": liveProbeReason}}, &rejected); err != nil {
		return "", err
	}
	if p := rejected.RejectLicenseAdjustment; p.Adjustment == nil || p.Adjustment.Status != "REJECTED" {
		return "", fmt.Errorf("probe rejection: %+v", p)
	}
	return id, nil
}

// liveArm waits until licenseAdjustmentCompleted subscriptions are live on
// the server (they send nothing when they start): it finishes probe
// adjustments at a clinic, through env, until each subscription has seen
// one, then skips each past the last probe.
func liveArm(t *testing.T, env *apitest.Env, support *apitest.Client, clinicID string, subs ...*apitest.Subscription) {
	t.Helper()
	stop := make(chan struct{})
	probes := make(chan string, 1000)
	go func() {
		defer close(probes)
		for {
			id, err := liveProbe(env, support.Token, clinicID)
			if err != nil {
				t.Errorf("probe adjustment: %v", err)
				return
			}
			probes <- id
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	seen := make([]string, len(subs))
	for i, sub := range subs {
		got := liveDecodeAdjustment(t, fmt.Sprintf("arming subscription %d", i), sub.Next(15*time.Second))
		if got.Status != "REJECTED" || got.RejectionReason == nil || *got.RejectionReason != liveProbeReason {
			t.Fatalf("arming subscription %d: got %+v, want a probe", i, got)
		}
		seen[i] = got.ID
	}
	close(stop)
	var last string
	for id := range probes {
		last = id
	}
	for i, sub := range subs {
		if seen[i] == last {
			continue
		}
		sub.Until(liveWait, func(r apitest.Response) bool {
			return liveDecodeAdjustment(t, "skipping probes", r).ID == last
		})
	}
}

// liveCreateManager creates an active Clerical user with View Users and
// Edit Users at Northside and Downtown and signs them in.
func liveCreateManager(t *testing.T, env *apitest.Env, admin *apitest.Client, username string) (string, *apitest.Client) {
	t.Helper()
	northside, downtown := stClinicID(t, admin, "Sunrise Northside"), stClinicID(t, admin, "Sunrise Downtown")
	var out struct {
		CreateUser struct {
			User       *struct{ ID, Status string }
			UserErrors []apitest.UserError
		}
	}
	admin.MustDo(`mutation($in: CreateUserInput!) { createUser(input: $in) { user { id status } userErrors { field code message } } }`,
		map[string]any{"in": map[string]any{"username": username, "email": username + "@sunrise-therapy.example",
			"password": livePassword, "userType": "CLERICAL", "firstName": "Morgan", "lastName": "Manager",
			"homeClinicId": northside, "clinicIds": []string{northside, downtown},
			"permissions": []string{"VIEW_PATIENTS", "VIEW_USERS", "EDIT_USERS"}}}, &out)
	if out.CreateUser.User == nil || out.CreateUser.User.Status != "ACTIVE" {
		t.Fatalf("creating manager %s: %+v", username, out.CreateUser)
	}
	return out.CreateUser.User.ID, env.Login(username, livePassword)
}

// R22, R27: license counts arrive live over every subscription protocol:
// the current counts at once, then new counts after each inactivation,
// activation and processed adjustment.
func TestLiveCountsOverEveryProtocol(t *testing.T) {
	t.Parallel()
	apitest.ForEachDatabase(t, func(t *testing.T, env *apitest.Env) {
		admin := env.LoginDemo(demo.AdminUsername)
		support := env.LoginDemo(demo.SupportUsername)
		downtown := stClinicID(t, admin, "Sunrise Downtown")
		jordan := imgUserID(t, admin, "pt.jordan")
		for _, protocol := range liveProtocols {
			t.Logf("protocol %s", protocol)
			sub := admin.Subscribe(protocol, liveCountsSub, map[string]any{"c": downtown})
			now := liveFirstCounts(t, protocol, sub, liveQueryCounts(t, admin, downtown))
			if th := now["THERAPIST"]; th.InUse < 1 || th.Available != th.Total-th.InUse {
				t.Fatalf("%s: Downtown therapist counts %+v", protocol, th)
			}

			// Inactivation frees a license (still billed).
			if out := stSet(t, admin, jordan, "INACTIVE"); out.SetUserStatus.User == nil || out.SetUserStatus.User.Status != "INACTIVE" {
				t.Fatalf("%s: inactivate pt.jordan: %+v", protocol, out.SetUserStatus)
			}
			before := now
			now = liveExpectCounts(t, protocol+": after inactivation", sub, now, now.with("THERAPIST", func(n *liveCount) {
				n.InUse--
				n.Available++
			}))
			// Activation takes it back.
			if out := stSet(t, admin, jordan, "ACTIVE"); out.SetUserStatus.User == nil || out.SetUserStatus.User.Status != "ACTIVE" {
				t.Fatalf("%s: activate pt.jordan: %+v", protocol, out.SetUserStatus)
			}
			now = liveExpectCounts(t, protocol+": after activation", sub, now, before)

			// An addition: pending, then billed once Support processes it.
			add := adjAsk(t, admin, map[string]any{"clinicId": downtown, "class": "THERAPIST", "kind": "ADD", "quantity": 2})
			if add.Adjustment == nil {
				t.Fatalf("%s: request: %+v", protocol, add)
			}
			now = liveExpectCounts(t, protocol+": after the request", sub, now, now.with("THERAPIST", func(n *liveCount) {
				n.PendingAdditions += 2
			}))
			if done, r := adjAct(t, support, "processLicenseAdjustment", add.Adjustment.ID, nil); done.Adjustment == nil || done.Adjustment.Status != "COMPLETED" {
				t.Fatalf("%s: process: %+v %s", protocol, done, r.Body)
			}
			now = liveExpectCounts(t, protocol+": after processing", sub, now, now.with("THERAPIST", func(n *liveCount) {
				n.PendingAdditions -= 2
				n.Total += 2
				n.Available += 2
			}))
			if q := liveQueryCounts(t, admin, downtown); !reflect.DeepEqual(q, now) {
				t.Fatalf("%s: the last live counts %v differ from licenseCounts %v", protocol, now, q)
			}
			sub.Close()
			sub.WaitEnded(liveWait)
		}
	})
}

// R3, R27: subscribers see their own organization and clinics only, and
// need View Users.
func TestLiveTenantIsolation(t *testing.T) {
	t.Parallel()
	apitest.ForEachDatabase(t, func(t *testing.T, env *apitest.Env) {
		admin := env.LoginDemo(demo.AdminUsername)
		support := env.LoginDemo(demo.SupportUsername)
		harbor := env.LoginDemo("harbor.admin")
		therapist := env.LoginDemo("pt.jordan")
		downtown, lakeview := stClinicID(t, admin, "Sunrise Downtown"), stClinicID(t, admin, "Sunrise Lakeview")
		harborMain := stClinicID(t, harbor, "Harbor Main")
		jordan, sam := imgUserID(t, admin, "pt.jordan"), imgUserID(t, admin, "pt.sam")

		// Refusals: another organization's clinic is not found; a user
		// without View Users is forbidden; Support names a clinic.
		for _, protocol := range liveProtocols {
			for name, q := range map[string]string{"licenseCountsChanged": liveCountsSub, "licenseAdjustmentCompleted": liveAdjSub} {
				what := protocol + " " + name
				liveExpectRefused(t, what+" of another organization's clinic",
					admin.Subscribe(protocol, q, map[string]any{"c": harborMain}), "NOT_FOUND")
				liveExpectRefused(t, what+" of a Sunrise clinic by Harbor's administrator",
					harbor.Subscribe(protocol, q, map[string]any{"c": downtown}), "NOT_FOUND")
				liveExpectRefused(t, what+" without View Users",
					therapist.Subscribe(protocol, q, map[string]any{"c": downtown}), "FORBIDDEN")
				liveExpectRefused(t, what+" of the organization without View Users",
					therapist.Subscribe(protocol, q, map[string]any{"c": nil}), "FORBIDDEN")
			}
		}
		liveExpectRefused(t, "Support watching no clinic",
			support.Subscribe(apitest.GraphQLTransportWS, liveCountsSub, map[string]any{"c": nil}), "BAD_USER_INPUT")

		// Harbor's subscribers, and Sunrise's as controls.
		harborAdj := harbor.Subscribe(apitest.SSE, liveAdjSub, map[string]any{"c": nil})
		liveArm(t, env, support, harborMain, harborAdj)
		sunriseAdj := admin.Subscribe(apitest.GraphQLTransportWS, liveAdjSub, map[string]any{"c": nil})
		liveArm(t, env, support, downtown, sunriseAdj)

		harborOrg := harbor.Subscribe(apitest.GraphQLTransportWS, liveCountsSub, map[string]any{"c": nil})
		harborNow := liveFirstCounts(t, "Harbor organization", harborOrg, liveQueryCounts(t, harbor, nil))
		wantHarbor := map[string][2]int{"THERAPIST": {2, 0}, "ASSISTANT": {1, 0}, "STUDENT": {0, 0}, "CLERICAL": {1, 1}}
		for class, n := range wantHarbor {
			if got := harborNow[class]; got.Total != n[0] || got.InUse != n[1] {
				t.Fatalf("Harbor %s counts %+v, want total %d in use %d", class, got, n[0], n[1])
			}
		}
		harborClinic := harbor.Subscribe(apitest.GraphQLWS, liveCountsSub, map[string]any{"c": harborMain})
		harborClinicNow := liveFirstCounts(t, "Harbor Main", harborClinic, liveQueryCounts(t, harbor, harborMain))
		lake := admin.Subscribe(apitest.GraphQLWS, liveCountsSub, map[string]any{"c": lakeview})
		lakeNow := liveFirstCounts(t, "Lakeview", lake, liveQueryCounts(t, admin, lakeview))
		down := admin.Subscribe(apitest.SSE, liveCountsSub, map[string]any{"c": downtown})
		downNow := liveFirstCounts(t, "Downtown", down, liveQueryCounts(t, admin, downtown))

		// Sunrise Downtown changes: only the Downtown subscriber hears.
		stSet(t, admin, jordan, "INACTIVE")
		downNow = liveExpectCounts(t, "Downtown after inactivation", down, downNow, downNow.with("THERAPIST", func(n *liveCount) {
			n.InUse--
			n.Available++
		}))
		add := adjAsk(t, admin, map[string]any{"clinicId": downtown, "class": "ASSISTANT", "kind": "ADD", "quantity": 1})
		downNow = liveExpectCounts(t, "Downtown after the request", down, downNow, downNow.with("ASSISTANT", func(n *liveCount) {
			n.PendingAdditions++
		}))
		if done, r := adjAct(t, support, "processLicenseAdjustment", add.Adjustment.ID, nil); done.Adjustment == nil || done.Adjustment.Status != "COMPLETED" {
			t.Fatalf("process: %+v %s", done, r.Body)
		}
		liveExpectAdjustment(t, "Sunrise organization", sunriseAdj, add.Adjustment.ID, "COMPLETED")
		downNow = liveExpectCounts(t, "Downtown after processing", down, downNow, downNow.with("ASSISTANT", func(n *liveCount) {
			n.PendingAdditions--
			n.Total++
			n.Available++
		}))
		rej := adjAsk(t, admin, map[string]any{"clinicId": downtown, "class": "CLERICAL", "kind": "ADD", "quantity": 2})
		pending := downNow.with("CLERICAL", func(n *liveCount) { n.PendingAdditions += 2 })
		liveExpectCounts(t, "Downtown after the second request", down, downNow, pending)
		if p, r := adjAct(t, support, "rejectLicenseAdjustment", rej.Adjustment.ID, map[string]any{"reason": "no"}); p.Adjustment == nil {
			t.Fatalf("reject: %+v %s", p, r.Body)
		}
		liveExpectAdjustment(t, "Sunrise organization", sunriseAdj, rej.Adjustment.ID, "REJECTED")
		liveExpectCounts(t, "Downtown after the rejection", down, pending, downNow)
		stSet(t, admin, jordan, "ACTIVE")
		downNow = liveExpectCounts(t, "Downtown after activation", down, downNow, downNow.with("THERAPIST", func(n *liveCount) {
			n.InUse++
			n.Available--
		}))

		harborOrg.Quiet(1500 * time.Millisecond)
		harborClinic.Quiet(50 * time.Millisecond)
		harborAdj.Quiet(50 * time.Millisecond)
		lake.Quiet(50 * time.Millisecond)

		// The quiet subscribers are alive: each hears its own changes.
		stSet(t, admin, sam, "INACTIVE")
		liveExpectCounts(t, "Lakeview after inactivation", lake, lakeNow, lakeNow.with("THERAPIST", func(n *liveCount) {
			n.InUse--
			n.Available++
		}))
		hadd := adjAsk(t, harbor, map[string]any{"clinicId": harborMain, "class": "THERAPIST", "kind": "ADD", "quantity": 3})
		if hadd.Adjustment == nil {
			t.Fatalf("Harbor request: %+v", hadd)
		}
		liveExpectCounts(t, "Harbor organization after the request", harborOrg, harborNow, harborNow.with("THERAPIST", func(n *liveCount) {
			n.PendingAdditions += 3
		}))
		liveExpectCounts(t, "Harbor Main after the request", harborClinic, harborClinicNow, harborClinicNow.with("THERAPIST", func(n *liveCount) {
			n.PendingAdditions += 3
		}))
		if done, r := adjAct(t, support, "processLicenseAdjustment", hadd.Adjustment.ID, nil); done.Adjustment == nil || done.Adjustment.Status != "COMPLETED" {
			t.Fatalf("process: %+v %s", done, r.Body)
		}
		got := liveExpectAdjustment(t, "Harbor organization", harborAdj, hadd.Adjustment.ID, "COMPLETED")
		if got.Clinic.Name != "Harbor Main" || got.Quantity != 3 {
			t.Fatalf("Harbor adjustment %+v", got)
		}
		// ...and Sunrise's do not hear Harbor's.
		sunriseAdj.Quiet(1000 * time.Millisecond)
		down.Quiet(50 * time.Millisecond)
	})
}

// R26, R27: adjustments reach their clinic's and organization's
// subscribers when Completed or Rejected, and only then.
func TestLiveAdjustmentCompleted(t *testing.T) {
	t.Parallel()
	apitest.ForEachDatabase(t, func(t *testing.T, env *apitest.Env) {
		admin := env.LoginDemo(demo.AdminUsername)
		support := env.LoginDemo(demo.SupportUsername)
		downtown, northside := stClinicID(t, admin, "Sunrise Downtown"), stClinicID(t, admin, "Sunrise Northside")

		org := admin.Subscribe(apitest.SSE, liveAdjSub, map[string]any{"c": nil})
		north := admin.Subscribe(apitest.GraphQLWS, liveAdjSub, map[string]any{"c": northside})
		liveArm(t, env, support, northside, org, north)
		down := admin.Subscribe(apitest.GraphQLTransportWS, liveAdjSub, map[string]any{"c": downtown})
		liveArm(t, env, support, downtown, org, down)

		// Completed.
		add := adjAsk(t, admin, map[string]any{"clinicId": downtown, "class": "THERAPIST", "kind": "ADD", "quantity": 2})
		if add.Adjustment == nil {
			t.Fatalf("request: %+v", add)
		}
		if done, r := adjAct(t, support, "processLicenseAdjustment", add.Adjustment.ID, nil); done.Adjustment == nil || done.Adjustment.Status != "COMPLETED" {
			t.Fatalf("process: %+v %s", done, r.Body)
		}
		for what, sub := range map[string]*apitest.Subscription{"Downtown": down, "organization": org} {
			got := liveExpectAdjustment(t, what+": completed", sub, add.Adjustment.ID, "COMPLETED")
			if got.Kind != "ADD" || got.Class != "THERAPIST" || got.Quantity != 2 || got.Clinic.Name != "Sunrise Downtown" ||
				got.RejectionReason != nil {
				t.Fatalf("%s: completed adjustment %+v", what, got)
			}
		}

		// Rejected, with the reason.
		const reason = "Billing needs a signed order form"
		rej := adjAsk(t, admin, map[string]any{"clinicId": downtown, "class": "STUDENT", "kind": "ADD", "quantity": 3})
		if p, r := adjAct(t, support, "rejectLicenseAdjustment", rej.Adjustment.ID, map[string]any{"reason": reason}); p.Adjustment == nil || p.Adjustment.Status != "REJECTED" {
			t.Fatalf("reject: %+v %s", p, r.Body)
		}
		for what, sub := range map[string]*apitest.Subscription{"Downtown": down, "organization": org} {
			got := liveExpectAdjustment(t, what+": rejected", sub, rej.Adjustment.ID, "REJECTED")
			if got.Kind != "ADD" || got.Class != "STUDENT" || got.Quantity != 3 || got.RejectionReason == nil || *got.RejectionReason != reason {
				t.Fatalf("%s: rejected adjustment %+v", what, got)
			}
		}

		// A release that no longer fits is Rejected when processed.
		_, _, available := stCounts(t, admin, downtown, "ASSISTANT")
		rel := adjAsk(t, admin, map[string]any{"clinicId": downtown, "class": "ASSISTANT", "kind": "RELEASE", "quantity": available,
			"releaseReason": "STAFF_LEFT", "explanation": "one assistant left"})
		if rel.Adjustment == nil || available < 1 {
			t.Fatalf("release of %d: %+v", available, rel)
		}
		var created struct {
			CreateUser struct{ User *struct{ Status string } }
		}
		admin.MustDo(`mutation($in: CreateUserInput!) { createUser(input: $in) { user { status } } }`,
			map[string]any{"in": map[string]any{"username": "live.pta", "email": "live.pta@sunrise-therapy.example",
				"firstName": "Ari", "lastName": "Assistant", "userType": "PTA", "homeClinicId": downtown, "clinicIds": []string{downtown},
				"password": livePassword, "npi": "9999999995", "licenseNumber": "00000", "licenseState": "CA",
				"permissions": []string{"VIEW_PATIENTS"}}}, &created)
		if created.CreateUser.User == nil || created.CreateUser.User.Status != "ACTIVE" {
			t.Fatalf("new assistant: %+v", created.CreateUser)
		}
		if p, r := adjAct(t, support, "processLicenseAdjustment", rel.Adjustment.ID, nil); p.Adjustment == nil || p.Adjustment.Status != "REJECTED" {
			t.Fatalf("processing a release that no longer fits: %+v %s", p, r.Body)
		}
		for what, sub := range map[string]*apitest.Subscription{"Downtown": down, "organization": org} {
			got := liveExpectAdjustment(t, what+": release rejected", sub, rel.Adjustment.ID, "REJECTED")
			if got.Kind != "RELEASE" || got.RejectionReason == nil || !strings.Contains(*got.RejectionReason, "assigned") {
				t.Fatalf("%s: rejected release %+v", what, got)
			}
		}

		// Requests and cancellations are not completions; Downtown's
		// adjustments are not Northside's.
		c := adjAsk(t, admin, map[string]any{"clinicId": downtown, "class": "CLERICAL", "kind": "ADD", "quantity": 1})
		if p, r := adjAct(t, admin, "cancelLicenseAdjustment", c.Adjustment.ID, nil); p.Adjustment == nil || p.Adjustment.Status != "CANCELLED" {
			t.Fatalf("cancel: %+v %s", p, r.Body)
		}
		down.Quiet(1000 * time.Millisecond)
		org.Quiet(50 * time.Millisecond)
		north.Quiet(50 * time.Millisecond)

		// Northside's subscriber hears Northside's.
		n := adjAsk(t, admin, map[string]any{"clinicId": northside, "class": "CLERICAL", "kind": "ADD", "quantity": 1})
		if p, r := adjAct(t, support, "processLicenseAdjustment", n.Adjustment.ID, nil); p.Adjustment == nil {
			t.Fatalf("process: %+v %s", p, r.Body)
		}
		liveExpectAdjustment(t, "Northside", north, n.Adjustment.ID, "COMPLETED")
		liveExpectAdjustment(t, "organization", org, n.Adjustment.ID, "COMPLETED")
		down.Quiet(500 * time.Millisecond)
	})
}

// R25: a subscriber's subscriptions end when their session does: on
// inactivation (all their sessions) and on sign-out (that session only).
func TestLiveSubscriptionsEndWithTheSession(t *testing.T) {
	t.Parallel()
	apitest.ForEachDatabase(t, func(t *testing.T, env *apitest.Env) {
		admin := env.LoginDemo(demo.AdminUsername)
		northside := stClinicID(t, admin, "Sunrise Northside")
		downtown := stClinicID(t, admin, "Sunrise Downtown")
		managerID, manager := liveCreateManager(t, env, admin, "live.manager")
		managerAgain := env.Login("live.manager", livePassword)

		// The manager watches over every protocol, from two sessions; the
		// administrator watches too.
		var subs []*apitest.Subscription
		for i, protocol := range liveProtocols {
			c := manager
			if i%2 == 1 {
				c = managerAgain
			}
			sub := c.Subscribe(protocol, liveCountsSub, map[string]any{"c": northside})
			liveFirstCounts(t, "manager "+protocol, sub, liveQueryCounts(t, admin, northside))
			subs = append(subs, sub)
		}
		orgSub := manager.Subscribe(apitest.GraphQLWS, liveCountsSub, map[string]any{"c": nil})
		liveFirstCounts(t, "manager organization", orgSub, liveQueryCounts(t, manager, nil))
		// On a WebSocket the session is watched from connection_init, so a
		// subscription sending nothing yet ends too.
		adjSub := managerAgain.Subscribe(apitest.GraphQLTransportWS, liveAdjSub, map[string]any{"c": downtown})
		subs = append(subs, orgSub, adjSub)
		control := admin.Subscribe(apitest.GraphQLTransportWS, liveCountsSub, map[string]any{"c": northside})
		controlNow := liveFirstCounts(t, "administrator", control, liveQueryCounts(t, admin, northside))

		if out := stSet(t, admin, managerID, "INACTIVE"); out.SetUserStatus.User == nil || out.SetUserStatus.User.Status != "INACTIVE" {
			t.Fatalf("inactivate the manager: %+v", out.SetUserStatus)
		}
		for i, sub := range subs {
			t.Logf("manager subscription %d", i)
			sub.WaitEnded(liveWait)
		}
		// Others' subscriptions go on, and hear the freed license.
		controlNow = liveExpectCounts(t, "administrator after inactivation", control, controlNow, controlNow.with("CLERICAL", func(n *liveCount) {
			n.InUse--
			n.Available++
		}))
		if r := manager.Do(`{ viewer { username } }`, nil); r.Code() != "UNAUTHENTICATED" {
			t.Fatalf("the inactivated manager's token still works: %s", r.Body)
		}

		// Sign-out ends that session's subscriptions, not another session's.
		second := env.LoginDemo(demo.AdminUsername)
		var ending []*apitest.Subscription
		for _, protocol := range liveProtocols {
			sub := second.Subscribe(protocol, liveCountsSub, map[string]any{"c": northside})
			liveFirstCounts(t, "second session "+protocol, sub, controlNow)
			ending = append(ending, sub)
		}
		var out struct {
			Logout struct{ UserErrors []apitest.UserError }
		}
		second.MustDo(`mutation { logout { userErrors { field code message } } }`, nil, &out)
		if len(out.Logout.UserErrors) != 0 {
			t.Fatalf("logout: %+v", out.Logout.UserErrors)
		}
		for i, sub := range ending {
			t.Logf("signed-out subscription %d", i)
			sub.WaitEnded(liveWait)
		}
		if liveEnded(control) {
			t.Fatal("signing out one session ended another session's subscription")
		}
		if out := stSet(t, admin, managerID, "ACTIVE"); out.SetUserStatus.User == nil || out.SetUserStatus.User.Status != "ACTIVE" {
			t.Fatalf("reactivate the manager: %+v", out.SetUserStatus)
		}
		liveExpectCounts(t, "administrator after activation", control, controlNow, controlNow.with("CLERICAL", func(n *liveCount) {
			n.InUse++
			n.Available--
		}))
		if liveEnded(control) {
			t.Fatal("the administrator's subscription ended")
		}
	})
}

// liveTimed is one measured delivery: from sending the mutation on one
// instance, and from its response, to the message on the other.
type liveTimed struct{ fromSend, fromResponse time.Duration }

// liveStats formats p50, p95 and max of durations.
func liveStats(ds []time.Duration) string {
	s := slices.Clone(ds)
	slices.Sort(s)
	// Nearest rank.
	at := func(p float64) time.Duration {
		i := int(math.Ceil(p * float64(len(s))))
		return s[min(max(i-1, 0), len(s)-1)]
	}
	r := func(d time.Duration) string { return d.Round(100 * time.Microsecond).String() }
	return fmt.Sprintf("p50=%s p95=%s max=%s", r(at(0.50)), r(at(0.95)), r(s[len(s)-1]))
}

// R27: a change made on one server instance reaches subscribers on another
// (PostgreSQL LISTEN/NOTIFY), and quickly.
func TestLiveAcrossInstances(t *testing.T) {
	// Not parallel: it measures delivery latency.
	env := apitest.New(t, "postgres", apitest.Options{})
	if env.Dialect != "postgres" {
		t.Skip("two instances need PostgreSQL")
	}
	b := env.SecondInstance()
	admin := env.LoginDemo(demo.AdminUsername)
	downtown := stClinicID(t, admin, "Sunrise Downtown")
	jordan := imgUserID(t, admin, "pt.jordan")
	supportB := b.LoginDemo(demo.SupportUsername)

	// Subscribers on instance A.
	adj := admin.Subscribe(apitest.SSE, liveAdjSub, map[string]any{"c": downtown})
	liveArm(t, b, supportB, downtown, adj)
	counts := admin.Subscribe(apitest.GraphQLTransportWS, liveCountsSub, map[string]any{"c": downtown})
	now := liveFirstCounts(t, "instance A", counts, liveQueryCounts(t, admin, downtown))

	// run sends a mutation to instance B in the background and returns when
	// the message it causes has arrived on A.
	run := func(what string, query string, vars map[string]any, out any, wait func()) liveTimed {
		t.Helper()
		type result struct {
			at  time.Time
			err error
		}
		done := make(chan result, 1)
		sent := time.Now()
		go func() {
			_, err := livePost(b, supportB.Token, query, vars, out)
			done <- result{time.Now(), err}
		}()
		wait()
		received := time.Now()
		var res result
		select {
		case res = <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: no response from instance B", what)
		}
		if res.err != nil {
			t.Fatalf("%s on instance B: %v", what, res.err)
		}
		return liveTimed{fromSend: received.Sub(sent), fromResponse: max(received.Sub(res.at), 0)}
	}

	const rounds = 20
	var adjDelays, countDelays []liveTimed
	status := map[bool]string{true: "ACTIVE", false: "INACTIVE"}
	active := true
	for round := range rounds {
		what := fmt.Sprintf("round %d", round)
		// Support on B asks for a license: A's counts show it pending.
		var asked struct{ Adjustment adjPayload }
		countDelays = append(countDelays, run(what+": request", `mutation($in: RequestLicenseAdjustmentInput!) { adjustment: requestLicenseAdjustment(input: $in) {
			adjustment { id status } userErrors { field code message } } }`,
			map[string]any{"in": map[string]any{"clinicId": downtown, "class": "THERAPIST", "kind": "ADD", "quantity": 1}}, &asked,
			func() {
				now = liveExpectCounts(t, what+": request", counts, now, now.with("THERAPIST", func(n *liveCount) { n.PendingAdditions++ }))
			}))
		if asked.Adjustment.Adjustment == nil {
			t.Fatalf("%s: request: %+v", what, asked.Adjustment)
		}
		id := asked.Adjustment.Adjustment.ID
		// ...and processes it: A hears of the completion, and the counts.
		var processed struct{ Adjustment adjPayload }
		adjDelays = append(adjDelays, run(what+": process", `mutation($id: ID!) { adjustment: processLicenseAdjustment(input: {adjustmentId: $id}) {
			adjustment { id status } userErrors { field code message } } }`, map[string]any{"id": id}, &processed,
			func() { liveExpectAdjustment(t, what+": completion", adj, id, "COMPLETED") }))
		if p := processed.Adjustment; p.Adjustment == nil || p.Adjustment.ID != id || p.Adjustment.Status != "COMPLETED" {
			t.Fatalf("%s: process: %+v", what, p)
		}
		now = liveExpectCounts(t, what+": process", counts, now, now.with("THERAPIST", func(n *liveCount) {
			n.PendingAdditions--
			n.Total++
			n.Available++
		}))
		// ...and switches pt.jordan off or on.
		active = !active
		var set stPayload
		countDelays = append(countDelays, run(what+": status", stSetStatus, map[string]any{"id": jordan, "s": status[active]}, &set,
			func() {
				now = liveExpectCounts(t, what+": "+status[active], counts, now, now.with("THERAPIST", func(n *liveCount) {
					if active {
						n.InUse++
						n.Available--
					} else {
						n.InUse--
						n.Available++
					}
				}))
			}))
		if set.SetUserStatus.User == nil || set.SetUserStatus.User.Status != status[active] {
			t.Fatalf("%s: status: %+v", what, set.SetUserStatus)
		}
	}
	if q := liveQueryCounts(t, admin, downtown); !reflect.DeepEqual(q, now) {
		t.Fatalf("the last live counts %v differ from licenseCounts %v", now, q)
	}

	split := func(ts []liveTimed) (send, resp []time.Duration) {
		for _, d := range ts {
			send, resp = append(send, d.fromSend), append(resp, d.fromResponse)
		}
		return
	}
	adjSend, adjResp := split(adjDelays)
	cntSend, cntResp := split(countDelays)
	t.Logf("live delivery delay, instance B mutation -> instance A subscriber (PostgreSQL NOTIFY, %d rounds): "+
		"licenseAdjustmentCompleted (n=%d) send->receipt %s, response->receipt %s; "+
		"licenseCountsChanged (n=%d) send->receipt %s, response->receipt %s",
		rounds, len(adjSend), liveStats(adjSend), liveStats(adjResp), len(cntSend), liveStats(cntSend), liveStats(cntResp))
	for _, ds := range [][]time.Duration{adjSend, adjResp, cntSend, cntResp} {
		if worst := slices.Max(ds); worst > 3*time.Second {
			t.Errorf("a live message took %v to reach the other instance", worst)
		}
	}
}

// TestLiveCountsSharedAmongSubscribers: subscribers of one clinic share one
// encoding of each change when they send the same document (internal/fanout);
// each still gets exactly what it asked for, whatever its document,
// variables or protocol, and a subscriber of another clinic gets nothing.
func TestLiveCountsSharedAmongSubscribers(t *testing.T) {
	t.Parallel()
	apitest.ForEachDatabase(t, func(t *testing.T, env *apitest.Env) {
		admin := env.LoginDemo(demo.AdminUsername)
		downtown := stClinicID(t, admin, "Sunrise Downtown")
		lakeview := stClinicID(t, admin, "Sunrise Lakeview")
		jordan := imgUserID(t, admin, "pt.jordan")
		lakeManager := uexpLimitedManager(t, env) // before any counts are read: it holds a Lakeview license
		const aliased = `subscription Counts($c: ID) { licenseCountsChanged(clinicId: $c) {
			__typename kind: class used: inUse ...More } }
			fragment More on LicenseCount { available }`
		const withClinic = `subscription($c: ID) { licenseCountsChanged(clinicId: $c) { class inUse clinic { name } } }`

		before := liveQueryCounts(t, admin, downtown)
		same := []*apitest.Subscription{
			admin.Subscribe(apitest.GraphQLTransportWS, liveCountsSub, map[string]any{"c": downtown}),
			admin.Subscribe(apitest.GraphQLTransportWS, liveCountsSub, map[string]any{"c": downtown}),
			admin.Subscribe(apitest.SSE, liveCountsSub, map[string]any{"c": downtown}),
		}
		alias := admin.Subscribe(apitest.GraphQLTransportWS, aliased, map[string]any{"c": downtown})
		clinic := admin.Subscribe(apitest.GraphQLWS, withClinic, map[string]any{"c": downtown})
		other := admin.Subscribe(apitest.GraphQLTransportWS, liveCountsSub, map[string]any{"c": lakeview})
		for i, sub := range same {
			liveFirstCounts(t, fmt.Sprintf("subscriber %d", i), sub, before)
		}
		// Downtown is watched now, so a subscription to it skips reading the
		// clinic: still refused to another organization and to a manager
		// without access to it (R1, R3).
		liveExpectRefused(t, "Downtown watched, Harbor's administrator",
			env.LoginDemo("harbor.admin").Subscribe(apitest.GraphQLTransportWS, liveCountsSub, map[string]any{"c": downtown}), "NOT_FOUND")
		liveExpectRefused(t, "Downtown watched, a manager of Lakeview only",
			lakeManager.Subscribe(apitest.GraphQLTransportWS, liveCountsSub, map[string]any{"c": downtown}), "FORBIDDEN")
		checkAliased := func(what string, r apitest.Response, want liveCounts) {
			t.Helper()
			var out struct{ LicenseCountsChanged []map[string]any }
			r.Decode(t, &out)
			if len(out.LicenseCountsChanged) != 4 {
				t.Fatalf("aliased document, %s: got %s", what, r.Body)
			}
			for _, n := range out.LicenseCountsChanged {
				class, _ := n["kind"].(string)
				w, ok := want[class]
				if len(n) != 4 || n["__typename"] != "LicenseCount" || !ok ||
					n["used"] != float64(w.InUse) || n["available"] != float64(w.Available) {
					t.Fatalf("aliased document, %s: got %s, want %v", what, r.Body, want)
				}
			}
		}
		checkAliased("first message", alias.Next(liveWait), before)
		if r := clinic.Next(liveWait); len(r.Errors) > 0 || !strings.Contains(string(r.Body),
			fmt.Sprintf(`{"class":"THERAPIST","inUse":%d,"clinic":{"name":"Sunrise Downtown"}}`, before["THERAPIST"].InUse)) {
			t.Fatalf("document with the clinic, first message: %s", r.Body)
		}
		lakeviewCounts := liveFirstCounts(t, "Lakeview", other, liveQueryCounts(t, admin, lakeview))

		if out := stSet(t, admin, jordan, "INACTIVE"); out.SetUserStatus.User == nil {
			t.Fatalf("inactivate pt.jordan: %+v", out.SetUserStatus)
		}
		after := before.with("THERAPIST", func(n *liveCount) {
			n.InUse--
			n.Available++
		})
		for i, sub := range same {
			liveExpectCounts(t, fmt.Sprintf("subscriber %d", i), sub, before, after)
		}
		therapist := after["THERAPIST"]
		// A change may be announced more than once, and counts read before
		// it repeated: each message is the counts before or after.
		oldTherapists := fmt.Sprintf(`"kind":"THERAPIST","used":%d`, before["THERAPIST"].InUse)
		alias.Until(liveWait, func(r apitest.Response) bool {
			if strings.Contains(string(r.Body), oldTherapists) {
				checkAliased("a repeat", r, before)
				return false
			}
			checkAliased("after inactivation", r, after)
			return true
		})
		clinicMessage := func(inUse int) string {
			return fmt.Sprintf(`{"class":"THERAPIST","inUse":%d,"clinic":{"name":"Sunrise Downtown"}}`, inUse)
		}
		clinic.Until(liveWait, func(r apitest.Response) bool {
			switch body := string(r.Body); {
			case len(r.Errors) == 0 && strings.Contains(body, clinicMessage(therapist.InUse)):
				return true
			case len(r.Errors) == 0 && strings.Contains(body, clinicMessage(before["THERAPIST"].InUse)):
				return false
			}
			t.Fatalf("document with the clinic, after inactivation: %s", r.Body)
			return false
		})
		other.Quiet(300 * time.Millisecond)
		if now := liveQueryCounts(t, admin, lakeview); !reflect.DeepEqual(now, lakeviewCounts) {
			t.Fatalf("Lakeview's counts changed: %v, were %v", now, lakeviewCounts)
		}
		// Put pt.jordan back for the other tests of this environment.
		if out := stSet(t, admin, jordan, "ACTIVE"); out.SetUserStatus.User == nil {
			t.Fatalf("activate pt.jordan: %+v", out.SetUserStatus)
		}
	})
}
