package apitest_test

// BenchmarkActivationsUnderContention measures setUserStatus under
// contention for few licenses (R23), through GraphQL over HTTP:
//
//	go test ./internal/apitest/ -run '^$' -bench BenchmarkActivations -benchtime=2000x
//
// 24 therapists share the 4 Therapist licenses of one clinic; parallel
// clients (GOMAXPROCS×4) each toggle a random one of them, so most
// activations find no free license and are refused, while inactivations
// free one. It reports status changes per second, successful activations per
// second and refusals, and checks afterwards that in use never exceeded
// total.

import (
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"testing"

	"github.com/clinicemr/usermanager/internal/apitest"
	"github.com/clinicemr/usermanager/internal/demo"
)

func BenchmarkActivationsUnderContention(b *testing.B) {
	for _, d := range apitest.Dialects {
		b.Run(d, func(b *testing.B) {
			env := apitest.New(b, d, apitest.Options{NoStatementCount: true})
			admin := env.LoginDemo(demo.AdminUsername)
			var clinics struct {
				Clinics struct {
					Edges []struct{ Node struct{ ID, Name string } }
				}
			}
			admin.MustDo(`{ clinics(where: {name: "Sunrise Downtown"}) { edges { node { id name } } } }`, nil, &clinics)
			downtown := clinics.Clinics.Edges[0].Node.ID
			ids := make([]string, 24)
			for i := range ids {
				var out struct {
					CreateUser struct {
						User       *struct{ ID string }
						UserErrors []apitest.UserError
					}
				}
				admin.MustDo(`mutation($in: CreateUserInput!) { createUser(input: $in) { user { id } userErrors { code message } } }`,
					map[string]any{"in": map[string]any{"username": fmt.Sprintf("bench.pt%02d", i), "email": fmt.Sprintf("bench.pt%02d@sunrise-therapy.example", i),
						"firstName": actFirstNames[i], "lastName": actLastNames[i], "userType": "PT", "homeClinicId": downtown,
						"clinicIds": []string{downtown}, "password": "Correct-Horse-Battery-9", "npi": "9999999995",
						"licenseNumber": "00000", "permissions": []string{"VIEW_PATIENTS"}}}, &out)
				if out.CreateUser.User == nil {
					b.Fatalf("creating a therapist: %+v", out.CreateUser.UserErrors)
				}
				ids[i] = out.CreateUser.User.ID
			}
			var changes, activations, refusals atomic.Int64
			b.SetParallelism(4)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					id := ids[rand.IntN(len(ids))]
					var out stPayload
					target := "ACTIVE"
					if rand.IntN(2) == 0 {
						target = "INACTIVE"
					}
					r := admin.Do(stSetStatus, map[string]any{"id": id, "s": target})
					if len(r.Errors) > 0 {
						b.Errorf("setUserStatus: %s", r.Body)
						return
					}
					r.Decode(b, &out)
					switch {
					case len(out.SetUserStatus.UserErrors) == 0:
						changes.Add(1)
						if target == "ACTIVE" {
							activations.Add(1)
						}
					case out.SetUserStatus.UserErrors[0].Code == "MAXIMUM_LICENSES_REACHED":
						refusals.Add(1)
					}
				}
			})
			b.StopTimer()
			secs := b.Elapsed().Seconds()
			b.ReportMetric(float64(b.N)/secs, "requests/s")
			b.ReportMetric(float64(changes.Load())/secs, "changes/s")
			b.ReportMetric(float64(activations.Load())/secs, "activations/s")
			b.ReportMetric(float64(refusals.Load())/secs, "refusals/s")
			var counts struct {
				LicenseCounts []struct {
					Class                   string
					Total, InUse, Available int
				}
			}
			admin.MustDo(`query($c: ID) { licenseCounts(clinicId: $c) { class total inUse available } }`, map[string]any{"c": downtown}, &counts)
			for _, lc := range counts.LicenseCounts {
				if lc.InUse > lc.Total || lc.Available < 0 {
					b.Fatalf("over-allocation: %+v", lc)
				}
			}
		})
	}
}

// Distinct, dissimilar names, so no new profile looks like a duplicate of
// another (R14).
var (
	actFirstNames = []string{"Avery", "Blake", "Casey", "Dakota", "Emerson", "Finley", "Gray", "Harper",
		"Indigo", "Jules", "Kendall", "Logan", "Morgan", "Noel", "Oakley", "Parker",
		"Quinn", "Reese", "Sawyer", "Tatum", "Umber", "Vesper", "Winter", "Xen"}
	actLastNames = []string{"Albright", "Bellweather", "Castellanos", "Drummond", "Eastwood", "Fairbanks",
		"Goldsmith", "Hollister", "Ingram", "Jablonski", "Kowalczyk", "Lindqvist", "Montgomery", "Nakamura",
		"Okonkwo", "Pemberton", "Quintero", "Rutherford", "Sandoval", "Thibodeaux", "Underwood", "Valentino",
		"Whitfield", "Yamamoto"}
)
