// Package auth signs users in and out (R29) and turns a request's access
// token into the viewer of internal/viewer.
//
// Access tokens are short-lived HS256 JWTs naming a user and a session. Each
// request re-reads the session and the user, so a token of a user who has
// since been inactivated or signed out is refused on the next request (R25).
// Refresh tokens are random, stored only as hashes, and rotate on every use.
package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	entsql "entgo.io/ent/dialect/sql"

	"github.com/clinicemr/usermanager/ent"
	"github.com/clinicemr/usermanager/ent/auditevent"
	"github.com/clinicemr/usermanager/ent/clinic"
	"github.com/clinicemr/usermanager/ent/privacy"
	"github.com/clinicemr/usermanager/ent/refreshtoken"
	"github.com/clinicemr/usermanager/ent/session"
	"github.com/clinicemr/usermanager/ent/user"
	"github.com/clinicemr/usermanager/internal/apperr"
	"github.com/clinicemr/usermanager/internal/audit"
	"github.com/clinicemr/usermanager/internal/db"
	"github.com/clinicemr/usermanager/internal/events"
	"github.com/clinicemr/usermanager/internal/lockout"
	"github.com/clinicemr/usermanager/internal/passwords"
	"github.com/clinicemr/usermanager/internal/policy"
	"github.com/clinicemr/usermanager/internal/requestinfo"
	"github.com/clinicemr/usermanager/internal/staff"
	"github.com/clinicemr/usermanager/internal/textinput"
	"github.com/clinicemr/usermanager/internal/txn"
	"github.com/clinicemr/usermanager/internal/viewer"
)

// Config configures sign-in.
type Config struct {
	// Secret signs access tokens; at least MinSecretLength bytes.
	Secret     []byte
	Issuer     string
	Audience   string
	AccessTTL  time.Duration
	RefreshTTL time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Events announces ended sessions, so live connections end with them.
	Events *events.Bus
	// Lockout slows password guessing (R29); nil uses the default policy.
	Lockout *lockout.Throttle
}

// Service signs users in and authenticates requests.
type Service struct {
	client     *ent.Client
	tokens     tokenIssuer
	refreshTTL time.Duration
	now        func() time.Time
	events     *events.Bus
	lockout    *lockout.Throttle
}

