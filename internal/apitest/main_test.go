package apitest_test

import (
	"os"
	"testing"

	"github.com/clinicemr/usermanager/internal/apitest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	apitest.StopPostgres()
	os.Exit(code)
}
