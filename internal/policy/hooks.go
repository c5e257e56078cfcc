package policy

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/clinicemr/usermanager/ent"
	"github.com/clinicemr/usermanager/ent/hook"
	"github.com/clinicemr/usermanager/ent/privacy"
	"github.com/clinicemr/usermanager/ent/session"
	"github.com/clinicemr/usermanager/ent/user"
	"github.com/clinicemr/usermanager/internal/credentials"
)

// NormalizeHook keeps a user's derived columns current: the lower-cased
// username and email whose unique indexes make them unique without regard to
// case (R5, R6), and the lower-cased search text of the name search (R17).
// It is attached to the User schema, so no write can skip it.
func NormalizeHook() ent.Hook {
	return hook.On(func(next ent.Mutator) ent.Mutator {
		return hook.UserFunc(func(ctx context.Context, m *ent.UserMutation) (ent.Value, error) {
			if err := normalize(ctx, m); err != nil {
				return nil, err
			}
			return next.Mutate(ctx, m)
		})
	}, ent.OpCreate|ent.OpUpdateOne|ent.OpUpdate)
}

func normalize(ctx context.Context, m *ent.UserMutation) error {
	if v, ok := m.Username(); ok {
		m.SetUsernameKey(Key(v))
	}
	if v, ok := m.Email(); ok {
		m.SetEmailKey(Key(v))
	}
	first, okFirst := m.FirstName()
	last, okLast := m.LastName()
	full, okFull := m.FullName()
	previous, okPrevious := m.PreviousNames()
	appended, okAppended := m.AppendedPreviousNames()
	if !okFirst && !okLast && !okFull && !okPrevious && !okAppended {
		return nil
	}
	if m.Op().Is(ent.OpUpdate) {
		return fmt.Errorf("policy: names can only be changed one user at a time")
	}
	if m.Op().Is(ent.OpUpdateOne) {
		var err error
		if !okFirst {
			if first, err = m.OldFirstName(ctx); err != nil {
				return err
			}
		}
		if !okLast {
			if last, err = m.OldLastName(ctx); err != nil {
				return err
			}
		}
		if !okFull {
			if full, err = m.OldFullName(ctx); err != nil {
				return err
			}
		}
		if !okPrevious {
			if previous, err = m.OldPreviousNames(ctx); err != nil {
				return err
			}
		}
	}
	previous = append(previous, appended...)
	m.SetSearchText(SearchText(first, last, full, previous...))
	return nil
}

// Key is the case-insensitive form of a username or email.
func Key(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// SearchText is what the name search matches a fragment against: the
// names, and the names a profile had before (R14, R17), folded by
// credentials.NormalizeName (case, accents, apostrophes), so "jose" finds
// "José" and "oneill" finds "O'Neill".
func SearchText(first, last, full string, previous ...string) string {
	parts := append([]string{first, last, full}, previous...)
	for i, p := range parts {
		parts[i] = credentials.NormalizeName(p)
	}
	return strings.Join(parts, " ")
}

// SearchFragment folds a name fragment as SearchText folds names.
func SearchFragment(s string) string { return credentials.NormalizeName(s) }

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
			return v, RevokeSessions(ctx, m.Client(), time.Now(), ids...)
		})
	}, ent.OpUpdate|ent.OpUpdateOne)
}

// RevokeSessions revokes every live session of the users at now: their
// access tokens are refused from the next request and their refresh tokens
// are dead. It is the one write that ends sessions (R25); auth.EndSessions
// adds the announcement that closes live connections.
func RevokeSessions(ctx context.Context, client *ent.Client, now time.Time, userIDs ...int) error {
	return client.Session.Update().
		Where(session.UserIDIn(userIDs...), session.RevokedAtIsNil()).
		SetRevokedAt(now).
		Exec(privacy.DecisionContext(ctx, privacy.Allow))
}
