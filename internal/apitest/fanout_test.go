package apitest_test

// API tests of the live fan-out (issue 16 item 3; SPEC R22, R25, R27): the
// counts of a clinic are read once per change for all its subscribers, an
// idle subscription costs no SQL, and a session's end (expiry included)
// still ends its subscriptions at once.

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/clinicemr/usermanager/internal/apitest"
	"github.com/clinicemr/usermanager/internal/demo"
)

// fanoutSubscribersPerTest is how many subscribers of one clinic the read
// count test opens: far more than the reads it allows.
const fanoutSubscribersPerTest = 12

// R22, R27: many subscribers of one clinic get the same new counts after a
// change, read from the database once, and subscribers of the organization
// get theirs; the change costs the same statements as with nobody watching,
// plus one read per scope.
func TestFanoutCountsReadOncePerChange(t *testing.T) {
	t.Parallel()
	apitest.ForEachDatabase(t, func(t *testing.T, env *apitest.Env) {
		admin := env.LoginDemo(demo.AdminUsername)
		downtown := stClinicID(t, admin, "Sunrise Downtown")
		jordan := imgUserID(t, admin, "pt.jordan")

		// What the change costs with nobody watching.
		setStatus := func(status string) int64 {
			t.Helper()
			before := env.Statements()
			if out := stSet(t, admin, jordan, status); out.SetUserStatus.User == nil || out.SetUserStatus.User.Status != status {
				t.Fatalf("set pt.jordan %s: %+v", status, out.SetUserStatus)
			}
			return env.Statements() - before
		}
		setStatus("INACTIVE")
		setStatus("ACTIVE")
		alone := setStatus("INACTIVE")
		setStatus("ACTIVE")

		// Subscribers of Downtown over every protocol, and one of the whole
		// organization.
		now := liveQueryCounts(t, admin, downtown)
		var subs []*apitest.Subscription
		for i := range fanoutSubscribersPerTest {
			protocol := liveProtocols[i%len(liveProtocols)]
			sub := admin.Subscribe(protocol, liveCountsSub, map[string]any{"c": downtown})
			liveFirstCounts(t, fmt.Sprintf("subscriber %d (%s)", i, protocol), sub, now)
			subs = append(subs, sub)
		}
		org := admin.Subscribe(apitest.GraphQLTransportWS, liveCountsSub, map[string]any{"c": nil})
		orgNow := liveFirstCounts(t, "organization", org, liveQueryCounts(t, admin, nil))

		before := env.Statements()
		if out := stSet(t, admin, jordan, "INACTIVE"); out.SetUserStatus.User == nil {
			t.Fatalf("inactivate pt.jordan: %+v", out.SetUserStatus)
		}
		want := now.with("THERAPIST", func(n *liveCount) {
			n.InUse--
			n.Available++
		})
		for i, sub := range subs {
			liveExpectCounts(t, fmt.Sprintf("subscriber %d", i), sub, now, want)
		}
		liveExpectCounts(t, "organization", org, orgNow, orgNow.with("THERAPIST", func(n *liveCount) {
			n.InUse--
			n.Available++
		}))
		// One read for Downtown's subscribers, one for the organization's.
		if reads := env.Statements() - before - alone; reads != 2 {
			t.Fatalf("%d subscribers of a clinic and one of its organization: the change cost %d statements more than "+
				"with nobody watching, want 2 (one read per scope)", len(subs), reads)
		}
		if q := liveQueryCounts(t, admin, downtown); !reflect.DeepEqual(q, want) {
			t.Fatalf("the live counts %v differ from licenseCounts %v", want, q)
		}
	})
}