// New returns a Service.
func New(client *ent.Client, cfg Config) (*Service, error) {
	if len(cfg.Secret) < MinSecretLength {
		return nil, fmt.Errorf("auth: the signing secret must be at least %d bytes", MinSecretLength)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Lockout == nil {
		cfg.Lockout = lockout.New(client, lockout.Policy{}, cfg.Now)
	}
	return &Service{
		client: client,
		tokens: tokenIssuer{
			secret: cfg.Secret, issuer: cfg.Issuer, audience: cfg.Audience,
			ttl: cfg.AccessTTL, now: cfg.Now,
		},
		refreshTTL: cfg.RefreshTTL,
		now:        cfg.Now,
		events:     cfg.Events,
		lockout:    cfg.Lockout,
	}, nil
}

// LoginInput is the input of the login mutation.
type LoginInput struct {
	Login    string `json:"login"`
	Password string `json:"password"`
}

// RefreshSessionInput is the input of the refreshSession mutation.
type RefreshSessionInput struct {
	RefreshToken string `json:"refreshToken"`
}

// SessionPayload answers login and refreshSession.
type SessionPayload struct {
	AccessToken           *string             `json:"accessToken"`
	AccessTokenExpiresAt  *time.Time          `json:"accessTokenExpiresAt"`
	RefreshToken          *string             `json:"refreshToken"`
	RefreshTokenExpiresAt *time.Time          `json:"refreshTokenExpiresAt"`
	User                  *ent.User           `json:"user"`
	UserErrors            []*apperr.UserError `json:"userErrors"`
}

// LogoutPayload answers logout.
type LogoutPayload struct {
	UserErrors []*apperr.UserError `json:"userErrors"`
}

// system lets sign-in code read and write what privacy rules keep from
// viewers (sessions, password hashes).
func system(ctx context.Context) context.Context {
	return privacy.DecisionContext(ctx, privacy.Allow)
}

func invalidCredentials() *SessionPayload {
	return &SessionPayload{UserErrors: []*apperr.UserError{apperr.New("", apperr.InvalidCredentials,
		"the username or password is incorrect, or the account is inactive")}}
}

// TooManyAttempts is the code of a sign-in refused by a lockout (R29).
const TooManyAttempts apperr.Code = "TOO_MANY_ATTEMPTS"

func (s *Service) tooManyAttempts(until time.Time) *SessionPayload {
	return &SessionPayload{UserErrors: []*apperr.UserError{apperr.New("", TooManyAttempts,
		"too many failed sign-in attempts: try again in %s, or reset your password", lockout.Wait(until, s.now()))}}
}

// Login signs a user in with username or email and password. Unknown users,
// wrong passwords and inactive accounts get the same answer, and so do
// locked accounts and unknown names that failed as often (R29).
func (s *Service) Login(ctx context.Context, in LoginInput) (*SessionPayload, error) {
	key := strings.ToLower(strings.TrimSpace(in.Login))
	// A name with control characters (R36) can be no account's: answered
	// as a wrong password, without a lookup or a record of the raw text.
	if key == "" || !textinput.SingleLine(key) || in.Password == "" || len(in.Password) > passwords.MaxLength {
		passwords.VerifyDummy(in.Password)
		return invalidCredentials(), nil
	}
	sctx := system(ctx)
	addressKey := ""
	if ip := requestinfo.From(ctx).ClientIP; ip != "" {
		addressKey = lockout.AddressKey(ip)
		until, err := s.lockout.LockedUntil(sctx, addressKey)
		if err != nil {
			return nil, err
		}
		if until != nil {
			passwords.VerifyDummy(in.Password)
			return s.tooManyAttempts(*until), s.recordFailure(sctx, nil, "too many failures from this address")
		}
	}
	u, err := s.client.User.Query().
		Where(user.Or(user.UsernameKey(key), user.EmailKey(key))).
		Only(sctx)
	if err != nil && !ent.IsNotFound(err) {
		return nil, err
	}
	// Answers follow the typed name's lock, known or not; see package
	// lockout.
	nameKey := lockout.LoginKey(key)
	until, err := s.lockout.LockedUntil(sctx, nameKey)
	if err != nil {
		return nil, err
	}
	if until != nil {
		passwords.VerifyDummy(in.Password)
		return s.tooManyAttempts(*until), s.recordFailure(sctx, u, "the name is locked after repeated failures")
	}
	failKeys := []string{nameKey}
	if addressKey != "" {
		failKeys = append(failKeys, addressKey)
	}
	fail := func(reason string) (*SessionPayload, error) {
		for _, k := range failKeys {
			if err := s.lockout.Fail(sctx, k); err != nil {
				return nil, err
			}
		}
		return invalidCredentials(), s.recordFailure(sctx, u, reason)
	}
	if u == nil {
		passwords.VerifyDummy(in.Password)
		// The attempted name is not recorded: people type passwords there.
		return fail("unknown username or email")
	}
	accountKey := lockout.UserKey(u.ID)
	if until, err := s.lockout.LockedUntil(sctx, accountKey); err != nil {
		return nil, err
	} else if until != nil {
		// Locked through another of its names: refuse without checking
		// the password, answering as for a wrong one.
		passwords.VerifyDummy(in.Password)
		return fail("the account is locked after repeated failures")
	}
	failKeys = append(failKeys, accountKey)
	ok, err := passwords.Verify(u.PasswordHash, in.Password)
	if err != nil {
		return nil, err
	}
	switch {
	case !ok:
		return fail("wrong password")
	case u.Status != user.StatusACTIVE:
		return fail("the account is inactive")
	}
	if _, err := s.lockout.ClearAccount(sctx, u); err != nil {
		return nil, err
	}
	return s.startSession(sctx, u)
}

func (s *Service) recordFailure(sctx context.Context, u *ent.User, reason string) error {
	e := audit.Event{Action: auditevent.ActionSIGN_IN_FAILED, Failed: true, Reason: reason}
	if u != nil {
		e.OrganizationID, e.TargetUserID = u.OrganizationID, &u.ID
	}
	return audit.Record(sctx, s.client, e)
}

func (s *Service) startSession(sctx context.Context, u *ent.User) (*SessionPayload, error) {
	c := requestinfo.From(sctx)
	now := s.now()
	tx, err := s.client.Tx(sctx)
	if err != nil {
		return nil, err
	}
	sess, err := tx.Session.Create().
		SetUserID(u.ID).
		SetCreatedAt(now).
		SetExpiresAt(now.Add(s.refreshTTL)).
		SetClientIP(truncate(c.ClientIP, 64)).
		SetUserAgent(truncate(c.UserAgent, 400)).
		Save(sctx)
	if err != nil {
		return nil, rollback(tx, err)
	}
	payload, err := s.issue(sctx, tx, u.ID, sess)
	if err != nil {
		return nil, rollback(tx, err)
	}
	err = audit.Record(sctx, tx.Client(), audit.Event{
		Action: auditevent.ActionSIGN_IN_SUCCEEDED, OrganizationID: u.OrganizationID,
		ActorID: &u.ID, ActorUsername: u.Username, TargetUserID: &u.ID,
	})
	if err != nil {
		return nil, rollback(tx, err)
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	payload.User, err = s.loadUser(sctx, u.ID)
	return payload, err
}

// issue creates the next refresh token of a session and a new access token.
func (s *Service) issue(sctx context.Context, tx *ent.Tx, userID int, sess *ent.Session) (*SessionPayload, error) {
	refresh, hash, err := newRefreshToken()
	if err != nil {
		return nil, err
	}
	refreshExp := sess.ExpiresAt
	if _, err := tx.RefreshToken.Create().
		SetSessionID(sess.ID).
		SetTokenHash(hash).
		SetCreatedAt(s.now()).
		SetExpiresAt(refreshExp).
		Save(sctx); err != nil {
		return nil, err
	}
	access, accessExp, err := s.tokens.issue(userID, sess.ID)
	if err != nil {
		return nil, err
	}
	return &SessionPayload{
		AccessToken: &access, AccessTokenExpiresAt: &accessExp,
		RefreshToken: &refresh, RefreshTokenExpiresAt: &refreshExp,
		UserErrors: []*apperr.UserError{},
	}, nil
}

// loadUser loads the signed-in user with the edges a sign-in answer shows.
// The request has no viewer yet, so they are loaded here, not by resolvers
// (list edges under their field names, as the GraphQL layer reads them).
// Anything deeper is for a query with the new access token.
func (s *Service) loadUser(sctx context.Context, id int) (*ent.User, error) {
	return s.client.User.Query().Where(user.ID(id)).
		WithHomeClinic().WithLicense().
		WithNamedClinics("clinics").WithNamedPermissions("permissions").
		Only(sctx)
}

// refreshReuseGrace is how long a used refresh token may be presented again
// without being taken for a stolen one (concurrent refreshes by one client).
const refreshReuseGrace = 10 * time.Second

func invalidRefresh() *SessionPayload {
	return &SessionPayload{UserErrors: []*apperr.UserError{apperr.New("refreshToken", apperr.InvalidRefreshToken,
		"the refresh token is not valid, has expired or was already used: sign in again")}}
}

// Refresh exchanges a refresh token for new tokens. A refresh token works
// once: presenting a used one again means it leaked, and ends its session.
func (s *Service) Refresh(ctx context.Context, in RefreshSessionInput) (*SessionPayload, error) {
	sctx := system(ctx)
	now := s.now()
	tx, err := s.client.Tx(sctx)
	if err != nil {
		return nil, err
	}
	rt, err := tx.RefreshToken.Query().
		Where(refreshtoken.TokenHash(hashRefreshToken(in.RefreshToken))).
		WithSession(func(q *ent.SessionQuery) { q.WithUser() }).
		Only(sctx)
	if ent.IsNotFound(err) {
		_ = tx.Rollback()
		return invalidRefresh(), nil
	}
	if err != nil {
		return nil, rollback(tx, err)
	}
	sess := rt.Edges.Session
	if rt.UsedAt != nil && now.Sub(*rt.UsedAt) < refreshReuseGrace {
		// Two tabs refreshing at once: the loser is refused but the session
		// the winner continues is not ended.
		_ = tx.Rollback()
		return invalidRefresh(), nil
	}
	if rt.UsedAt != nil {
		// Reuse after rotation: revoke the whole session (token family).
		if err := tx.Session.UpdateOneID(sess.ID).SetRevokedAt(now).Exec(sctx); err != nil {
			return nil, rollback(tx, err)
		}
		if err := s.SessionsEnded(sctx, tx, sess.UserID); err != nil {
			return nil, rollback(tx, err)
		}
		if err := tx.Commit(); err != nil {
			return nil, err
		}
		return invalidRefresh(), nil
	}
	if sess.RevokedAt != nil || !now.Before(rt.ExpiresAt) || !now.Before(sess.ExpiresAt) ||
		sess.Edges.User.Status != user.StatusACTIVE {
		_ = tx.Rollback()
		return invalidRefresh(), nil
	}
	// Use the token up only if no concurrent refresh did first.
	n, err := tx.RefreshToken.Update().
		Where(refreshtoken.ID(rt.ID), refreshtoken.UsedAtIsNil()).
		SetUsedAt(now).Save(sctx)
	if err != nil {
		return nil, rollback(tx, err)
	}
	if n != 1 {
		_ = tx.Rollback()
		return invalidRefresh(), nil
	}
	payload, err := s.issue(sctx, tx, sess.UserID, sess)
	if err != nil {
		return nil, rollback(tx, err)
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	payload.User, err = s.loadUser(sctx, sess.UserID)
	return payload, err
}

// Logout ends the viewer's current session.
func (s *Service) Logout(ctx context.Context) (*LogoutPayload, error) {
	v, err := viewer.Require(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.RevokeSession(ctx, v.SessionID); err != nil {
		return nil, err
	}
	return &LogoutPayload{UserErrors: []*apperr.UserError{}}, nil
}

// RevokeSession ends one session.
func (s *Service) RevokeSession(ctx context.Context, sessionID int) error {
	sctx := system(ctx)
	return txn.WithTx(sctx, s.client, func(tx *ent.Tx) error {
		sess, err := tx.Session.Get(sctx, sessionID)
		if err != nil {
			return err
		}
		n, err := tx.Session.Update().
			Where(session.ID(sessionID), session.RevokedAtIsNil()).
			SetRevokedAt(s.now()).
			Save(sctx)
		if err != nil || n == 0 {
			return err
		}
		return s.SessionsEnded(sctx, tx, sess.UserID)
	})
}

// EndSessions ends every session of a user inside tx (R25): a password set
// or reset, a type change, an inactivation. The sessions are revoked at once
// and, when tx commits, the user's live connections are told to close. It is
// the one owner of ending a user's sessions; the User schema's hook revokes
// them too on inactivation, so no write can skip that part.
func (s *Service) EndSessions(ctx context.Context, tx *ent.Tx, userID int) error {
	if err := policy.RevokeSessions(ctx, tx.Client(), s.now(), userID); err != nil {
		return err
	}
	return s.SessionsEnded(ctx, tx, userID)
}

// SessionsEnded announces, when tx commits, that sessions of a user ended,
// so their live connections re-check theirs and close.
func (s *Service) SessionsEnded(ctx context.Context, tx *ent.Tx, userID int) error {
	if s.events == nil {
		return nil
	}
	return s.events.PublishTx(ctx, tx, events.Event{Kind: events.SessionsEnded, UserID: userID})
}

// Authenticate turns an access token into the viewer it speaks for. The
// session and user are re-read, so revoked sessions and inactivated users are
// refused at once (R25). Every request pays for this, so it is one SQL
// statement (see readSession).
func (s *Service) Authenticate(ctx context.Context, token string) (*viewer.Viewer, error) {
	userID, sessionID, err := s.tokens.parse(token)
	if err != nil {
		return nil, err
	}
	readAt := time.Now()
	row, err := s.readSession(system(ctx), sessionID, userID)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errTokenUncheckable, err)
	}
	if row == nil {
		return nil, errTokenInvalid
	}
	// Compared here, not in SQL: the service's clock decides (tests move
	// it), and a refused session must be told apart from a missing one.
	if row.RevokedAt != nil || !s.now().Before(row.ExpiresAt) || user.Status(row.Status) != user.StatusACTIVE {
		return nil, errSessionEnded
	}
	v := &viewer.Viewer{
		UserID:           userID,
		Username:         row.Username,
		SessionID:        row.SessionID,
		OrganizationID:   row.OrganizationID,
		Support:          staff.UserType(row.UserType) == staff.Support && row.OrganizationID == 0,
		CurrentClinicID:  row.HomeClinicID,
		SessionExpiresAt: row.ExpiresAt,
		SessionReadAt:    readAt,
	}
	if v.ClinicIDs, err = db.SplitIDs(row.ClinicIDs); err != nil {
		return nil, fmt.Errorf("%w: %w", errTokenUncheckable, err)
	}
	v.Permissions = db.SplitList(row.PermissionKeys)
	if v.OrganizationID != 0 {
		v.AllClinics = row.OrganizationClinics == len(v.ClinicIDs)
	}
	return v, nil
}

// sessionRow is what Authenticate needs of a session and its user. NULL
// columns leave their zero value: no organization (Support), no home
// clinic, no clinics, no permissions.
type sessionRow struct {
	SessionID      int        `sql:"id"`
	ExpiresAt      time.Time  `sql:"expires_at"`
	RevokedAt      *time.Time `sql:"revoked_at"`
	Username       string     `sql:"username"`
	UserType       string     `sql:"user_type"`
	Status         string     `sql:"status"`
	OrganizationID int        `sql:"organization_id"`
	HomeClinicID   int        `sql:"home_clinic_id"`
	// ClinicIDs and PermissionKeys are the user's clinic ids and permission
	// keys, each joined into one text column (db.UserLists).
	ClinicIDs      string `sql:"clinic_ids"`
	PermissionKeys string `sql:"permission_keys"`
	// OrganizationClinics counts the clinics of the user's organization.
	OrganizationClinics int `sql:"organization_clinics"`
}

// readSession reads a session and its user, clinics, permission keys and the
// size of its organization in one SELECT, or returns nil when the session
// does not exist or is not the user's. Only the columns the viewer needs are
// read (never the password hash). It goes through ent's query builder, so
// the statement is quoted and numbered for the dialect, and on SQLite is
// served by the read pool.
func (s *Service) readSession(sctx context.Context, sessionID, userID int) (*sessionRow, error) {
	var rows []sessionRow
	err := s.client.Session.Query().
		Where(session.ID(sessionID), session.UserID(userID)).
		Modify(func(sel *entsql.Selector) {
			// Every table is given its alias before its columns are named:
			// a join without one would name it t1 after the fact.
			b := entsql.Dialect(sel.Dialect())
			u := b.Table(user.Table).As("u")
			sel.Join(u).On(sel.C(session.FieldUserID), u.C(user.FieldID))

			clinicIDs, permissionKeys := db.UserLists(sel.Dialect(), u.C(user.FieldID))
			c := b.Table(clinic.Table).As("c")
			organizationClinics := b.Select().SelectExpr(entsql.Expr("COUNT(*)")).From(c).
				Where(entsql.ColumnsEQ(c.C(clinic.FieldOrganizationID), u.C(user.FieldOrganizationID)))

			sel.Select(
				sel.C(session.FieldID), sel.C(session.FieldExpiresAt), sel.C(session.FieldRevokedAt),
				u.C(user.FieldUsername), u.C(user.FieldUserType), u.C(user.FieldStatus),
				u.C(user.FieldOrganizationID), u.C(user.FieldHomeClinicID),
			)
			sel.AppendSelectExprAs(clinicIDs, "clinic_ids")
			sel.AppendSelectExprAs(permissionKeys, "permission_keys")
			sel.AppendSelectExprAs(organizationClinics, "organization_clinics")
		}).
		Scan(db.ReusePlan(sctx), &rows) // a lookup by key, planned once per connection
	if err != nil || len(rows) == 0 {
		return nil, err
	}
	return &rows[0], nil
}

func rollback(tx *ent.Tx, err error) error {
	if rerr := tx.Rollback(); rerr != nil {
		return errors.Join(err, rerr)
	}
	return err
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
