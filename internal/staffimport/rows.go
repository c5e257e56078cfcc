package staffimport

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/clinicemr/usermanager/internal/apperr"
	"github.com/clinicemr/usermanager/internal/staffcsv"
	"github.com/clinicemr/usermanager/internal/textinput"
)

// Codes of row errors besides createUser's.
const (
	CodeMalformedRow      apperr.Code = "MALFORMED_ROW"
	CodeInvalidEncoding   apperr.Code = "INVALID_ENCODING"
	CodeInvalidCharacter  apperr.Code = "INVALID_CHARACTER"
	CodeFormula           apperr.Code = "FORMULA_NOT_ALLOWED"
	CodeCellTooLong       apperr.Code = "CELL_TOO_LONG"
	CodeUnknownClinic     apperr.Code = "UNKNOWN_CLINIC"
	CodeUnknownPermission apperr.Code = "UNKNOWN_PERMISSION"
	CodeInvalidStatus     apperr.Code = "INVALID_STATUS"
	CodeDuplicateRow      apperr.Code = "DUPLICATE_ROW"
)

// MaxCellBytes bounds one cell: no column of a staff list needs more (a
// list of clinics included).
const MaxCellBytes = 4096

// required are the columns a file must have; the others may be left out.
var required = []string{"username", "email", "first_name", "last_name", "user_type", "home_clinic", "permissions"}

// reader reads a staff list's records: the header first (header), then one
// row at a time (next). Rows are numbered as a spreadsheet numbers them: the
// header is row 1.
type reader struct {
	csv *csv.Reader
	// columns[i] is the staff-list column of the file's i-th column.
	columns []string
	row     int
}

func newReader(r io.Reader) *reader {
	c := csv.NewReader(r)
	c.FieldsPerRecord = -1 // ragged rows are reported per row, not fatal
	c.ReuseRecord = true
	return &reader{csv: c}
}

// header reads the header row. A file that is not a staff list (no header,
// an unknown or missing column) is refused as a whole.
func (r *reader) header() error {
	rec, err := r.csv.Read()
	r.row = 1
	if errors.Is(err, io.EOF) {
		return errors.New("the file is empty: it needs a header row naming the columns (download the template)")
	}
	if err != nil {
		return fmt.Errorf("the header row cannot be read as CSV: %v", err)
	}
	known := staffcsv.Header()
	seen := map[string]bool{}
	r.columns = make([]string, len(rec))
	for i, cell := range rec {
		if i == 0 {
			cell = strings.TrimPrefix(cell, "\uFEFF") // Excel's UTF-8 byte order mark
		}
		name := strings.ToLower(strings.TrimSpace(cell))
		if !utf8.ValidString(name) {
			return errors.New("the header row is not UTF-8 text: save the file as \"CSV UTF-8\"")
		}
		if !slices.Contains(known, name) {
			return fmt.Errorf("unknown column %q in the header row; the columns are %s", truncate(name, 40), strings.Join(known, ", "))
		}
		if seen[name] {
			return fmt.Errorf("the column %q appears twice in the header row", name)
		}
		seen[name] = true
		r.columns[i] = name
	}
	var missing []string
	for _, c := range required {
		if !seen[c] {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("the header row lacks the column(s) %s", strings.Join(missing, ", "))
	}
	return nil
}

// row is one data row: its number, its cells by column name, or the errors
// that make it unreadable.
type row struct {
	number int
	cells  map[string]string
	errs   apperr.List
}

// next reads the next data row; io.EOF after the last. A row that cannot
// be read (ragged, a stray quote, not UTF-8, a formula, a control
// character, an over-long cell) comes back with errs and no cells.
func (r *reader) next() (*row, error) {
	rec, err := r.csv.Read()
	if errors.Is(err, io.EOF) {
		return nil, io.EOF
	}
	r.row++
	out := &row{number: r.row}
	var perr *csv.ParseError
	switch {
	case errors.As(err, &perr) && errors.Is(perr.Err, csv.ErrFieldCount), err == nil && len(rec) != len(r.columns):
		out.errs.Add("", CodeMalformedRow, "the row has %d cells; the header has %d columns", len(rec), len(r.columns))
		return out, nil
	case errors.As(err, &perr):
		out.errs.Add("", CodeMalformedRow, "the row is not valid CSV: %v", perr.Err)
		return out, nil
	case err != nil:
		return nil, err
	}
	// An empty line in the middle of a file is skipped by encoding/csv; a
	// row of only empty cells is reported (it has no username).
	out.cells = make(map[string]string, len(rec))
	for i, cell := range rec {
		col := r.columns[i]
		switch {
		case len(cell) > MaxCellBytes:
			out.errs.Add(col, CodeCellTooLong, "the cell is %d bytes long; at most %d", len(cell), MaxCellBytes)
			continue
		case !utf8.ValidString(cell):
			out.errs.Add(col, CodeInvalidEncoding, "the cell is not UTF-8 text: save the file as \"CSV UTF-8\"")
			continue
		case isFormula(cell):
			out.errs.Add(col, CodeFormula, "the cell starts with %q, which a spreadsheet runs as a formula; "+
				"start it with an apostrophe (') if it is meant as text", cell[:1])
			continue
		}
		v := staffcsv.Value(cell)
		if p := textinput.Problem(v, false); p != "" {
			out.errs.Add(col, CodeInvalidCharacter, "the cell %s", p)
			continue
		}
		out.cells[col] = strings.TrimSpace(v)
	}
	if len(out.errs) > 0 {
		out.cells = nil
	}
	return out, nil
}

// isFormula: a cell a spreadsheet would run (audit.Defuse's characters).
// staffcsv.Cell writes such values behind an apostrophe, so an export never
// trips this.
func isFormula(cell string) bool {
	return cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0]))
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// countRows counts the data rows of a staff list as next reads them, so
// rowsTotal agrees with what the job processes. A file whose header cannot
// be read counts 0.
func countRows(r io.Reader) (int, error) {
	rd := newReader(r)
	if rd.header() != nil {
		// Drain, so the whole upload is stored anyway (the job reports why).
		_, err := io.Copy(io.Discard, r)
		return 0, err
	}
	n := 0
	for {
		_, err := rd.next()
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		n++
	}
}
