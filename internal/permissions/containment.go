package permissions

import (
	"fmt"
	"slices"
	"strings"

	"github.com/clinicemr/usermanager/ent"
	"github.com/clinicemr/usermanager/internal/apperr"
	"github.com/clinicemr/usermanager/internal/viewer"
)

// Containment of privileges (R32-R35). These are the only owners of "may this
// person grant this" (MayGrant) and "may this person manage that user"
// (CheckManage); every path that grants or manages calls them.

// Codes of the containment rules.
const (
	// NotGrantable: the input grants an administrative permission the
	// acting person does not hold (R32).
	NotGrantable apperr.Code = "PERMISSION_NOT_GRANTABLE"
	// LastAdministrator: the change would leave the organization without an
	// active Company Admin (R35).
	LastAdministrator apperr.Code = "LAST_ADMINISTRATOR"
)

// MayGrant reports whether v may grant the permission key (R16, R32):
// restricted permissions only by Support, administrative ones only by someone
// who holds them (so Company Admin only by a Company Admin). Clinical
// permissions are grantable by any manager. Unknown keys are not grantable.
func MayGrant(v *viewer.Viewer, key string) bool {
	e, ok := EntryOf(key)
	switch {
	case !ok:
		return false
	case v.Support:
		return true
	case e.Restricted:
		return false
	case e.Administrative:
		return v.Can(key)
	}
	return true
}

// CheckManage refuses (FORBIDDEN, saying why) when target holds an
// administrative permission, or access to a clinic, that v lacks (R33):
// nobody edits, switches, signs in as or otherwise manages someone more
// powerful. target's permissions and clinics edges must be loaded. Support
// is not limited.
func CheckManage(v *viewer.Viewer, target *ent.User) error {
	if v == nil {
		return apperr.Forbidden("sign in first")
	}
	if v.Support || target.ID == v.UserID {
		return nil
	}
	var lacking []string
	for _, p := range target.Edges.Permissions {
		if e, ok := EntryOf(p.Key); ok && e.Administrative && !v.Can(p.Key) {
			lacking = append(lacking, e.Name)
		}
	}
	if len(lacking) > 0 {
		return apperr.Forbidden(fmt.Sprintf(
			"%s holds %s, which you do not hold: only someone who holds it may manage this user",
			target.FullName, strings.Join(lacking, ", ")))
	}
	if !v.AllClinics {
		for _, c := range target.Edges.Clinics {
			if !slices.Contains(v.ClinicIDs, c.ID) {
				lacking = append(lacking, c.Name)
			}
		}
	}
	if len(lacking) > 0 {
		return apperr.Forbidden(fmt.Sprintf(
			"%s has access to %s, which you cannot access: only someone with access to every clinic of the user may manage them",
			target.FullName, strings.Join(lacking, ", ")))
	}
	return nil
}

// CheckNotSelf refuses (FORBIDDEN) a change a person makes to their own
// permissions, clinics, type or status (R34): only another manager or
// Support may make it. what names the change ("your own status").
func CheckNotSelf(v *viewer.Viewer, targetID int, what string) error {
	if v != nil && !v.Support && v.UserID == targetID {
		return apperr.Forbidden(fmt.Sprintf("you cannot change %s: ask another manager or Support", what))
	}
	return nil
}
