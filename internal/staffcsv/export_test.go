package staffcsv_test

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/clinicemr/usermanager/internal/apitest"
	"github.com/clinicemr/usermanager/internal/heapwatch"
	"github.com/clinicemr/usermanager/internal/seed"
	"github.com/clinicemr/usermanager/internal/staffcsv"
	"github.com/clinicemr/usermanager/internal/viewer"
)

// exportUsers is how many staff TestUsersExportInBoundedMemory seeds.
const exportUsers = 20_000

// exportHeapBound is how much the heap may grow while exporting
// exportUsers users: a few pages' worth and the garbage between two
// collections, not the whole list (it grows by about 25-30 MB, as for 5,000
// or 50,000 users).
const exportHeapBound = 64 << 20

// TestUsersExportInBoundedMemory seeds a practice of exportUsers staff
// (internal/seed) and exports them all through staffcsv.WriteCSV, as their
// administrator: every user comes out once, with their clinics and
// permissions, while the heap stays under exportHeapBound. It logs the peak
// heap.
func TestUsersExportInBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("seeds 20,000 users")
	}
	if raceDetector {
		// The detector's shadow memory is not the export's: CI runs this
		// test again without -race (.ci/run).
		t.Skip("measures the heap: run without -race")
	}
	for _, dialectName := range apitest.Dialects {
		t.Run(dialectName, func(t *testing.T) {
			env := apitest.New(t, dialectName, apitest.Options{NoDemo: true})
			p, err := seed.Load(context.Background(), env.App, seed.Options{
				Users: exportUsers, Clinics: 20, Organization: "Export Therapy Network",
				AdminUsername: "export.admin", AdminPassword: "Staff-Export-M4nager!q",
			})
			if err != nil {
				t.Fatal(err)
			}
			ctx := viewer.NewContext(context.Background(), &viewer.Viewer{
				UserID: p.AdministratorID, OrganizationID: p.OrganizationID, Permissions: []string{viewer.PermViewUsers},
				ClinicIDs: p.ClinicIDs, AllClinics: true,
			})

			// The CSV goes through a pipe to a reader that checks each row,
			// keeping nothing.
			pr, pw := io.Pipe()
			checked := make(chan error, 1)
			rows := 0
			go func() {
				checked <- checkRows(csv.NewReader(pr), &rows)
				_, _ = io.Copy(io.Discard, pr)
			}()
			sampler := &heapwatch.Writer{W: pw}
			base := sampler.Baseline() // the seed's garbage is not the export's
			err = staffcsv.WriteCSV(ctx, env.DB.Client, env.App.Directory, sampler, nil)
			_ = pw.CloseWithError(err)
			if err != nil {
				t.Fatal(err)
			}
			if err := <-checked; err != nil {
				t.Fatal(err)
			}
			if rows != p.Users {
				t.Errorf("exported %d users, want %d", rows, p.Users)
			}
			t.Logf("%s: %d users exported (%d bytes); heap in use %.1f MB before, peak %.1f MB (%d samples)",
				dialectName, rows, sampler.Written, heapwatch.MB(base), heapwatch.MB(sampler.Peak), sampler.Samples)
			if grew := sampler.Peak - base; sampler.Peak > base && grew > exportHeapBound {
				t.Errorf("the heap grew by %.1f MB during the export, want under %.0f MB", heapwatch.MB(grew), heapwatch.MB(exportHeapBound))
			}
		})
	}
}

// checkRows reads the export and checks that every row has every column,
// a home clinic among its clinics and some permissions; it counts them in
// *rows.
func checkRows(r *csv.Reader, rows *int) error {
	header, err := r.Read()
	if err != nil || len(header) != len(staffcsv.Columns) {
		return fmt.Errorf("header %v: %v", header, err)
	}
	for {
		row, err := r.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if row[0] == "" || row[7] == "" || row[8] == "" || row[9] == "" {
			return fmt.Errorf("row %d: %q", *rows+1, row)
		}
		*rows++
	}
}
