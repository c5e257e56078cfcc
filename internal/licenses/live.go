package licenses

import (
	"context"

	"github.com/clinicemr/usermanager/ent"
	"github.com/clinicemr/usermanager/internal/apperr"
	"github.com/clinicemr/usermanager/internal/events"
	"github.com/clinicemr/usermanager/internal/fanout"
	"github.com/clinicemr/usermanager/internal/viewer"
)

// scope is what a subscriber watches: a clinic, or a whole organization.
type scope struct {
	orgID    int
	clinicID *int
	// clinic is the clinic watched, nil for an organization.
	clinic *ent.Clinic
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
		// A clinic of the viewer's own list that others already watch
		// needs no read: the watched feed's clinic is of the viewer's
		// organization (its key says so) and the viewer has access to it.
		if !v.Support && v.HasClinic(*clinicID) {
			if c := s.counts.watched(scopeKey{orgID: v.OrganizationID, clinicID: *clinicID}); c != nil {
				return v, scope{orgID: c.OrganizationID, clinicID: &c.ID, clinic: c}, nil
			}
		}
		c, err := s.accessibleClinic(ctx, v, *clinicID)
		if err != nil {
			return nil, scope{}, err
		}
		return v, scope{orgID: c.OrganizationID, clinicID: &c.ID, clinic: c}, nil
	}
	if v.Support {
		return nil, scope{}, apperr.BadInput("Support staff name the clinic (clinicId) to watch")
	}
	return v, scope{orgID: v.OrganizationID}, nil
}

// CountsChanged streams license counts (R22) of a clinic, or of the
// viewer's organization: the current counts first, then new counts after
// every change that commits, on any server instance (R27), and after a
// Resync, unless they are the counts the subscriber last had. Each subscriber is authorized here; the counts themselves are read
// once per change for all subscribers of the scope (see countsHub), and
// encoded once per distinct subscription document (see fanout). A
// subscriber who falls behind gets the newest counts, not every one.
func (s *Service) CountsChanged(ctx context.Context, clinicID *int) (<-chan []*Count, error) {
	_, sc, err := s.subscriptionScope(ctx, clinicID)
	if err != nil {
		return nil, err
	}
	return fanout.Deliver(ctx, s.counts.join(ctx, sc)), nil
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
	in := s.events.SubscribeTopic(ctx, events.ClinicTopic(events.AdjustmentFinished, sc.orgID, sc.clinicID))
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
			case e.Kind == events.AdjustmentFinished:
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
