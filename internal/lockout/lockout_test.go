package lockout

import (
	"strings"
	"sync"
	"testing"
	"time"

	"entgo.io/ent/dialect"

	"github.com/clinicemr/usermanager/ent"
	"github.com/clinicemr/usermanager/internal/testdb"
)

// The throttle uses plain ent queries and updates (no dialect-specific SQL,
// no row locks), so these tests run on SQLite only; the API suite runs sign-in
// throttling on PostgreSQL too.

// clock is a fake clock the tests move.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestMain(m *testing.M) { testdb.Main(m) }

// newThrottle returns a throttle over a fresh SQLite database (a copy of
// one migrated once, internal/testdb), with a fake clock. SQLite only: the
// throttle uses plain ent queries, the same on both databases.
func newThrottle(t *testing.T, p Policy) (*Throttle, *clock) {
	t.Helper()
	d, _ := testdb.New(t, dialect.SQLite, "migrated", nil)
	c := &clock{now: time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)}
	return New(d.Client, p, c.Now), c
}

// lockedFor is how long the keys stay locked from now (0: not locked).
func lockedFor(t *testing.T, th *Throttle, c *clock, keys ...string) time.Duration {
	t.Helper()
	until, err := th.LockedUntil(t.Context(), keys...)
	if err != nil {
		t.Fatal(err)
	}
	if until == nil {
		return 0
	}
	return until.Sub(c.Now())
}

func fail(t *testing.T, th *Throttle, keys ...string) {
	t.Helper()
	for _, k := range keys {
		if err := th.Fail(t.Context(), k); err != nil {
			t.Fatal(err)
		}
	}
}

// R29: failures below the threshold do not lock; the threshold locks for
// Base; each further failure doubles the lock, up to Max.
func TestLocksGrowFromBaseToMax(t *testing.T) {
	t.Parallel()
	th, c := newThrottle(t, Policy{Threshold: 3, Base: time.Minute, Max: 10 * time.Minute})
	key := UserKey(7)
	for i := 1; i < 3; i++ {
		fail(t, th, key)
		if d := lockedFor(t, th, c, key); d != 0 {
			t.Fatalf("locked for %v after %d failures, threshold 3", d, i)
		}
	}
	for i, want := range []time.Duration{
		time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute, 10 * time.Minute, 10 * time.Minute,
	} {
		fail(t, th, key)
		if d := lockedFor(t, th, c, key); d != want {
			t.Fatalf("failure %d: locked for %v, want %v", 3+i, d, want)
		}
	}
}

// R29: a lock ends when its time has passed; the next failure (the streak
// goes on) locks again, for longer.
func TestLockEndsWhenTheClockPassesIt(t *testing.T) {
	t.Parallel()
	th, c := newThrottle(t, Policy{Threshold: 2, Base: time.Minute, Max: time.Hour})
	key := LoginKey("alice")
	fail(t, th, key, key)
	if d := lockedFor(t, th, c, key); d != time.Minute {
		t.Fatalf("locked for %v, want 1m", d)
	}
	c.Advance(59 * time.Second)
	if d := lockedFor(t, th, c, key); d != time.Second {
		t.Fatalf("1s before the end: locked for %v, want 1s", d)
	}
	c.Advance(time.Second)
	if d := lockedFor(t, th, c, key); d != 0 {
		t.Fatalf("at the end: still locked for %v", d)
	}
	fail(t, th, key)
	if d := lockedFor(t, th, c, key); d != 2*time.Minute {
		t.Fatalf("failure after the lock ended: locked for %v, want 2m", d)
	}
}

// R29: Clear (a successful sign-in, a manager's clearLockout, a reset)
// unlocks and forgets the streak: the count starts again from zero.
func TestClearResets(t *testing.T) {
	t.Parallel()
	th, c := newThrottle(t, Policy{Threshold: 3, Base: time.Minute, Max: time.Hour})
	keys := AccountKeys(42, "bob", "bob@example.com")
	fail(t, th, keys[0], keys[0], keys[0], keys[0], keys[1], keys[1], keys[1])
	if d := lockedFor(t, th, c, keys...); d != 2*time.Minute {
		t.Fatalf("locked for %v, want 2m (the longest lock of the keys)", d)
	}
	if err := th.Clear(t.Context(), keys...); err != nil {
		t.Fatal(err)
	}
	if d := lockedFor(t, th, c, keys...); d != 0 {
		t.Fatalf("after Clear: locked for %v", d)
	}
	fail(t, th, keys[0], keys[0])
	if d := lockedFor(t, th, c, keys...); d != 0 {
		t.Fatalf("2 failures after Clear locked for %v: the old streak was not forgotten", d)
	}
	fail(t, th, keys[0])
	if d := lockedFor(t, th, c, keys...); d != time.Minute {
		t.Fatalf("threshold after Clear: locked for %v, want 1m (Base again)", d)
	}
}

