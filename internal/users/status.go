package users

import (
	"context"
	"fmt"
	"strings"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"

	"github.com/clinicemr/usermanager/ent"
	"github.com/clinicemr/usermanager/ent/auditevent"
	"github.com/clinicemr/usermanager/ent/clinic"
	"github.com/clinicemr/usermanager/ent/user"
	"github.com/clinicemr/usermanager/internal/apperr"
	"github.com/clinicemr/usermanager/internal/audit"
	"github.com/clinicemr/usermanager/internal/db"
	"github.com/clinicemr/usermanager/internal/licenses"
	"github.com/clinicemr/usermanager/internal/permissions"
	"github.com/clinicemr/usermanager/internal/staff"
	"github.com/clinicemr/usermanager/internal/txn"
	"github.com/clinicemr/usermanager/internal/viewer"
)

// InvalidStatusTransition refuses a status change that is no change.
const InvalidStatusTransition apperr.Code = "INVALID_STATUS_TRANSITION"

// SetStatusInput is the input of setUserStatus.
type SetStatusInput struct {
	UserID int         `json:"userId"`
	Status user.Status `json:"status"`
}

// SetStatus makes a user Active or Inactive (R21, R23, R25). Activation
// takes a free license of the user's class at their home clinic, or fails
// with MAXIMUM_LICENSES_REACHED naming both; inactivation frees the license
// (still billed) and ends the user's sessions and live connections at once
// (auth.EndSessions). Inactivating one user and activating another of the same class is
// how a license is shared.
//
// An activation is the hot path of a busy clinic (issue #16), so it costs
// one read before its transaction (statusTarget: the user, R33's inputs and
// the kept license count) and, inside it, the user's update, the license
// taken, the counts event and the audit record; the payload is built from
// what those returned, with no read back.
func (p *Profiles) SetStatus(ctx context.Context, in SetStatusInput) (*UserPayload, error) {
	t, err := p.statusTarget(ctx, in.UserID)
	if err != nil {
		return nil, err
	}
	u := t.user
	if err := permissions.CheckNotSelf(viewer.FromContext(ctx), u.ID, "your own status"); err != nil {
		return nil, err
	}
	from := user.StatusINACTIVE
	if in.Status == user.StatusINACTIVE {
		from = user.StatusACTIVE
	}
	transition := func() *UserPayload {
		return failed(apperr.List{apperr.New("status", InvalidStatusTransition,
			"the user is already %s", strings.ToLower(string(in.Status)))})
	}
	if u.Status != from {
		return transition(), nil
	}
	class, _ := u.UserType.Class()
	if in.Status == user.StatusACTIVE {
		// Refused at once, without a transaction, when the clinic has no
		// free license of the class (most activations under contention).
		free, clinicName, err := t.vacancy(ctx, p.licenses, class)
		if err != nil {
			return nil, fmt.Errorf("changing status: %w", err)
		}
		if free <= 0 {
			return failed(apperr.List{licenses.NoLicense("status", class, clinicName)}), nil
		}
	}
	var (
		updatedAt time.Time
		taken     *ent.License
	)
	if p.licenses.Dialect() == dialect.SQLite {
		// SQLite has one writer at a time: activations queue here, where
		// the next starts as soon as one commits, rather than in SQLite's
		// busy handler, which sleeps 1, 2, 5, 10 ms... between tries and
		// leaves the database idle meanwhile.
		p.sqliteWriter.Lock()
		defer p.sqliteWriter.Unlock()
	}
	// The transaction's statements find their rows by key, and are planned
	// once per connection.
	ctx = db.ReusePlan(ctx)
	err = txn.WithTx(ctx, p.client, func(tx *ent.Tx) error {
		if in.Status == user.StatusINACTIVE && holdsCompanyAdmin(t.keys) {
			if err := p.keepAnAdministrator(ctx, tx, u, "status"); err != nil {
				return err
			}
		}
		// Conditional on the current status, so of two concurrent changes
		// only one applies. The time is set here, in microseconds as
		// PostgreSQL keeps it, so the payload shows what a read would.
		updatedAt = time.Now().Truncate(time.Microsecond)
		n, err := tx.User.Update().Where(user.ID(u.ID), user.StatusEQ(from)).
			SetStatus(in.Status).SetUpdatedAt(updatedAt).Save(ctx)
		if err != nil {
			return err
		}
		if n != 1 {
			return apperr.List(transition().UserErrors)
		}
		if in.Status == user.StatusACTIVE {
			if taken, err = p.licenses.Take(ctx, tx, *u.OrganizationID, *u.HomeClinicID, class, u.ID); err != nil {
				return err
			}
			if taken == nil {
				c, err := tx.Clinic.Get(ctx, *u.HomeClinicID)
				if err != nil {
					return err
				}
				return apperr.List{licenses.NoLicense("status", class, c.Name)}
			}
		} else {
			if err := p.licenses.Release(ctx, tx, u.ID); err != nil {
				return err
			}
			if err := p.sessions.EndSessions(ctx, tx, u.ID); err != nil {
				return err
			}
		}
		// An invited user saved Inactive was not emailed (their link could
		// not be used): activating them sends the invitation.
		if in.Status == user.StatusACTIVE && !u.PasswordSet && p.resets != nil {
			if err := p.resets.invite(ctx, tx, u, viewer.FromContext(ctx).UserID, "the invited user was activated"); err != nil {
				return err
			}
		}
		return audit.Record(ctx, tx.Client(), audit.Event{Action: auditevent.ActionUSER_STATUS_CHANGED,
			OrganizationID: u.OrganizationID, TargetUserID: &u.ID,
			Before: map[string]any{"status": string(from)}, After: map[string]any{"status": string(in.Status)}})
	})
	if l, ok := apperr.AsList(err); ok {
		return failed(l), nil
	}
	if err != nil {
		return nil, fmt.Errorf("changing status: %w", err)
	}
	// The user as the transaction left them: only the status and its time
	// changed, and an activated user holds the license just taken.
	saved := *u
	saved.Status, saved.UpdatedAt = in.Status, updatedAt
	saved.Edges = ent.UserEdges{}
	if taken != nil {
		saved.Edges.License = taken.Detach()
	}
	return succeeded(&saved, nil), nil
}

