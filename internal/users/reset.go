package users

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/riverqueue/river"

	"github.com/clinicemr/usermanager/ent"
	"github.com/clinicemr/usermanager/ent/auditevent"
	"github.com/clinicemr/usermanager/ent/passwordreset"
	"github.com/clinicemr/usermanager/ent/privacy"
	"github.com/clinicemr/usermanager/ent/user"
	"github.com/clinicemr/usermanager/internal/apperr"
	"github.com/clinicemr/usermanager/internal/audit"
	"github.com/clinicemr/usermanager/internal/jobs"
	"github.com/clinicemr/usermanager/internal/lockout"
	"github.com/clinicemr/usermanager/internal/mail"
	"github.com/clinicemr/usermanager/internal/passwords"
	"github.com/clinicemr/usermanager/internal/textinput"
	"github.com/clinicemr/usermanager/internal/txn"
	"github.com/clinicemr/usermanager/internal/viewer"
)

// Resets sends password-reset links and completes resets (R30).
//
// A link carries a token that is HMAC(Key, salt) for a random salt kept in
// the database with the token's SHA-256: the database alone cannot produce
// a working link, and the mail job, which runs later, rebuilds the link from
// the row instead of carrying it through the job table.
type Resets struct {
	client   *ent.Client
	profiles *Profiles
	jobs     *jobs.Queue
	lockout  *lockout.Throttle
	cfg      ResetConfig
}

// ResetConfig configures password resets.
type ResetConfig struct {
	// Key derives link tokens from salts (32 bytes or more).
	Key []byte
	// TTL of a link (default 1h).
	TTL time.Duration
	// InvitationTTL is the TTL of an invitation's link (default 7 days).
	InvitationTTL time.Duration
	// LinkURL is the page of the admin app that takes the token; the link
	// is LinkURL?token=... .
	LinkURL string
	// MinResponse pads requestPasswordReset so it takes about as long
	// whether or not the account exists (default 300ms).
	MinResponse time.Duration
	// PerHour bounds the links sent to one account in an hour (default 5).
	PerHour int
	Now     func() time.Time
}

