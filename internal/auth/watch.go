package auth

import (
	"context"
	"time"

	"github.com/clinicemr/usermanager/ent/session"
	"github.com/clinicemr/usermanager/ent/user"
	"github.com/clinicemr/usermanager/internal/events"
	"github.com/clinicemr/usermanager/internal/viewer"
)

// sessionRecheck is how often a long-lived connection re-checks its session
// even without an event (expiry, a missed event).
const sessionRecheck = 30 * time.Second

// WatchSession returns a context that is cancelled when the viewer's session
// ends: sign-out, inactivation, a password or type change (R25), or expiry.
// Subscriptions and WebSocket connections run under it, so an inactivated
// user's open subscriptions end at once, on every instance.
func (s *Service) WatchSession(ctx context.Context) context.Context {
	v := viewer.FromContext(ctx)
	if v == nil || s.events == nil {
		return ctx
	}
	ctx, cancel := context.WithCancel(ctx)
	in := s.events.Subscribe(ctx)
	go func() {
		defer cancel()
		// The session may have ended between authentication and Subscribe,
		// an event this watch would have missed.
		if !s.sessionActive(ctx, v.SessionID) {
			return
		}
		tick := time.NewTicker(sessionRecheck)
		defer tick.Stop()
		for {
			select {
			case e, ok := <-in:
				if !ok {
					return
				}
				if e.Kind == events.Resync || e.Kind == events.SessionsEnded && e.UserID == v.UserID {
					if !s.sessionActive(ctx, v.SessionID) {
						return
					}
				}
			case <-tick.C:
				if !s.sessionActive(ctx, v.SessionID) {
					return
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	return ctx
}

// sessionActive reports whether a session can still be used. A database
// error counts as active: a blip must not sign everyone out.
func (s *Service) sessionActive(ctx context.Context, sessionID int) bool {
	if ctx.Err() != nil {
		return false
	}
	n, err := s.client.Session.Query().Where(session.ID(sessionID), session.RevokedAtIsNil(),
		session.ExpiresAtGT(s.now()), session.HasUserWith(user.StatusEQ(user.StatusACTIVE))).Count(system(ctx))
	return err != nil || n == 1
}
