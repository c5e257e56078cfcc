package apitest_test

// BenchmarkActivationsUncontended measures activations that do not compete
// (issue #16): 32 clients, each activating the inactive therapists of its
// own clinic one after another, each with a free license waiting:
//
//	go test ./internal/apitest/ -run '^$' -bench BenchmarkActivationsUncontended -benchtime=2000x -v
//
// It reports activations per second, and checks that every activation
// succeeded.

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/clinicemr/usermanager/ent"
	"github.com/clinicemr/usermanager/ent/privacy"
	"github.com/clinicemr/usermanager/ent/user"
	"github.com/clinicemr/usermanager/internal/apitest"
	"github.com/clinicemr/usermanager/internal/demo"
	"github.com/clinicemr/usermanager/internal/gid"
	"github.com/clinicemr/usermanager/internal/staff"
	"github.com/clinicemr/usermanager/internal/txn"
)

const uncontendedClients = 32

func BenchmarkActivationsUncontended(b *testing.B) {
	for _, d := range apitest.Dialects {
		b.Run(d, func(b *testing.B) {
			env := apitest.New(b, d, apitest.Options{NoStatementCount: true})
			perClient := (b.N + uncontendedClients - 1) / uncontendedClients
			queues := uncontendedSetUp(b, env, perClient)
			admin := env.LoginDemo(demo.AdminUsername)
			var done, failed atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			for _, queue := range queues {
				wg.Go(func() {
					for _, id := range queue {
						if done.Add(1) > int64(b.N) {
							return
						}
						var out stPayload
						r := admin.Do(stSetStatus, map[string]any{"id": id, "s": "ACTIVE"})
						if len(r.Errors) > 0 {
							b.Errorf("setUserStatus: %s", r.Body)
							return
						}
						r.Decode(b, &out)
						if out.SetUserStatus.User == nil {
							failed.Add(1)
						}
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			if n := failed.Load(); n > 0 {
				b.Fatalf("%d uncontended activations failed", n)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "activations/s")
		})
	}
}

// uncontendedSetUp adds 32 clinics to the demo practice, each with n
// inactive therapists and n free Therapist licenses, gives the demo
// administrator access to them, and returns each clinic's therapists'
// global IDs.
func uncontendedSetUp(b *testing.B, env *apitest.Env, n int) [][]string {
	b.Helper()
	ctx := privacy.DecisionContext(context.Background(), privacy.Allow)
	client := env.DB.Client
	admin, err := client.User.Query().Where(user.Username(demo.AdminUsername)).Only(ctx)
	if err != nil {
		b.Fatal(err)
	}
	orgID := *admin.OrganizationID
	queues := make([][]string, uncontendedClients)
	for c := range queues {
		cl, err := client.Clinic.Create().SetOrganizationID(orgID).SetName(fmt.Sprintf("Uncontended %02d", c)).Save(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if err := client.User.UpdateOne(admin).AddClinicIDs(cl.ID).Exec(ctx); err != nil {
			b.Fatal(err)
		}
		err = txn.WithTx(ctx, client, func(tx *ent.Tx) error {
			return env.App.Licenses.Add(ctx, tx, orgID, cl.ID, staff.Therapist, n)
		})
		if err != nil {
			b.Fatal(err)
		}
		builders := make([]*ent.UserCreate, n)
		for i := range builders {
			name := fmt.Sprintf("free.pt%02d.%04d", c, i)
			builders[i] = client.User.Create().SetOrganizationID(orgID).
				SetUsername(name).SetEmail(name + "@uncontended.example").SetPasswordHash("not a hash").
				SetUserType(staff.PT).SetFirstName("Free").SetLastName(fmt.Sprintf("Therapist%02d%04d", c, i)).
				SetFullName(fmt.Sprintf("Free Therapist%02d%04d", c, i)).SetStatus(user.StatusINACTIVE).
				SetHomeClinicID(cl.ID).AddClinicIDs(cl.ID)
		}
		users, err := client.User.CreateBulk(builders...).Save(ctx)
		if err != nil {
			b.Fatal(err)
		}
		for _, u := range users {
			queues[c] = append(queues[c], gid.Encode(u.ID))
		}
	}
	return queues
}