// R25: an idle subscription sends no SQL statement, however long it lasts,
// and ends when its session expires: a timer, where each connection used to
// ask the database every 30 seconds (and noticed an expiry that late).
func TestFanoutIdleSubscriptionEndsAtExpiryWithoutSQL(t *testing.T) {
	t.Parallel()
	// Access tokens outlive the session (12 hours in tests), so the session's
	// expiry is what ends the subscriptions.
	apitest.ForEachDatabaseWith(t, apitest.Options{AccessTTL: 24 * time.Hour}, func(t *testing.T, env *apitest.Env) {
		admin := env.LoginDemo(demo.AdminUsername)
		downtown := stClinicID(t, admin, "Sunrise Downtown")
		now := liveQueryCounts(t, admin, downtown)
		// Twelve hours on: the session has a few seconds left.
		const left = 3 * time.Second
		env.Clock.Advance(12*time.Hour - left)

		var subs []*apitest.Subscription
		for _, protocol := range liveProtocols {
			sub := admin.Subscribe(protocol, liveCountsSub, map[string]any{"c": downtown})
			liveFirstCounts(t, protocol, sub, now)
			subs = append(subs, sub)
		}
		idleFrom, before := time.Now(), env.Statements()
		for i, sub := range subs {
			sub.WaitEnded(left + liveWait)
			t.Logf("%s: ended %v after its first counts", liveProtocols[i], time.Since(idleFrom).Round(10*time.Millisecond))
		}
		if n := env.Statements() - before; n != 0 {
			t.Fatalf("idle subscriptions sent %d SQL statements in %v", n, time.Since(idleFrom))
		}
		if r := admin.Do(`{ viewer { username } }`, nil); r.Code() != "UNAUTHENTICATED" {
			t.Fatalf("the expired session still works: %s", r.Body)
		}
	})
}

// R25, R27: when the event listener reconnects (events may have been lost),
// sessions are checked again: a session revoked behind the server's back,
// with no announcement, ends its subscriptions then.
func TestFanoutResyncRechecksSessions(t *testing.T) {
	t.Parallel()
	env := apitest.New(t, "postgres", apitest.Options{})
	admin := env.LoginDemo(demo.AdminUsername)
	other := env.LoginDemo(demo.AdminUsername)
	downtown := stClinicID(t, admin, "Sunrise Downtown")
	now := liveQueryCounts(t, admin, downtown)
	revoked := admin.Subscribe(apitest.GraphQLTransportWS, liveCountsSub, map[string]any{"c": downtown})
	liveFirstCounts(t, "revoked session", revoked, now)
	control := other.Subscribe(apitest.GraphQLTransportWS, liveCountsSub, map[string]any{"c": downtown})
	liveFirstCounts(t, "other session", control, now)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// Revoke the newest but one session of the administrator (the first
	// login) without announcing it.
	if _, err := env.DB.SQL.ExecContext(ctx, `UPDATE sessions SET revoked_at = now() WHERE id =
		(SELECT id FROM sessions WHERE user_id = (SELECT id FROM users WHERE username = $1) ORDER BY id DESC OFFSET 1 LIMIT 1)`,
		demo.AdminUsername); err != nil {
		t.Fatal(err)
	}
	if liveEnded(revoked) {
		t.Fatal("the subscription ended before the listener reconnected")
	}
	// Drop the listener's connection; it reconnects and Resyncs.
	if _, err := env.DB.SQL.ExecContext(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid() AND query LIKE 'LISTEN%'`); err != nil {
		t.Fatal(err)
	}
	revoked.WaitEnded(20 * time.Second)
	// The other session's subscription goes on: it is sent the next change
	// (the resync itself found the counts it has, and sends nothing).
	if liveEnded(control) {
		t.Fatal("the resync ended a subscription of a session still active")
	}
	stSet(t, other, imgUserID(t, other, "pt.jordan"), "INACTIVE")
	after := liveDecodeCounts(t, "other session after the resync", control.Next(liveWait))
	if after["THERAPIST"].InUse != now["THERAPIST"].InUse-1 {
		t.Fatalf("after an inactivation the other session has Therapist inUse %d, want %d", after["THERAPIST"].InUse, now["THERAPIST"].InUse-1)
	}
}
