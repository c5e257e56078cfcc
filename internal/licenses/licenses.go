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
	"github.com/lib/pq"

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
	return s.events.PublishTx(ctx, tx, countsEvent(orgID, clinicID))
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
// caller's transaction. It reports false when none is free (R23). Take
// does the work.
func (s *Service) Allocate(ctx context.Context, tx *ent.Tx, orgID, clinicID int, class staff.LicenseClass, userID int) (bool, error) {
	l, err := s.Take(ctx, tx, orgID, clinicID, class, userID)
	return l != nil, err
}

// AllocateMany gives free licenses of class at a clinic to users, inside
// the caller's transaction, in their order: the first users get one while
// any is free (R23), as Allocate for each in turn would. It returns the
// users who got one.
//
// On PostgreSQL one statement picks and takes them all, with Take's
// conditions (SKIP LOCKED, a holder only where there is none): within a
// transaction, each Take of its own walked past the index entries of every
// license taken before it, which made a run of many quadratic. On SQLite,
// where writers take turns, it is Take for each.
func (s *Service) AllocateMany(ctx context.Context, tx *ent.Tx, orgID, clinicID int, class staff.LicenseClass, userIDs []int) ([]int, error) {
	if len(userIDs) == 0 {
		return nil, nil
	}
	if s.dialect != dialect.Postgres {
		var taken []int
		for _, id := range userIDs {
			l, err := s.Take(ctx, tx, orgID, clinicID, class, id)
			if err != nil {
				return nil, err
			}
			if l == nil {
				break // none is free for the rest either
			}
			taken = append(taken, id)
		}
		return taken, nil
	}
	now := time.Now().Truncate(time.Microsecond)
	rows, err := tx.QueryContext(ctx, `WITH free AS (
			SELECT id, row_number() OVER (ORDER BY id) AS n FROM (
				SELECT id FROM licenses
				WHERE clinic_id = $3 AND class = $4 AND holder_id IS NULL
				ORDER BY id LIMIT $5 FOR UPDATE SKIP LOCKED) AS candidates),
		holders AS (SELECT * FROM unnest($6::bigint[]) WITH ORDINALITY AS h(user_id, n))
		UPDATE licenses SET updated_at = $1, holder_id = holders.user_id
		FROM free JOIN holders ON holders.n = free.n
		WHERE licenses.id = free.id AND licenses.holder_id IS NULL AND licenses.organization_id = $2
		RETURNING licenses.holder_id`,
		now, orgID, clinicID, string(class), len(userIDs), pq.Array(userIDs))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	got := map[int]bool{}
	for rows.Next() {
		var holder int
		if err := rows.Scan(&holder); err != nil {
			return nil, err
		}
		got[holder] = true
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	taken := make([]int, 0, len(got))
	for _, id := range userIDs {
		if got[id] {
			taken = append(taken, id)
		}
	}
	if len(taken) == 0 {
		return nil, nil
	}
	return taken, s.countsChanged(ctx, tx, orgID, clinicID)
}

// Take gives a free license of class at a clinic to a user, inside the
// caller's transaction, and returns it (bound to tx, as if read in it), or
// nil when none is free (R23).
//
// One statement picks the license and takes it: the write is conditional
// (it sets the holder only where there is none yet), so two concurrent
// allocations can never take the same license. On PostgreSQL the candidate
// row is locked with SKIP LOCKED so concurrent allocations pick different
// rows instead of queueing on one; on SQLite transactions are immediate
// and writers take turns. Written in SQL because ent's updates return no
// rows; the organization condition stands in for the privacy filter, and
// the kept counts follow by trigger as for any write.
func (s *Service) Take(ctx context.Context, tx *ent.Tx, orgID, clinicID int, class staff.LicenseClass, userID int) (*ent.License, error) {
	lock := ""
	if s.dialect == dialect.Postgres {
		lock = " FOR UPDATE SKIP LOCKED"
	}
	// In microseconds, as PostgreSQL keeps it: the returned license shows
	// what a read would.
	now := time.Now().Truncate(time.Microsecond)
	args := []any{now, userID, orgID, clinicID, string(class)}
	// On PostgreSQL the counts event rides on the same statement: its
	// NOTIFY is a returned column, evaluated for the one row taken.
	var notify string
	var notifyArgs []any
	if !coalescing(ctx) {
		var err error
		if notify, notifyArgs, err = s.events.NotifyColumn(countsEvent(orgID, clinicID), len(args)+1); err != nil {
			return nil, err
		}
	}
	returning := "id, created_at"
	if notify != "" {
		returning += ", " + notify
		args = append(args, notifyArgs...)
	}
	// The candidate is found by the index on (clinic_id, class, holder_id)
	// alone, where SQLite keeps equal keys in id order (the first is the
	// one); naming the organization there too let SQLite walk the
	// organization's every license instead. The organization is checked on
	// the row taken.
	rows, err := tx.QueryContext(ctx, `UPDATE licenses SET updated_at = $1, holder_id = $2
		WHERE id = (SELECT id FROM licenses
			WHERE clinic_id = $4 AND class = $5 AND holder_id IS NULL
			ORDER BY id LIMIT 1`+lock+`)
		AND holder_id IS NULL AND organization_id = $3
		RETURNING `+returning, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	if !rows.Next() {
		// None is free (or, on PostgreSQL, every free one is being taken
		// by a transaction still open).
		return nil, rows.Err()
	}
	l := tx.License.Attach(&ent.License{UpdatedAt: now, OrganizationID: orgID, ClinicID: clinicID, Class: class, HolderID: &userID})
	var created timeColumn
	dest := []any{&l.ID, &created}
	if notify != "" {
		dest = append(dest, new(any))
	}
	if err := rows.Scan(dest...); err != nil {
		return nil, err
	}
	if err := rows.Close(); err != nil {
		return nil, err
	}
	l.CreatedAt = created.Time
	if notify != "" {
		return l, nil
	}
	return l, s.countsChanged(ctx, tx, orgID, clinicID)
}

func countsEvent(orgID, clinicID int) events.Event {
	return events.Event{Kind: events.CountsChanged, OrganizationID: orgID, ClinicID: clinicID}
}

// timeColumn scans a time returned by a raw statement: a time.Time, or on
// SQLite, where a RETURNING column may have no declared type, the text the
// driver stored it as.
type timeColumn struct{ time.Time }

func (t *timeColumn) Scan(v any) error {
	switch v := v.(type) {
	case time.Time:
		t.Time = v
		return nil
	case string:
		return t.parse(v)
	case []byte:
		return t.parse(string(v))
	}
	return fmt.Errorf("licenses: cannot read %T as a time", v)
}

func (t *timeColumn) parse(s string) error {
	for _, layout := range sqliteTimeLayouts {
		if v, err := time.Parse(layout, s); err == nil {
			t.Time = v
			return nil
		}
	}
	return fmt.Errorf("licenses: cannot read %q as a time", s)
}

// sqliteTimeLayouts are the layouts the SQLite driver writes times in.
var sqliteTimeLayouts = []string{
	"2006-01-02 15:04:05.999999999-07:00",
	"2006-01-02T15:04:05.999999999-07:00",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999",
	time.RFC3339Nano,
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
