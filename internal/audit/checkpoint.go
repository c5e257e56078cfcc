package audit

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/clinicemr/usermanager/ent"
	"github.com/clinicemr/usermanager/ent/auditseal"
	"github.com/clinicemr/usermanager/ent/privacy"
)

// CheckpointEvery is how often the chain heads are written down. A copy of
// them kept away from the database (the log, the checkpoint file) shows
// whether the chain was later rewritten from some link on, which the chain
// alone cannot show to someone able to rewrite all of it.
const CheckpointEvery = time.Hour

// Checkpoint is the head of one chain at a time: one JSON line of the
// checkpoint file.
type Checkpoint struct {
	Time time.Time `json:"time"`
	// OrganizationID is the chain (NoOrganization: records of none).
	OrganizationID int    `json:"organizationId"`
	Records        int    `json:"records"`
	Head           string `json:"head"`
}

// Heads are the current heads of every chain, by organization.
func Heads(ctx context.Context, client *ent.Client) ([]Checkpoint, error) {
	ctx = privacy.DecisionContext(ctx, privacy.Allow)
	var lengths []struct {
		OrganizationID int `json:"organization_id"`
		Max            int `json:"max"`
	}
	err := client.AuditSeal.Query().GroupBy(auditseal.FieldOrganizationID).
		Aggregate(ent.Max(auditseal.FieldSeq)).Scan(ctx, &lengths)
	if err != nil {
		return nil, err
	}
	now := time.Now().UTC()
	heads := make([]Checkpoint, 0, len(lengths))
	for _, l := range lengths {
		head, err := client.AuditSeal.Query().
			Where(auditseal.OrganizationID(l.OrganizationID), auditseal.Seq(l.Max)).Only(ctx)
		if err != nil {
			return nil, err
		}
		heads = append(heads, Checkpoint{Time: now, OrganizationID: l.OrganizationID, Records: l.Max, Head: head.Hash})
	}
	return heads, nil
}

// WriteCheckpoints logs every chain head at info level and appends it to
// the checkpoint file, if there is one.
func (s *Sealer) WriteCheckpoints(ctx context.Context) error {
	heads, err := Heads(ctx, s.Client)
	if err != nil {
		return err
	}
	for _, h := range heads {
		s.logger().Info("audit checkpoint", "organization", h.OrganizationID, "records", h.Records, "head", h.Head)
	}
	if s.CheckpointFile == "" || len(heads) == 0 {
		return nil
	}
	f, err := os.OpenFile(s.CheckpointFile, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("writing audit checkpoints: %w", err)
	}
	enc := json.NewEncoder(f)
	for _, h := range heads {
		if err := enc.Encode(h); err != nil {
			f.Close()
			return fmt.Errorf("writing audit checkpoints: %w", err)
		}
	}
	return f.Close()
}

// ReadCheckpoints reads a checkpoint file (JSON lines).
func ReadCheckpoints(r io.Reader) ([]Checkpoint, error) {
	var cps []Checkpoint
	sc := bufio.NewScanner(r)
	for line := 1; sc.Scan(); line++ {
		if len(sc.Bytes()) == 0 {
			continue
		}
		var cp Checkpoint
		if err := json.Unmarshal(sc.Bytes(), &cp); err != nil {
			return nil, fmt.Errorf("checkpoint line %d: %w", line, err)
		}
		cps = append(cps, cp)
	}
	return cps, sc.Err()
}

// CheckpointArgs is the job that writes the checkpoints; it is periodic
// (CheckpointEvery).
type CheckpointArgs struct{}

func (CheckpointArgs) Kind() string { return "audit_checkpoint" }

func (CheckpointArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{
		MaxAttempts: 3,
		UniqueOpts: river.UniqueOpts{ByState: []rivertype.JobState{
			rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning, rivertype.JobStateScheduled,
		}},
	}
}

// CheckpointWorker works CheckpointArgs.
type CheckpointWorker struct {
	river.WorkerDefaults[CheckpointArgs]
	Sealer *Sealer
}

func (w *CheckpointWorker) Work(ctx context.Context, _ *river.Job[CheckpointArgs]) error {
	return w.Sealer.WriteCheckpoints(ctx)
}
