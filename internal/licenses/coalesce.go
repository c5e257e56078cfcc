package licenses

import (
	"context"
	"slices"
	"sync"

	"github.com/clinicemr/usermanager/ent"
	"github.com/clinicemr/usermanager/internal/events"
	"github.com/clinicemr/usermanager/internal/txn"
)

// countsBatch collects the clinics whose counts changed in the committed
// transactions of one bulk change, so live subscribers hear of each clinic
// (and its organization) once, when the change ends, instead of once per
// user.
type countsBatch struct {
	mu      sync.Mutex
	clinics []scopeKey // in the order first changed
	seen    map[scopeKey]bool
}

type countsBatchKey struct{}

// add notes that a clinic's counts changed, once its transaction commits.
func (b *countsBatch) add(k scopeKey) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.seen[k] {
		b.seen[k] = true
		b.clinics = append(b.clinics, k)
	}
}

// take returns the clinics noted so far and forgets them.
func (b *countsBatch) take() []scopeKey {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := b.clinics
	b.clinics, b.seen = nil, map[scopeKey]bool{}
	return out
}

// CoalesceCounts returns ctx for the many transactions of one bulk change:
// within it, a change of license counts is not announced when its
// transaction commits but noted, and flush announces every clinic noted
// once: an event for each clinic's subscribers and one for each
// organization's, so every subscriber reads once. Each transaction still
// takes and frees licenses as on its own; only the announcement waits. Call
// flush when the bulk change ends, whatever its outcome, so no committed
// change goes unheard.
func (s *Service) CoalesceCounts(ctx context.Context) (context.Context, func() error) {
	b := &countsBatch{seen: map[scopeKey]bool{}}
	flush := func() error {
		clinics := b.take()
		if len(clinics) == 0 {
			return nil
		}
		// Announced through a transaction of its own, as any change is (a
		// NOTIFY on PostgreSQL), even if the request was cancelled meanwhile.
		fctx := context.WithoutCancel(ctx)
		fctx = context.WithValue(fctx, countsBatchKey{}, (*countsBatch)(nil))
		return txn.WithTx(fctx, s.client, func(tx *ent.Tx) error {
			// One event per clinic for its own subscribers, and one per
			// organization for those watching all of its clinics.
			var orgs []int
			for _, k := range clinics {
				if err := s.events.PublishTx(fctx, tx, events.Event{Kind: events.CountsChanged,
					OrganizationID: k.orgID, ClinicID: k.clinicID, ClinicOnly: true}); err != nil {
					return err
				}
				if !slices.Contains(orgs, k.orgID) {
					orgs = append(orgs, k.orgID)
				}
			}
			for _, org := range orgs {
				if err := s.events.PublishTx(fctx, tx, events.Event{Kind: events.CountsChanged, OrganizationID: org}); err != nil {
					return err
				}
			}
			return nil
		})
	}
	return context.WithValue(ctx, countsBatchKey{}, b), flush
}

// deferCounts notes, inside a bulk change (CoalesceCounts), that tx changes
// a clinic's counts, to be announced when the change ends; it reports false
// outside one.
func deferCounts(ctx context.Context, tx *ent.Tx, orgID, clinicID int) bool {
	b, _ := ctx.Value(countsBatchKey{}).(*countsBatch)
	if b == nil {
		return false
	}
	k := scopeKey{orgID: orgID, clinicID: clinicID}
	tx.OnCommit(func(next ent.Committer) ent.Committer {
		return ent.CommitFunc(func(ctx context.Context, tx *ent.Tx) error {
			if err := next.Commit(ctx, tx); err != nil {
				return err
			}
			b.add(k)
			return nil
		})
	})
	return true
}

// coalescing reports whether ctx is a bulk change's (CoalesceCounts).
func coalescing(ctx context.Context) bool {
	_, ok := ctx.Value(countsBatchKey{}).(*countsBatch)
	return ok
}
