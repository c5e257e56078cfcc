package graph

import (
	"github.com/clinicemr/usermanager/ent"
	"github.com/clinicemr/usermanager/internal/audit"
	"github.com/clinicemr/usermanager/internal/auth"
	"github.com/clinicemr/usermanager/internal/directory"
	"github.com/clinicemr/usermanager/internal/licenses"
	"github.com/clinicemr/usermanager/internal/onboarding"
	"github.com/clinicemr/usermanager/internal/staffcsv"
	"github.com/clinicemr/usermanager/internal/staffimport"
	"github.com/clinicemr/usermanager/internal/users"
)

// Resolver is the root resolver. Resolvers are one line of glue: the rules
// live in the internal/ packages below.
type Resolver struct {
	Client     *ent.Client
	Auth       *auth.Service
	Directory  *directory.Service
	Profiles   *users.Profiles
	Images     *users.Images
	Licenses   *licenses.Service
	Onboarding *onboarding.Service
	Resets     *users.Resets
	// AuditExport hands out the audit trail's export URLs.
	AuditExport *audit.Exporter
	// UsersExport hands out the users' export URLs.
	UsersExport *staffcsv.Exporter
	// UsersImport starts and follows staff-list imports.
	UsersImport *staffimport.Importer
}
