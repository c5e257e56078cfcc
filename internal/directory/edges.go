package directory

import (
	"cmp"
	"context"
	"slices"
	"strings"

	"github.com/clinicemr/usermanager/ent"
)

// Clinics answers User.clinics: the clinics u may access, by name (then ID),
// so that every read lists them in the same order. The database returns a
// join's rows in whatever order its plan reads them, which changes with its
// statistics.
func Clinics(ctx context.Context, u *ent.User) ([]*ent.Clinic, error) {
	clinics, err := u.Clinics(ctx)
	if err != nil {
		return nil, err
	}
	// A copy: the loaded edge may be read by other resolvers meanwhile.
	clinics = slices.Clone(clinics)
	slices.SortFunc(clinics, func(a, b *ent.Clinic) int {
		return cmp.Or(strings.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name)), cmp.Compare(a.ID, b.ID))
	})
	return clinics, nil
}

// Permissions answers User.permissions: the permissions granted to u, in
// the catalog's order (by ID), the same at every read.
func Permissions(ctx context.Context, u *ent.User) ([]*ent.Permission, error) {
	permissions, err := u.Permissions(ctx)
	if err != nil {
		return nil, err
	}
	permissions = slices.Clone(permissions)
	slices.SortFunc(permissions, func(a, b *ent.Permission) int { return cmp.Compare(a.ID, b.ID) })
	return permissions, nil
}
