package apitest_test

import (
	"os"
	"testing"

	"github.com/clinicemr/usermanager/internal/apitest"
	"github.com/clinicemr/usermanager/internal/passwords"
)

func TestMain(m *testing.M) {
	// Test environments create dozens of users: hash them cheaply. A unit
	// test in internal/passwords pins the production cost.
	passwords.UseParams(passwords.Cheap)
	code := m.Run()
	apitest.StopPostgres()
	os.Exit(code)
}
