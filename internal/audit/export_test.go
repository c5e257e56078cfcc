package audit_test

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/clinicemr/usermanager/ent"
	"github.com/clinicemr/usermanager/ent/auditevent"
	"github.com/clinicemr/usermanager/ent/privacy"
	"github.com/clinicemr/usermanager/internal/audit"
	"github.com/clinicemr/usermanager/internal/gid"
	"github.com/clinicemr/usermanager/internal/heapwatch"
	"github.com/clinicemr/usermanager/internal/testdb"
)

// exportHeapBound is what the export of any period may add to the heap: a
// few batches of records, whatever their number.
const exportHeapBound = 64 << 20

// TestExportInBoundedMemory exports 100,000 records of an organization (in
// a table that also holds another organization's) and checks that every
// one comes out once, in (time, id) order, while the heap stays under
// exportHeapBound. Records share timestamps in threes, so batches end in
// the middle of equal times. It logs the peak heap.
func TestExportInBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 100,000 records")
	}
	if raceDetector {
		// Ten times slower, and the detector's shadow memory is not the
		// export's: CI runs this test again without -race (.ci/run).
		t.Skip("measures the heap: run without -race")
	}
	const records, org, otherOrg = 100_000, 7, 8
	for _, dialectName := range dialects {
		t.Run(dialectName, func(t *testing.T) {
			d, _ := testdb.New(t, dialectName, "migrated", nil)
			ctx := privacy.DecisionContext(context.Background(), privacy.Allow)
			start := time.Now().Add(-time.Hour)
			const batchSize = 1000
			for i := 0; i < records+records/10; i += batchSize {
				batch := make([]*ent.AuditEventCreate, batchSize)
				for j := range batch {
					n := i + j
					owner := org
					if n >= records {
						owner = otherOrg
					}
					batch[j] = d.Client.AuditEvent.Create().SetAction(auditevent.ActionUSER_UPDATED).
						SetOrganizationID(owner).SetCreatedAt(start.Add(time.Duration(n/3) * time.Millisecond)).
						SetActorUsername("admin").SetTargetType("User").SetTargetID(n).
						SetBefore(map[string]any{"lastName": "Doe"}).SetAfter(map[string]any{"lastName": fmt.Sprint("Roe ", n)}).
						SetReason("=HYPERLINK(\"x\")").SetClientIP("203.0.113.9").SetRequestID(fmt.Sprint("req-", n))
				}
				if err := d.Client.AuditEvent.CreateBulk(batch...).Exec(ctx); err != nil {
					t.Fatal(err)
				}
			}

			// The CSV goes through a pipe to a reader that checks each row
			// against the one before, keeping nothing else.
			pr, pw := io.Pipe()
			checked := make(chan error, 1)
			rows := 0
			go func() {
				checked <- checkRows(csv.NewReader(pr), org, &rows)
				_, _ = io.Copy(io.Discard, pr)
			}()
			sampler := &heapwatch.Writer{W: pw, Every: 256 << 10}
			base := sampler.Baseline() // the insert's garbage is not the export's
			err := audit.WriteCSV(context.Background(), d.Client, sampler, org, audit.Filter{})
			_ = pw.CloseWithError(err)
			if err != nil {
				t.Fatal(err)
			}
			if err := <-checked; err != nil {
				t.Fatal(err)
			}
			if rows != records {
				t.Errorf("exported %d records, want %d", rows, records)
			}
			t.Logf("%s: %d records exported; heap in use %.1f MB before, peak %.1f MB (%d samples)",
				dialectName, rows, heapwatch.MB(base), heapwatch.MB(sampler.Peak), sampler.Samples)
			if grew := sampler.Peak - base; grew > exportHeapBound {
				t.Errorf("the heap grew by %.1f MB during the export, want under %.0f MB", heapwatch.MB(grew), heapwatch.MB(exportHeapBound))
			}
		})
	}
}

// checkRows reads the export and checks that every row is of org and comes
// after the previous one in (time, id) order; it counts them in *rows.
func checkRows(r *csv.Reader, org int, rows *int) error {
	header, err := r.Read()
	if err != nil || len(header) != len(audit.ExportColumns) {
		return fmt.Errorf("header %v: %v", header, err)
	}
	var lastAt time.Time
	lastID := 0
	for {
		row, err := r.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		id, err := gid.Decode(row[0])
		if err != nil {
			return err
		}
		at, err := time.Parse(time.RFC3339Nano, row[1])
		if err != nil {
			return err
		}
		if row[8] != gid.Encode(org) || row[10] != `'=HYPERLINK("x")` {
			return fmt.Errorf("row %d: %v", *rows+1, row)
		}
		if at.Before(lastAt) || at.Equal(lastAt) && id <= lastID {
			return fmt.Errorf("row %d (%v, %d) does not come after (%v, %d)", *rows+1, at, id, lastAt, lastID)
		}
		lastAt, lastID = at, id
		*rows++
	}
}
