package users

import (
	"context"
	"slices"

	"github.com/clinicemr/usermanager/ent"
	"github.com/clinicemr/usermanager/ent/clinic"
	"github.com/clinicemr/usermanager/ent/privacy"
	"github.com/clinicemr/usermanager/internal/apperr"
)

// CreateBatch is createUser for many inputs of one manager (a staff-list
// import's batch), with fewer reads per input and the same answers:
//
//   - The clinics of all inputs (the home clinic as the viewer reads it,
//     and every clinic's organization for checkClinics) are read in two
//     statements when the batch is made, instead of two per input.
//   - Create leaves uniqueness (username, email, real NPI and license,
//     R5, R6, R14) to the unique indexes when every other rule holds,
//     instead of reading first. An insert they refuse is rolled back and
//     the input is checked again by createUser's own prepareCreate, so it
//     gets exactly createUser's userErrors (USERNAME_TAKEN and EMAIL_TAKEN
//     together, with their messages); when an input breaks other rules
//     too, the uniqueness reads are made as createUser makes them, so all
//     are reported at once (R10).
//
// (One read for the uniqueness of a whole batch is what PostgreSQL cannot
// be trusted with: for "username_key = ANY(...)" it picks the search's
// trigram indexes, seconds per batch once the table has grown.)
//
// Create and CheckCreate may run concurrently.
type CreateBatch struct {
	p   *Profiles
	ctx context.Context // the manager as viewer, its counts announcements held back
	// announce announces the license counts of the clinics the batch
	// changed (Done).
	announce func() error

	homes      map[int]*ent.Clinic // home clinics the viewer can read
	clinicOrgs map[int]int         // clinic ID -> organization, of every clinic named
	known      map[int]bool        // clinic IDs looked up
}

// NewCreateBatch reads the clinics of ins, as the viewer of ctx. Live
// license counts hear of the batch's changes once per clinic, when Done is
// called, not once per user.
func (p *Profiles) NewCreateBatch(ctx context.Context, ins []CreateUserInput) (*CreateBatch, error) {
	ctx, announce := p.licenses.CoalesceCounts(ctx)
	b := &CreateBatch{p: p, ctx: ctx, announce: announce, homes: map[int]*ent.Clinic{}, clinicOrgs: map[int]int{}, known: map[int]bool{}}
	var homeIDs, clinicIDs []int
	for _, in := range ins {
		if !slices.Contains(homeIDs, in.HomeClinicID) {
			homeIDs = append(homeIDs, in.HomeClinicID)
		}
		for _, id := range append([]int{in.HomeClinicID}, in.ClinicIDs...) {
			if !slices.Contains(clinicIDs, id) {
				clinicIDs = append(clinicIDs, id)
			}
		}
	}
	if len(ins) == 0 {
		return b, nil
	}
	// The home clinic as prepareCreate reads it: through the viewer's
	// privacy rules.
	homes, err := p.client.Clinic.Query().Where(clinic.IDIn(homeIDs...)).All(ctx)
	if err != nil {
		return nil, err
	}
	for _, c := range homes {
		b.homes[c.ID] = c
	}
	// checkClinics' read (any organization: each input is checked against
	// its home clinic's).
	var orgs []struct {
		ID             int `json:"id"`
		OrganizationID int `json:"organization_id"`
	}
	if err := p.client.Clinic.Query().Where(clinic.IDIn(clinicIDs...)).
		Select(clinic.FieldID, clinic.FieldOrganizationID).Scan(privacy.DecisionContext(ctx, privacy.Allow), &orgs); err != nil {
		return nil, err
	}
	for _, c := range orgs {
		b.clinicOrgs[c.ID] = c.OrganizationID
	}
	for _, id := range clinicIDs {
		b.known[id] = true
	}
	return b, nil
}

// Done announces the license counts the batch changed, once per clinic
// (and organization). Call it when the batch ends, whatever its outcome, so
// that no committed change goes unheard.
func (b *CreateBatch) Done() error {
	return b.announce()
}

// Create is Profiles.Create for an input of the batch.
func (b *CreateBatch) Create(in CreateUserInput) (*UserPayload, error) {
	pc, errs, err := b.prepare(in, false)
	if err != nil {
		return nil, err
	}
	if len(errs) > 0 {
		return failed(errs), nil
	}
	payload, err := b.p.create(b.ctx, in, pc)
	if err != nil || !refusedByIndex(payload.UserErrors) {
		return payload, err
	}
	// The answer createUser gives: it would have read the profile that
	// holds the value. None (deleted meanwhile): the index's own answer,
	// as createUser's under a race.
	if _, errs, err := b.p.prepareCreate(b.ctx, in); err != nil || len(errs) > 0 {
		if err != nil {
			return nil, err
		}
		return failed(errs), nil
	}
	return payload, nil
}

// CheckCreate is Profiles.CheckCreate for an input of the batch.
func (b *CreateBatch) CheckCreate(in CreateUserInput) (apperr.List, error) {
	_, errs, err := b.prepare(in, true)
	return errs, err
}

// refusedByIndex: uniqueViolation's userErrors.
func refusedByIndex(errs []*apperr.UserError) bool {
	for _, e := range errs {
		switch e.Code {
		case apperr.UsernameTaken, apperr.EmailTaken, DuplicateProviderCode:
			return true
		}
	}
	return false
}

// prepare is prepareCreate on the batch's clinics; without check, the
// uniqueness reads are left out when every other rule holds (the indexes
// decide, see Create).
func (b *CreateBatch) prepare(in CreateUserInput, check bool) (*preparedCreate, apperr.List, error) {
	return b.p.prepareCreateWith(b.ctx, in, b, check)
}

// covers: the batch read the clinics of in, and in copies no permissions.
func (b *CreateBatch) covers(in CreateUserInput) bool {
	if len(in.CopyPermissionsFrom) > 0 || !b.known[in.HomeClinicID] {
		return false
	}
	for _, id := range in.ClinicIDs {
		if !b.known[id] {
			return false
		}
	}
	return true
}

// clinicsOf is the clinics of ids in organization orgID, from the batch's
// read (never nil, for checkClinicsFound).
func (b *CreateBatch) clinicsOf(orgID int, ids []int) []int {
	found := []int{}
	for _, id := range ids {
		if org, ok := b.clinicOrgs[id]; ok && org == orgID {
			found = append(found, id)
		}
	}
	return found
}
