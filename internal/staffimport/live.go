package staffimport

import (
	"context"
	"time"

	"github.com/clinicemr/usermanager/ent"
	"github.com/clinicemr/usermanager/ent/userimport"
	"github.com/clinicemr/usermanager/internal/apperr"
	"github.com/clinicemr/usermanager/internal/events"
	"github.com/clinicemr/usermanager/internal/viewer"
)

// pollEvery re-reads a watched import even without events: an event missed
// while the bus reconnected costs at most this delay.
const pollEvery = 5 * time.Second

// Progress answers userImportProgress: the import as it is now, then again
// after each committed batch, ending after it COMPLETED or FAILED. The
// import is read through the subscriber's own viewer (only its importer
// sees it).
func (im *Importer) Progress(ctx context.Context, id int) (<-chan *ent.UserImport, error) {
	v, err := viewer.Require(ctx)
	if err != nil {
		return nil, err
	}
	if !v.Can(viewer.PermViewUsers) {
		return nil, apperr.Forbidden("following an import needs the View Users permission")
	}
	read := func() (*ent.UserImport, error) { return im.client.UserImport.Get(ctx, id) }
	first, err := read()
	if ent.IsNotFound(err) {
		return nil, apperr.NotFound("no such import")
	}
	if err != nil {
		return nil, err
	}
	in := im.events.SubscribeTopic(ctx, Topic(v.OrganizationID))
	out := make(chan *ent.UserImport, 1)
	finished := func(u *ent.UserImport) bool {
		return u.Status == userimport.StatusCOMPLETED || u.Status == userimport.StatusFAILED
	}
	go func() {
		defer close(out)
		tick := time.NewTicker(pollEvery)
		defer tick.Stop()
		last := first
		send := func(u *ent.UserImport) bool {
			select {
			case out <- u:
				last = u
				return !finished(u)
			case <-ctx.Done():
				return false
			}
		}
		if !send(first) {
			return
		}
		for {
			select {
			case e, ok := <-in:
				if !ok {
					return
				}
				if e.Kind != events.Resync && e.ImportID != id {
					continue
				}
			case <-tick.C:
			case <-ctx.Done():
				return
			}
			u, err := read()
			if err != nil {
				return
			}
			if u.RowsDone == last.RowsDone && u.Status == last.Status {
				continue
			}
			if !send(u) {
				return
			}
		}
	}()
	return out, nil
}
