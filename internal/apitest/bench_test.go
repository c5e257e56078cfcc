package apitest_test

// BenchmarkUserSearch measures the user search (SPEC R17) through GraphQL over
// HTTP on practices of 10,000 and 100,000 users in 50 clinics, on SQLite and
// on PostgreSQL:
//
//	go test ./internal/apitest/ -run '^$' -bench BenchmarkUserSearch -benchtime=400x -timeout 60m -v
//
// USERMANAGER_BENCH_USERS sets the sizes (comma-separated, such as
// "1000000"). Each database is seeded once per size and run (internal/seed,
// as `usermanager seed` does), then measured with one request at a time
// (serial) and with 8 concurrent requests (parallel). Besides ns/op it
// reports the p50 and p99 latency of single requests and the requests per
// second. It logs the plans of the statements of a name search (with -v).

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"entgo.io/contrib/entgql"
	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"

	"github.com/clinicemr/usermanager/ent"
	"github.com/clinicemr/usermanager/internal/apitest"
	"github.com/clinicemr/usermanager/internal/directory"
	"github.com/clinicemr/usermanager/internal/loadgen"
	"github.com/clinicemr/usermanager/internal/seed"
	"github.com/clinicemr/usermanager/internal/viewer"
)

// benchClinics is the number of clinics of the seeded practice.
const benchClinics = 50

// benchSizes are the numbers of users to measure at.
func benchSizes(b *testing.B) []int {
	spec := os.Getenv("USERMANAGER_BENCH_USERS")
	if spec == "" {
		return []int{10_000, 100_000}
	}
	var sizes []int
	for _, f := range strings.Split(spec, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			b.Fatalf("USERMANAGER_BENCH_USERS: %q is not a number of users", f)
		}
		sizes = append(sizes, n)
	}
	return sizes
}

const (
	benchManager         = "bench.manager"
	benchManagerPassword = "Bench-Search-M4nager!q"
)

// benchQuery is what a user list screen sends while the manager types a name.
const benchQuery = `query($name: String) {
  users(first: 20, filter: {name: $name}, orderBy: {field: LAST_NAME, direction: ASC}) {
    totalCount
    edges { node { id fullName homeClinic { name } licenseClass } }
  }
}`

// benchFragments are the name fragments the benchmark cycles through: common
// ones (hundreds to thousands of matches), rare ones (a few) and one that
// matches nobody. USERMANAGER_BENCH_FRAGMENTS (comma-separated) replaces
// them, to look at one.
var benchFragments = []string{"ann", "son", "mar", "ell", "Quig", "yela", "zubr", "xqz"}

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
		for _, n := range benchSizes(b) {
			benchSearchAt(b, d, n)
		}
	}
}

