package staffimport

import (
	"encoding/csv"
	"net/http"
	"strings"

	"github.com/clinicemr/usermanager/internal/staffcsv"
)

// TemplatePrefix is where Files is mounted: TemplatePrefix+"/template.csv"
// (the header row only) and TemplatePrefix+"/example.csv" (the header and
// one row of each column's example). They hold no data, so they need no
// sign-in.
const TemplatePrefix = "/users-import"

// Files serves the import template and example file (GET, HEAD).
func Files() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.Set("Allow", "GET, HEAD")
			http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
			return
		}
		name := strings.TrimPrefix(r.URL.Path, TemplatePrefix+"/")
		rows := [][]string{staffcsv.Header()}
		switch name {
		case "template.csv":
		case "example.csv":
			ex := make([]string, len(staffcsv.Columns))
			for i, c := range staffcsv.Columns {
				ex[i] = staffcsv.Cell(c.Example)
			}
			rows = append(rows, ex)
		default:
			http.NotFound(w, r)
			return
		}
		h.Set("Content-Type", "text/csv; charset=utf-8")
		h.Set("Content-Disposition", `attachment; filename="staff-`+name+`"`)
		h.Set("Cache-Control", "public, max-age=3600")
		if r.Method == http.MethodHead {
			return
		}
		out := csv.NewWriter(w)
		_ = out.WriteAll(rows)
	})
}