// R29: a streak older than ResetAfter is forgotten.
func TestOldFailuresAreForgotten(t *testing.T) {
	t.Parallel()
	th, c := newThrottle(t, Policy{Threshold: 3, Base: time.Minute, Max: time.Hour, ResetAfter: time.Hour})
	key := UserKey(1)
	fail(t, th, key, key)
	c.Advance(time.Hour + time.Second)
	fail(t, th, key, key)
	if d := lockedFor(t, th, c, key); d != 0 {
		t.Fatalf("2 failures, then 2 more an hour later, locked for %v", d)
	}
	fail(t, th, key)
	if d := lockedFor(t, th, c, key); d != time.Minute {
		t.Fatalf("locked for %v, want 1m", d)
	}
}

// R29: failures from one address, whichever accounts they name, lock the
// address at IPThreshold, and no account on the way.
func TestAddressThresholdLocksAcrossAccounts(t *testing.T) {
	t.Parallel()
	th, c := newThrottle(t, Policy{Threshold: 3, IPThreshold: 6, Base: time.Minute, Max: time.Hour})
	addr := AddressKey("203.0.113.9")
	for i := 1; i <= 6; i++ {
		if d := lockedFor(t, th, c, addr); d != 0 {
			t.Fatalf("address locked for %v after %d failures, threshold 6", d, i-1)
		}
		// Each guess names another account, as a password-spraying client would.
		fail(t, th, UserKey(i), LoginKey("user"+string(rune('a'+i))), addr)
	}
	if d := lockedFor(t, th, c, addr); d != time.Minute {
		t.Fatalf("address locked for %v after 6 failures, want 1m", d)
	}
	for i := 1; i <= 6; i++ {
		if d := lockedFor(t, th, c, UserKey(i)); d != 0 {
			t.Errorf("account %d locked for %v after one failure", i, d)
		}
	}
	if d := lockedFor(t, th, c, AddressKey("203.0.113.10")); d != 0 {
		t.Errorf("another address locked for %v", d)
	}
}

// The account threshold does not apply to addresses: an office behind one
// address is not locked by a few people's typos.
func TestAddressIsNotLockedAtTheAccountThreshold(t *testing.T) {
	t.Parallel()
	th, c := newThrottle(t, Policy{Threshold: 2, IPThreshold: 5})
	addr := AddressKey("2001:db8::1")
	fail(t, th, addr, addr, addr, addr)
	if d := lockedFor(t, th, c, addr); d != 0 {
		t.Fatalf("address locked for %v after 4 failures, threshold 5", d)
	}
}

// Keys are independent: failures and clearing of one leave the others be.
func TestKeysAreIndependent(t *testing.T) {
	t.Parallel()
	th, c := newThrottle(t, Policy{Threshold: 2, Base: time.Minute, Max: time.Hour})
	a, b := UserKey(1), UserKey(2)
	fail(t, th, a, b, a)
	if d := lockedFor(t, th, c, a); d != time.Minute {
		t.Fatalf("a locked for %v, want 1m", d)
	}
	if d := lockedFor(t, th, c, b); d != 0 {
		t.Fatalf("b locked for %v after one failure", d)
	}
	fail(t, th, b)
	if err := th.Clear(t.Context(), a); err != nil {
		t.Fatal(err)
	}
	if d := lockedFor(t, th, c, b); d != time.Minute {
		t.Fatalf("clearing a changed b: locked for %v, want 1m", d)
	}
	if d := lockedFor(t, th, c, a); d != 0 {
		t.Fatalf("a still locked for %v after Clear", d)
	}
}

