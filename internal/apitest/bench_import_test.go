package apitest_test

// BenchmarkImport measures a staff-list import (importUsers, the durable job
// of internal/staffimport) end to end, on each database in turn:
//
//	go test ./internal/apitest/ -run '^$' -bench BenchmarkImport -benchtime=1x
//
// Each op uploads a file of USERMANAGER_BENCH_IMPORT_ROWS rows (default
// 10000) of new clerical users and waits until the import is COMPLETED:
// "invited" first gives the clinic a free license for every row, so each
// user is saved Active and sent an invitation (a practice moving in);
// "inactive" gives none, so each is saved Inactive (R24). It
// reports rows/s and the peak heap in use of the whole process (sampled
// every 20 ms); with USERMANAGER_BENCH_IMPORT_STATEMENTS=1 also SQL
// statements per row (counting costs time: it is off otherwise).

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/clinicemr/usermanager/ent"
	"github.com/clinicemr/usermanager/ent/clinic"
	"github.com/clinicemr/usermanager/ent/privacy"
	"github.com/clinicemr/usermanager/internal/apitest"
	"github.com/clinicemr/usermanager/internal/demo"
	"github.com/clinicemr/usermanager/internal/licenses"
	"github.com/clinicemr/usermanager/internal/staff"
	"github.com/clinicemr/usermanager/internal/txn"
)

func BenchmarkImport(b *testing.B) {
	n := 10000
	if s := os.Getenv("USERMANAGER_BENCH_IMPORT_ROWS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v <= 0 {
			b.Fatalf("USERMANAGER_BENCH_IMPORT_ROWS=%q: a positive number of rows", s)
		}
		n = v
	}
	count := os.Getenv("USERMANAGER_BENCH_IMPORT_STATEMENTS") != ""
	for _, d := range apitest.Dialects {
		for _, invited := range []bool{true, false} {
			name := d + "/inactive"
			if invited {
				name = d + "/invited"
			}
			b.Run(name, func(b *testing.B) { benchImport(b, d, n, count, invited) })
		}
	}
}

func benchImport(b *testing.B, d string, n int, count, invited bool) {
	env := apitest.New(b, d, apitest.Options{NoStatementCount: !count})
	admin := env.LoginDemo(demo.AdminUsername)
	peak, stop := samplePeakHeap()
	defer stop()
	var elapsed time.Duration
	var stmts int64
	b.ResetTimer()
	for op := 0; op < b.N; op++ {
		b.StopTimer()
		rows := make([]string, n)
		for i := range rows {
			// Default status (ACTIVE): the first few take licenses
			// (if any are free) and are invited, the rest are saved
			// Inactive (R24), as in real life.
			u := fmt.Sprintf("imp.b%d.%06d", op, i)
			rows[i] = fmt.Sprintf("%s,%s@example.org,Imp,B%06d,,CLERICAL,,Sunrise Downtown,Sunrise Downtown; Sunrise Northside,View Patients; Edit Patients,,,", u, u, i)
		}
		file := impCSV(rows...)
		if invited {
			benchImportLicenses(b, env, n)
		}
		before := env.Statements()
		b.StartTimer()
		start := time.Now()
		st := impWaitFor(b, admin, impStart(b, env, admin, file, false), time.Duration(n)*20*time.Millisecond+time.Minute)
		elapsed += time.Since(start)
		b.StopTimer()
		stmts += env.Statements() - before
		if st.Status != "COMPLETED" || st.Created != n {
			b.Fatalf("import = %+v", st)
		}
		b.StartTimer()
	}
	b.StopTimer()
	total := float64(n * b.N)
	b.ReportMetric(total/elapsed.Seconds(), "rows/s")
	b.ReportMetric(float64(peak())/(1<<20), "peak-heap-MiB")
	if count {
		b.ReportMetric(float64(stmts)/total, "stmts/row")
	}
}

// benchImportLicenses gives Sunrise Downtown n more free clerical licenses.
func benchImportLicenses(b *testing.B, env *apitest.Env, n int) {
	b.Helper()
	ctx := privacy.DecisionContext(context.Background(), privacy.Allow)
	downtown, err := env.DB.Client.Clinic.Query().Where(clinic.Name("Sunrise Downtown")).Only(ctx)
	if err != nil {
		b.Fatal(err)
	}
	for n > 0 {
		add := min(n, licenses.MaxQuantity)
		if err := txn.WithTx(ctx, env.DB.Client, func(tx *ent.Tx) error {
			return env.App.Licenses.Add(ctx, tx, downtown.OrganizationID, downtown.ID, staff.ClericalClass, add)
		}); err != nil {
			b.Fatal(err)
		}
		n -= add
	}
}

// samplePeakHeap samples the heap in use every 20 ms until stop; peak is the
// highest seen.
func samplePeakHeap() (peak func() uint64, stop func()) {
	var highest uint64
	done, stopped := make(chan struct{}), make(chan struct{})
	sample := func() {
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		if m.HeapInuse > highest {
			highest = m.HeapInuse
		}
	}
	go func() {
		defer close(stopped)
		for {
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
				sample()
			}
		}
	}()
	var once bool
	stop = func() {
		if !once {
			once = true
			close(done)
			<-stopped
		}
	}
	return func() uint64 { stop(); return highest }, stop
}
