package apitest_test

// BenchmarkUserSearch measures the user search (SPEC R17) through GraphQL over
// HTTP on a practice of 100,000 users in 50 clinics, on SQLite and on
// PostgreSQL:
//
//	go test ./internal/apitest/ -run '^$' -bench BenchmarkUserSearch -benchtime=200x -timeout 30m
//
// Each database is seeded once per run (directly through ent, in batches of
// 1,000 inside transactions), then measured serially and in parallel. Besides
// ns/op it reports the p50 and p99 latency of single requests and the requests
// per second. On PostgreSQL it logs the plans of the name search, to show
// whether the trigram index user_search_text is used.

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"

	"github.com/clinicemr/usermanager/ent"
	"github.com/clinicemr/usermanager/ent/permission"
	"github.com/clinicemr/usermanager/ent/privacy"
	"github.com/clinicemr/usermanager/ent/user"
	"github.com/clinicemr/usermanager/internal/apitest"
	"github.com/clinicemr/usermanager/internal/directory"
	"github.com/clinicemr/usermanager/internal/passwords"
	"github.com/clinicemr/usermanager/internal/staff"
	"github.com/clinicemr/usermanager/internal/viewer"
)

// Size of the seeded practice.
const (
	benchUsers     = 100_000
	benchClinics   = 50
	benchBatch     = 1_000
	benchActivePct = 70 // percent of users Active, each holding a license
)

const (
	benchManager         = "bench.manager"
	benchManagerPassword = "Bench-Search-M4nager!q"
)

// benchQuery is what a user list screen sends while the manager types a name.
const benchQuery = `query($name: String) {
  users(first: 20, filter: {name: $name}) {
    totalCount
    edges { node { id fullName homeClinic { name } licenseClass } }
  }
}`

// benchFragments are the name fragments the benchmark cycles through: common
// ones (hundreds to thousands of matches), rare ones (a few) and one that
// matches nobody.
var benchFragments = []string{"ann", "son", "mar", "ell", "Quig", "yela", "zubr", "xqz"}

var benchFirstNames = strings.Fields(`
	James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Barbara Richard Susan
	Joseph Jessica Thomas Sarah Charles Karen Christopher Lisa Daniel Nancy Matthew Betty Anthony Margaret
	Mark Sandra Donald Ashley Steven Kimberly Paul Emily Andrew Donna Joshua Michelle Kenneth Carol Kevin
	Amanda Brian Dorothy George Melissa Timothy Deborah Ronald Stephanie Edward Rebecca Jason Sharon Jeffrey
	Laura Ryan Cynthia Jacob Kathleen Gary Amy Nicholas Angela Eric Shirley Jonathan Anna Stephen Brenda
	Larry Pamela Justin Emma Scott Nicole Brandon Helen Benjamin Samantha Samuel Katherine Gregory Christine
	Alexander Debra Frank Rachel Patrick Carolyn Raymond Janet Jack Catherine Dennis Maria Jerry Heather
	Tyler Diane Aaron Ruth Jose Julie Adam Olivia Nathan Joyce Henry Virginia Douglas Victoria Zachary
	Kelly Peter Lauren Kyle Christina Ethan Joan Walter Evelyn Noah Judith Jeremy Megan Christian Andrea
	Keith Cheryl Roger Hannah Terry Jacqueline Gerald Martha Harold Gloria Sean Teresa Austin Ann Carl
	Sara Arthur Madison Lawrence Frances Dylan Kathryn Jesse Janice Jordan Jean Bryan Abigail Billy Alice
	Joe Julia Bruce Judy Gabriel Sophia Logan Grace Albert Denise Willie Amber Alan Doris Juan Marilyn
	Wayne Danielle Elijah Beverly Randy Isabella Roy Theresa Vincent Diana Ralph Natalie Eugene Brittany
	Russell Charlotte Bobby Marie Mason Kayla Philip Alexis Louis Lori Xavier Priya Mei Oluwaseun Aiyana
`)

