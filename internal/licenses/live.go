package licenses

import (
	"context"

	"github.com/clinicemr/usermanager/ent"
	"github.com/clinicemr/usermanager/internal/apperr"
	"github.com/clinicemr/usermanager/internal/events"
	"github.com/clinicemr/usermanager/internal/viewer"
)

// scope is what a subscriber watches: a clinic, or a whole organization.
type scope struct {
	orgID    int
	clinicID *int
}

func (sc scope) matches(e events.Event) bool {
	return e.OrganizationID == sc.orgID && (sc.clinicID == nil || *sc.clinicID == e.ClinicID)
}

// subscriptionScope authorizes a subscription as licenseCounts would be.
func (s *Service) subscriptionScope(ctx context.Context, clinicID *int) (*viewer.Viewer, scope, error) {
	v, err := viewer.Require(ctx)
	if err != nil {
		return nil, scope{}, err
	}
	if !v.Can(viewer.PermViewUsers) {
		return nil, scope{}, apperr.Forbidden("watching licenses needs the View Users permission")
	}
	if clinicID != nil {
		c, err := s.accessibleClinic(ctx, v, *clinicID)
		if err != nil {
			return nil, scope{}, err
		}
		return v, scope{orgID: c.OrganizationID, clinicID: &c.ID}, nil
	}
	if v.Support {
		return nil, scope{}, apperr.BadInput("Support staff name the clinic (clinicId) to watch")
	}
	return v, scope{orgID: v.OrganizationID}, nil
}

// CountsChanged streams license counts (R22) of a clinic, or of the
// viewer's organization: the current counts first, then new counts after
// every change that commits, on any server instance (R27).
func (s *Service) CountsChanged(ctx context.Context, clinicID *int) (<-chan []*Count, error) {
	_, sc, err := s.subscriptionScope(ctx, clinicID)
	if err != nil {
		return nil, err
	}
	read := func() ([]*Count, error) { return s.Counts(ctx, sc.clinicID, &sc.orgID) }
	// Listen before the first read, so a change committed meanwhile is not missed.
	in := s.events.Subscribe(ctx)
	first, err := read()
	if err != nil {
		return nil, err
	}
	out := make(chan []*Count, 1)
	go func() {
		defer close(out)
		counts := first
		for {
			select {
			case out <- counts:
			case <-ctx.Done():
				return
			}
			if !waitFor(ctx, in, func(e events.Event) bool {
				return e.Kind == events.Resync || e.Kind == events.CountsChanged && sc.matches(e)
			}) {
				return
			}
			if counts, err = read(); err != nil {
				return
			}
		}
	}()
	return out, nil
}

// waitFor waits for an event wanted, then also takes any further events
// already queued, so a burst of changes gives one re-read. It reports false
// when the subscription is over.
func waitFor(ctx context.Context, in <-chan events.Event, wanted func(events.Event) bool) bool {
	for {
		select {
		case e, ok := <-in:
			if !ok {
				return false
			}
			if !wanted(e) {
				continue
			}
			for {
				select {
				case _, ok := <-in:
					if !ok {
						return false
					}
				default:
					return true
				}
			}
		case <-ctx.Done():
			return false
		}
	}
}

// AdjustmentCompleted streams adjustments of a clinic, or of the viewer's
// organization, as they reach Completed or Rejected (R27). After a gap in
// events (a listener reconnect) it sends the adjustments finished since the
// last one it sent, so none is silently missed.
func (s *Service) AdjustmentCompleted(ctx context.Context, clinicID *int) (<-chan *ent.LicenseAdjustment, error) {
	v, sc, err := s.subscriptionScope(ctx, clinicID)
	if err != nil {
		return nil, err
	}
	in := s.events.Subscribe(ctx)
	out := make(chan *ent.LicenseAdjustment, 8)
	since := s.Now()
	go func() {
		defer close(out)
		send := func(adj *ent.LicenseAdjustment) bool {
			select {
			case out <- adj:
				if adj.ProcessedAt != nil && adj.ProcessedAt.After(since) {
					since = *adj.ProcessedAt
				}
				return true
			case <-ctx.Done():
				return false
			}
		}
		for {
			var e events.Event
			var ok bool
			select {
			case e, ok = <-in:
				if !ok {
					return
				}
			case <-ctx.Done():
				return
			}
			switch {
			case e.Kind == events.AdjustmentFinished && sc.matches(e):
				adj, err := s.visibleAdjustment(ctx, v, e.AdjustmentID)
				if err != nil {
					continue
				}
				if !send(adj) {
					return
				}
			case e.Kind == events.Resync:
				missed, err := s.finishedSince(ctx, sc, since)
				if err != nil {
					return
				}
				for _, adj := range missed {
					if !v.HasClinic(adj.ClinicID) {
						continue
					}
					if !send(adj) {
						return
					}
				}
			}
		}
	}()
	return out, nil
}
