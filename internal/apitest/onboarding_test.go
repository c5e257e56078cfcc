package apitest_test

import (
	"strings"
	"testing"

	"github.com/clinicemr/usermanager/internal/apitest"
	"github.com/clinicemr/usermanager/internal/demo"
)

const createOrganization = `mutation($in: CreateOrganizationInput!) {
  createOrganization(input: $in) {
    organization { id name }
    clinic { id name }
    administrator { id username status licenseClass homeClinic { name } permissions { key } }
    warnings { code message }
    userErrors { field message code }
  }
}`

type createOrgPayload struct {
	CreateOrganization struct {
		Organization  *struct{ ID, Name string }
		Clinic        *struct{ ID, Name string }
		Administrator *struct {
			ID, Username, Status string
			LicenseClass         *string
			HomeClinic           struct{ Name string }
			Permissions          []struct{ Key string }
		}
		Warnings   []struct{ Code, Message string }
		UserErrors []apitest.UserError
	}
}

func orgInput(name, username string, clericalLicenses int) map[string]any {
	return map[string]any{
		"name": name, "clinicName": name + " Main",
		"licenses": []map[string]any{{"class": "CLERICAL", "quantity": clericalLicenses}, {"class": "THERAPIST", "quantity": 2}},
		"administrator": map[string]any{
			"username": username, "email": username + "@example.org", "password": "Tr0ub4dor&3-horse-Battery",
			"firstName": "Pat", "lastName": "Lee",
		},
	}
}

// A Support account sets up a practice from nothing through the API, and its
// administrator can sign in and manage it.
func TestCreateOrganization(t *testing.T) {
	t.Parallel()
	apitest.ForEachDatabase(t, func(t *testing.T, env *apitest.Env) {
		support := env.LoginDemo(demo.SupportUsername)
		var out createOrgPayload
		support.MustDo(createOrganization, map[string]any{"in": orgInput("Bayside PT", "bayside.admin", 1)}, &out)
		p := out.CreateOrganization
		if len(p.UserErrors) > 0 || p.Administrator == nil {
			t.Fatalf("createOrganization: %+v", p.UserErrors)
		}
		if p.Administrator.Status != "ACTIVE" || len(p.Warnings) != 0 || p.Administrator.HomeClinic.Name != "Bayside PT Main" {
			t.Fatalf("administrator = %+v, warnings %+v", p.Administrator, p.Warnings)
		}
		keys := map[string]bool{}
		for _, k := range p.Administrator.Permissions {
			keys[k.Key] = true
		}
		for _, want := range []string{"VIEW_USERS", "EDIT_USERS", "COMPANY_ADMIN", "CLINIC_ADMIN"} {
			if !keys[want] {
				t.Errorf("administrator lacks %s: %v", want, keys)
			}
		}

		admin := env.Login("BAYSIDE.ADMIN", "Tr0ub4dor&3-horse-Battery")
		var counts struct {
			LicenseCounts []struct {
				Class                   string
				Total, InUse, Available int
			}
		}
		admin.MustDo(`{ licenseCounts { class total inUse available } }`, nil, &counts)
		got := map[string][3]int{}
		for _, c := range counts.LicenseCounts {
			got[c.Class] = [3]int{c.Total, c.InUse, c.Available}
		}
		if got["CLERICAL"] != [3]int{1, 1, 0} || got["THERAPIST"] != [3]int{2, 0, 2} || got["STUDENT"] != [3]int{0, 0, 0} {
			t.Fatalf("license counts = %v", got)
		}

		// The administrator adds a clinic; it gets access to it (R3).
		var clinic struct {
			CreateClinic struct {
				Clinic     *struct{ ID, Name string }
				UserErrors []apitest.UserError
			}
		}
		admin.MustDo(`mutation { createClinic(input: {name: "Bayside North"}) { clinic { id name } userErrors { field code message } } }`, nil, &clinic)
		if clinic.CreateClinic.Clinic == nil {
			t.Fatalf("createClinic: %+v", clinic.CreateClinic.UserErrors)
		}
		admin = env.Login("bayside.admin", "Tr0ub4dor&3-horse-Battery")
		var viewer struct {
			Viewer struct{ Clinics []struct{ Name string } }
		}
		admin.MustDo(`{ viewer { clinics { name } } }`, nil, &viewer)
		if len(viewer.Viewer.Clinics) != 2 {
			t.Fatalf("administrator's clinics = %+v", viewer.Viewer.Clinics)
		}
		// The same clinic name twice is refused.
		admin.MustDo(`mutation { createClinic(input: {name: "bayside north"}) { clinic { id } userErrors { field code message } } }`, nil, &clinic)
		if clinic.CreateClinic.Clinic != nil || len(clinic.CreateClinic.UserErrors) != 1 || clinic.CreateClinic.UserErrors[0].Code != "NAME_TAKEN" {
			t.Fatalf("duplicate clinic: %+v", clinic.CreateClinic)
		}
	})
}

