package auth

import (
	"context"
	"time"

	"github.com/clinicemr/usermanager/ent"
	"github.com/clinicemr/usermanager/ent/hook"
	"github.com/clinicemr/usermanager/ent/privacy"
	"github.com/clinicemr/usermanager/ent/session"
	"github.com/clinicemr/usermanager/ent/user"
)

// EndSessionsOnInactivationHook ends every session of a user who is made
// Inactive, in the same transaction (R25): their tokens stop working at once
// and stay dead if the user is activated again. It is attached to the User
// schema, so every way of inactivating a user does it.
func EndSessionsOnInactivationHook() ent.Hook {
	return hook.On(func(next ent.Mutator) ent.Mutator {
		return hook.UserFunc(func(ctx context.Context, m *ent.UserMutation) (ent.Value, error) {
			status, set := m.Status()
			if !set || status != user.StatusINACTIVE {
				return next.Mutate(ctx, m)
			}
			ids, err := m.IDs(ctx)
			if err != nil {
				return nil, err
			}
			v, err := next.Mutate(ctx, m)
			if err != nil || len(ids) == 0 {
				return v, err
			}
			err = m.Client().Session.Update().
				Where(session.UserIDIn(ids...), session.RevokedAtIsNil()).
				SetRevokedAt(time.Now()).
				Exec(privacy.DecisionContext(ctx, privacy.Allow))
			return v, err
		})
	}, ent.OpUpdate|ent.OpUpdateOne)
}
