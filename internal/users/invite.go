package users

import (
	"context"
	"time"

	"github.com/riverqueue/river"

	"github.com/clinicemr/usermanager/ent"
	"github.com/clinicemr/usermanager/ent/auditevent"
	"github.com/clinicemr/usermanager/ent/user"
	"github.com/clinicemr/usermanager/internal/apperr"
	"github.com/clinicemr/usermanager/internal/audit"
	"github.com/clinicemr/usermanager/internal/passwords"
	"github.com/clinicemr/usermanager/internal/txn"
	"github.com/clinicemr/usermanager/internal/viewer"
)

// Invitations (issue #13): a user created without a password gets an
// unusable password hash, password_set=false, and an email with a link to
// set their own. The link is a password-reset link (the same table, token
// and resetPassword mutation) that lasts INVITATION_TTL instead of
// PASSWORD_RESET_TTL and comes with the invitation email. Until they set a
// password such a user cannot sign in: no password matches their hash, so
// login answers exactly as for a wrong password (R29). Any link emailed to
// them (sendInvitation, sendPasswordResetEmail, requestPasswordReset) is an
// invitation.

// SendInvitationInput is sendInvitation's input.
type SendInvitationInput struct {
	UserID int `json:"userId"`
}

// Codes of sendInvitation's userErrors.
const (
	codeAlreadySet   apperr.Code = "NOT_APPLICABLE"
	codeUserInactive apperr.Code = "USER_INACTIVE"
)

// unusableHash is what an invited user's password hash holds:
// passwords.Unusable, which no password matches and which costs sign-in as
// long as a real hash (passwords.Verify), so sign-in tells nothing (R29).
// It used to be an argon2id hash of 32 random bytes; those still stored
// keep working (no password matches them either). The constant marker
// keeps a 10,000-row staff-list import from spending minutes hashing.
func unusableHash() (string, error) {
	return passwords.Unusable, nil
}

// SendInvitation emails a user who has not set a password yet a new
// invitation link (sendInvitation): Edit Users and a user the manager may
// manage (R33, as Profiles.Editable). Earlier links are voided. Like
// sendPasswordResetEmail it refuses inactive users (USER_INACTIVE): the
// link could not be used until they are active.
func (r *Resets) SendInvitation(ctx context.Context, in SendInvitationInput) (*UserPayload, error) {
	u, err := r.profiles.Editable(ctx, in.UserID)
	if err != nil {
		return nil, err
	}
	switch {
	case u.PasswordSet:
		return failed(apperr.List{apperr.New("userId", codeAlreadySet,
			"the user has already set a password: send a password reset email instead")}), nil
	case u.Email == "":
		return failed(apperr.List{apperr.New("userId", apperr.Required, "the user has no email address")}), nil
	case u.Status != user.StatusACTIVE:
		return failed(apperr.List{apperr.New("userId", codeUserInactive, "the user is inactive: activate them first")}), nil
	}
	v := viewer.FromContext(ctx)
	err = txn.WithTx(sys(ctx), r.client, func(tx *ent.Tx) error {
		return r.invite(ctx, tx, u, v.UserID, "sent by a manager")
	})
	if err != nil {
		return nil, err
	}
	return succeeded(u, nil), nil
}

// invite records a new invitation link for u inside tx, voiding earlier
// links, queues its email (R28) and audits INVITATION_SENT with its expiry
// (never the token). invitedBy is the user named in the email as inviting
// them (0: none known).
func (r *Resets) invite(ctx context.Context, tx *ent.Tx, u *ent.User, invitedBy int, reason string) error {
	expires, err := r.link(ctx, tx, u, r.cfg.InvitationTTL, ResetMailArgs{Invitation: true, InvitedBy: invitedBy})
	if err != nil {
		return err
	}
	return audit.Record(ctx, tx.Client(), invitationSent(u, expires, reason))
}

// inviteNew invites users created in tx (Active, without a password) as
// invite does, with one statement for all their links and one for all
// their emails' jobs; no earlier link can exist to void. It returns their
// INVITATION_SENT records, in the order of us, for the caller to write.
func (r *Resets) inviteNew(ctx context.Context, tx *ent.Tx, us []*ent.User, invitedBy int, reason string) ([]audit.Event, error) {
	if len(us) == 0 {
		return nil, nil
	}
	now := r.cfg.Now()
	creates := make([]*ent.PasswordResetCreate, len(us))
	for i, u := range us {
		c, err := r.newLink(tx, u.ID, now, r.cfg.InvitationTTL)
		if err != nil {
			return nil, err
		}
		creates[i] = c
	}
	resets, err := tx.PasswordReset.CreateBulk(creates...).Save(sys(ctx))
	if err != nil {
		return nil, err
	}
	mails := make([]river.JobArgs, len(resets))
	events := make([]audit.Event, len(resets))
	for i, reset := range resets {
		mails[i] = ResetMailArgs{ResetID: reset.ID, Invitation: true, InvitedBy: invitedBy}
		events[i] = invitationSent(us[i], reset.ExpiresAt, reason)
	}
	if err := r.jobs.InsertManyTx(ctx, tx, mails); err != nil {
		return nil, err
	}
	return events, nil
}

// invitationSent is the record of an invitation of u whose link expires
// at expires (never the token).
func invitationSent(u *ent.User, expires time.Time, reason string) audit.Event {
	return audit.Event{Action: auditevent.ActionINVITATION_SENT,
		OrganizationID: u.OrganizationID, TargetUserID: &u.ID, Reason: reason,
		After: map[string]any{"expiresAt": expires.UTC().Format(time.RFC3339)}}
}

// lastInviter is who sent u's latest invitation (or created them), for an
// invitation the user asked for again themselves; 0 when unknown.
func (r *Resets) lastInviter(ctx context.Context, u *ent.User) int {
	ev, err := r.client.AuditEvent.Query().
		Where(auditevent.TargetUserID(u.ID), auditevent.ActorIDNotNil(),
			auditevent.ActionIn(auditevent.ActionINVITATION_SENT, auditevent.ActionUSER_CREATED)).
		Order(ent.Desc(auditevent.FieldID)).First(sys(ctx))
	if err != nil || ev.ActorID == nil || *ev.ActorID == u.ID {
		return 0
	}
	return *ev.ActorID
}

// inviterName names the inviter in the email: their display name, or
// "your practice's administrator" when unknown.
func (r *Resets) inviterName(ctx context.Context, id int) string {
	if id != 0 {
		if u, err := r.client.User.Get(sys(ctx), id); err == nil && u.FullName != "" {
			return u.FullName
		}
	}
	return "your practice's administrator"
}

// organizationName names the user's organization in the email.
func (r *Resets) organizationName(ctx context.Context, u *ent.User) string {
	if u.OrganizationID != nil {
		if o, err := r.client.Organization.Get(sys(ctx), *u.OrganizationID); err == nil {
			return o.Name
		}
	}
	return "your practice"
}
