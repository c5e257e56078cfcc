package apitest_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/clinicemr/usermanager/internal/apitest"
	"github.com/clinicemr/usermanager/internal/demo"
)

// R27: when an instance's LISTEN connection drops, events sent meanwhile are
// lost; after the listener reconnects, subscribers get fresh counts rather
// than a silent gap.
func TestListenerReconnectResendsCounts(t *testing.T) {
	t.Parallel()
	env := apitest.New(t, "postgres", apitest.Options{})
	admin := env.LoginDemo(demo.AdminUsername)
	downtown := stClinicID(t, admin, "Sunrise Downtown")
	sub := admin.Subscribe(apitest.GraphQLTransportWS,
		`subscription($c: ID) { licenseCountsChanged(clinicId: $c) { class total inUse } }`, map[string]any{"c": downtown})
	first := sub.Next(10 * time.Second)
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