// statusTarget is a user loaded for a status change, with what R33 and
// Vacancy need of them.
type statusTarget struct {
	user *ent.User
	// keys are the user's permission keys.
	keys []string
	// freeLicenses (a licenses.FreeByClass column) and homeClinicName are
	// Vacancy at the user's home clinic, read with the user; unknown when
	// counted is false.
	freeLicenses, homeClinicName string
	counted                      bool
}

// statusTarget is Editable for setUserStatus in one statement: the user's
// row, their clinic ids and permission keys (R33 is checked on them here)
// and Vacancy at their home clinic, read together. A user the viewer may
// not manage is read again by Editable, whose refusal names what the viewer
// lacks.
func (p *Profiles) statusTarget(ctx context.Context, id int) (*statusTarget, error) {
	v, err := editor(ctx)
	if err != nil {
		return nil, err
	}
	// A lookup by key: planned once per connection.
	u, err := p.client.User.Query().Where(user.ID(id)).Modify(statusColumns).Only(db.ReusePlan(ctx))
	if err := reachable(v, u, err); err != nil {
		return nil, err
	}
	t := &statusTarget{user: u, keys: db.SplitList(textValue(u, "permission_keys")),
		freeLicenses: textValue(u, "free_licenses"), homeClinicName: textValue(u, "home_clinic_name"), counted: true}
	clinics, err := db.SplitIDs(textValue(u, "clinic_ids"))
	if err != nil {
		return nil, err
	}
	if mayManage(v, u, t.keys, clinics) {
		return t, nil
	}
	full, err := p.Editable(ctx, id)
	if err != nil {
		return nil, err
	}
	// Changed meanwhile and manageable now: go on with what Editable read.
	return &statusTarget{user: full, keys: permissionKeys(full)}, nil
}

// vacancy is licenses.Vacancy of class at the user's home clinic, from what
// statusTarget read when it could.
func (t *statusTarget) vacancy(ctx context.Context, l *licenses.Service, class staff.LicenseClass) (int, string, error) {
	if !t.counted {
		return l.Vacancy(ctx, *t.user.HomeClinicID, class)
	}
	free, err := licenses.ParseFreeByClass(t.freeLicenses, class)
	return free, t.homeClinicName, err
}

// statusColumns adds to a user's row the inputs of R33 and Vacancy, each
// joined into one text (as auth's readSession reads a viewer): clinic_ids,
// permission_keys, free_licenses and home_clinic_name. Read under the
// user's privacy filter, they are those of a user the viewer may see. Each
// is an empty text rather than NULL: ent cannot scan an extra column that
// SQLite reports without a type.
func statusColumns(sel *entsql.Selector) {
	b := entsql.Dialect(sel.Dialect())
	text := func(q entsql.Querier, as string) {
		query, args := q.Query()
		sel.AppendSelectExprAs(entsql.ExprP("COALESCE(("+query+"), '')", args...), as)
	}
	clinicIDs, permissionKeys := db.UserLists(sel.Dialect(), sel.C(user.FieldID))
	text(clinicIDs, "clinic_ids")
	text(permissionKeys, "permission_keys")
	join := "string_agg"
	if sel.Dialect() == dialect.SQLite {
		join = "group_concat"
	}
	text(entsql.Expr(licenses.FreeByClass(join, sel.C(user.FieldHomeClinicID))), "free_licenses")
	hc := b.Table(clinic.Table).As("hc")
	text(b.Select(hc.C(clinic.FieldName)).From(hc).
		Where(entsql.ColumnsEQ(hc.C(clinic.FieldID), sel.C(user.FieldHomeClinicID))), "home_clinic_name")
}

// mayManage is permissions.CheckManage (R33) on a user's permission keys
// and clinic ids, without the names its refusal gives (Editable reads them).
func mayManage(v *viewer.Viewer, u *ent.User, keys []string, clinicIDs []int) bool {
	target := &ent.User{ID: u.ID}
	for _, k := range keys {
		target.Edges.Permissions = append(target.Edges.Permissions, &ent.Permission{Key: k})
	}
	for _, id := range clinicIDs {
		target.Edges.Clinics = append(target.Edges.Clinics, &ent.Clinic{ID: id})
	}
	return permissions.CheckManage(v, target) == nil
}

// textValue is a text column a Modify added to u's row; "" when NULL.
func textValue(u *ent.User, column string) string {
	v, _ := u.Value(column)
	switch v := v.(type) {
	case string:
		return v
	case []byte:
		return string(v)
	}
	return ""
}