// NewResets returns the reset service.
func NewResets(client *ent.Client, profiles *Profiles, q *jobs.Queue, throttle *lockout.Throttle, cfg ResetConfig) *Resets {
	if cfg.TTL <= 0 {
		cfg.TTL = time.Hour
	}
	if cfg.InvitationTTL <= 0 {
		cfg.InvitationTTL = 7 * 24 * time.Hour
	}
	if cfg.MinResponse <= 0 {
		cfg.MinResponse = 300 * time.Millisecond
	}
	if cfg.PerHour <= 0 {
		cfg.PerHour = 5
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	r := &Resets{client: client, profiles: profiles, jobs: q, lockout: throttle, cfg: cfg}
	if profiles != nil {
		// createUser without a password invites through the reset links.
		profiles.resets = r
	}
	return r
}

// InvalidResetToken is the code of a link that cannot be used.
const InvalidResetToken apperr.Code = "INVALID_RESET_TOKEN"

// SendPasswordResetInput is the input of sendPasswordResetEmail.
type SendPasswordResetInput struct {
	UserID int `json:"userId"`
}

// RequestPasswordResetInput is the input of requestPasswordReset.
type RequestPasswordResetInput struct {
	Login string `json:"login"`
}

// RequestPasswordResetPayload always says the same thing.
type RequestPasswordResetPayload struct {
	Message string `json:"message"`
}

// ResetPasswordInput is the input of resetPassword.
type ResetPasswordInput struct {
	Token    string `json:"token"`
	Password string `json:"password"`
}

// ResetPasswordPayload answers resetPassword.
type ResetPasswordPayload struct {
	Succeeded  bool                `json:"succeeded"`
	UserErrors []*apperr.UserError `json:"userErrors"`
}

func sys(ctx context.Context) context.Context { return privacy.DecisionContext(ctx, privacy.Allow) }

// Send emails a reset link to a user, as their manager (Edit Users). It is
// allowed for users more powerful than the manager (R33): the link goes to
// the user's own mailbox.
func (r *Resets) Send(ctx context.Context, in SendPasswordResetInput) (*UserPayload, error) {
	u, err := r.profiles.Reachable(ctx, in.UserID)
	if err != nil {
		return nil, err
	}
	if u.Email == "" {
		return failed(apperr.List{apperr.New("userId", apperr.Required, "the user has no email address")}), nil
	}
	if u.Status != user.StatusACTIVE {
		return failed(apperr.List{apperr.New("userId", apperr.Code("USER_INACTIVE"), "the user is inactive: activate them first")}), nil
	}
	if err := r.issue(ctx, u, "a manager"); err != nil {
		return nil, err
	}
	return succeeded(u, nil), nil
}

// Request emails a reset link to the account named by a username or an
// email, if there is an active one. The answer, and about the time it
// takes, are the same either way (R30).
//
// The answer comes at MinResponse. Work still going on then (an active
// account's link, written while the server is loaded) finishes after the
// answer, so that a slow write cannot tell that the account exists; its
// failure is logged, and the user asks again.
func (r *Resets) Request(ctx context.Context, in RequestPasswordResetInput) (*RequestPasswordResetPayload, error) {
	answer := &RequestPasswordResetPayload{Message: "If an active account matches, a reset link is on its way to the account's email address. It works once, within an hour."}
	floor := time.NewTimer(r.cfg.MinResponse)
	defer floor.Stop()
	work := context.WithoutCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- r.request(work, in) }()
	select {
	case err := <-done:
		select {
		case <-floor.C:
		case <-ctx.Done():
		}
		if err != nil {
			return nil, err
		}
		return answer, nil
	case <-floor.C:
	case <-ctx.Done():
	}
	go func() {
		if err := <-done; err != nil {
			slog.ErrorContext(work, "a password reset request failed after its answer", "error", err)
		}
	}()
	return answer, nil
}

func (r *Resets) request(ctx context.Context, in RequestPasswordResetInput) error {
	key := strings.ToLower(strings.TrimSpace(in.Login))
	// Text no account can have (R36) is answered as an unknown name.
	if key == "" || len(key) > 320 || !textinput.SingleLine(key) {
		return nil
	}
	u, err := r.client.User.Query().Where(user.Or(user.UsernameKey(key), user.EmailKey(key))).Only(sys(ctx))
	if ent.IsNotFound(err) || err == nil && (u.Status != user.StatusACTIVE || u.Email == "") {
		return nil
	}
	if err != nil {
		return err
	}
	recent, err := r.client.PasswordReset.Query().Where(passwordreset.UserID(u.ID),
		passwordreset.CreatedAtGT(r.cfg.Now().Add(-time.Hour))).Count(sys(ctx))
	if err != nil || recent >= r.cfg.PerHour {
		return err
	}
	if !u.PasswordSet {
		// Invited and not yet accepted: a fresh invitation, from whoever
		// invited them; the requester's answer is the same.
		return txn.WithTx(sys(ctx), r.client, func(tx *ent.Tx) error {
			return r.invite(ctx, tx, u, r.lastInviter(ctx, u), "requested again by the user")
		})
	}
	return r.issue(ctx, u, "the user")
}

// issue voids the user's earlier links, records a new one and queues its
// email, in one transaction. A user who has not set a password yet (an
// invitation) is sent a new invitation instead, from the manager asking.
func (r *Resets) issue(ctx context.Context, u *ent.User, by string) error {
	return txn.WithTx(sys(ctx), r.client, func(tx *ent.Tx) error {
		if !u.PasswordSet {
			inviter := 0
			if v := viewer.FromContext(ctx); v != nil {
				inviter = v.UserID
			}
			return r.invite(ctx, tx, u, inviter, "sent by "+by+" as a password reset")
		}
		if _, err := r.link(ctx, tx, u, r.cfg.TTL, ResetMailArgs{}); err != nil {
			return err
		}
		return audit.Record(ctx, tx.Client(), audit.Event{Action: auditevent.ActionPASSWORD_RESET_SENT,
			OrganizationID: u.OrganizationID, TargetUserID: &u.ID, Reason: "requested by " + by})
	})
}

