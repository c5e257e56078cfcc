package staffcsv_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/clinicemr/usermanager/ent"
	"github.com/clinicemr/usermanager/ent/user"
	"github.com/clinicemr/usermanager/internal/permissions"
	"github.com/clinicemr/usermanager/internal/staff"
	"github.com/clinicemr/usermanager/internal/staffcsv"
)

func TestColumns(t *testing.T) {
	want := []string{"username", "email", "first_name", "last_name", "full_name", "user_type", "status",
		"home_clinic", "clinics", "permissions", "npi", "license_number", "license_state"}
	if got := staffcsv.Header(); !slices.Equal(got, want) {
		t.Errorf("Header() = %v, want %v", got, want)
	}
	for _, c := range staffcsv.Columns {
		if c.Description == "" || c.Example == "" || !strings.HasSuffix(c.Description, ".") {
			t.Errorf("column %s: description %q, example %q", c.Name, c.Description, c.Example)
		}
	}
}

func TestListsRoundTrip(t *testing.T) {
	for _, items := range [][]string{
		nil, {"Downtown"}, {"Downtown", "Northside"}, {"North; East", `C:\Clinic`, "=Lab"}, {`back\`, ";"},
	} {
		cell := staffcsv.JoinList(items)
		if got := staffcsv.SplitList(cell); !slices.Equal(got, items) {
			t.Errorf("SplitList(JoinList(%q) = %q) = %q", items, cell, got)
		}
	}
	if got := staffcsv.JoinList([]string{"Downtown", "Northside"}); got != "Downtown; Northside" {
		t.Errorf("JoinList = %q", got)
	}
	// As a person would type it.
	if got := staffcsv.SplitList(" Downtown ;Northside;; "); !slices.Equal(got, []string{"Downtown", "Northside"}) {
		t.Errorf("SplitList of a typed list = %q", got)
	}
}

func TestCellsNeutraliseFormulas(t *testing.T) {
	for value, want := range map[string]string{
		"Jane": "Jane", "": "", "=1+1": "'=1+1", "+1": "'+1", "-1": "'-1", "@SUM(A1)": "'@SUM(A1)",
		"\tx": "'\tx", "'quoted": "''quoted", "'=1": "''=1", "O'Neill": "O'Neill",
	} {
		cell := staffcsv.Cell(value)
		if cell != want {
			t.Errorf("Cell(%q) = %q, want %q", value, cell, want)
		}
		if got := staffcsv.Value(cell); got != value {
			t.Errorf("Value(Cell(%q)) = %q", value, got)
		}
	}
}

// Permissions are written by name; every name (and key) reads back as its
// key, in any case, and no two names fold to the same.
func TestPermissionNamesRoundTrip(t *testing.T) {
	seen := map[string]bool{}
	for _, e := range permissions.Catalog {
		folded := strings.ToLower(e.Name)
		if seen[folded] || strings.Contains(e.Name, staffcsv.ListSeparator) {
			t.Errorf("permission name %q is ambiguous in a staff list", e.Name)
		}
		seen[folded] = true
		for _, s := range []string{e.Name, strings.ToUpper(e.Name), " " + e.Name + " ", e.Key} {
			if key, ok := staffcsv.PermissionKey(s); !ok || key != e.Key {
				t.Errorf("PermissionKey(%q) = %q, %v; want %q", s, key, ok, e.Key)
			}
		}
	}
	if _, ok := staffcsv.PermissionKey("Launch Missiles"); ok {
		t.Error("an unknown permission was accepted")
	}
}

func TestRecord(t *testing.T) {
	npi, lic, state := "1234567893", "PT012345", "CA"
	u := &ent.User{
		Username: "pt.jordan", Email: "pt.jordan@example.org", FirstName: "Jordan", LastName: "Reyes",
		FullName: "Jordan Reyes, PT", UserType: staff.PT, Status: user.StatusACTIVE,
		Npi: &npi, LicenseNumber: &lic, LicenseState: &state,
	}
	u.Edges.HomeClinic = &ent.Clinic{Name: "Downtown"}
	u.Edges.Clinics = []*ent.Clinic{{Name: "Northside"}, {Name: "Downtown"}, {Name: "-Annex; East"}}
	u.Edges.Permissions = []*ent.Permission{
		{Key: permissions.StartSOAPNotes, Name: "Start SOAP Notes"},
		{Key: permissions.ViewPatients, Name: "View Patients"},
	}
	want := []string{"pt.jordan", "pt.jordan@example.org", "Jordan", "Reyes", "Jordan Reyes, PT", "PT", "ACTIVE",
		"Downtown", `'-Annex\; East; Downtown; Northside`, "View Patients; Start SOAP Notes", npi, lic, state}
	if got := staffcsv.Record(u); !slices.Equal(got, want) {
		t.Errorf("Record =\n %q\nwant\n %q", got, want)
	}
	if got := staffcsv.SplitList(staffcsv.Value(staffcsv.Record(u)[8])); !slices.Equal(got, []string{"-Annex; East", "Downtown", "Northside"}) {
		t.Errorf("clinics read back as %q", got)
	}

	// No home clinic, clinics, permissions or credentials: empty cells.
	bare := &ent.User{Username: "x", Email: "x@example.org", FirstName: "X", LastName: "Y", FullName: "X Y",
		UserType: staff.Clerical, Status: user.StatusINACTIVE}
	if got := staffcsv.Record(bare); len(got) != len(staffcsv.Columns) || got[7] != "" || got[8] != "" || got[9] != "" || got[10] != "" {
		t.Errorf("Record of a bare user = %q", got)
	}
}
