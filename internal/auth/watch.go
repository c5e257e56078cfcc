package auth

import (
	"context"
	"sync"
	"time"

	"github.com/clinicemr/usermanager/ent/session"
	"github.com/clinicemr/usermanager/ent/user"
	"github.com/clinicemr/usermanager/internal/events"
	"github.com/clinicemr/usermanager/internal/viewer"
)

// WatchSession returns a context that is cancelled when the viewer's session
// ends: sign-out, inactivation, a password or type change (R25), or expiry.
// Subscriptions and WebSocket connections run under it, so an inactivated
// user's open subscriptions end at once, on every instance.
//
// An idle watch costs no goroutine and no SQL: the session is checked in the
// database only when an end of one of the user's sessions is announced
// (events.SessionsEnded, from any instance) or events may have been missed
// (Resync), and a timer ends it at its expiry. A context already watching
// the viewer's session (a subscription on a WebSocket that watches it) is
// returned as it is.
func (s *Service) WatchSession(ctx context.Context) context.Context {
	v := viewer.FromContext(ctx)
	if v == nil || s.events == nil {
		return ctx
	}
	if id, ok := ctx.Value(watchedSessionKey{}).(int); ok && id == v.SessionID {
		return ctx
	}
	ctx, cancel := context.WithCancel(context.WithValue(ctx, watchedSessionKey{}, v.SessionID))
	w := &sessionWatch{service: s, sessionID: v.SessionID, expiresAt: v.SessionExpiresAt, ctx: ctx, end: cancel}
	stopWatching := s.events.Watch(events.UserTopic(v.UserID), func(events.Event) { w.recheck() }, cancel)
	if !v.SessionExpiresAt.IsZero() {
		w.armExpiry()
	}
	context.AfterFunc(ctx, func() {
		stopWatching()
		w.mu.Lock()
		if w.expiry != nil {
			w.expiry.Stop()
		}
		w.mu.Unlock()
	})
	// The session may have ended between its reading and the watch, an
	// announcement the watch missed: check the database only if the bus
	// heard of one.
	if s.events.SessionsMayHaveEnded(v.UserID, v.SessionReadAt) {
		w.recheck()
	}
	return ctx
}

// watchedSessionKey holds the ID of the session a context is watching.
type watchedSessionKey struct{}

// sessionWatch is the watch of one session for one connection or
// subscription.
type sessionWatch struct {
	service   *Service
	sessionID int
	expiresAt time.Time
	ctx       context.Context
	end       context.CancelFunc

	mu     sync.Mutex
	expiry *time.Timer
	// checking: a check is running; again: another was asked for meanwhile
	// (announcements coalesce into one more check).
	checking, again bool
}

// armExpiry ends the watch at the session's expiry, by the service's clock.
func (w *sessionWatch) armExpiry() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ctx.Err() != nil {
		return
	}
	w.expiry = time.AfterFunc(w.expiresAt.Sub(w.service.now()), func() {
		if w.service.now().Before(w.expiresAt) {
			w.armExpiry() // the clock was set back
			return
		}
		w.end()
	})
}

// recheck checks the session in the database, in the background, and ends
// the watch if it can no longer be used. It returns at once: it is called
// while the event bus delivers.
func (w *sessionWatch) recheck() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.checking {
		w.again = true
		return
	}
	w.checking = true
	go func() {
		for {
			if !w.service.sessionActive(w.ctx, w.sessionID) {
				w.end()
				return
			}
			w.mu.Lock()
			if !w.again {
				w.checking = false
				w.mu.Unlock()
				return
			}
			w.again = false
			w.mu.Unlock()
		}
	}()
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
