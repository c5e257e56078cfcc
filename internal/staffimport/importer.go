// Package staffimport imports staff lists (importUsers, issue #13 point 3):
// a CSV file in the staff-list columns (internal/staffcsv) whose rows become
// users through createUser's own path (users.Profiles), as the importing
// manager, in a durable job.
//
// The upload is streamed into blob storage (internal/media) while its rows
// are counted; the UserImport row and the job are written in one
// transaction. The job streams the file back and works it in chunks: each
// chunk commits its progress (rows_done, counts, row errors) every Batch
// rows, and the last commit of a chunk inserts the job of the next chunk, so
// no job runs much longer than ChunkTime (River's job timeout and rescue stay
// meaningful). A crash loses at most the uncommitted batch: when rows of it
// are read again, a username that this import created (the importer
// created it, in this organization, after the import started) counts as
// created, not as USERNAME_TAKEN, so nobody is created twice.
package staffimport

import (
	"context"
	"io"
	"time"

	"github.com/riverqueue/river"

	"github.com/clinicemr/usermanager/ent"
	"github.com/clinicemr/usermanager/ent/auditevent"
	"github.com/clinicemr/usermanager/ent/privacy"
	"github.com/clinicemr/usermanager/ent/userimport"
	"github.com/clinicemr/usermanager/internal/apperr"
	"github.com/clinicemr/usermanager/internal/audit"
	"github.com/clinicemr/usermanager/internal/events"
	"github.com/clinicemr/usermanager/internal/jobs"
	"github.com/clinicemr/usermanager/internal/media"
	"github.com/clinicemr/usermanager/internal/txn"
	"github.com/clinicemr/usermanager/internal/users"
	"github.com/clinicemr/usermanager/internal/viewer"
)

const (
	// MaxFileBytes bounds an import file.
	MaxFileBytes = 10 << 20
	// Batch is how many rows one progress commit covers.
	Batch = 100
	// DefaultChunkTime bounds one job's work unless Importer.ChunkTime
	// says otherwise; the next chunk is a new job.
	DefaultChunkTime = 20 * time.Second
	// KindImports is the blob key kind of stored import files.
	KindImports media.Kind = "imports"
)

// Codes of importUsers' userErrors.
const (
	CodeFileTooLarge apperr.Code = "FILE_TOO_LARGE"
)

// Importer starts imports and works them.
type Importer struct {
	client   *ent.Client
	store    *media.Store
	jobs     *jobs.Queue
	profiles *users.Profiles
	events   *events.Bus
	// Now is the clock (nil: time.Now).
	Now func() time.Time
	// ChunkTime bounds one job's work (0: DefaultChunkTime). It must stay
	// well under the queue's job timeout (app sets half of it), so that a
	// chunk is never rescued while it still runs.
	ChunkTime time.Duration
	// Parallel is how many rows of a batch are created at once when they
	// are created one by one (a unique index refused one of a run of rows
	// created together, see processBatch) (1: one after the other).
	// SQLite has one writer: 1; PostgreSQL: 4.
	Parallel int
}

// New returns an importer.
func New(client *ent.Client, store *media.Store, q *jobs.Queue, profiles *users.Profiles, bus *events.Bus) *Importer {
	return &Importer{client: client, store: store, jobs: q, profiles: profiles, events: bus}
}

func (im *Importer) now() time.Time {
	if im.Now != nil {
		return im.Now()
	}
	return time.Now()
}

func sys(ctx context.Context) context.Context { return privacy.DecisionContext(ctx, privacy.Allow) }

