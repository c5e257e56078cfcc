package audit_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"entgo.io/ent/dialect"

	"github.com/clinicemr/usermanager/ent/auditevent"
	"github.com/clinicemr/usermanager/internal/audit"
	"github.com/clinicemr/usermanager/internal/db"
	"github.com/clinicemr/usermanager/internal/requestinfo"
	"github.com/clinicemr/usermanager/internal/testdb"
)

var dialects = []string{dialect.SQLite, dialect.Postgres}

// trailRecords is how many records writeTrail writes.
const trailRecords = 60

// writeTrail writes a realistic trail through audit.Record: sign-ins that
// succeed and fail, in two organizations and in none, profile changes with
// values before and after, and returns the database and its sealer.
func writeTrail(t *testing.T, dialectName string) (*db.DB, *audit.Sealer) {
	t.Helper()
	d, _ := testdb.New(t, dialectName, "migrated", nil)
	orgs := []*int{ptr(34), ptr(35), nil}
	for i := range trailRecords {
		ctx := requestinfo.With(context.Background(), requestinfo.Info{
			ClientIP: fmt.Sprintf("203.0.113.%d", i%7), RequestID: fmt.Sprintf("req-%d", i),
		})
		e := audit.Event{OrganizationID: orgs[i%3], ActorUsername: fmt.Sprintf("user%d", i%5)}
		switch i % 4 {
		case 0:
			e.Action = auditevent.ActionSIGN_IN_SUCCEEDED
		case 1:
			e.Action, e.Failed, e.Reason = auditevent.ActionSIGN_IN_FAILED, true, "wrong password"
		case 2:
			e.Action, e.TargetUserID = auditevent.ActionUSER_UPDATED, nil
			e.TargetType, e.TargetID = "User", ptr(1000+i)
			e.Before = map[string]any{"lastName": "Doe", "title": "PT", "npi": nil}
			e.After = map[string]any{"lastName": fmt.Sprintf("Roe %d", i), "title": "PT", "clinics": []any{1, 2}}
		case 3:
			e.Action = auditevent.ActionUSER_STATUS_CHANGED
			e.Before, e.After = map[string]any{"status": "ACTIVE"}, map[string]any{"status": "INACTIVE"}
		}
		if err := audit.Record(ctx, d.Client, e); err != nil {
			t.Fatal(err)
		}
	}
	return d, &audit.Sealer{Client: d.Client, Dialect: dialectName}
}

func ptr(i int) *int { return &i }

func seal(t *testing.T, s *audit.Sealer, want int) {
	t.Helper()
	n, err := s.Seal(context.Background())
	if err != nil || n != want {
		t.Fatalf("sealed %d records, %v; want %d", n, err, want)
	}
}

