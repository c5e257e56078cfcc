package staffcsv

import (
	"slices"
	"strings"

	"github.com/clinicemr/usermanager/ent"
	"github.com/clinicemr/usermanager/internal/audit"
	"github.com/clinicemr/usermanager/internal/permissions"
)

// Column is one column of a staff list.
type Column struct {
	// Name is the header cell (snake_case).
	Name string
	// Description says what the column holds, for administrators (README:
	// Importing and exporting staff).
	Description string
	// Example is a typical cell.
	Example string
}

// Columns are a staff list's columns, in their order. exportUsers writes
// them; importUsers reads them.
var Columns = []Column{
	{"username", "The sign-in name.", "jdoe"},
	{"email", "The email address.", "jane.doe@example.org"},
	{"first_name", "The first name.", "Jane"},
	{"last_name", "The last name.", "Doe"},
	{"full_name", "The display name.", "Jane Doe, PT"},
	{"user_type", "The user type, as the API's UserType enum value.", "PT"},
	{"status", "ACTIVE or INACTIVE.", "ACTIVE"},
	{"home_clinic", "The home clinic's name (empty when none).", "Downtown"},
	{"clinics", "The names of the clinics the user has access to, separated by ';', by name.", "Downtown; Northside"},
	{"permissions", "The permissions held, by their catalog names as the app shows them (the permissions query's name), separated by ';', in catalog order.", "View Patients; Edit Patients"},
	{"npi", "The National Provider Identifier (10 digits; empty when none).", "1234567893"},
	{"license_number", "The state license number (empty when none).", "PT012345"},
	{"license_state", "The two-letter state of the license (empty when none).", "CA"},
}

// Header is the header row: the columns' names.
func Header() []string {
	h := make([]string, len(Columns))
	for i, c := range Columns {
		h[i] = c.Name
	}
	return h
}

// ListSeparator separates the items of a list cell (clinics, permissions);
// a space follows it when written, and spaces around items are not part of
// them when read.
const ListSeparator = ";"

// JoinList writes items as one list cell: separated by "; ", with a
// backslash before any ';' or '\' inside an item, so a clinic named
// "North; East" reads back as one clinic.
func JoinList(items []string) string {
	esc := make([]string, len(items))
	for i, it := range items {
		esc[i] = strings.NewReplacer(`\`, `\\`, ListSeparator, `\`+ListSeparator).Replace(it)
	}
	return strings.Join(esc, ListSeparator+" ")
}

// SplitList reads a list cell written by JoinList (or typed by a person):
// items separated by ';', '\' escaping the next character, spaces around
// items trimmed, empty items dropped.
func SplitList(cell string) []string {
	var items []string
	var cur strings.Builder
	flush := func() {
		if it := strings.TrimSpace(cur.String()); it != "" {
			items = append(items, it)
		}
		cur.Reset()
	}
	for i := 0; i < len(cell); i++ {
		switch c := cell[i]; {
		case c == '\\' && i+1 < len(cell):
			i++
			cur.WriteByte(cell[i])
		case c == ListSeparator[0]:
			flush()
		default:
			cur.WriteByte(c)
		}
	}
	flush()
	return items
}

// Cell is value as written into a staff list: a value a spreadsheet would
// run as a formula (audit.Defuse: starting with =, +, -, @, a tab or a
// carriage return) gets a leading apostrophe, and so does a value that
// already starts with one, so that Value always gives back what was
// written.
func Cell(value string) string {
	if strings.HasPrefix(value, "'") {
		return "'" + value
	}
	return audit.Defuse(value)
}

// Value is the value a staff list's cell holds: the cell without the one
// leading apostrophe that Cell adds.
func Value(cell string) string {
	return strings.TrimPrefix(cell, "'")
}

// PermissionKey is the catalog key of a permission named name (in any case,
// spaces around it ignored); a key itself is accepted too.
func PermissionKey(name string) (string, bool) {
	name = strings.TrimSpace(name)
	for _, e := range permissions.Catalog {
		if strings.EqualFold(e.Name, name) || strings.EqualFold(e.Key, name) {
			return e.Key, true
		}
	}
	return "", false
}

// Record renders u, loaded with its clinics, home clinic and permissions,
// as a row of Columns, every cell through Cell.
func Record(u *ent.User) []string {
	var home string
	if u.Edges.HomeClinic != nil {
		home = u.Edges.HomeClinic.Name
	}
	clinics := make([]string, 0, len(u.Edges.Clinics))
	for _, c := range u.Edges.Clinics {
		clinics = append(clinics, c.Name)
	}
	slices.Sort(clinics)
	perms := slices.Clone(u.Edges.Permissions)
	slices.SortStableFunc(perms, func(a, b *ent.Permission) int {
		if d := catalogIndex(a.Key) - catalogIndex(b.Key); d != 0 {
			return d
		}
		return strings.Compare(a.Name, b.Name)
	})
	names := make([]string, len(perms))
	for i, p := range perms {
		names[i] = p.Name
	}
	row := []string{
		u.Username, u.Email, u.FirstName, u.LastName, u.FullName, string(u.UserType), string(u.Status),
		home, JoinList(clinics), JoinList(names), deref(u.Npi), deref(u.LicenseNumber), deref(u.LicenseState),
	}
	for i, c := range row {
		row[i] = Cell(c)
	}
	return row
}

// catalogIndex is key's position in the catalog (after it when unknown).
func catalogIndex(key string) int {
	for i, e := range permissions.Catalog {
		if e.Key == key {
			return i
		}
	}
	return len(permissions.Catalog)
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
