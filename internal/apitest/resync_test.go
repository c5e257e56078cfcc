package apitest_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/clinicemr/usermanager/internal/apitest"
	"github.com/clinicemr/usermanager/internal/demo"
)

// resyncWatchDowntown starts a server on PostgreSQL and subscribes its
// administrator to the counts of Sunrise Downtown; first is their first
// counts.
func resyncWatchDowntown(t *testing.T) (env *apitest.Env, admin *apitest.Client, sub *apitest.Subscription, first apitest.Response) {
	t.Helper()
	env = apitest.New(t, "postgres", apitest.Options{})
	admin = env.LoginDemo(demo.AdminUsername)
	downtown := stClinicID(t, admin, "Sunrise Downtown")
	sub = admin.Subscribe(apitest.GraphQLTransportWS,
		`subscription($c: ID) { licenseCountsChanged(clinicId: $c) { class total inUse } }`, map[string]any{"c": downtown})
	return env, admin, sub, sub.Next(10 * time.Second)
}

// R27: when an instance's LISTEN connection drops, events sent meanwhile are
// lost; after the listener reconnects, subscribers get fresh counts rather
// than a silent gap.
func TestListenerReconnectResendsCounts(t *testing.T) {
	t.Parallel()
	env, _, sub, first := resyncWatchDowntown(t)
	therapistInUse := func(r apitest.Response) int {
		var out struct {
			LicenseCountsChanged []struct {
				Class        string
				Total, InUse int
			}
		}
		if err := json.Unmarshal(r.Data, &out); err != nil {
			t.Fatalf("decoding %s: %v", r.Body, err)
		}
		for _, c := range out.LicenseCountsChanged {
			if c.Class == "THERAPIST" {
				return c.InUse
			}
		}
		t.Fatalf("no THERAPIST count in %s", r.Body)
		return 0
	}
	before := therapistInUse(first)

	// A change whose event is lost: written behind the server's back, so
	// no notification is sent. Nothing arrives...
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := env.DB.SQL.ExecContext(ctx, `UPDATE licenses SET holder_id = NULL WHERE holder_id =
		(SELECT id FROM users WHERE username = 'pt.jordan')`); err != nil {
		t.Fatal(err)
	}
	sub.Quiet(500 * time.Millisecond)
	// ...until the listener's connection drops and comes back: then the
	// subscriber is sent fresh counts.
	if _, err := env.DB.SQL.ExecContext(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid() AND query LIKE 'LISTEN%'`); err != nil {
		t.Fatal(err)
	}
	sub.Until(20*time.Second, func(r apitest.Response) bool { return therapistInUse(r) == before-1 })
}

// A reconnect that finds the counts unchanged sends nothing: subscribers
// are sent counts they do not have yet, not the same ones again.
func TestListenerReconnectSendsNoUnchangedCounts(t *testing.T) {
	t.Parallel()
	env, admin, sub, first := resyncWatchDowntown(t)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var dropped time.Time
	if err := env.DB.SQL.QueryRowContext(ctx, `SELECT now() FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid() AND query LIKE 'LISTEN%') AS t`).Scan(&dropped); err != nil {
		t.Fatal(err)
	}
	// Wait for the listener to come back (its Resync follows), then for
	// what the Resync would send.
	for {
		var back bool
		if err := env.DB.SQL.QueryRowContext(ctx, `SELECT EXISTS (SELECT FROM pg_stat_activity
			WHERE datname = current_database() AND query LIKE 'LISTEN%' AND backend_start > $1)`, dropped).Scan(&back); err != nil {
			t.Fatal(err)
		}
		if back {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	sub.Quiet(time.Second)

	// A real change still arrives.
	stSet(t, admin, imgUserID(t, admin, "pt.jordan"), "INACTIVE")
	if next := sub.Next(10 * time.Second); string(next.Data) == string(first.Data) {
		t.Fatalf("after an inactivation the counts are unchanged: %s", next.Body)
	}
}
