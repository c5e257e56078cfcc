package licenses

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/clinicemr/usermanager/ent"
	"github.com/clinicemr/usermanager/ent/licensecount"
	"github.com/clinicemr/usermanager/internal/apperr"
	"github.com/clinicemr/usermanager/internal/staff"
	"github.com/clinicemr/usermanager/internal/viewer"
)

// Count is the license count of one class (R22) at a clinic, or across the
// organization when Clinic is nil.
type Count struct {
	Clinic           *ent.Clinic        `json:"clinic"`
	Class            staff.LicenseClass `json:"class"`
	Total            int                `json:"total"`
	InUse            int                `json:"inUse"`
	Available        int                `json:"available"`
	PendingAdditions int                `json:"pendingAdditions"`
	PendingReleases  int                `json:"pendingReleases"`
}

// Counts answers the licenseCounts query: per class, for one clinic or for
// the viewer's organization. Support, who belong to no organization, name it.
func (s *Service) Counts(ctx context.Context, clinicID, organizationID *int) ([]*Count, error) {
	v, err := viewer.Require(ctx)
	if err != nil {
		return nil, err
	}
	if !v.Can(viewer.PermViewUsers) {
		return nil, apperr.Forbidden("seeing license counts needs the View Users permission")
	}
	var c *ent.Clinic
	orgID := v.OrganizationID
	if clinicID != nil {
		var err error
		if c, err = s.accessibleClinic(ctx, v, *clinicID); err != nil {
			return nil, err
		}
		orgID = c.OrganizationID
	} else if v.Support {
		if organizationID == nil {
			return nil, apperr.BadInput("Support staff name the organization (organizationId) or the clinic")
		}
		orgID = *organizationID
	} else if organizationID != nil && *organizationID != v.OrganizationID {
		return nil, apperr.NotFound("no such organization")
	}
	return s.count(ctx, orgID, c)
}

// count reads the kept counts (ent/schema/license_count.go): one row per
// class at a clinic, or per clinic and class across the organization,
// however many users and licenses there are.
func (s *Service) count(ctx context.Context, orgID int, c *ent.Clinic) ([]*Count, error) {
	counts := make(map[staff.LicenseClass]*Count, len(staff.LicenseClasses))
	out := make([]*Count, len(staff.LicenseClasses))
	for i, class := range staff.LicenseClasses {
		out[i] = &Count{Clinic: c, Class: class}
		counts[class] = out[i]
	}
	q := s.client.LicenseCount.Query().Where(licensecount.OrganizationID(orgID))
	if c != nil {
		q = q.Where(licensecount.ClinicID(c.ID))
	}
	rows, err := q.All(ctx)
	if err != nil {
		return nil, err
	}
	for _, r := range rows {
		if cnt, ok := counts[r.Class]; ok {
			cnt.Total += r.Total
			cnt.InUse += r.InUse
			cnt.Available += r.Total - r.InUse
			cnt.PendingAdditions += r.PendingAdditions
			cnt.PendingReleases += r.PendingReleases
		}
	}
	return out, nil
}

// Vacancy is how many licenses of class are free at a clinic, from its kept
// count, and the clinic's name (for NoLicense). It is one statement and
// takes no lock: an activation that finds none is refused before it writes
// anything, so refusals stay cheap when many users compete for few
// licenses. One that finds some still takes its license with Allocate,
// which decides. ctx must allow reading the clinic (the caller has
// authorized it).
func (s *Service) Vacancy(ctx context.Context, clinicID int, class staff.LicenseClass) (free int, clinicName string, err error) {
	rows, err := s.client.QueryContext(ctx, `SELECT c.name, COALESCE(k.total - k.in_use, 0)
		FROM clinics c LEFT JOIN license_counts k ON k.clinic_id = c.id AND k.class = $1
		WHERE c.id = $2`, string(class), clinicID)
	if err != nil {
		return 0, "", err
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return 0, "", err
		}
		return 0, "", fmt.Errorf("licenses: no clinic %d", clinicID)
	}
	if err := rows.Scan(&clinicName, &free); err != nil {
		return 0, "", err
	}
	return free, clinicName, rows.Err()
}

// FreeByClass is Vacancy for every class at once, as a column of another
// statement: the free licenses of each class at the clinic whose id is in
// clinicColumn, from the kept counts, joined into one text that
// ParseFreeByClass reads. It lets the read that loads a user for an
// activation decide a refusal too, with no statement of its own. join is
// the dialect's string aggregate (string_agg, group_concat).
func FreeByClass(join, clinicColumn string) string {
	return `(SELECT ` + join + `(k.class || '=' || CAST(k.total - k.in_use AS TEXT), ',')
		FROM license_counts k WHERE k.clinic_id = ` + clinicColumn + `)`
}

// ParseFreeByClass reads a FreeByClass column: the free licenses of class
// (0 when the clinic has no count of it).
func ParseFreeByClass(list string, class staff.LicenseClass) (int, error) {
	for item := range strings.SplitSeq(list, ",") {
		c, n, ok := strings.Cut(item, "=")
		if ok && c == string(class) {
			free, err := strconv.Atoi(n)
			if err != nil {
				return 0, fmt.Errorf("licenses: reading free licenses %q: %w", list, err)
			}
			return free, nil
		}
	}
	return 0, nil
}
