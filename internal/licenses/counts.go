package licenses

import (
	"context"

	"entgo.io/ent/dialect/sql"

	"github.com/clinicemr/usermanager/ent"
	"github.com/clinicemr/usermanager/ent/license"
	"github.com/clinicemr/usermanager/ent/licenseadjustment"
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

func (s *Service) count(ctx context.Context, orgID int, c *ent.Clinic) ([]*Count, error) {
	counts := make(map[staff.LicenseClass]*Count, len(staff.LicenseClasses))
	out := make([]*Count, len(staff.LicenseClasses))
	for i, class := range staff.LicenseClasses {
		out[i] = &Count{Clinic: c, Class: class}
		counts[class] = out[i]
	}
	seats := s.client.License.Query().Where(license.OrganizationID(orgID))
	pending := s.client.LicenseAdjustment.Query().Where(
		licenseadjustment.OrganizationID(orgID), licenseadjustment.StatusEQ(licenseadjustment.StatusPENDING))
	if c != nil {
		seats = seats.Where(license.ClinicID(c.ID))
		pending = pending.Where(licenseadjustment.ClinicID(c.ID))
	}
	var seatRows []struct {
		Class staff.LicenseClass `json:"class"`
		Total int                `json:"total"`
		InUse int                `json:"in_use"`
	}
	err := seats.GroupBy(license.FieldClass).Aggregate(
		func(s *sql.Selector) string { return sql.As(sql.Count("*"), "total") },
		func(s *sql.Selector) string { return sql.As(sql.Count(s.C(license.FieldHolderID)), "in_use") },
	).Scan(ctx, &seatRows)
	if err != nil {
		return nil, err
	}
	for _, r := range seatRows {
		if cnt, ok := counts[r.Class]; ok {
			cnt.Total, cnt.InUse, cnt.Available = r.Total, r.InUse, r.Total-r.InUse
		}
	}
	var pendingRows []struct {
		Class    staff.LicenseClass     `json:"class"`
		Kind     licenseadjustment.Kind `json:"kind"`
		Quantity int                    `json:"quantity"`
	}
	err = pending.GroupBy(licenseadjustment.FieldClass, licenseadjustment.FieldKind).Aggregate(
		func(s *sql.Selector) string {
			return sql.As(sql.Sum(s.C(licenseadjustment.FieldQuantity)), "quantity")
		},
	).Scan(ctx, &pendingRows)
	if err != nil {
		return nil, err
	}
	for _, r := range pendingRows {
		if cnt, ok := counts[r.Class]; ok {
			if r.Kind == licenseadjustment.KindADD {
				cnt.PendingAdditions += r.Quantity
			} else {
				cnt.PendingReleases += r.Quantity
			}
		}
	}
	return out, nil
}
