package apitest_test

// BenchmarkActivationRound measures the contended activation of issue #16:
// 500 inactive therapists of one clinic of the demo practice are activated
// at once (each its own
// setUserStatus over HTTP) for 50 free Therapist licenses:
//
//	go test ./internal/apitest/ -run '^$' -bench BenchmarkActivationRound -benchtime=10x -v
//
// Each round checks that exactly 50 succeeded (R23: never more than the
// licenses) and reports the round's duration, the p50 and p99 latency of the
// requests, and activations per second; between rounds the 50 are made
// inactive again (not timed).

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/clinicemr/usermanager/ent"
	"github.com/clinicemr/usermanager/ent/clinic"
	"github.com/clinicemr/usermanager/ent/license"
	"github.com/clinicemr/usermanager/ent/privacy"
	"github.com/clinicemr/usermanager/ent/user"
	"github.com/clinicemr/usermanager/internal/apitest"
	"github.com/clinicemr/usermanager/internal/demo"
	"github.com/clinicemr/usermanager/internal/gid"
	"github.com/clinicemr/usermanager/internal/staff"
	"github.com/clinicemr/usermanager/internal/txn"
)

const (
	roundUsers    = 500
	roundLicenses = 50
)

func BenchmarkActivationRound(b *testing.B) {
	for _, d := range apitest.Dialects {
		b.Run(d, func(b *testing.B) {
			env := apitest.New(b, d, apitest.Options{NoStatementCount: true})
			ids := roundSetUp(b, env)
			admin := env.LoginDemo(demo.AdminUsername)
			// As serve does when it starts.
			if err := env.DB.Warm(context.Background()); err != nil {
				b.Fatal(err)
			}
			var rounds []time.Duration
			var latencies []time.Duration
			b.ResetTimer()
			for range b.N {
				var (
					wg    sync.WaitGroup
					mu    sync.Mutex
					won   []string
					start = make(chan struct{})
				)
				t0 := time.Now()
				for _, id := range ids {
					wg.Go(func() {
						<-start
						r0 := time.Now()
						var out stPayload
						r := admin.Do(stSetStatus, map[string]any{"id": id, "s": "ACTIVE"})
						took := time.Since(r0)
						if len(r.Errors) > 0 {
							b.Errorf("setUserStatus: %s", r.Body)
							return
						}
						r.Decode(b, &out)
						mu.Lock()
						defer mu.Unlock()
						latencies = append(latencies, took)
						if out.SetUserStatus.User != nil {
							won = append(won, id)
						} else if len(out.SetUserStatus.UserErrors) != 1 || out.SetUserStatus.UserErrors[0].Code != "MAXIMUM_LICENSES_REACHED" {
							b.Errorf("activation: %+v", out.SetUserStatus)
						}
					})
				}
				close(start)
				wg.Wait()
				rounds = append(rounds, time.Since(t0))
				b.StopTimer()
				if len(won) != roundLicenses {
					b.Fatalf("%d activations succeeded for %d licenses", len(won), roundLicenses)
				}
				for _, id := range won {
					if out := stSet(b, admin, id, "INACTIVE"); out.SetUserStatus.User == nil {
						b.Fatalf("inactivating: %+v", out.SetUserStatus)
					}
				}
				b.StartTimer()
			}
			b.StopTimer()
			slices.Sort(rounds)
			slices.Sort(latencies)
			pct := func(s []time.Duration, p float64) float64 {
				i := max(0, min(len(s)-1, int(math.Ceil(p*float64(len(s))))-1))
				return float64(s[i]) / float64(time.Millisecond)
			}
			b.ReportMetric(pct(rounds, 0.5), "round-p50-ms")
			b.ReportMetric(pct(rounds, 1), "round-max-ms")
			b.ReportMetric(pct(latencies, 0.5), "request-p50-ms")
			b.ReportMetric(pct(latencies, 0.99), "request-p99-ms")
			b.ReportMetric(float64(roundUsers)/(pct(rounds, 0.5)/1000), "requests/s")
		})
	}
}

// roundSetUp gives the demo practice's Downtown clinic 50 more free
// Therapist licenses and 500 inactive therapists, and returns the
// therapists' global IDs.
func roundSetUp(b *testing.B, env *apitest.Env) []string {
	b.Helper()
	ctx := privacy.DecisionContext(context.Background(), privacy.Allow)
	client := env.DB.Client
	downtown, err := client.Clinic.Query().Where(clinic.Name("Sunrise Downtown")).Only(ctx)
	if err != nil {
		b.Fatal(err)
	}
	clinicID, orgID := downtown.ID, downtown.OrganizationID
	free, err := client.License.Query().Where(license.ClinicID(clinicID), license.ClassEQ(staff.Therapist), license.HolderIDIsNil()).Count(ctx)
	if err != nil {
		b.Fatal(err)
	}
	err = txn.WithTx(ctx, client, func(tx *ent.Tx) error {
		return env.App.Licenses.Add(ctx, tx, orgID, clinicID, staff.Therapist, roundLicenses-free)
	})
	if err != nil {
		b.Fatal(err)
	}
	builders := make([]*ent.UserCreate, roundUsers)
	for i := range builders {
		name := fmt.Sprintf("round.pt%03d", i)
		builders[i] = client.User.Create().SetOrganizationID(orgID).
			SetUsername(name).SetEmail(name + "@round-therapy.example").SetPasswordHash("not a hash").
			SetUserType(staff.PT).SetFirstName("Round").SetLastName(fmt.Sprintf("Therapist%03d", i)).
			SetFullName(fmt.Sprintf("Round Therapist%03d", i)).SetStatus(user.StatusINACTIVE).
			SetHomeClinicID(clinicID).AddClinicIDs(clinicID)
	}
	users, err := client.User.CreateBulk(builders...).Save(ctx)
	if err != nil {
		b.Fatal(err)
	}
	ids := make([]string, len(users))
	for i, u := range users {
		ids[i] = gid.Encode(u.ID)
	}
	return ids
}