var benchLastNames = strings.Fields(`
	Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez Gonzalez
	Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris Sanchez Clark
	Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill Flores Green Adams
	Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts Gomez Phillips Evans Turner Diaz Parker
	Cruz Edwards Collins Reyes Stewart Morris Morales Murphy Cook Rogers Gutierrez Ortiz Morgan Cooper
	Peterson Bailey Reed Kelly Howard Ramos Kim Cox Ward Richardson Watson Brooks Chavez Wood James
	Bennett Gray Mendoza Ruiz Hughes Price Alvarez Castillo Sanders Patel Myers Long Ross Foster
	Jimenez Powell Jenkins Perry Russell Sullivan Bell Coleman Butler Henderson Barnes Gonzales Fisher
	Vasquez Simmons Romero Jordan Patterson Alexander Hamilton Graham Reynolds Griffin Wallace Moreno
	West Cole Hayes Bryant Herrera Gibson Ellis Tran Medina Aguilar Stevens Murray Ford Castro Marshall
	Owens Harrison Fernandez McDonald Woods Washington Kennedy Wells Vargas Henry Chen Freeman Webb
	Tucker Guzman Burns Crawford Olson Simpson Porter Hunter Gordon Mendez Silva Shaw Snyder Mason
	Dixon Munoz Hunt Hicks Holmes Palmer Wagner Black Robertson Boyd Rose Stone Salazar Fox Warren
	Mills Meyer Rice Schmidt Garza Daniels Ferguson Nichols Stephens Soto Weaver Ryan Gardner Payne
	Grant Dunn Kowalski Okafor Lindqvist Haddad Whitfield
`)

// benchRareLastNames are given to one user in a thousand, so fragments of
// them ("yela", "zubr") match only a few users.
var benchRareLastNames = []string{"Oyelaran", "Zubrowski", "Quigley", "Vyborny", "Jakubczyk"}

type benchEnv struct {
	// notes (seeding) and plans (EXPLAIN output) are logged by the serial
	// and the parallel sub-benchmark: the log of a benchmark that has
	// sub-benchmarks is shown only with -v, and a benchmark's log is cut
	// after 10 lines, so each note is one line.
	notes     []string
	notesOnce sync.Once
	plans     []string
	plansOnce sync.Once
	env       *apitest.Env
	orgID     int
	managerID int
	clinicIDs []int
	token     string
	http      *http.Client
	url       string
}

// note records a line for the benchmark's log.
func (be *benchEnv) note(format string, args ...any) {
	be.notes = append(be.notes, fmt.Sprintf(format, args...))
}

// plan records an EXPLAIN output for the benchmark's log.
func (be *benchEnv) plan(format string, args ...any) {
	be.plans = append(be.plans, fmt.Sprintf(format, args...))
}

func BenchmarkUserSearch(b *testing.B) {
	for _, d := range apitest.Dialects {
		// The function of a benchmark with sub-benchmarks runs once, so each
		// database is started and seeded once per run; serial and parallel
		// (which the framework runs several times) share it.
		b.Run(d, func(b *testing.B) {
			env := apitest.New(b, d, apitest.Options{NoDemo: true, NoStatementCount: true}) // skips PostgreSQL if unavailable
			be := benchSeed(b, env)
			benchWarmUp(b, be)
			if d == dialect.Postgres {
				benchExplain(b, be)
			} else {
				benchExplainSQLite(b, be)
			}
			b.Run("serial", func(b *testing.B) {
				be.notesOnce.Do(func() {
					for _, n := range be.notes {
						b.Log(n)
					}
				})
				benchSerial(b, be)
			})
			b.Run("parallel", func(b *testing.B) {
				be.plansOnce.Do(func() {
					for _, n := range be.plans {
						b.Log(n)
					}
				})
				benchParallel(b, be)
			})
		})
	}
}

