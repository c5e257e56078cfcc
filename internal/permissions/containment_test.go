package permissions_test

import (
	"strings"
	"testing"

	"github.com/clinicemr/usermanager/ent"
	"github.com/clinicemr/usermanager/internal/permissions"
	"github.com/clinicemr/usermanager/internal/viewer"
)

func TestMayGrant(t *testing.T) {
	viewUsers := &viewer.Viewer{UserID: 1, OrganizationID: 1, Permissions: []string{permissions.ViewUsers}}
	editor := &viewer.Viewer{UserID: 2, OrganizationID: 1, Permissions: []string{permissions.ViewUsers, permissions.EditUsers}}
	companyAdmin := &viewer.Viewer{UserID: 3, OrganizationID: 1, Permissions: permissions.Administrative()}
	support := &viewer.Viewer{UserID: 4, Support: true}
	cases := []struct {
		who  string
		v    *viewer.Viewer
		key  string
		want bool
	}{
		{"View Users", viewUsers, permissions.ViewUsers, true},
		{"View Users", viewUsers, permissions.EditUsers, false},
		{"View Users", viewUsers, permissions.CompanyAdmin, false},
		{"View Users", viewUsers, permissions.CalendarAdmin, false},
		{"View Users", viewUsers, permissions.StartSOAPNotes, true},
		{"View Users", viewUsers, permissions.BillingAdmin, false},
		{"Edit Users", editor, permissions.EditUsers, true},
		{"Edit Users", editor, permissions.ClinicAdmin, false},
		{"Company Admin", companyAdmin, permissions.CompanyAdmin, true},
		{"Company Admin", companyAdmin, permissions.BillingAdmin, false},
		{"Support", support, permissions.BillingAdmin, true},
		{"Support", support, "NO_SUCH_PERMISSION", false},
	}
	for _, c := range cases {
		if got := permissions.MayGrant(c.v, c.key); got != c.want {
			t.Errorf("%s grants %s: %v, want %v", c.who, c.key, got, c.want)
		}
	}
}

func TestCheckManage(t *testing.T) {
	north := &viewer.Viewer{UserID: 10, OrganizationID: 1, ClinicIDs: []int{2},
		Permissions: []string{permissions.ViewUsers, permissions.EditUsers}}
	user := func(id int, perms []string, clinics ...int) *ent.User {
		u := &ent.User{ID: id, FullName: "Pat Doe"}
		for _, k := range perms {
			u.Edges.Permissions = append(u.Edges.Permissions, &ent.Permission{Key: k})
		}
		for _, c := range clinics {
			u.Edges.Clinics = append(u.Edges.Clinics, &ent.Clinic{ID: c, Name: map[int]string{1: "Downtown", 2: "Northside"}[c]})
		}
		return u
	}
	cases := []struct {
		name   string
		v      *viewer.Viewer
		target *ent.User
		reason string // "" when allowed
	}{
		{"own staff", north, user(11, []string{permissions.ViewPatients, permissions.EditUsers}, 2), ""},
		{"the Company Admin", north, user(12, permissions.Administrative(), 1, 2), "Company Admin"},
		{"another clinic's therapist", north, user(13, []string{permissions.ViewPatients}, 1, 2), "Downtown"},
		{"oneself", north, user(10, []string{permissions.EditUsers}, 2), ""},
		{"Support over anyone", &viewer.Viewer{Support: true}, user(12, permissions.Administrative(), 1, 2), ""},
		{"with every clinic", &viewer.Viewer{UserID: 20, OrganizationID: 1, AllClinics: true, ClinicIDs: []int{1, 2},
			Permissions: []string{permissions.EditUsers}}, user(13, []string{permissions.ViewPatients}, 1, 2), ""},
	}
	for _, c := range cases {
		err := permissions.CheckManage(c.v, c.target)
		switch {
		case c.reason == "" && err != nil:
			t.Errorf("%s: refused: %v", c.name, err)
		case c.reason != "" && (err == nil || !strings.Contains(err.Error(), c.reason)):
			t.Errorf("%s: want a refusal naming %q, got %v", c.name, c.reason, err)
		}
	}
}

func TestCheckNotSelf(t *testing.T) {
	v := &viewer.Viewer{UserID: 7, OrganizationID: 1}
	if err := permissions.CheckNotSelf(v, 7, "your own status"); err == nil {
		t.Error("a person changed their own status")
	}
	if err := permissions.CheckNotSelf(v, 8, "your own status"); err != nil {
		t.Errorf("changing another's status: %v", err)
	}
}
