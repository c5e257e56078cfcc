package permissions

import (
	"context"
	"slices"
	"strings"

	"github.com/clinicemr/usermanager/ent"
	"github.com/clinicemr/usermanager/ent/permission"
	"github.com/clinicemr/usermanager/internal/apperr"
	"github.com/clinicemr/usermanager/internal/staff"
	"github.com/clinicemr/usermanager/internal/viewer"
)

// Codes of permission rules (R16).
const (
	UnknownPermission      apperr.Code = "UNKNOWN_PERMISSION"
	PermissionNotAvailable apperr.Code = "PERMISSION_NOT_AVAILABLE"
	Forbidden              apperr.Code = "FORBIDDEN"
	PermissionRequired     apperr.Code = "PERMISSION_REQUIRED"
)

// SOAPSigning are the permissions never copied from one user to another
// (R15).
var SOAPSigning = []string{StartSOAPNotes, ForwardSOAPNotes, FinishSOAPNotes}

// EntryOf returns the catalog entry of key.
func EntryOf(key string) (Entry, bool) {
	for _, e := range Catalog {
		if e.Key == key {
			return e, true
		}
	}
	return Entry{}, false
}

// Available reports whether key may be granted to a user type.
func (e Entry) Available(t staff.UserType) bool { return slices.Contains(e.AvailableTo, t) }

// CheckGrant checks that the viewer may grant keys to a user of type t (R16,
// R32): every key exists and is available to the type, restricted ones are
// granted by Support only, and administrative ones only by someone who holds
// them. Keys the user already holds (kept) are exempt, so editing a profile
// a Support person once granted a restricted permission does not fail (and
// R33 keeps a manager from editing anyone holding more than they do).
func CheckGrant(ctx context.Context, errs *apperr.List, field string, keys, kept []string, t staff.UserType) {
	v := viewer.FromContext(ctx)
	for _, key := range keys {
		e, ok := EntryOf(key)
		switch {
		case !ok:
			errs.Add(field, UnknownPermission, "there is no permission %q", key)
		case !e.Available(t):
			errs.Add(field, PermissionNotAvailable, "%s is not available to user type %s", e.Name, t)
		case slices.Contains(kept, key) || MayGrant(v, key):
		case e.Restricted:
			errs.Add(field, Forbidden, "%s can only be granted by Support", e.Name)
		default:
			errs.Add(field, NotGrantable, "you can grant %s only if you hold it yourself", e.Name)
		}
	}
	if len(keys) == 0 {
		errs.Add(field, PermissionRequired, "a profile needs at least one permission")
	}
}

// WithAdmin adds the Admin shortcut's permissions (R16) to keys.
func WithAdmin(keys []string) []string {
	return Union(keys, Administrative())
}

// Union returns the keys of a and b, each once, in catalog order.
func Union(a, b []string) []string {
	var out []string
	for _, e := range Catalog {
		if slices.Contains(a, e.Key) || slices.Contains(b, e.Key) {
			out = append(out, e.Key)
		}
	}
	// Unknown keys are kept (in input order) so CheckGrant can report them.
	for _, k := range append(slices.Clone(a), b...) {
		if _, ok := EntryOf(k); !ok && !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	return out
}

// IDs returns the database IDs of known keys.
func IDs(ctx context.Context, client *ent.Client, keys []string) ([]int, error) {
	return client.Permission.Query().Where(permission.KeyIn(keys...)).IDs(ctx)
}

// Names lists keys for messages.
func Names(keys []string) string { return strings.Join(keys, ", ") }
