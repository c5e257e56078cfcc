package auth

import (
	"context"
	"time"

	"github.com/clinicemr/usermanager/ent"
	"github.com/clinicemr/usermanager/ent/auditevent"
	"github.com/clinicemr/usermanager/ent/session"
	"github.com/clinicemr/usermanager/ent/user"
	"github.com/clinicemr/usermanager/internal/apperr"
	"github.com/clinicemr/usermanager/internal/audit"
	"github.com/clinicemr/usermanager/internal/permissions"
	"github.com/clinicemr/usermanager/internal/txn"
	"github.com/clinicemr/usermanager/internal/viewer"
)

// SessionInfo is one active sign-in of a user, as shown to them and their
// managers. It holds no token.
type SessionInfo struct {
	ID        int       `json:"id"`
	CreatedAt time.Time `json:"createdAt"`
	ExpiresAt time.Time `json:"expiresAt"`
	ClientIP  string    `json:"clientIp"`
	UserAgent string    `json:"userAgent"`
	// Current: the session of the request asking.
	Current bool `json:"current"`
}

// RevokeSessionsInput names one session, or every session of a user.
type RevokeSessionsInput struct {
	SessionID *int `json:"sessionId"`
	UserID    *int `json:"userId"`
}

// RevokeSessionsPayload answers revokeSessions.
type RevokeSessionsPayload struct {
	Revoked    int                 `json:"revoked"`
	UserErrors []*apperr.UserError `json:"userErrors"`
}

// sessionOwner checks the viewer may see (manage: change) a user's
// sessions: their own always; others' with View Users (Edit Users), when
// the privacy rules let them see the user (R1-R3) and the user is no more
// powerful than they are (R33).
func (s *Service) sessionOwner(ctx context.Context, userID *int, manage bool) (*viewer.Viewer, int, error) {
	v, err := viewer.Require(ctx)
	if err != nil {
		return nil, 0, err
	}
	if userID == nil || *userID == v.UserID {
		return v, v.UserID, nil
	}
	need := viewer.PermViewUsers
	if manage {
		need = viewer.PermEditUsers
	}
	if !v.Can(need) {
		return nil, 0, apperr.Forbidden("managing another user's sessions needs the Edit Users permission")
	}
	// Queried with the viewer's context: invisible users are not found.
	target, err := s.client.User.Query().Where(user.ID(*userID)).WithPermissions().WithClinics().Only(ctx)
	if ent.IsNotFound(err) {
		return nil, 0, apperr.NotFound("no such user")
	}
	if err != nil {
		return nil, 0, err
	}
	// Nobody watches or ends the sessions of someone more powerful (R33).
	if err := permissions.CheckManage(v, target); err != nil {
		return nil, 0, err
	}
	return v, *userID, nil
}

// Sessions lists a user's active sessions, newest first: the viewer's own
// by default.
func (s *Service) Sessions(ctx context.Context, userID *int) ([]*SessionInfo, error) {
	v, owner, err := s.sessionOwner(ctx, userID, false)
	if err != nil {
		return nil, err
	}
	rows, err := s.client.Session.Query().
		Where(session.UserID(owner), session.RevokedAtIsNil(), session.ExpiresAtGT(s.now())).
		Order(ent.Desc(session.FieldCreatedAt)).Limit(100).All(system(ctx))
	if err != nil {
		return nil, err
	}
	out := make([]*SessionInfo, len(rows))
	for i, r := range rows {
		out[i] = &SessionInfo{ID: r.ID, CreatedAt: r.CreatedAt, ExpiresAt: r.ExpiresAt,
			ClientIP: r.ClientIP, UserAgent: r.UserAgent, Current: r.ID == v.SessionID}
	}
	return out, nil
}

// RevokeSessions ends one session (sessionId) or all of a user's (userId).
// Their access tokens are refused from the next request, their refresh
// tokens are dead and their subscriptions close.
func (s *Service) RevokeSessions(ctx context.Context, in RevokeSessionsInput) (*RevokeSessionsPayload, error) {
	if (in.SessionID == nil) == (in.UserID == nil) {
		return &RevokeSessionsPayload{UserErrors: []*apperr.UserError{apperr.New("", apperr.Required,
			"name either one session (sessionId) or a user whose sessions all end (userId)")}}, nil
	}
	target := in.UserID
	if in.SessionID != nil {
		sess, err := s.client.Session.Get(system(ctx), *in.SessionID)
		if ent.IsNotFound(err) {
			return nil, apperr.NotFound("no such session")
		}
		if err != nil {
			return nil, err
		}
		target = &sess.UserID
	}
	v, owner, err := s.sessionOwner(ctx, target, true)
	if ae, ok := err.(*apperr.Error); ok && ae.Code == apperr.CodeNotFound && in.SessionID != nil {
		return nil, apperr.NotFound("no such session")
	}
	if err != nil {
		return nil, err
	}
	sctx := system(ctx)
	var revoked int
	err = txn.WithTx(sctx, s.client, func(tx *ent.Tx) error {
		q := tx.Session.Update().Where(session.UserID(owner), session.RevokedAtIsNil())
		if in.SessionID != nil {
			q = q.Where(session.ID(*in.SessionID))
		}
		if revoked, err = q.SetRevokedAt(s.now()).Save(sctx); err != nil || revoked == 0 {
			return err
		}
		org, err := tx.User.Query().Where(user.ID(owner)).Only(sctx)
		if err != nil {
			return err
		}
		if err := audit.Record(ctx, tx.Client(), audit.Event{Action: auditevent.ActionSESSION_REVOKED,
			OrganizationID: org.OrganizationID, TargetUserID: &owner,
			After: map[string]any{"revoked": revoked, "by": v.Username}}); err != nil {
			return err
		}
		return s.SessionsEnded(sctx, tx, owner)
	})
	if err != nil {
		return nil, err
	}
	return &RevokeSessionsPayload{Revoked: revoked, UserErrors: []*apperr.UserError{}}, nil
}
