package audit

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"entgo.io/ent/dialect"
	"entgo.io/ent/dialect/sql"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/clinicemr/usermanager/ent"
	"github.com/clinicemr/usermanager/ent/auditevent"
	"github.com/clinicemr/usermanager/ent/auditseal"
	"github.com/clinicemr/usermanager/ent/predicate"
	"github.com/clinicemr/usermanager/ent/privacy"
)

// Records are sealed after they commit, not as they are written: chaining
// at write time would make every write of an organization wait on its
// chain head's row lock. The sealer runs every SealEvery (a River periodic
// job, on one server), so a record is normally sealed within SealEvery plus
// a second or two of commit. Verify counts a record unsealed for longer than
// SealWindow as an error: the sealer is not running, or the record was
// slipped in with a date in the past.
const (
	SealEvery  = 5 * time.Second
	SealWindow = time.Minute
)

// lateCommitMargin is how far before the latest link the sealer still
// looks for unsealed records: a record's created_at is taken before its
// transaction commits, so it can appear after later records were sealed.
// No transaction of the server lasts this long (operations time out in
// seconds, jobs in a minute), and clocks of several servers differ by less.
const lateCommitMargin = 10 * time.Minute

// sealBatch is how many records one transaction seals.
const sealBatch = 500

// sealerLockKey is the PostgreSQL advisory lock that lets one sealer run at
// a time (on SQLite, a write transaction already excludes the others). The
// unique (organization_id, seq) index would refuse a fork anyway.
const sealerLockKey = 0x61756469745f73 // "audit_s"

// Sealer appends the links of unsealed records to their organizations'
// chains.
type Sealer struct {
	Client  *ent.Client
	Dialect string
	// CheckpointFile, when set, is where WriteCheckpoints appends the chain
	// heads (JSON lines).
	CheckpointFile string
	Logger         *slog.Logger
}

// Seal links every unsealed record, in (created_at, id) order per
// organization, and returns how many it sealed. Records that commit late
// are linked after those already sealed: a chain's order is the order of
// its links, not of created_at.
func (s *Sealer) Seal(ctx context.Context) (int, error) {
	ctx = privacy.DecisionContext(ctx, privacy.Allow)
	since, err := s.lookFrom(ctx)
	if err != nil {
		return 0, err
	}
	total := 0
	for {
		n, err := s.sealBatch(ctx, since)
		total += n
		if err != nil || n < sealBatch {
			return total, err
		}
	}
}

// lookFrom is the earliest created_at an unsealed record can have unless
// it was slipped in afterwards (zero: look at every record).
func (s *Sealer) lookFrom(ctx context.Context) (time.Time, error) {
	latest, err := s.Client.AuditSeal.Query().Order(ent.Desc(auditseal.FieldID)).First(ctx)
	if ent.IsNotFound(err) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, err
	}
	return latest.SealedAt.Add(-lateCommitMargin), nil
}

func (s *Sealer) sealBatch(ctx context.Context, since time.Time) (int, error) {
	tx, err := s.Client.Tx(ctx)
	if err != nil {
		return 0, err
	}
	defer func() { _ = tx.Rollback() }()
	if s.Dialect == dialect.Postgres {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, sealerLockKey); err != nil {
			return 0, err
		}
	}
	q := tx.AuditEvent.Query().Where(unsealed())
	if !since.IsZero() {
		q = q.Where(auditevent.CreatedAtGTE(since))
	}
	records, err := q.Order(ent.Asc(auditevent.FieldCreatedAt), ent.Asc(auditevent.FieldID)).Limit(sealBatch).All(ctx)
	if err != nil || len(records) == 0 {
		return 0, err
	}
	heads := map[int]*ent.AuditSeal{}
	sealedAt := time.Now()
	links := make([]*ent.AuditSealCreate, 0, len(records))
	for _, e := range records {
		chain := chainOf(e)
		head, ok := heads[chain]
		if !ok {
			if head, err = headOf(ctx, tx.Client(), chain); err != nil {
				return 0, err
			}
		}
		hash, err := link(head.Hash, e)
		if err != nil {
			return 0, fmt.Errorf("sealing audit record %d: %w", e.ID, err)
		}
		links = append(links, tx.AuditSeal.Create().
			SetOrganizationID(chain).SetSeq(head.Seq+1).SetAuditEventID(e.ID).
			SetHash(hash).SetPrevHash(head.Hash).SetSealedAt(sealedAt))
		heads[chain] = &ent.AuditSeal{Seq: head.Seq + 1, Hash: hash}
	}
	if err := tx.AuditSeal.CreateBulk(links...).Exec(ctx); err != nil {
		return 0, err
	}
	return len(records), tx.Commit()
}

// headOf is the last link of a chain; an empty link (seq 0, hash "") when
// the chain has none yet.
func headOf(ctx context.Context, client *ent.Client, chain int) (*ent.AuditSeal, error) {
	head, err := client.AuditSeal.Query().Where(auditseal.OrganizationID(chain)).
		Order(ent.Desc(auditseal.FieldSeq)).First(ctx)
	if ent.IsNotFound(err) {
		return &ent.AuditSeal{}, nil
	}
	return head, err
}

// unsealed matches the records that have no link yet.
func unsealed() predicate.AuditEvent {
	return func(s *sql.Selector) {
		seals := sql.Table(auditseal.Table)
		s.Where(sql.NotExists(sql.Select(seals.C(auditseal.FieldID)).From(seals).
			Where(sql.ColumnsEQ(seals.C(auditseal.FieldAuditEventID), s.C(auditevent.FieldID)))))
	}
}

// SealArgs is the job that runs the sealer; it is periodic (SealEvery).
type SealArgs struct{}

func (SealArgs) Kind() string { return "audit_seal" }

// InsertOpts: one sealing job at a time (a periodic insert is skipped while
// one waits or runs), and a failed one is not retried: the next, SealEvery
// later, does its work.
func (SealArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{
		MaxAttempts: 1,
		UniqueOpts: river.UniqueOpts{ByState: []rivertype.JobState{
			rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning, rivertype.JobStateScheduled,
		}},
	}
}

// SealWorker works SealArgs.
type SealWorker struct {
	river.WorkerDefaults[SealArgs]
	Sealer *Sealer
}

func (w *SealWorker) Work(ctx context.Context, _ *river.Job[SealArgs]) error {
	n, err := w.Sealer.Seal(ctx)
	if n > 0 {
		w.Sealer.logger().Debug("sealed audit records", "records", n)
	}
	return err
}

func (s *Sealer) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.Default()
	}
	return s.Logger
}
