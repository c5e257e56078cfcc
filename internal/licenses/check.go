package licenses

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/clinicemr/usermanager/ent"
	"github.com/clinicemr/usermanager/internal/db"
	"github.com/clinicemr/usermanager/internal/staff"
	"github.com/clinicemr/usermanager/internal/txn"
)

// Tally is the count of one class at one clinic.
type Tally struct {
	Total, InUse, PendingAdditions, PendingReleases int
}

// Mismatch is a clinic and class whose kept count differs from a count of
// its licenses and pending adjustments.
type Mismatch struct {
	OrganizationID, ClinicID int
	Class                    staff.LicenseClass
	Kept, Counted            Tally
}

func (m Mismatch) String() string {
	return fmt.Sprintf("organization %d, clinic %d, %s: kept %+v, counted %+v",
		m.OrganizationID, m.ClinicID, m.Class, m.Kept, m.Counted)
}

type tallyKey struct {
	orgID, clinicID int
	class           staff.LicenseClass
}

// Check counts every clinic's licenses and pending adjustments from the
// rows and returns where the kept counts (what licenseCounts reads)
// differ. It reads every license: an operator's command, not a request's.
// ctx must allow system reads (it crosses organizations).
func (s *Service) Check(ctx context.Context) ([]Mismatch, error) {
	// One statement, so both sides are read from the same snapshot while
	// writes go on.
	rows, err := s.client.QueryContext(ctx, `SELECT 'counted', counted.* FROM (`+db.CountLicensesSQL+`) AS counted
		UNION ALL
		SELECT 'kept', organization_id, clinic_id, class, total, in_use, pending_additions, pending_releases
		FROM license_counts`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	counted, kept := map[tallyKey]Tally{}, map[tallyKey]Tally{}
	for rows.Next() {
		var side string
		var k tallyKey
		var t Tally
		if err := rows.Scan(&side, &k.orgID, &k.clinicID, &k.class, &t.Total, &t.InUse, &t.PendingAdditions, &t.PendingReleases); err != nil {
			return nil, err
		}
		if side == "kept" {
			kept[k] = t
		} else {
			counted[k] = t
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var out []Mismatch
	for k, c := range counted {
		if kept[k] != c {
			out = append(out, Mismatch{OrganizationID: k.orgID, ClinicID: k.clinicID, Class: k.class, Kept: kept[k], Counted: c})
		}
	}
	for k, c := range kept {
		if _, ok := counted[k]; !ok && c != (Tally{}) {
			out = append(out, Mismatch{OrganizationID: k.orgID, ClinicID: k.clinicID, Class: k.class, Kept: c})
		}
	}
	slices.SortFunc(out, func(a, b Mismatch) int {
		if a.ClinicID != b.ClinicID {
			return a.ClinicID - b.ClinicID
		}
		return strings.Compare(string(a.Class), string(b.Class))
	})
	return out, nil
}

// Repair rewrites every kept count from the rows.
func (s *Service) Repair(ctx context.Context) error {
	return txn.WithTx(ctx, s.client, func(tx *ent.Tx) error {
		_, err := tx.ExecContext(ctx, db.RecountLicensesSQL)
		return err
	})
}
