package apitest_test

// API tests of the audit trail's tamper evidence (SPEC R31): after a run of
// changes through the API the sealed chains verify, auditIntegrity is for
// Support only, and a record changed behind the database's back is named.

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"entgo.io/ent/dialect"

	"github.com/clinicemr/usermanager/internal/apitest"
	"github.com/clinicemr/usermanager/internal/demo"
	"github.com/clinicemr/usermanager/internal/gid"
)

const audIntegrityQuery = `{ auditIntegrity {
  ok records unsealed unsealedOverdue
  chains { organizationId records head }
  firstBroken { eventId organizationId seq reason }
} }`

type audIntegrity struct {
	OK                                 bool
	Records, Unsealed, UnsealedOverdue int
	Chains                             []struct {
		OrganizationID *string
		Records        int
		Head           string
	}
	FirstBroken *struct {
		EventID        string
		OrganizationID *string
		Seq            int
		Reason         string
	}
}

func TestAudIntegrity(t *testing.T) {
	t.Parallel()
	apitest.ForEachDatabase(t, func(t *testing.T, env *apitest.Env) {
		ctx := context.Background()
		p := profSetup(t, env)
		id := profMustSucceed(t, p.admin, "createUser", p.input("aud.sealed", "CLERICAL", profNorthside)).User.ID
		profMustSucceed(t, p.admin, "updateUser", map[string]any{"id": id, "lastName": "Sealed"})
		var st struct{ SetUserStatus stPayload }
		p.admin.MustDo(stSetStatus, map[string]any{"id": id, "s": "INACTIVE"}, &st)
		audLogin(t, env, "pt.jordan", "Wrong-Password-123!")
		support := env.LoginDemo(demo.SupportUsername)

		if _, err := env.App.AuditSealer.Seal(ctx); err != nil {
			t.Fatal(err)
		}
		var recorded int
		if err := env.DB.SQL.QueryRow(`SELECT COUNT(*) FROM audit_events`).Scan(&recorded); err != nil {
			t.Fatal(err)
		}
		var out struct{ AuditIntegrity audIntegrity }
		support.MustDo(audIntegrityQuery, nil, &out)
		got := out.AuditIntegrity
		if !got.OK || got.Records != recorded || got.Unsealed != 0 || got.FirstBroken != nil || len(got.Chains) < 2 {
			t.Fatalf("auditIntegrity after sealing %d records: %+v", recorded, got)
		}
		if r := p.admin.Do(audIntegrityQuery, nil); r.Code() != "FORBIDDEN" {
			t.Errorf("auditIntegrity as a Company Admin: %s, want FORBIDDEN", r.Body)
		}

		// A privileged connection changes the updateUser record.
		var victim int
		if err := env.DB.SQL.QueryRow(`SELECT id FROM audit_events WHERE action = 'USER_UPDATED' ORDER BY id DESC LIMIT 1`).Scan(&victim); err != nil {
			t.Fatal(err)
		}
		disable := `DROP TRIGGER audit_events_no_update`
		if env.Dialect == dialect.Postgres {
			disable = `ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only`
		}
		for _, stmt := range []string{disable, fmt.Sprintf(`UPDATE audit_events SET actor_username = 'someone.else' WHERE id = %d`, victim)} {
			if _, err := env.DB.SQL.Exec(stmt); err != nil {
				t.Fatalf("%s: %v", stmt, err)
			}
		}
		support.MustDo(audIntegrityQuery, nil, &out)
		got = out.AuditIntegrity
		if got.OK || got.FirstBroken == nil || got.FirstBroken.EventID != gid.Encode(victim) ||
			!strings.Contains(got.FirstBroken.Reason, "content was changed") {
			t.Errorf("auditIntegrity after record %d was changed: %+v, first broken %+v", victim, got, got.FirstBroken)
		}
	})
}
