// Package onboarding sets up practices: an organization with its first
// clinic, licenses and administrator, and further clinics.
package onboarding

import (
	"context"
	"fmt"
	"strings"

	"github.com/clinicemr/usermanager/ent"
	"github.com/clinicemr/usermanager/ent/auditevent"
	"github.com/clinicemr/usermanager/ent/clinic"
	"github.com/clinicemr/usermanager/ent/organization"
	"github.com/clinicemr/usermanager/internal/apperr"
	"github.com/clinicemr/usermanager/internal/audit"
	"github.com/clinicemr/usermanager/internal/licenses"
	"github.com/clinicemr/usermanager/internal/permissions"
	"github.com/clinicemr/usermanager/internal/staff"
	"github.com/clinicemr/usermanager/internal/txn"
	"github.com/clinicemr/usermanager/internal/users"
	"github.com/clinicemr/usermanager/internal/viewer"
)

// Service sets up organizations and clinics.
type Service struct {
	client   *ent.Client
	licenses *licenses.Service
}

// New returns a Service.
func New(client *ent.Client, lic *licenses.Service) *Service {
	return &Service{client: client, licenses: lic}
}

// AdministratorInput is the first administrator of a new organization.
type AdministratorInput struct {
	Username  string          `json:"username"`
	Email     string          `json:"email"`
	Password  string          `json:"password"`
	FirstName string          `json:"firstName"`
	LastName  string          `json:"lastName"`
	FullName  *string         `json:"fullName"`
	UserType  *staff.UserType `json:"userType"`
}

// CreateOrganizationInput is the input of createOrganization.
type CreateOrganizationInput struct {
	Name          string                    `json:"name"`
	ClinicName    string                    `json:"clinicName"`
	Licenses      []*licenses.QuantityInput `json:"licenses"`
	Administrator *AdministratorInput       `json:"administrator"`
}

// CreateOrganizationPayload answers createOrganization.
type CreateOrganizationPayload struct {
	Organization  *ent.Organization   `json:"organization"`
	Clinic        *ent.Clinic         `json:"clinic"`
	Administrator *ent.User           `json:"administrator"`
	Warnings      []*apperr.Warning   `json:"warnings"`
	UserErrors    []*apperr.UserError `json:"userErrors"`
}

// CreateClinicInput is the input of createClinic.
type CreateClinicInput struct {
	OrganizationID *int                      `json:"organizationId"`
	Name           string                    `json:"name"`
	Licenses       []*licenses.QuantityInput `json:"licenses"`
}

// CreateClinicPayload answers createClinic.
type CreateClinicPayload struct {
	Clinic     *ent.Clinic         `json:"clinic"`
	UserErrors []*apperr.UserError `json:"userErrors"`
}

// CreateOrganization sets up a practice: Support only. Every broken rule of
// the input is reported at once and nothing is written (R10).
func (s *Service) CreateOrganization(ctx context.Context, in CreateOrganizationInput) (*CreateOrganizationPayload, error) {
	v, err := viewer.Require(ctx)
	if err != nil {
		return nil, err
	}
	if !v.Support {
		return nil, apperr.Forbidden("only Support can create organizations")
	}
	var errs apperr.List
	users.ValidateName(&errs, "name", in.Name, 200)
	users.ValidateName(&errs, "clinicName", in.ClinicName, 200)
	validateQuantities(&errs, in.Licenses)
	admin := newAdministrator(in.Administrator)
	var adminErrs apperr.List
	admin.Validate(&adminErrs)
	if err := users.CheckUnique(ctx, s.client, &adminErrs, admin.Username, admin.Email); err != nil {
		return nil, err
	}
	errs = append(errs, adminErrs.Prefixed("administrator")...)
	if len(errs) > 0 {
		return &CreateOrganizationPayload{Warnings: []*apperr.Warning{}, UserErrors: errs}, nil
	}

	payload := &CreateOrganizationPayload{Warnings: []*apperr.Warning{}, UserErrors: []*apperr.UserError{}}
	err = txn.WithTx(ctx, s.client, func(tx *ent.Tx) error {
		org, err := tx.Organization.Create().SetName(strings.TrimSpace(in.Name)).Save(ctx)
		if err != nil {
			return err
		}
		c, err := s.createClinic(ctx, tx, org.ID, in.ClinicName, in.Licenses)
		if err != nil {
			return err
		}
		admin.OrganizationID, admin.HomeClinicID, admin.ClinicIDs = org.ID, c.ID, []int{c.ID}
		u, activated, err := users.Create(ctx, tx, s.licenses, admin)
		if err != nil {
			if l, ok := apperr.AsList(err); ok {
				return l.Prefixed("administrator")
			}
			return err
		}
		if !activated {
			payload.Warnings = append(payload.Warnings, users.SavedInactive(admin.UserType, c.Name))
		}
		payload.Organization, payload.Clinic, payload.Administrator = org, c, u
		return audit.Record(ctx, tx.Client(), audit.Event{Action: auditevent.ActionORGANIZATION_CREATED,
			OrganizationID: &org.ID, TargetType: "Organization", TargetID: &org.ID, TargetUserID: &u.ID,
			After: map[string]any{"name": org.Name, "clinic": c.Name, "administrator": u.Username}})
	})
	if err == nil {
		// Detach the results from the committed transaction, so resolvers
		// can load their edges.
		payload.Organization = payload.Organization.Unwrap()
		payload.Clinic = payload.Clinic.Unwrap()
		payload.Administrator = payload.Administrator.Unwrap()
	}
	if l, ok := apperr.AsList(err); ok {
		return &CreateOrganizationPayload{Warnings: []*apperr.Warning{}, UserErrors: l}, nil
	}
	return payload, err
}