// benchSeed creates the practice: one organization, 50 clinics, 100,000 users
// and a manager who may view all of them.
func benchSeed(b testing.TB, env *apitest.Env) *benchEnv {
	b.Helper()
	start := time.Now()
	ctx := privacy.DecisionContext(context.Background(), privacy.Allow)
	client := env.DB.Client
	hash, err := passwords.Hash("Seeded-User-Passw0rd!")
	if err != nil {
		b.Fatal(err)
	}
	org, err := client.Organization.Create().SetName("Bench Therapy Network").Save(ctx)
	if err != nil {
		b.Fatal(err)
	}
	clinicBuilders := make([]*ent.ClinicCreate, benchClinics)
	for i := range clinicBuilders {
		clinicBuilders[i] = client.Clinic.Create().SetOrganizationID(org.ID).SetName(fmt.Sprintf("Bench Clinic %02d", i+1))
	}
	clinics, err := client.Clinic.CreateBulk(clinicBuilders...).Save(ctx)
	if err != nil {
		b.Fatal(err)
	}
	clinicIDs := make([]int, len(clinics))
	clinicName := map[int]string{}
	for i, c := range clinics {
		clinicIDs[i] = c.ID
		clinicName[c.ID] = c.Name
	}

	types := staff.PracticeUserTypes
	nFirst, nLast := len(benchFirstNames), len(benchLastNames)
	for from := 0; from < benchUsers; from += benchBatch {
		tx, err := client.Tx(ctx)
		if err != nil {
			b.Fatal(err)
		}
		builders := make([]*ent.UserCreate, 0, benchBatch)
		for i := from; i < from+benchBatch && i < benchUsers; i++ {
			first := benchFirstNames[(i*7919)%nFirst]
			last := benchLastNames[(i/nFirst+i*31)%nLast]
			if i%1000 == 7 {
				last = benchRareLastNames[(i/1000)%len(benchRareLastNames)]
			}
			username := fmt.Sprintf("%s.%s%d", strings.ToLower(first), strings.ToLower(last), i)
			status := user.StatusINACTIVE
			if i%100 < benchActivePct {
				status = user.StatusACTIVE
			}
			home := clinicIDs[i%benchClinics]
			builders = append(builders, tx.User.Create().
				SetOrganizationID(org.ID).
				SetUsername(username).
				SetEmail(username+"@bench-therapy.example").
				SetPasswordHash(hash).
				SetUserType(types[i%len(types)]).
				SetFirstName(first).
				SetLastName(last).
				SetFullName(first+" "+last).
				SetStatus(status).
				SetHomeClinicID(home).
				AddClinicIDs(home))
		}
		created, err := tx.User.CreateBulk(builders...).Save(ctx)
		if err != nil {
			_ = tx.Rollback()
			b.Fatalf("seeding users %d..: %v", from, err)
		}
		licenses := make([]*ent.LicenseCreate, 0, len(created))
		for _, u := range created {
			if u.Status != user.StatusACTIVE {
				continue
			}
			class, _ := u.UserType.Class()
			licenses = append(licenses, tx.License.Create().
				SetOrganizationID(org.ID).SetClinicID(*u.HomeClinicID).SetClass(class).SetHolderID(u.ID))
		}
		if err := tx.License.CreateBulk(licenses...).Exec(ctx); err != nil {
			_ = tx.Rollback()
			b.Fatalf("seeding licenses %d..: %v", from, err)
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
	}

	viewUsers, err := client.Permission.Query().Where(permission.Key(viewer.PermViewUsers)).Only(ctx)
	if err != nil {
		b.Fatalf("the VIEW_USERS permission: %v", err)
	}
	managerHash, err := passwords.Hash(benchManagerPassword)
	if err != nil {
		b.Fatal(err)
	}
	manager, err := client.User.Create().
		SetOrganizationID(org.ID).SetUsername(benchManager).SetEmail(benchManager + "@bench-therapy.example").
		SetPasswordHash(managerHash).SetUserType(staff.Clerical).
		SetFirstName("Bench").SetLastName("Manager").SetFullName("Bench Manager").
		SetStatus(user.StatusACTIVE).SetHomeClinicID(clinicIDs[0]).AddClinicIDs(clinicIDs...).
		AddPermissionIDs(viewUsers.ID).Save(ctx)
	if err != nil {
		b.Fatal(err)
	}
	if err := client.License.Create().SetOrganizationID(org.ID).SetClinicID(clinicIDs[0]).
		SetClass(staff.ClericalClass).SetHolderID(manager.ID).Exec(ctx); err != nil {
		b.Fatal(err)
	}
	seeded := time.Since(start)

	analyze := time.Duration(0)
	if env.Dialect == dialect.Postgres {
		t0 := time.Now()
		if _, err := env.DB.SQL.Exec("ANALYZE"); err != nil {
			b.Fatal(err)
		}
		analyze = time.Since(t0)
	}
	var nUsers, nLicenses, nAccess int
	for q, n := range map[string]*int{
		"SELECT COUNT(*) FROM users":        &nUsers,
		"SELECT COUNT(*) FROM licenses":     &nLicenses,
		"SELECT COUNT(*) FROM user_clinics": &nAccess,
	} {
		if err := env.DB.SQL.QueryRow(q).Scan(n); err != nil {
			b.Fatal(err)
		}
	}
	if nUsers != benchUsers+1 || nLicenses != benchUsers*benchActivePct/100+1 {
		b.Fatalf("seeded %d users and %d licenses, want %d and %d", nUsers, nLicenses, benchUsers+1, benchUsers*benchActivePct/100+1)
	}

	c := env.Login(benchManager, benchManagerPassword)
	be := &benchEnv{
		env: env, orgID: org.ID, managerID: manager.ID, clinicIDs: clinicIDs, token: c.Token,
		url: env.Server.URL + "/graphql",
		http: &http.Client{Transport: &http.Transport{
			MaxIdleConns: 64, MaxIdleConnsPerHost: 64, IdleConnTimeout: time.Minute,
		}},
	}
	be.note("%s: seeded %d users (%d licenses, %d clinic grants) in %d clinics in %s; ANALYZE %s",
		env.Dialect, nUsers, nLicenses, nAccess, len(clinicIDs), seeded.Round(time.Millisecond), analyze.Round(time.Millisecond))
	return be
}

// benchResult is what the benchmark reads of a response.
type benchResult struct {
	Data struct {
		Users struct {
			TotalCount int
			Edges      []struct {
				Node struct {
					ID           string
					FullName     string
					HomeClinic   *struct{ Name string }
					LicenseClass *string
				}
			}
		}
	}
	Errors []json.RawMessage
}

func benchBodies(b testing.TB) [][]byte {
	bodies := make([][]byte, len(benchFragments))
	for i, f := range benchFragments {
		body, err := json.Marshal(map[string]any{"query": benchQuery, "variables": map[string]any{"name": f}})
		if err != nil {
			b.Fatal(err)
		}
		bodies[i] = body
	}
	return bodies
}

// post sends one search and checks it succeeded. It is safe for concurrent
// use and reports failures with Error, not Fatal.
func (be *benchEnv) post(body []byte) ([]byte, error) {
	req, err := http.NewRequest(http.MethodPost, be.url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+be.token)
	res, err := be.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	out, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, err
	}
	if res.StatusCode != http.StatusOK || bytes.Contains(out, []byte(`"errors"`)) {
		return nil, fmt.Errorf("status %d: %.500s", res.StatusCode, out)
	}
	return out, nil
}

