// Package licenses owns license seats: adding them, handing one to a user
// who becomes active, and counting them (R20-R23).
//
// Each license is a row (ent/schema/license.go). A user holds one by being
// its holder; the unique index on the holder means a user never holds two,
// and since "in use" counts rows with a holder, it can never exceed "total",
// the number of rows.
package licenses

import (
	"context"
	"fmt"
	"strings"
	"time"

	"entgo.io/ent/dialect"
	"entgo.io/ent/dialect/sql"

	"github.com/clinicemr/usermanager/ent"
	"github.com/clinicemr/usermanager/ent/license"
	"github.com/clinicemr/usermanager/internal/apperr"
	"github.com/clinicemr/usermanager/internal/events"
	"github.com/clinicemr/usermanager/internal/jobs"
	"github.com/clinicemr/usermanager/internal/staff"
)

// Service works on the licenses of one database.
type Service struct {
	client  *ent.Client
	dialect string
	events  *events.Bus
	jobs    *jobs.Queue
	// Window is how long an adjustment waits for Support before it is
	// processed automatically (R26).
	Window time.Duration
	// Now is the clock (tests move it).
	Now func() time.Time
	// counts shares each change's new counts among the live subscribers
	// of a clinic or organization (hub.go).
	counts *countsHub
}

// New returns a Service; dialectName is dialect.SQLite or dialect.Postgres.
// Changes are announced on bus; adjustment work is queued on q.
func New(client *ent.Client, dialectName string, bus *events.Bus, q *jobs.Queue) *Service {
	s := &Service{client: client, dialect: dialectName, events: bus, jobs: q, Window: DefaultWindow, Now: time.Now}
	s.counts = newCountsHub(s)
	return s
}

// countsChanged announces, when tx commits, that a clinic's counts changed.
// Dialect is the database's dialect (dialect.SQLite or dialect.Postgres), for
// services that share this one's database and lock rows the same way.
func (s *Service) Dialect() string { return s.dialect }

func (s *Service) countsChanged(ctx context.Context, tx *ent.Tx, orgID, clinicID int) error {
	if deferCounts(ctx, tx, orgID, clinicID) {
		return nil // announced once when the bulk change ends (coalesce.go)
	}
	return s.events.PublishTx(ctx, tx, events.Event{Kind: events.CountsChanged, OrganizationID: orgID, ClinicID: clinicID})
}

// MaxQuantity bounds one addition of licenses.
const MaxQuantity = 10000

// QuantityInput is a number of licenses of a class.
type QuantityInput struct {
	Class    staff.LicenseClass `json:"class"`
	Quantity int                `json:"quantity"`
}

// Add adds n licenses of class at a clinic, inside the caller's transaction.
func (s *Service) Add(ctx context.Context, tx *ent.Tx, orgID, clinicID int, class staff.LicenseClass, n int) error {
	if n < 0 || n > MaxQuantity {
		return fmt.Errorf("licenses: cannot add %d licenses", n)
	}
	const batch = 500
	for n > 0 {
		size := min(n, batch)
		builders := make([]*ent.LicenseCreate, size)
		for i := range builders {
			builders[i] = tx.License.Create().SetOrganizationID(orgID).SetClinicID(clinicID).SetClass(class)
		}
		if err := tx.License.CreateBulk(builders...).Exec(ctx); err != nil {
			return err
		}
		n -= size
	}
	return s.countsChanged(ctx, tx, orgID, clinicID)
}

// Allocate gives a free license of class at a clinic to a user, inside the
// caller's transaction. It reports false when none is free (R23).
//
// The write is conditional: it sets the holder only where there is none yet,
// so two concurrent allocations can never take the same license. On
// PostgreSQL the candidate row is locked with SKIP LOCKED so concurrent
// allocations pick different rows instead of queueing on one; on SQLite
// transactions are immediate and writers take turns.
func (s *Service) Allocate(ctx context.Context, tx *ent.Tx, orgID, clinicID int, class staff.LicenseClass, userID int) (bool, error) {
	for attempt := 0; attempt < 5; attempt++ {
		q := tx.License.Query().
			Where(license.OrganizationID(orgID), license.ClinicID(clinicID), license.ClassEQ(class), license.HolderIDIsNil()).
			Order(license.ByID()).
			Limit(1)
		if s.dialect == dialect.Postgres {
			q = q.ForUpdate(sql.WithLockAction(sql.SkipLocked))
		}
		ids, err := q.IDs(ctx)
		if err != nil {
			return false, err
		}
		if len(ids) == 0 {
			return false, nil
		}
		n, err := tx.License.Update().
			Where(license.ID(ids[0]), license.HolderIDIsNil()).
			SetHolderID(userID).
			Save(ctx)
		if err != nil {
			return false, err
		}
		if n == 1 {
			return true, s.countsChanged(ctx, tx, orgID, clinicID)
		}
	}
	return false, fmt.Errorf("licenses: could not allocate a license under contention")
}

// Release frees the license a user holds, if any, inside the caller's
// transaction. The license stays billed and becomes available (R25).
func (s *Service) Release(ctx context.Context, tx *ent.Tx, userID int) error {
	held, err := tx.License.Query().Where(license.HolderID(userID)).Only(ctx)
	if ent.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := tx.License.UpdateOne(held).ClearHolderID().Exec(ctx); err != nil {
		return err
	}
	return s.countsChanged(ctx, tx, held.OrganizationID, held.ClinicID)
}

// NoLicense is the rule violation of R23, naming the class and the clinic.
func NoLicense(field string, class staff.LicenseClass, clinicName string) *apperr.UserError {
	return apperr.New(field, apperr.MaximumLicensesReached,
		"Maximum licenses reached: no %s license is available at %s. Free one by making a user of the same class inactive, or request a license adjustment.",
		strings.ToLower(string(class)), clinicName)
}