func newAdministrator(in *AdministratorInput) users.NewUser {
	if in == nil {
		in = &AdministratorInput{}
	}
	n := users.NewUser{
		Username: in.Username, Email: in.Email, Password: in.Password,
		FirstName: in.FirstName, LastName: in.LastName, UserType: staff.Clerical,
		// The Admin shortcut, plus seeing patients like any staff member.
		Permissions: append(permissions.Administrative(), permissions.ViewPatients),
	}
	if in.FullName != nil {
		n.FullName = *in.FullName
	}
	if in.UserType != nil {
		n.UserType = *in.UserType
	}
	return n
}

// CreateClinic adds a clinic: Company Admin for their own organization, or
// Support for any. Only Support may give it licenses directly; practices
// request licenses through billing (R26).
func (s *Service) CreateClinic(ctx context.Context, in CreateClinicInput) (*CreateClinicPayload, error) {
	v, err := viewer.Require(ctx)
	if err != nil {
		return nil, err
	}
	if !v.Can(viewer.PermCompanyAdmin) {
		return nil, apperr.Forbidden("creating clinics needs the Company Admin permission")
	}
	orgID := v.OrganizationID
	switch {
	case v.Support && in.OrganizationID == nil:
		return nil, apperr.BadInput("Support staff name the organization (organizationId)")
	case v.Support:
		orgID = *in.OrganizationID
		exists, err := s.client.Organization.Query().Where(organization.ID(orgID)).Exist(ctx)
		if err != nil {
			return nil, err
		}
		if !exists {
			return nil, apperr.NotFound("no such organization")
		}
	case in.OrganizationID != nil && *in.OrganizationID != v.OrganizationID:
		return nil, apperr.NotFound("no such organization")
	case len(in.Licenses) > 0:
		return nil, apperr.Forbidden("only Support can add licenses to a clinic directly; request a license adjustment")
	}
	var errs apperr.List
	users.ValidateName(&errs, "name", in.Name, 200)
	validateQuantities(&errs, in.Licenses)
	if len(errs) > 0 {
		return &CreateClinicPayload{UserErrors: errs}, nil
	}
	var created *ent.Clinic
	err = txn.WithTx(ctx, s.client, func(tx *ent.Tx) error {
		c, err := s.createClinic(ctx, tx, orgID, in.Name, in.Licenses)
		if err != nil {
			return err
		}
		if !v.Support {
			// The creator manages the new clinic (R3).
			if err := tx.User.UpdateOneID(v.UserID).AddClinicIDs(c.ID).Exec(ctx); err != nil {
				return err
			}
		}
		created = c
		return nil
	})
	if l, ok := apperr.AsList(err); ok {
		return &CreateClinicPayload{UserErrors: l}, nil
	}
	if err != nil {
		return nil, err
	}
	return &CreateClinicPayload{Clinic: created.Unwrap(), UserErrors: []*apperr.UserError{}}, nil
}

