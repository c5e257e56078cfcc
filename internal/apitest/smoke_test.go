package apitest_test

import (
	"testing"

	"github.com/clinicemr/usermanager/internal/apitest"
	"github.com/clinicemr/usermanager/internal/demo"
)

func TestViewerAfterLogin(t *testing.T) {
	t.Parallel()
	apitest.ForEachDatabase(t, func(t *testing.T, env *apitest.Env) {
		c := env.LoginDemo(demo.AdminUsername)
		var out struct {
			Viewer struct {
				Username string
				Clinics  []struct{ Name string }
			}
		}
		c.MustDo(`{ viewer { username clinics { name } } }`, nil, &out)
		if out.Viewer.Username != demo.AdminUsername || len(out.Viewer.Clinics) != 3 {
			t.Fatalf("viewer = %+v", out.Viewer)
		}
	})
}