// benchWarmUp runs each fragment once, checks the answers and logs how many
// users each fragment matches.
func benchWarmUp(b testing.TB, be *benchEnv) {
	b.Helper()
	var counts []string
	for i, body := range benchBodies(b) {
		t0 := time.Now()
		out, err := be.post(body)
		if err != nil {
			b.Fatalf("searching %q: %v", benchFragments[i], err)
		}
		took := time.Since(t0)
		var r benchResult
		if err := json.Unmarshal(out, &r); err != nil {
			b.Fatal(err)
		}
		frag := strings.ToLower(benchFragments[i])
		for _, e := range r.Data.Users.Edges {
			if !strings.Contains(strings.ToLower(e.Node.FullName), frag) || e.Node.HomeClinic == nil || e.Node.LicenseClass == nil {
				b.Fatalf("searching %q found %+v", benchFragments[i], e.Node)
			}
		}
		if want := min(20, r.Data.Users.TotalCount); len(r.Data.Users.Edges) != want {
			b.Fatalf("searching %q: %d edges of totalCount %d", benchFragments[i], len(r.Data.Users.Edges), r.Data.Users.TotalCount)
		}
		counts = append(counts, fmt.Sprintf("%q: %d (first request %s)", benchFragments[i], r.Data.Users.TotalCount, took.Round(time.Microsecond)))
	}
	be.note("%s: users matching each fragment: %s", be.env.Dialect, strings.Join(counts, ", "))
}