func (s *Service) createClinic(ctx context.Context, tx *ent.Tx, orgID int, name string, lic []*licenses.QuantityInput) (*ent.Clinic, error) {
	name = strings.TrimSpace(name)
	taken, err := tx.Clinic.Query().Where(clinic.OrganizationID(orgID), clinic.NameEqualFold(name)).Exist(ctx)
	if err != nil {
		return nil, err
	}
	if taken {
		return nil, apperr.List{apperr.New("name", apperr.NameTaken, "the organization already has a clinic named %q", name)}
	}
	c, err := tx.Clinic.Create().SetOrganizationID(orgID).SetName(name).Save(ctx)
	if ent.IsConstraintError(err) {
		return nil, apperr.List{apperr.New("name", apperr.NameTaken, "the organization already has a clinic named %q", name)}
	}
	if err != nil {
		return nil, err
	}
	licensesAdded := map[string]any{}
	for _, q := range lic {
		licensesAdded[string(q.Class)] = q.Quantity
	}
	err = audit.Record(ctx, tx.Client(), audit.Event{Action: auditevent.ActionCLINIC_CREATED,
		OrganizationID: &orgID, TargetType: "Clinic", TargetID: &c.ID,
		After: map[string]any{"name": name, "licenses": licensesAdded}})
	if err != nil {
		return nil, err
	}
	for _, q := range lic {
		if err := s.licenses.Add(ctx, tx, orgID, c.ID, q.Class, q.Quantity); err != nil {
			return nil, err
		}
		if q.Quantity == 0 {
			continue // nothing billed, nothing changed
		}
		// The license history starts here, from 0 (R31).
		if err := s.licenses.RecordTotalChange(ctx, tx, licenses.TotalChange{OrganizationID: orgID, ClinicID: c.ID,
			Class: q.Class, Added: q.Quantity}); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func validateQuantities(errs *apperr.List, lic []*licenses.QuantityInput) {
	seen := map[staff.LicenseClass]bool{}
	for i, q := range lic {
		field := fmt.Sprintf("licenses.%d.quantity", i)
		switch {
		case q.Quantity < 0 || q.Quantity > licenses.MaxQuantity:
			errs.Add(field, apperr.InvalidQuantity, "a quantity is between 0 and %d", licenses.MaxQuantity)
		case seen[q.Class]:
			errs.Add(fmt.Sprintf("licenses.%d.class", i), apperr.InvalidQuantity, "class %s is listed twice", q.Class)
		}
		seen[q.Class] = true
	}
}

// UpdateClinicInput is the input of updateClinic.
type UpdateClinicInput struct {
	ID   int     `json:"id"`
	Name *string `json:"name"`
}

// UpdateClinic renames a clinic: Company Admin of its organization, or
// Support.
func (s *Service) UpdateClinic(ctx context.Context, in UpdateClinicInput) (*CreateClinicPayload, error) {
	v, err := viewer.Require(ctx)
	if err != nil {
		return nil, err
	}
	if !v.Can(viewer.PermCompanyAdmin) {
		return nil, apperr.Forbidden("editing clinics needs the Company Admin permission")
	}
	c, err := s.client.Clinic.Get(ctx, in.ID) // the privacy rules hide other organizations' clinics
	if ent.IsNotFound(err) {
		return nil, apperr.NotFound("no such clinic")
	}
	if err != nil {
		return nil, err
	}
	if in.Name == nil {
		return &CreateClinicPayload{Clinic: c, UserErrors: []*apperr.UserError{}}, nil
	}
	name := strings.TrimSpace(*in.Name)
	var errs apperr.List
	users.ValidateName(&errs, "name", name, 200)
	if len(errs) == 0 && !strings.EqualFold(name, c.Name) {
		taken, err := s.client.Clinic.Query().Where(clinic.OrganizationID(c.OrganizationID), clinic.NameEqualFold(name)).Exist(ctx)
		if err != nil {
			return nil, err
		}
		if taken {
			errs.Add("name", apperr.NameTaken, "the organization already has a clinic named %q", name)
		}
	}
	if len(errs) > 0 {
		return &CreateClinicPayload{UserErrors: errs}, nil
	}
	var saved *ent.Clinic
	err = txn.WithTx(ctx, s.client, func(tx *ent.Tx) error {
		if saved, err = tx.Clinic.UpdateOneID(c.ID).SetName(name).Save(ctx); err != nil {
			return err
		}
		return audit.Record(ctx, tx.Client(), audit.Event{Action: auditevent.ActionCLINIC_UPDATED,
			OrganizationID: &c.OrganizationID, TargetType: "Clinic", TargetID: &c.ID,
			Before: map[string]any{"name": c.Name}, After: map[string]any{"name": name}})
	})
	if ent.IsConstraintError(err) {
		return &CreateClinicPayload{UserErrors: apperr.List{apperr.New("name", apperr.NameTaken, "the organization already has a clinic named %q", name)}}, nil
	}
	if err != nil {
		return nil, err
	}
	return &CreateClinicPayload{Clinic: saved.Unwrap(), UserErrors: []*apperr.UserError{}}, nil
}