func benchSearchAt(b *testing.B, d string, n int) {
	// The function of a benchmark with sub-benchmarks runs once, so each
	// database is started and seeded once per run; serial and parallel
	// (which the framework runs several times) share it.
	b.Run(fmt.Sprintf("%s/%dk", d, n/1000), func(b *testing.B) {
		env := apitest.New(b, d, apitest.Options{NoDemo: true, NoStatementCount: true}) // skips PostgreSQL if unavailable
		be := benchSeed(b, env, n)
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

// benchSeed loads the practice with internal/seed (as usermanager seed
// does): one organization, 50 clinics, n staff, and an administrator who may
// view all of them.
func benchSeed(b testing.TB, env *apitest.Env, n int) *benchEnv {
	b.Helper()
	p, err := seed.Load(context.Background(), env.App, seed.Options{
		Users: n, Clinics: benchClinics, Organization: "Bench Therapy Network",
		AdminUsername: benchManager, AdminPassword: benchManagerPassword,
	})
	if err != nil {
		b.Fatal(err)
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
	if nUsers != p.Users || nLicenses != p.Licenses {
		b.Fatalf("seeded %d users and %d licenses, want %d and %d", nUsers, nLicenses, p.Users, p.Licenses)
	}

	c := env.Login(benchManager, benchManagerPassword)
	be := &benchEnv{
		env: env, orgID: p.OrganizationID, managerID: p.AdministratorID, clinicIDs: p.ClinicIDs, token: c.Token,
		url: env.Server.URL + "/graphql",
		http: &http.Client{Transport: &http.Transport{
			MaxIdleConns: 64, MaxIdleConnsPerHost: 64, IdleConnTimeout: time.Minute,
		}},
	}
	be.note("%s: seeded %d users (%d licenses, %d clinic grants) in %d clinics in %s, ANALYZE included",
		env.Dialect, nUsers, nLicenses, nAccess, len(p.ClinicIDs), p.Took.Round(time.Millisecond))
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

// benchFragmentList is benchFragments, or USERMANAGER_BENCH_FRAGMENTS.
func benchFragmentList() []string {
	if spec := os.Getenv("USERMANAGER_BENCH_FRAGMENTS"); spec != "" {
		return strings.Split(spec, ",")
	}
	return benchFragments
}

func benchBodies(b testing.TB) [][]byte {
	fragments := benchFragmentList()
	bodies := make([][]byte, len(fragments))
	for i, f := range fragments {
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
	return loadgen.Post(be.http, be.url, be.token, body)
}

// benchWarmUp runs each fragment once, checks the answers and logs how many
// users each fragment matches.
func benchWarmUp(b testing.TB, be *benchEnv) {
	b.Helper()
	var counts []string
	benchFragments := benchFragmentList()
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
		// The median of a few more requests shows what each fragment costs.
		times := []time.Duration{took}
		for range 10 {
			t0 := time.Now()
			if _, err := be.post(body); err != nil {
				b.Fatal(err)
			}
			times = append(times, time.Since(t0))
		}
		slices.Sort(times)
		counts = append(counts, fmt.Sprintf("%q: %d (median %s)", benchFragments[i], r.Data.Users.TotalCount, times[len(times)/2].Round(time.Microsecond)))
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

// benchConcurrency is the number of concurrent requests of the parallel
// variant.
const benchConcurrency = 8

func benchParallel(b *testing.B, be *benchEnv) {
	bodies := benchBodies(b)
	var (
		mu        sync.Mutex
		durations = make([]time.Duration, 0, b.N)
		next      atomic.Int64
	)
	b.SetParallelism(max(1, benchConcurrency/runtime.GOMAXPROCS(0)))
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

func (d *benchCaptureDriver) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	d.mu.Lock()
	d.stmts = append(d.stmts, benchStatement{query, args})
	d.mu.Unlock()
	return d.Driver.(interface {
		QueryContext(context.Context, string, ...any) (*sql.Rows, error)
	}).QueryContext(ctx, query, args...)
}

// benchSearchStatements runs the search service as the manager would (same
// viewer, same filter, first 20) and returns the SQL it sends: the page
// (called outside GraphQL, where no one asks for totalCount, it does not
// count).
func benchSearchStatements(b testing.TB, be *benchEnv, fragment string) []benchStatement {
	b.Helper()
	drv := &benchCaptureDriver{Driver: entsql.OpenDB(be.env.Dialect, be.env.DB.SQL)}
	client := ent.NewClient(ent.Driver(drv))
	ctx := viewer.NewContext(context.Background(), &viewer.Viewer{
		UserID: be.managerID, OrganizationID: be.orgID,
		Permissions: []string{viewer.PermViewUsers}, ClinicIDs: be.clinicIDs, CurrentClinicID: be.clinicIDs[0],
		AllClinics: true,
	})
	first := 20
	byLastName := &ent.UserOrder{Direction: entgql.OrderDirectionAsc, Field: ent.UserOrderFieldLastName}
	if _, err := directory.New(client, be.env.Dialect).Search(ctx, nil, &first, nil, nil, byLastName, &directory.Search{Name: &fragment}); err != nil {
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
// The arguments are written into the statement: SQLite plans a statement
// again once its parameters are bound, with their values, and an EXPLAIN of
// the unbound statement would show another plan than the one that runs.
func benchExplainSQLite(b testing.TB, be *benchEnv) {
	b.Helper()
	for _, frag := range []string{"son", "ann", "yela"} {
		for _, st := range benchSearchStatements(b, be, frag) {
			be.plan("sqlite3, users(first: 20, filter: {name: %q}) sends: %s => EXPLAIN QUERY PLAN: %s",
				frag, benchShortSQL(st.query), benchPlan(b, be.env.DB.SQL, "EXPLAIN QUERY PLAN "+benchInline(st.query, st.args)))
		}
	}
}

// benchInline writes the arguments of a statement into it, for EXPLAIN.
func benchInline(query string, args []any) string {
	var b strings.Builder
	for _, part := range strings.SplitAfter(query, "?") {
		if !strings.HasSuffix(part, "?") || len(args) == 0 {
			b.WriteString(part)
			continue
		}
		b.WriteString(strings.TrimSuffix(part, "?"))
		switch a := args[0].(type) {
		case string:
			b.WriteString("'" + strings.ReplaceAll(a, "'", "''") + "'")
		default:
			fmt.Fprint(&b, a)
		}
		args = args[1:]
	}
	return b.String()
}