// Every broken rule of the input is reported at once with its field and code,
// and nothing is written (R10).
func TestCreateOrganizationReportsEveryBrokenRule(t *testing.T) {
	t.Parallel()
	apitest.ForEachDatabase(t, func(t *testing.T, env *apitest.Env) {
		support := env.LoginDemo(demo.SupportUsername)
		in := map[string]any{
			"name": "", "clinicName": "Somewhere",
			"licenses": []map[string]any{{"class": "CLERICAL", "quantity": -1}},
			"administrator": map[string]any{
				"username": "has space", "email": "not-an-email", "password": "Good1!",
				"firstName": "", "lastName": "Lee",
			},
		}
		var out createOrgPayload
		support.MustDo(createOrganization, map[string]any{"in": in}, &out)
		want := map[string]string{
			"name":                    "REQUIRED",
			"licenses.0.quantity":     "INVALID_QUANTITY",
			"administrator.username":  "INVALID_USERNAME",
			"administrator.email":     "INVALID_EMAIL",
			"administrator.password":  "WEAK_PASSWORD",
			"administrator.firstName": "REQUIRED",
		}
		got := map[string]string{}
		for _, e := range out.CreateOrganization.UserErrors {
			if e.Field == nil {
				t.Fatalf("error without field: %+v", e)
			}
			got[*e.Field] = e.Code
		}
		for f, code := range want {
			if got[f] != code {
				t.Errorf("field %s: code %q, want %q (all: %v)", f, got[f], code, got)
			}
		}
		if out.CreateOrganization.Organization != nil {
			t.Fatal("an organization was returned despite errors")
		}
		assertOrganizations(t, support, 2)

		// Username and email taken (any case) on the platform.
		in = orgInput("Other", "ADMIN", 1)
		in["administrator"].(map[string]any)["email"] = "Admin@Sunrise-Therapy.example"
		support.MustDo(createOrganization, map[string]any{"in": in}, &out)
		codes := []string{}
		for _, e := range out.CreateOrganization.UserErrors {
			codes = append(codes, *e.Field+"="+e.Code)
		}
		if strings.Join(codes, ",") != "administrator.username=USERNAME_TAKEN,administrator.email=EMAIL_TAKEN" {
			t.Fatalf("userErrors = %v", codes)
		}
		assertOrganizations(t, support, 2)
	})
}

// R24: an administrator whose class has no license is saved Inactive, with a
// warning rather than an error.
func TestCreateOrganizationWithoutLicenseWarns(t *testing.T) {
	t.Parallel()
	apitest.ForEachDatabase(t, func(t *testing.T, env *apitest.Env) {
		support := env.LoginDemo(demo.SupportUsername)
		var out createOrgPayload
		support.MustDo(createOrganization, map[string]any{"in": orgInput("No Seats Rehab", "noseats.admin", 0)}, &out)
		p := out.CreateOrganization
		if p.Administrator == nil || p.Administrator.Status != "INACTIVE" {
			t.Fatalf("administrator = %+v, errors %+v", p.Administrator, p.UserErrors)
		}
		if len(p.Warnings) != 1 || p.Warnings[0].Code != "SAVED_INACTIVE_NO_LICENSE" || !strings.Contains(p.Warnings[0].Message, "No Seats Rehab Main") {
			t.Fatalf("warnings = %+v", p.Warnings)
		}
		// An inactive user cannot sign in.
		r := env.Anonymous().Do(`mutation { login(input: {login: "noseats.admin", password: "Tr0ub4dor&3-horse-Battery"}) { accessToken userErrors { code } } }`, nil)
		if !strings.Contains(string(r.Body), "INVALID_CREDENTIALS") {
			t.Fatalf("login of inactive administrator: %s", r.Body)
		}
	})
}

func TestOnboardingNeedsSupportOrCompanyAdmin(t *testing.T) {
	t.Parallel()
	apitest.ForEachDatabase(t, func(t *testing.T, env *apitest.Env) {
		admin := env.LoginDemo(demo.AdminUsername)
		if r := admin.Do(createOrganization, map[string]any{"in": orgInput("Sneaky", "sneaky", 1)}); r.Code() != "FORBIDDEN" {
			t.Fatalf("createOrganization by a practice admin: %s", r.Body)
		}
		staff := env.LoginDemo("front.desk")
		if r := staff.Do(`mutation { createClinic(input: {name: "Rogue"}) { clinic { id } } }`, nil); r.Code() != "FORBIDDEN" {
			t.Fatalf("createClinic without Company Admin: %s", r.Body)
		}
		if r := admin.Do(`mutation { createClinic(input: {name: "Free Seats", licenses: [{class: THERAPIST, quantity: 5}]}) { clinic { id } } }`, nil); r.Code() != "FORBIDDEN" {
			t.Fatalf("createClinic with licenses by a practice admin: %s", r.Body)
		}
		if r := env.Anonymous().Do(createOrganization, map[string]any{"in": orgInput("Anon", "anon", 1)}); r.Code() != "UNAUTHENTICATED" {
			t.Fatalf("anonymous createOrganization: %s", r.Body)
		}
		if r := env.LoginDemo(demo.SupportUsername).Do(`mutation { createClinic(input: {name: "Nowhere"}) { clinic { id } } }`, nil); r.Code() != "BAD_USER_INPUT" {
			t.Fatalf("Support createClinic without organization: %s", r.Body)
		}
		assertOrganizations(t, env.LoginDemo(demo.SupportUsername), 2)
	})
}

func assertOrganizations(t *testing.T, support *apitest.Client, want int) {
	t.Helper()
	var out struct{ Organizations struct{ TotalCount int } }
	support.MustDo(`{ organizations { totalCount } }`, nil, &out)
	if out.Organizations.TotalCount != want {
		t.Fatalf("organizations = %d, want %d", out.Organizations.TotalCount, want)
	}
}