func verify(t *testing.T, d *db.DB, opts audit.VerifyOptions) *audit.Integrity {
	t.Helper()
	res, err := audit.Verify(context.Background(), d.Client, opts)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// eventIDs are the trail's record ids in chain order of organization 34.
func eventIDs(t *testing.T, d *db.DB) []int {
	t.Helper()
	rows, err := d.SQL.Query(`SELECT audit_event_id FROM audit_seals WHERE organization_id = 34 ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var ids []int
	for rows.Next() {
		var id int
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

// privileged runs SQL as someone who can get past the append-only
// triggers: it drops (SQLite) or disables (PostgreSQL, as the tables'
// owner) them first.
func privileged(t *testing.T, d *db.DB, stmts ...string) {
	t.Helper()
	off := []string{`DROP TRIGGER IF EXISTS audit_events_no_update`, `DROP TRIGGER IF EXISTS audit_events_no_delete`}
	if d.Dialect == dialect.Postgres {
		off = []string{`ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only`}
	}
	for _, stmt := range append(off, stmts...) {
		if _, err := d.SQL.Exec(stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
}

func TestAuditChainVerifiesAfterSealing(t *testing.T) {
	t.Parallel()
	for _, dialectName := range dialects {
		t.Run(dialectName, func(t *testing.T) {
			t.Parallel()
			d, sealer := writeTrail(t, dialectName)
			if res := verify(t, d, audit.VerifyOptions{}); !res.OK || res.Unsealed != trailRecords || res.Records != 0 {
				t.Fatalf("before sealing: %+v; want ok with %d young unsealed records", res, trailRecords)
			}
			seal(t, sealer, trailRecords)
			seal(t, sealer, 0)
			res := verify(t, d, audit.VerifyOptions{})
			if !res.OK || res.Records != trailRecords || res.Unsealed != 0 || len(res.Chains) != 3 || res.FirstBroken != nil {
				t.Fatalf("after sealing: %+v, first broken %v; want ok, %d records in 3 chains", res, res.FirstBroken, trailRecords)
			}
			if res.Chains[0].OrganizationID != nil || res.Chains[0].Records != trailRecords/3 || len(res.Chains[0].Head) != 64 {
				t.Errorf("the chain of no organization: %+v", res.Chains[0])
			}

			// A record that commits after later ones were sealed is linked
			// at the end of its chain.
			if err := audit.Record(context.Background(), d.Client, audit.Event{
				Action: auditevent.ActionSIGN_IN_FAILED, OrganizationID: ptr(34), Failed: true,
			}); err != nil {
				t.Fatal(err)
			}
			seal(t, sealer, 1)
			if res := verify(t, d, audit.VerifyOptions{}); !res.OK || res.Records != trailRecords+1 {
				t.Errorf("after a late record: %+v, %v", res, res.FirstBroken)
			}
		})
	}
}

func TestAuditVerifyFindsTampering(t *testing.T) {
	t.Parallel()
	tamperings := []struct {
		name string
		// tamper changes the trail; victim is the index (in organization
		// 34's chain) of the record verify must name.
		tamper func(t *testing.T, d *db.DB, ids []int)
		victim int
		reason string
	}{
		{"one field changed", func(t *testing.T, d *db.DB, ids []int) {
			privileged(t, d, fmt.Sprintf(`UPDATE audit_events SET client_ip = '198.51.100.1' WHERE id = %d`, ids[5]))
		}, 5, "content was changed"},
		{"one record deleted", func(t *testing.T, d *db.DB, ids []int) {
			privileged(t, d, fmt.Sprintf(`DELETE FROM audit_events WHERE id = %d`, ids[7]))
		}, 7, "removed"},
		{"two records swapped", func(t *testing.T, d *db.DB, ids []int) {
			// Every column but the id trades places: the trail shows the
			// same records in another order.
			cols := []string{"created_at", "action", "actor_username", "target_type", "target_id", "before", "after",
				"outcome", "reason", "client_ip", "request_id"}
			sets := make([]string, len(cols))
			for i, c := range cols {
				sets[i] = fmt.Sprintf(`%s = (SELECT %s FROM audit_events o WHERE o.id = CASE WHEN audit_events.id = %d THEN %d ELSE %d END)`,
					c, c, ids[3], ids[4], ids[3])
			}
			privileged(t, d, fmt.Sprintf(`UPDATE audit_events SET %s WHERE id IN (%d, %d)`, strings.Join(sets, ", "), ids[3], ids[4]))
		}, 3, "content was changed"},
	}
	for _, dialectName := range dialects {
		for _, tc := range tamperings {
			t.Run(dialectName+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				d, sealer := writeTrail(t, dialectName)
				seal(t, sealer, trailRecords)
				ids := eventIDs(t, d)
				tc.tamper(t, d, ids)
				res := verify(t, d, audit.VerifyOptions{})
				if res.OK || res.FirstBroken == nil {
					t.Fatalf("after tampering: %+v; want a broken chain", res)
				}
				b := res.FirstBroken
				if b.EventID != ids[tc.victim] || b.OrganizationID == nil || *b.OrganizationID != 34 ||
					b.Seq != tc.victim+1 || !strings.Contains(b.Reason, tc.reason) {
					t.Errorf("first broken: %v (organization %v); want record %d, link %d, %q",
						b, b.OrganizationID, ids[tc.victim], tc.victim+1, tc.reason)
				}
			})
		}
	}
}

// A record slipped in later with a date in the past is never sealed, and
// verify reports it once it is older than the window.
func TestAuditVerifyReportsOverdueUnsealedRecords(t *testing.T) {
	t.Parallel()
	for _, dialectName := range dialects {
		t.Run(dialectName, func(t *testing.T) {
			t.Parallel()
			d, sealer := writeTrail(t, dialectName)
			seal(t, sealer, trailRecords)
			err := d.Client.AuditEvent.Create().SetAction(auditevent.ActionSIGN_IN_SUCCEEDED).
				SetOrganizationID(34).SetCreatedAt(time.Now().Add(-2 * time.Hour)).Exec(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			seal(t, sealer, 0)
			res := verify(t, d, audit.VerifyOptions{})
			if res.OK || res.Unsealed != 1 || res.UnsealedOverdue != 1 || res.FirstBroken != nil {
				t.Errorf("with a backdated record: %+v; want not ok, 1 overdue unsealed", res)
			}
		})
	}
}

// Checkpoints catch what the chain alone cannot: its last links removed
// with their records.
func TestAuditCheckpointsCatchATruncatedChain(t *testing.T) {
	t.Parallel()
	for _, dialectName := range dialects {
		t.Run(dialectName, func(t *testing.T) {
			t.Parallel()
			d, sealer := writeTrail(t, dialectName)
			seal(t, sealer, trailRecords)
			sealer.CheckpointFile = filepath.Join(t.TempDir(), "audit-checkpoints.jsonl")
			if err := sealer.WriteCheckpoints(context.Background()); err != nil {
				t.Fatal(err)
			}
			f, err := os.Open(sealer.CheckpointFile)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			cps, err := audit.ReadCheckpoints(f)
			if err != nil || len(cps) != 3 {
				t.Fatalf("checkpoints: %+v, %v; want 3", cps, err)
			}
			if res := verify(t, d, audit.VerifyOptions{Checkpoints: cps}); !res.OK {
				t.Fatalf("with the checkpoints: %+v, %v", res, res.FirstBroken)
			}
			ids := eventIDs(t, d)
			last := ids[len(ids)-1]
			privileged(t, d, fmt.Sprintf(`DELETE FROM audit_events WHERE id = %d`, last))
			if d.Dialect == dialect.Postgres {
				privileged(t, d, `ALTER TABLE audit_seals DISABLE TRIGGER audit_seals_append_only`)
			} else {
				privileged(t, d, `DROP TRIGGER IF EXISTS audit_seals_no_delete`)
			}
			privileged(t, d, fmt.Sprintf(`DELETE FROM audit_seals WHERE audit_event_id = %d`, last))
			if res := verify(t, d, audit.VerifyOptions{}); !res.OK {
				t.Errorf("without checkpoints the shortened chain still holds: %+v", res)
			}
			res := verify(t, d, audit.VerifyOptions{Checkpoints: cps})
			if res.OK || res.FirstBroken == nil || !strings.Contains(res.FirstBroken.Reason, "links were removed") {
				t.Errorf("with the checkpoints: %+v, %v; want the removed links found", res, res.FirstBroken)
			}
		})
	}
}