// link voids the user's earlier links, records a new one lasting ttl and
// queues its email (args with the new link's ID) inside tx; it returns when
// the link expires.
func (r *Resets) link(ctx context.Context, tx *ent.Tx, u *ent.User, ttl time.Duration, args ResetMailArgs) (time.Time, error) {
	now := r.cfg.Now()
	sctx := sys(ctx)
	create, err := r.newLink(tx, u.ID, now, ttl)
	if err != nil {
		return time.Time{}, err
	}
	if err := voidResets(sctx, tx, u.ID, now); err != nil {
		return time.Time{}, err
	}
	reset, err := create.Save(sctx)
	if err != nil {
		return time.Time{}, err
	}
	args.ResetID = reset.ID
	if err := r.jobs.InsertTx(ctx, tx, args, nil); err != nil {
		return time.Time{}, err
	}
	return reset.ExpiresAt, nil
}

// newLink is the insert of a new link for a user, made at now and lasting
// ttl, with a fresh random salt.
func (r *Resets) newLink(tx *ent.Tx, userID int, now time.Time, ttl time.Duration) (*ent.PasswordResetCreate, error) {
	salt := make([]byte, 32)
	if _, err := rand.Read(salt); err != nil {
		return nil, err
	}
	hash := sha256.Sum256([]byte(r.token(salt)))
	return tx.PasswordReset.Create().SetUserID(userID).SetSalt(salt).SetTokenHash(hash[:]).
		SetCreatedAt(now).SetExpiresAt(now.Add(ttl)), nil
}

