package audit

import (
	"context"
	"fmt"
	"time"

	"github.com/clinicemr/usermanager/ent"
	"github.com/clinicemr/usermanager/ent/auditevent"
	"github.com/clinicemr/usermanager/ent/auditseal"
	"github.com/clinicemr/usermanager/ent/privacy"
	"github.com/clinicemr/usermanager/internal/apperr"
	"github.com/clinicemr/usermanager/internal/viewer"
)

// Integrity is what Verify finds: the state of every chain, and the first
// record that breaks one.
type Integrity struct {
	// OK: every chain is whole and no record has waited longer than
	// SealWindow for its link.
	OK bool
	// Records is the number of sealed records, all chains together.
	Records int
	// Unsealed records have no link yet; UnsealedOverdue of them are older
	// than SealWindow.
	Unsealed, UnsealedOverdue int
	// Chains, by organization.
	Chains []Chain
	// FirstBroken is the first record found breaking a chain; nil if none.
	FirstBroken *Break
}

// Chain is one organization's chain as verified.
type Chain struct {
	// OrganizationID is nil for the chain of records of no organization.
	OrganizationID *int
	// Records is the number of links verified (all of them, when whole).
	Records int
	// Head is the hash of the last link verified.
	Head string
}

// Break names the record where a chain stops holding, and why.
type Break struct {
	EventID        int
	OrganizationID *int
	// Seq is the position of the link in its chain.
	Seq    int
	Reason string
}

func (b *Break) String() string {
	return fmt.Sprintf("audit record %d (link %d of its organization's chain): %s", b.EventID, b.Seq, b.Reason)
}

// VerifyOptions tune Verify.
type VerifyOptions struct {
	// Checkpoints, when given, are heads written earlier (WriteCheckpoints):
	// the chain must still pass through each of them.
	Checkpoints []Checkpoint
	// Now is the time unsealed records are compared with (default
	// time.Now).
	Now time.Time
}

// verifyBatch is how many links Verify reads at once.
const verifyBatch = 1000

// CheckIntegrity answers the auditIntegrity query: Support only.
func CheckIntegrity(ctx context.Context, client *ent.Client) (*Integrity, error) {
	v, err := viewer.Require(ctx)
	if err != nil {
		return nil, err
	}
	if !v.Support {
		return nil, apperr.Forbidden("only Support may verify the audit trail")
	}
	return Verify(ctx, client, VerifyOptions{})
}

// Verify walks every chain from its first link, recomputing each hash from
// the record it seals, and counts the records not sealed yet. It reports
// the first record that breaks a chain: one whose content changed (or was
// swapped with another's), one removed, a link missing (a gap), or a chain
// that no longer passes through a checkpoint.
func Verify(ctx context.Context, client *ent.Client, opts VerifyOptions) (*Integrity, error) {
	ctx = privacy.DecisionContext(ctx, privacy.Allow)
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	var chainIDs []int
	if err := client.AuditSeal.Query().Unique(true).Order(ent.Asc(auditseal.FieldOrganizationID)).
		Select(auditseal.FieldOrganizationID).Scan(ctx, &chainIDs); err != nil {
		return nil, err
	}
	checkpoints := map[int][]Checkpoint{}
	for _, cp := range opts.Checkpoints {
		checkpoints[cp.OrganizationID] = append(checkpoints[cp.OrganizationID], cp)
	}
	res := &Integrity{Chains: []Chain{}}
	for _, id := range chainIDs {
		chain, broken, err := verifyChain(ctx, client, id, checkpoints[id])
		if err != nil {
			return nil, err
		}
		res.Chains = append(res.Chains, chain)
		res.Records += chain.Records
		if broken != nil && res.FirstBroken == nil {
			res.FirstBroken = broken
		}
	}
	unsealedCount, err := client.AuditEvent.Query().Where(unsealed()).Count(ctx)
	if err != nil {
		return nil, err
	}
	overdue, err := client.AuditEvent.Query().
		Where(unsealed(), auditevent.CreatedAtLT(opts.Now.Add(-SealWindow))).Count(ctx)
	if err != nil {
		return nil, err
	}
	res.Unsealed, res.UnsealedOverdue = unsealedCount, overdue
	res.OK = res.FirstBroken == nil && overdue == 0
	return res, nil
}

// verifyChain walks one chain; it stops at the first break.
func verifyChain(ctx context.Context, client *ent.Client, chainID int, checkpoints []Checkpoint) (Chain, *Break, error) {
	chain := Chain{}
	if chainID != NoOrganization {
		chain.OrganizationID = &chainID
	}
	// The hash each checkpoint says its chain had after so many records.
	checkpointAt := map[int]Checkpoint{}
	for _, cp := range checkpoints {
		checkpointAt[cp.Records] = cp
	}
	brokenAt := func(s *ent.AuditSeal, reason string, args ...any) (Chain, *Break, error) {
		return chain, &Break{EventID: s.AuditEventID, OrganizationID: chain.OrganizationID, Seq: s.Seq, Reason: fmt.Sprintf(reason, args...)}, nil
	}
	for {
		links, err := client.AuditSeal.Query().
			Where(auditseal.OrganizationID(chainID), auditseal.SeqGT(chain.Records)).
			Order(ent.Asc(auditseal.FieldSeq)).Limit(verifyBatch).All(ctx)
		if err != nil {
			return chain, nil, err
		}
		if len(links) == 0 {
			break
		}
		ids := make([]int, len(links))
		for i, l := range links {
			ids[i] = l.AuditEventID
		}
		found, err := client.AuditEvent.Query().Where(auditevent.IDIn(ids...)).All(ctx)
		if err != nil {
			return chain, nil, err
		}
		records := make(map[int]*ent.AuditEvent, len(found))
		for _, e := range found {
			records[e.ID] = e
		}
		for _, l := range links {
			e := records[l.AuditEventID]
			switch {
			case l.Seq != chain.Records+1:
				return brokenAt(l, "links %d to %d of the chain are missing", chain.Records+1, l.Seq-1)
			case l.PrevHash != chain.Head:
				return brokenAt(l, "the link does not follow the one before it (links were reordered or replaced)")
			case e == nil:
				return brokenAt(l, "the record was removed")
			case chainOf(e) != chainID:
				return brokenAt(l, "the record was moved to another organization")
			}
			hash, err := link(chain.Head, e)
			if err != nil {
				return chain, nil, err
			}
			if hash != l.Hash {
				return brokenAt(l, "the record's content was changed")
			}
			if cp, ok := checkpointAt[l.Seq]; ok && cp.Head != hash {
				return brokenAt(l, "the chain differs from the checkpoint of %s (it was rewritten)", cp.Time.Format(time.RFC3339))
			}
			chain.Records, chain.Head = l.Seq, hash
		}
	}
	for _, cp := range checkpoints {
		if cp.Records > chain.Records {
			return chain, &Break{OrganizationID: chain.OrganizationID, Seq: chain.Records + 1,
				Reason: fmt.Sprintf("the chain has %d links, the checkpoint of %s had %d (links were removed)",
					chain.Records, cp.Time.Format(time.RFC3339), cp.Records)}, nil
		}
	}
	return chain, nil, nil
}
