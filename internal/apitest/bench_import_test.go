package apitest_test

// BenchmarkImport measures a staff-list import (importUsers, the durable job
// of internal/staffimport) end to end, on each database in turn:
//
//	go test ./internal/apitest/ -run '^$' -bench BenchmarkImport -benchtime=1x
//
// Each op uploads a file of USERMANAGER_BENCH_IMPORT_ROWS rows (default
// 10000) of new clerical users and waits until the import is COMPLETED. It
// reports rows/s and the peak heap in use of the whole process (sampled
// every 20 ms); with USERMANAGER_BENCH_IMPORT_STATEMENTS=1 also SQL
// statements per row (counting costs time: it is off otherwise).

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/clinicemr/usermanager/internal/apitest"
	"github.com/clinicemr/usermanager/internal/demo"
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
		b.Run(d, func(b *testing.B) {
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
		})
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