// token derives a link token from its salt.
func (r *Resets) token(salt []byte) string {
	mac := hmac.New(sha256.New, r.cfg.Key)
	mac.Write(salt)
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

func voidResets(ctx context.Context, tx *ent.Tx, userID int, now time.Time) error {
	return tx.PasswordReset.Update().Where(passwordreset.UserID(userID), passwordreset.UsedAtIsNil()).
		SetUsedAt(now).Exec(sys(ctx))
}

// Reset sets a new password with a link's token. The link is used up, the
// user's other links are voided, their sessions end and their lockout is
// cleared.
func (r *Resets) Reset(ctx context.Context, in ResetPasswordInput) (*ResetPasswordPayload, error) {
	invalid := &ResetPasswordPayload{UserErrors: []*apperr.UserError{apperr.New("token", InvalidResetToken,
		"the reset link is invalid, has expired or was already used: ask for a new one")}}
	if in.Token == "" || len(in.Token) > 100 {
		return invalid, nil
	}
	sctx := sys(ctx)
	hash := sha256.Sum256([]byte(in.Token))
	now := r.cfg.Now()
	reset, err := r.client.PasswordReset.Query().Where(passwordreset.TokenHash(hash[:]),
		passwordreset.UsedAtIsNil(), passwordreset.ExpiresAtGT(now)).WithUser().Only(sctx)
	if ent.IsNotFound(err) {
		return invalid, nil
	}
	if err != nil {
		return nil, err
	}
	u := reset.Edges.User
	if u.Status != user.StatusACTIVE {
		return invalid, nil
	}
	var errs apperr.List
	ValidatePassword(&errs, "password", in.Password, u.Username, u.FirstName, u.LastName, u.Email)
	if len(errs) > 0 {
		return &ResetPasswordPayload{UserErrors: errs}, nil
	}
	pwHash, err := passwords.Hash(in.Password)
	if err != nil {
		return nil, err
	}
	err = txn.WithTx(sctx, r.client, func(tx *ent.Tx) error {
		// Conditional: of two concurrent uses of one link, one wins.
		n, err := tx.PasswordReset.Update().Where(passwordreset.ID(reset.ID), passwordreset.UsedAtIsNil()).
			SetUsedAt(now).Save(sctx)
		if err != nil {
			return err
		}
		if n != 1 {
			return errResetUsed
		}
		if err := voidResets(sctx, tx, u.ID, now); err != nil {
			return err
		}
		if err := tx.User.UpdateOneID(u.ID).SetPasswordHash(pwHash).SetPasswordChangedAt(now).
			SetPasswordSet(true).Exec(sctx); err != nil {
			return err
		}
		if err := r.profiles.sessions.EndSessions(sctx, tx, u.ID); err != nil {
			return err
		}
		e := audit.Event{Action: auditevent.ActionPASSWORD_RESET_COMPLETED,
			OrganizationID: u.OrganizationID, ActorID: &u.ID, ActorUsername: u.Username, TargetUserID: &u.ID}
		if !u.PasswordSet {
			e.Reason = "invitation accepted"
			e.Before, e.After = map[string]any{"passwordSet": false}, map[string]any{"passwordSet": true}
		}
		return audit.Record(sctx, tx.Client(), e)
	})
	if err == errResetUsed {
		return invalid, nil
	}
	if err != nil {
		return nil, fmt.Errorf("resetting a password: %w", err)
	}
	if _, err := r.lockout.ClearAccount(sctx, u); err != nil {
		return nil, err
	}
	return &ResetPasswordPayload{Succeeded: true, UserErrors: []*apperr.UserError{}}, nil
}

var errResetUsed = fmt.Errorf("the reset link was used concurrently")

// ResetMailArgs is the job that emails a reset link, or an invitation.
type ResetMailArgs struct {
	ResetID int `json:"resetId"`
	// Invitation: the link is an invitation to set a first password, sent
	// with the invitation email naming InvitedBy (a user ID; 0 unknown).
	Invitation bool `json:"invitation,omitempty"`
	InvitedBy  int  `json:"invitedBy,omitempty"`
}

// Kind names the job in the queue.
func (ResetMailArgs) Kind() string { return "send_password_reset" }

// InsertOpts lets a reset link someone is waiting for overtake
// invitations, which an import queues by the thousand (River works
// priority 1 first).
func (a ResetMailArgs) InsertOpts() river.InsertOpts {
	if a.Invitation {
		return river.InsertOpts{Priority: 2}
	}
	return river.InsertOpts{}
}

// ResetMailWorker builds the link from the reset's row and sends it. A
// link used or voided meanwhile is not sent.
type ResetMailWorker struct {
	river.WorkerDefaults[ResetMailArgs]
	Resets *Resets
	Sender mail.Sender
}

// Work sends the link.
func (w *ResetMailWorker) Work(ctx context.Context, job *river.Job[ResetMailArgs]) error {
	r := w.Resets
	reset, err := r.client.PasswordReset.Query().Where(passwordreset.ID(job.Args.ResetID)).WithUser().Only(sys(ctx))
	if ent.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if reset.UsedAt != nil || !reset.ExpiresAt.After(r.cfg.Now()) {
		return nil
	}
	link := r.cfg.LinkURL
	if strings.Contains(link, "?") {
		link += "&token=" + r.token(reset.Salt)
	} else {
		link += "?token=" + r.token(reset.Salt)
	}
	u := reset.Edges.User
	data := map[string]any{
		"Name": u.FirstName, "Username": u.Username, "Link": link,
		"Expires": reset.ExpiresAt.UTC().Format("2 Jan 2006 15:04 MST"),
	}
	template := "password_reset"
	if job.Args.Invitation {
		template = "invitation"
		data["Link"] = link + "&invite=1"
		data["InvitedBy"] = r.inviterName(ctx, job.Args.InvitedBy)
		data["Organization"] = r.organizationName(ctx, u)
	}
	msg, err := mail.Render(template, u.Email, data)
	if err != nil {
		return err
	}
	return w.Sender.Send(ctx, fmt.Sprintf("job-%d-%d", job.ID, job.CreatedAt.UnixNano()), msg)
}
