package staffcsv_test

import (
	"testing"

	"github.com/clinicemr/usermanager/internal/testdb"
)

// The throwaway PostgreSQL server, if a test started one, stops at the end.
func TestMain(m *testing.M) { testdb.Main(m) }
