package licenses

import (
	"testing"

	"github.com/clinicemr/usermanager/ent"
	"github.com/clinicemr/usermanager/ent/licenseadjustment"
	"github.com/clinicemr/usermanager/internal/staff"
)

// The kept counts (license_counts, kept by the database's triggers) follow
// additions, concurrent allocations, releases, removals and adjustments,
// agree with a count of the rows (Check), and a corrupted count is reported
// by clinic and class and repaired.
func TestCountsKeptInStepWithTheRows(t *testing.T) {
	t.Parallel()
	onEveryDatabase(t, func(t *testing.T, f *fixture) {
		f.add(t, f.clinicID, staff.Therapist, 5)
		f.add(t, f.clinicID, staff.Assistant, 2)
		f.add(t, f.clinic2, staff.Therapist, 3)
		users := f.newUsers(t, 12, staff.PT)
		got := f.allocateConcurrently(t, staff.Therapist, users)
		if len(got) != 5 {
			t.Fatalf("%d of 12 concurrent allocations got one of 5 licenses", len(got))
		}
		released := 0
		for id := range got {
			if err := f.withTx(func(tx *ent.Tx) error { return f.svc.Release(f.ctx, tx, id) }); err != nil {
				t.Fatal(err)
			}
			if released++; released == 2 {
				break
			}
		}
		// A free license removed (a completed release), and adjustments:
		// one pending addition, one pending release, one cancelled.
		free, err := f.client.License.Query().Where().All(f.ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range free {
			if l.HolderID == nil && l.ClinicID == f.clinicID && l.Class == staff.Assistant {
				if err := f.client.License.DeleteOne(l).Exec(f.ctx); err != nil {
					t.Fatal(err)
				}
				break
			}
		}
		adjust := func(kind licenseadjustment.Kind, n int) *ent.LicenseAdjustment {
			a, err := f.client.LicenseAdjustment.Create().SetOrganizationID(f.orgID).SetClinicID(f.clinicID).
				SetClass(staff.Therapist).SetKind(kind).SetQuantity(n).SetDueAt(f.svc.Now()).Save(f.ctx)
			if err != nil {
				t.Fatal(err)
			}
			return a
		}
		adjust(licenseadjustment.KindADD, 4)
		adjust(licenseadjustment.KindRELEASE, 1)
		cancelled := adjust(licenseadjustment.KindADD, 7)
		if err := f.client.LicenseAdjustment.UpdateOne(cancelled).SetStatus(licenseadjustment.StatusCANCELLED).Exec(f.ctx); err != nil {
			t.Fatal(err)
		}

		counts := f.counts(t)
		if c := counts[staff.Therapist]; c.Total != 5 || c.InUse != 3 || c.PendingAdditions != 4 || c.PendingReleases != 1 {
			t.Errorf("therapist counts %+v; want total 5, in use 3, pending +4 -1", c)
		}
		if c := counts[staff.Assistant]; c.Total != 1 || c.InUse != 0 {
			t.Errorf("assistant counts %+v; want total 1, in use 0", c)
		}
		if m, err := f.svc.Check(f.ctx); err != nil || len(m) > 0 {
			t.Fatalf("check after a realistic run: %v %v", m, err)
		}

		// A count changed behind the triggers' back is found, then repaired.
		if _, err := f.db.SQL.ExecContext(f.ctx,
			`UPDATE license_counts SET in_use = in_use + 1 WHERE clinic_id = $1 AND class = 'THERAPIST'`, f.clinic2); err != nil {
			t.Fatal(err)
		}
		m, err := f.svc.Check(f.ctx)
		if err != nil || len(m) != 1 || m[0].ClinicID != f.clinic2 || m[0].Class != staff.Therapist ||
			m[0].Kept.InUse != 1 || m[0].Counted != (Tally{Total: 3}) {
			t.Fatalf("check of a corrupted count: %v %v", m, err)
		}
		if err := f.svc.Repair(f.ctx); err != nil {
			t.Fatal(err)
		}
		if m, err := f.svc.Check(f.ctx); err != nil || len(m) > 0 {
			t.Fatalf("check after repair: %v %v", m, err)
		}
		if c := f.counts(t)[staff.Therapist]; c.Total != 5 || c.InUse != 3 {
			t.Errorf("therapist counts after repair %+v", c)
		}
	})
}
