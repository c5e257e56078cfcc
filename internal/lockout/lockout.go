// Package lockout slows password guessing (R29): consecutive sign-in
// failures lock an account, and a client address, for increasing periods.
//
// Keys are "user:<id>" for an account, "login:<sha256 of the name>" for a
// login name as typed (username or email, known or not), and "ip:<address>".
// Every failure counts against the name typed and, when it names an account,
// against the account: answers follow the name's lock only, so a known name
// answers exactly like an unknown one, and locking a username says nothing
// about which email is the same account; the account's lock is enforced
// silently whichever name is typed. Locks are always temporary (at most
// Max), a manager can clear an account's lock, and a completed password
// reset clears it, so an attacker cannot lock a person out for good.
package lockout

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"

	"github.com/clinicemr/usermanager/ent"
	"github.com/clinicemr/usermanager/ent/loginthrottle"
	"github.com/clinicemr/usermanager/ent/privacy"
)

// Policy is how failures turn into locks. The defaults follow Keycloak's
// brute-force detection in spirit: temporary locks that double, capped.
type Policy struct {
	// Threshold failures of an account lock it (default 5)...
	Threshold int
	// ...for Base (default 1m), doubling with each further failure, up to
	// Max (default 15m). With the defaults an attacker gets about a dozen
	// guesses an hour at one account.
	Base, Max time.Duration
	// IPThreshold failures from one address lock the address (default 30).
	IPThreshold int
	// ResetAfter without a failure forgets the count (default 1h).
	ResetAfter time.Duration
}

func (p *Policy) defaults() {
	if p.Threshold <= 0 {
		p.Threshold = 5
	}
	if p.Base <= 0 {
		p.Base = time.Minute
	}
	if p.Max < p.Base {
		p.Max = max(15*time.Minute, p.Base)
	}
	if p.IPThreshold <= 0 {
		p.IPThreshold = 30
	}
	if p.ResetAfter <= 0 {
		p.ResetAfter = time.Hour
	}
}

// Throttle records failures and answers whether a key is locked.
type Throttle struct {
	client *ent.Client
	policy Policy
	now    func() time.Time
}

// New returns a Throttle; now is the clock (nil: time.Now).
func New(client *ent.Client, p Policy, now func() time.Time) *Throttle {
	p.defaults()
	if now == nil {
		now = time.Now
	}
	return &Throttle{client: client, policy: p, now: now}
}

// UserKey, LoginKey and AddressKey name what is throttled.
func UserKey(userID int) string { return "user:" + strconv.Itoa(userID) }

// LoginKey is the key of a login name as typed (trimmed, lower case); the
// name is hashed because people type passwords into it.
func LoginKey(login string) string {
	sum := sha256.Sum256([]byte(login))
	return "login:" + hex.EncodeToString(sum[:])
}

// AccountKeys are every key that locks an account: the account's own and
// those of its username and email.
func AccountKeys(userID int, usernameKey, emailKey string) []string {
	return []string{UserKey(userID), LoginKey(usernameKey), LoginKey(emailKey)}
}

// AccountLockedUntil is when the sign-in lock of an account ends (through
// its own key, its username's or its email's), or nil when it is not
// locked: what a manager sees (R29).
func (t *Throttle) AccountLockedUntil(ctx context.Context, u *ent.User) (*time.Time, error) {
	return t.LockedUntil(ctx, AccountKeys(u.ID, u.UsernameKey, u.EmailKey)...)
}

// ClearAccount ends an account's lock and failure count, after a successful
// sign-in, a password reset or a manager's clearLockout (R29), and returns
// when the lock would have ended (nil when there was none).
func (t *Throttle) ClearAccount(ctx context.Context, u *ent.User) (*time.Time, error) {
	keys := AccountKeys(u.ID, u.UsernameKey, u.EmailKey)
	until, err := t.LockedUntil(ctx, keys...)
	if err != nil {
		return nil, err
	}
	return until, t.Clear(ctx, keys...)
}

// AddressKey is the key of a client address.
func AddressKey(ip string) string { return "ip:" + ip }

func system(ctx context.Context) context.Context { return privacy.DecisionContext(ctx, privacy.Allow) }

// LockedUntil returns when the last lock of the keys ends, or nil when none
// is locked.
func (t *Throttle) LockedUntil(ctx context.Context, keys ...string) (*time.Time, error) {
	rows, err := t.client.LoginThrottle.Query().
		Where(loginthrottle.KeyIn(keys...), loginthrottle.LockedUntilGT(t.now())).
		All(system(ctx))
	if err != nil {
		return nil, err
	}
	var until *time.Time
	for _, row := range rows {
		if until == nil || row.LockedUntil.After(*until) {
			until = row.LockedUntil
		}
	}
	return until, nil
}

// Fail records a failure of key and locks it when the count reaches the
// threshold. The count is incremented in the database, so concurrent
// failures all count.
func (t *Throttle) Fail(ctx context.Context, key string) error {
	ctx = system(ctx)
	now := t.now()
	threshold := t.policy.Threshold
	if len(key) > 3 && key[:3] == "ip:" {
		threshold = t.policy.IPThreshold
	}
	// Forget an old streak first.
	if _, err := t.client.LoginThrottle.Update().
		Where(loginthrottle.Key(key), loginthrottle.LastFailureAtLT(now.Add(-t.policy.ResetAfter))).
		SetFailures(0).ClearLockedUntil().Save(ctx); err != nil {
		return err
	}
	n, err := t.client.LoginThrottle.Update().Where(loginthrottle.Key(key)).
		AddFailures(1).SetLastFailureAt(now).Save(ctx)
	if err != nil {
		return err
	}
	if n == 0 {
		err := t.client.LoginThrottle.Create().SetKey(key).SetFailures(1).SetLastFailureAt(now).Exec(ctx)
		if ent.IsConstraintError(err) {
			// A concurrent failure created it first.
			return t.Fail(ctx, key)
		}
		if err != nil || threshold > 1 {
			return err
		}
	}
	row, err := t.client.LoginThrottle.Query().Where(loginthrottle.Key(key)).Only(ctx)
	if err != nil {
		return err
	}
	if row.Failures < threshold {
		return nil
	}
	wait := t.policy.Max
	if steps := row.Failures - threshold; steps < 30 {
		wait = min(t.policy.Base<<steps, t.policy.Max)
	}
	// Never shorten a lock a concurrent failure set.
	return t.client.LoginThrottle.Update().
		Where(loginthrottle.ID(row.ID), loginthrottle.Or(loginthrottle.LockedUntilIsNil(),
			loginthrottle.LockedUntilLT(now.Add(wait)))).
		SetLockedUntil(now.Add(wait)).Exec(ctx)
}

// Clear forgets the failures of the keys (a successful sign-in, a manager's
// clearLockout, a completed password reset).
func (t *Throttle) Clear(ctx context.Context, keys ...string) error {
	_, err := t.client.LoginThrottle.Delete().Where(loginthrottle.KeyIn(keys...)).Exec(system(ctx))
	return err
}

// Wait describes how long until a lock ends, for messages.
func Wait(until time.Time, now time.Time) string {
	d := until.Sub(now)
	if d <= time.Minute {
		return "a minute"
	}
	return fmt.Sprintf("%d minutes", int((d+time.Minute-1)/time.Minute))
}