// Import answers importUsers: it needs View Users (R2: adding users) and a
// manager of an organization (Support would have to name the organization:
// not supported yet). The file is streamed into storage while its rows are
// counted; the import and its job are written in one transaction.
func (im *Importer) Import(ctx context.Context, in Input) (*Payload, error) {
	v, err := viewer.Require(ctx)
	if err != nil {
		return nil, err
	}
	if !v.Can(viewer.PermViewUsers) {
		return nil, apperr.Forbidden("importing users needs the View Users permission")
	}
	if v.OrganizationID == 0 {
		return nil, apperr.Forbidden("a staff list is imported by a manager of the organization (Support cannot import yet)")
	}
	if in.File.File == nil {
		return failedPayload(apperr.New("file", apperr.Required, "no file was uploaded")), nil
	}
	if in.File.Size > MaxFileBytes {
		return failedPayload(apperr.New("file", CodeFileTooLarge, "the file is %d bytes; at most %d (10 MB): split it", in.File.Size, MaxFileBytes)), nil
	}
	key := media.NewKey(KindImports, v.UserID)
	// Count the rows while the file streams into storage.
	pr, pw := io.Pipe()
	counted := make(chan struct {
		n   int
		err error
	}, 1)
	go func() {
		n, err := countRows(pr)
		_ = pr.CloseWithError(err)
		counted <- struct {
			n   int
			err error
		}{n, err}
	}()
	limited := io.LimitReader(in.File.File, MaxFileBytes+1)
	size, err := im.store.PutStream(ctx, key, io.TeeReader(limited, pw), "text/csv")
	_ = pw.Close()
	c := <-counted
	if err != nil {
		return nil, err
	}
	if size > MaxFileBytes {
		_ = im.store.Delete(context.WithoutCancel(ctx), key)
		return failedPayload(apperr.New("file", CodeFileTooLarge, "the file is larger than %d bytes (10 MB): split it", MaxFileBytes)), nil
	}
	if c.err != nil {
		return nil, c.err
	}
	dry := in.DryRun != nil && *in.DryRun
	var created *ent.UserImport
	err = txn.WithTx(ctx, im.client, func(tx *ent.Tx) error {
		created, err = tx.UserImport.Create().
			SetOrganizationID(v.OrganizationID).
			SetRequestedByID(v.UserID).
			SetCurrentClinicID(v.CurrentClinicID).
			SetDryRun(dry).
			SetFileName(truncate(in.File.Filename, 200)).
			SetBlobKey(key).
			SetRowsTotal(c.n).
			Save(ctx)
		if err != nil {
			return err
		}
		if !dry {
			if err := audit.Record(ctx, tx.Client(), audit.Event{
				Action: auditevent.ActionUSERS_IMPORTED, OrganizationID: &v.OrganizationID,
				TargetType: "UserImport", TargetID: &created.ID,
				After: map[string]any{"fileName": created.FileName, "rowsTotal": created.RowsTotal},
			}); err != nil {
				return err
			}
		}
		return im.jobs.InsertTx(ctx, tx, Args{ImportID: created.ID}, nil)
	})
	if err != nil {
		_ = im.store.Delete(context.WithoutCancel(ctx), key)
		return nil, err
	}
	return &Payload{UserImport: created, UserErrors: []*apperr.UserError{}}, nil
}

func failedPayload(e *apperr.UserError) *Payload {
	return &Payload{UserErrors: []*apperr.UserError{e}}
}

// Args is the job that works an import's next chunk.
type Args struct {
	ImportID int `json:"import_id"`
}

// Kind names the job.
func (Args) Kind() string { return "import_users" }

// InsertOpts puts imports in their own queue (jobs.QueueImports).
func (Args) InsertOpts() river.InsertOpts { return river.InsertOpts{Queue: jobs.QueueImports} }

// Worker works an import's chunks.
type Worker struct {
	river.WorkerDefaults[Args]
	Importer *Importer
}

// Work works one chunk of the import. A chunk that fails is retried by the
// queue from the last commit; on its last attempt the import is marked
// FAILED, so that it does not stay RUNNING forever.
func (w *Worker) Work(ctx context.Context, job *river.Job[Args]) error {
	err := w.Importer.work(ctx, job.Args.ImportID)
	if err != nil && job.Attempt >= job.MaxAttempts {
		if imp, gerr := w.Importer.client.UserImport.Get(sys(ctx), job.Args.ImportID); gerr == nil {
			_ = w.Importer.fail(context.WithoutCancel(ctx), imp,
				"the import stopped after repeated errors; the rows done so far are kept: import the rest again")
		}
	}
	return err
}

// fail marks the import FAILED with a reason a person can act on.
func (im *Importer) fail(ctx context.Context, imp *ent.UserImport, reason string) error {
	err := txn.WithTx(sys(ctx), im.client, func(tx *ent.Tx) error {
		if err := tx.UserImport.UpdateOneID(imp.ID).SetStatus(userimport.StatusFAILED).
			SetError(reason).SetFinishedAt(im.now()).Exec(sys(ctx)); err != nil {
			return err
		}
		return im.publish(ctx, tx, imp)
	})
	if err == nil {
		_ = im.store.Delete(ctx, imp.BlobKey)
	}
	return err
}

// publish tells userImportProgress subscribers, on commit, that imp moved.
func (im *Importer) publish(ctx context.Context, tx *ent.Tx, imp *ent.UserImport) error {
	if im.events == nil {
		return nil
	}
	return im.events.PublishTx(ctx, tx, events.Event{Kind: events.ImportProgress, OrganizationID: imp.OrganizationID, ImportID: imp.ID})
}

// Topic is what userImportProgress watches: the organization's import events
// (filtered by import ID by the subscriber).
func Topic(organizationID int) events.Topic {
	return events.Topic{Kind: events.ImportProgress, OrganizationID: organizationID}
}