func benchSerial(b *testing.B, be *benchEnv) {
	bodies := benchBodies(b)
	durations := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if _, err := be.post(bodies[i%len(bodies)]); err != nil {
			b.Fatal(err)
		}
		durations = append(durations, time.Since(t0))
	}
	elapsed := time.Since(start)
	b.StopTimer()
	benchReport(b, durations, elapsed)
}

// benchParallelism: goroutines per GOMAXPROCS in the parallel variant.
const benchParallelism = 2

func benchParallel(b *testing.B, be *benchEnv) {
	bodies := benchBodies(b)
	var (
		mu        sync.Mutex
		durations = make([]time.Duration, 0, b.N)
		next      atomic.Int64
	)
	b.SetParallelism(benchParallelism)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		local := make([]time.Duration, 0, 64)
		for pb.Next() {
			body := bodies[int(next.Add(1))%len(bodies)]
			t0 := time.Now()
			if _, err := be.post(body); err != nil {
				b.Error(err)
				return
			}
			local = append(local, time.Since(t0))
		}
		mu.Lock()
		durations = append(durations, local...)
		mu.Unlock()
	})
	elapsed := time.Since(start)
	b.StopTimer()
	benchReport(b, durations, elapsed)
}

// benchReport reports the p50 and p99 latency and the requests per second.
func benchReport(b *testing.B, durations []time.Duration, elapsed time.Duration) {
	if len(durations) == 0 {
		return
	}
	slices.Sort(durations)
	pct := func(p float64) time.Duration {
		i := int(math.Ceil(p*float64(len(durations)))) - 1
		return durations[max(0, min(i, len(durations)-1))]
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(pct(0.50)), "p50-ms")
	b.ReportMetric(ms(pct(0.99)), "p99-ms")
	b.ReportMetric(float64(len(durations))/elapsed.Seconds(), "req/s")
}

// benchCaptureDriver records the statements ent sends, so their plans can be
// shown.
type benchCaptureDriver struct {
	dialect.Driver
	mu    sync.Mutex
	stmts []benchStatement
}

type benchStatement struct {
	query string
	args  []any
}

func (d *benchCaptureDriver) Query(ctx context.Context, query string, args, v any) error {
	a, _ := args.([]any)
	d.mu.Lock()
	d.stmts = append(d.stmts, benchStatement{query, a})
	d.mu.Unlock()
	return d.Driver.Query(ctx, query, args, v)
}

// benchSearchStatements runs the search service as the manager would (same
// viewer, same filter, first 20) and returns the SQL it sends: the count
// and the page.
func benchSearchStatements(b testing.TB, be *benchEnv, fragment string) []benchStatement {
	b.Helper()
	drv := &benchCaptureDriver{Driver: entsql.OpenDB(be.env.Dialect, be.env.DB.SQL)}
	client := ent.NewClient(ent.Driver(drv))
	ctx := viewer.NewContext(context.Background(), &viewer.Viewer{
		UserID: be.managerID, OrganizationID: be.orgID,
		Permissions: []string{viewer.PermViewUsers}, ClinicIDs: be.clinicIDs, CurrentClinicID: be.clinicIDs[0],
	})
	first := 20
	if _, err := directory.New(client).Search(ctx, nil, &first, nil, nil, nil, &directory.Search{Name: &fragment}); err != nil {
		b.Fatal(err)
	}
	return drv.stmts
}