// A threshold of one locks at the first failure (the row is created by it).
func TestThresholdOfOne(t *testing.T) {
	t.Parallel()
	th, c := newThrottle(t, Policy{Threshold: 1, Base: time.Minute, Max: time.Hour})
	fail(t, th, UserKey(5))
	if d := lockedFor(t, th, c, UserKey(5)); d != time.Minute {
		t.Fatalf("locked for %v after the first failure, want 1m", d)
	}
}

// Concurrent failures all count (the count is incremented in the database).
func TestConcurrentFailuresAllCount(t *testing.T) {
	t.Parallel()
	th, c := newThrottle(t, Policy{Threshold: 10, Base: time.Minute, Max: time.Hour})
	key := LoginKey("carol")
	var wg sync.WaitGroup
	errs := make([]error, 9)
	for i := range errs {
		wg.Go(func() { errs[i] = th.Fail(t.Context(), key) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if d := lockedFor(t, th, c, key); d != 0 {
		t.Fatalf("locked for %v after 9 failures, threshold 10", d)
	}
	fail(t, th, key)
	if d := lockedFor(t, th, c, key); d != time.Minute {
		t.Fatalf("10th failure: locked for %v, want 1m (a concurrent failure was lost)", d)
	}
}

// The defaults are R29's: 5 failures, 1 minute doubling to 15, 30 from an
// address, forgotten after an hour.
func TestDefaultPolicy(t *testing.T) {
	t.Parallel()
	var p Policy
	p.defaults()
	want := Policy{Threshold: 5, Base: time.Minute, Max: 15 * time.Minute, IPThreshold: 30, ResetAfter: time.Hour}
	if p != want {
		t.Errorf("defaults %+v, want %+v", p, want)
	}
	// Max below Base is raised, so locks never shrink.
	p = Policy{Base: 20 * time.Minute, Max: time.Minute}
	p.defaults()
	if p.Max < p.Base {
		t.Errorf("Max %v below Base %v", p.Max, p.Base)
	}
}

func TestWait(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	for d, want := range map[time.Duration]string{
		10 * time.Second:                "a minute",
		time.Minute:                     "a minute",
		time.Minute + time.Second:       "2 minutes",
		15 * time.Minute:                "15 minutes",
		14*time.Minute + 30*time.Second: "15 minutes",
	} {
		if got := Wait(now.Add(d), now); got != want {
			t.Errorf("Wait(%v) = %q, want %q", d, got, want)
		}
	}
}

// Login names are hashed: the key does not carry what was typed (people type
// passwords into the name field).
func TestLoginKeyHidesTheName(t *testing.T) {
	t.Parallel()
	const typed = "correct horse battery staple"
	k := LoginKey(typed)
	if k == LoginKey("other") || k != LoginKey(typed) {
		t.Error("LoginKey is not a function of the name")
	}
	for _, part := range []string{"correct", "horse", "staple"} {
		if strings.Contains(k, part) {
			t.Errorf("key %q carries %q", k, part)
		}
	}
}

// An account is locked through its own key, its username's or its email's;
// ClearAccount ends all three and says until when the lock would have held.
func TestAccountLockThroughAnyOfItsNames(t *testing.T) {
	t.Parallel()
	th, c := newThrottle(t, Policy{Threshold: 2, Base: time.Minute, Max: time.Hour})
	ctx := t.Context()
	u := &ent.User{ID: 42, UsernameKey: "pat", EmailKey: "pat@example.com"}
	for range 2 {
		if err := th.Fail(ctx, LoginKey("pat@example.com")); err != nil {
			t.Fatal(err)
		}
	}
	until, err := th.AccountLockedUntil(ctx, u)
	if err != nil || until == nil || !until.Equal(c.Now().Add(time.Minute)) {
		t.Fatalf("locked until %v (%v), want a minute from now", until, err)
	}
	was, err := th.ClearAccount(ctx, u)
	if err != nil || was == nil || !was.Equal(*until) {
		t.Fatalf("ClearAccount returned %v (%v), want %v", was, err, until)
	}
	if until, err := th.AccountLockedUntil(ctx, u); err != nil || until != nil {
		t.Fatalf("after ClearAccount: locked until %v (%v)", until, err)
	}
	if was, err := th.ClearAccount(ctx, u); err != nil || was != nil {
		t.Fatalf("clearing an unlocked account: %v (%v)", was, err)
	}
}