// benchPlan runs an EXPLAIN and returns its output on one line.
func benchPlan(b testing.TB, q interface {
	Query(string, ...any) (*sql.Rows, error)
}, query string, args ...any) string {
	b.Helper()
	rows, err := q.Query(query, args...)
	if err != nil {
		b.Fatalf("%s: %v", query, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var lines []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			b.Fatal(err)
		}
		var parts []string
		if cols[len(cols)-1] == "detail" { // SQLite's EXPLAIN QUERY PLAN: id, parent, notused, detail
			vals = vals[len(vals)-1:]
		}
		for _, v := range vals {
			if bs, ok := v.([]byte); ok {
				v = string(bs)
			}
			parts = append(parts, fmt.Sprint(v))
		}
		lines = append(lines, strings.TrimSpace(strings.Join(parts, " ")))
	}
	if err := rows.Err(); err != nil {
		b.Fatal(err)
	}
	return strings.Join(lines, " / ")
}

// benchShortSQL shortens a statement for the log: the column list and the
// list of clinic IDs are elided.
func benchShortSQL(query string) string {
	if i, j := strings.Index(query, "SELECT "), strings.Index(query, " FROM "); i == 0 && j > 60 {
		query = "SELECT <all columns>" + query[j:]
	}
	for _, open := range []string{" IN ($", " IN (?"} {
		i := strings.Index(query, open)
		if i < 0 {
			continue
		}
		if j := strings.Index(query[i:], ")"); j > 40 {
			items := strings.Split(query[i+5:i+j], ", ")
			query = fmt.Sprintf("%s IN (%s, ..., %s)%s", query[:i], items[0], items[len(items)-1], query[i+j+1:])
		}
	}
	return query
}

// benchExplain logs PostgreSQL's plans of the name search.
func benchExplain(b testing.TB, be *benchEnv) {
	b.Helper()
	db := be.env.DB.SQL
	for _, frag := range []string{"ann", "yela"} {
		q := fmt.Sprintf("EXPLAIN SELECT id FROM users WHERE search_text LIKE '%%%s%%' LIMIT 20", frag)
		be.plan("postgres: %s => %s", q, benchPlan(b, db, q))
	}
	// Informational: the plan the index would give for the common fragment.
	tx, err := db.Begin()
	if err != nil {
		b.Fatal(err)
	}
	if _, err := tx.Exec("SET LOCAL enable_seqscan = off"); err != nil {
		b.Fatal(err)
	}
	q := "EXPLAIN SELECT id FROM users WHERE search_text LIKE '%ann%' LIMIT 20"
	be.plan("postgres, enable_seqscan = off: %s => %s", q, benchPlan(b, tx, q))
	_ = tx.Rollback()

	// The statements the product really sends for one search, with timings.
	for _, frag := range []string{"ann", "yela"} {
		for _, st := range benchSearchStatements(b, be, frag) {
			be.plan("postgres, users(first: 20, filter: {name: %q}) sends: %s => EXPLAIN ANALYZE: %s",
				frag, benchShortSQL(st.query), benchPlan(b, db, "EXPLAIN ANALYZE "+st.query, st.args...))
		}
	}
}

// benchExplainSQLite logs SQLite's plans of the statements of one search.
func benchExplainSQLite(b testing.TB, be *benchEnv) {
	b.Helper()
	for _, frag := range []string{"ann", "yela"} {
		for _, st := range benchSearchStatements(b, be, frag) {
			be.plan("sqlite3, users(first: 20, filter: {name: %q}) sends: %s => EXPLAIN QUERY PLAN: %s",
				frag, benchShortSQL(st.query), benchPlan(b, be.env.DB.SQL, "EXPLAIN QUERY PLAN "+st.query, st.args...))
		}
	}
}
