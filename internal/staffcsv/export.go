// Package staffcsv is the CSV format of staff lists: the columns that
// exportUsers writes and (later) importUsers reads, so that an export edited
// in a spreadsheet imports back.
package staffcsv

// Export of users as CSV (issue #13, point 4), built like the audit trail's
// export (internal/audit, export.go): exportUsers checks who asks and hands
// out a short-lived signed URL naming the exporter, what they may see and
// the filter; Handler serves it, streaming the users page by page.

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"entgo.io/contrib/entgql"

	"github.com/clinicemr/usermanager/ent"
	"github.com/clinicemr/usermanager/ent/auditevent"
	"github.com/clinicemr/usermanager/ent/clinic"
	"github.com/clinicemr/usermanager/ent/privacy"
	"github.com/clinicemr/usermanager/ent/user"
	"github.com/clinicemr/usermanager/internal/apperr"
	"github.com/clinicemr/usermanager/internal/audit"
	"github.com/clinicemr/usermanager/internal/directory"
	"github.com/clinicemr/usermanager/internal/gid"
	"github.com/clinicemr/usermanager/internal/media"
	"github.com/clinicemr/usermanager/internal/viewer"
)

// ExportInput is exportUsers' input.
type ExportInput struct {
	Filter *directory.Search `json:"filter"`
}

// ExportPayload is exportUsers' answer.
type ExportPayload struct {
	URL        *string             `json:"url"`
	ExpiresAt  *time.Time          `json:"expiresAt"`
	UserErrors []*apperr.UserError `json:"userErrors"`
}

const (
	// ExportPrefix is where Handler is mounted.
	ExportPrefix = "/users-export"
	// ExportTTL is the shortest lifetime of an export URL (it may live up
	// to 1.5×, see media.Signer).
	ExportTTL = 5 * time.Minute
	// PageSize is how many users one page of the export reads.
	PageSize = 500
)

// exportScope is what an export URL grants: the users that the users query
// shows the exporter, narrowed by Filter. It travels in the URL, signed, and
// holds what that visibility depends on (internal/policy,
// FilterVisibleUsers) as it was when the URL was handed out.
type exportScope struct {
	ViewerID int `json:"by"`
	// OrganizationID is the exporter's organization; 0 for Support, who
	// see every organization's users, as in the users query.
	OrganizationID int  `json:"org,omitempty"`
	Support        bool `json:"support,omitempty"`
	// AllClinics: a manager of every clinic of the organization. Otherwise
	// Clinics are the manager's clinics (R3).
	AllClinics bool             `json:"all,omitempty"`
	Clinics    []int            `json:"clinics,omitempty"`
	Filter     directory.Search `json:"filter"`
}

// Exporter issues and serves users export URLs.
type Exporter struct {
	client *ent.Client
	dir    *directory.Service
	links  media.Downloads
}

// NewExporter signs its URLs with a key derived from mediaKey (the media
// URLs' HMAC key), distinct from the media URLs' and the audit export's.
// Its URLs start with publicURL ("" gives relative URLs). The users come
// from dir's search, as the users query finds them.
func NewExporter(client *ent.Client, dir *directory.Service, mediaKey []byte, publicURL string, now func() time.Time) *Exporter {
	return &Exporter{client: client, dir: dir,
		links: media.NewDownloads(mediaKey, "users export URLs", publicURL, ExportPrefix, ExportTTL, now)}
}

// Export answers exportUsers. It needs View Users, and exports what the
// users query shows the viewer with the same filter: their organization's
// users (R1), only those of their clinics for a manager of some clinics
// (R3), every organization's for Support. The export is itself recorded
// (USERS_EXPORTED).
func (x *Exporter) Export(ctx context.Context, in ExportInput) (*ExportPayload, error) {
	v, err := viewer.Require(ctx)
	if err != nil {
		return nil, err
	}
	if !v.Can(viewer.PermViewUsers) {
		return nil, apperr.Forbidden("exporting users needs the View Users permission")
	}
	scope := exportScope{ViewerID: v.UserID, OrganizationID: v.OrganizationID, Support: v.Support}
	if !v.Support {
		scope.AllClinics = v.AllClinics
		if !v.AllClinics {
			scope.Clinics = v.ClinicIDs
		}
	}
	if in.Filter != nil {
		scope.Filter = *in.Filter
	}
	link, expiresAt, err := x.links.Link(scope)
	if err != nil {
		return nil, err
	}
	e := audit.Event{
		Action:     auditevent.ActionUSERS_EXPORTED,
		TargetType: "Organization",
		After:      map[string]any{"filter": describe(scope.Filter), "expiresAt": expiresAt.UTC().Format(time.RFC3339)},
	}
	if !v.Support {
		e.OrganizationID, e.TargetID = &scope.OrganizationID, &scope.OrganizationID
	}
	if err := audit.Record(ctx, x.client, e); err != nil {
		return nil, err
	}
	return &ExportPayload{URL: &link, ExpiresAt: &expiresAt, UserErrors: []*apperr.UserError{}}, nil
}

// describe is the filter as the export's audit record shows it: the fields
// set, IDs opaque as the API shows them.
func describe(f directory.Search) map[string]any {
	d := map[string]any{}
	if len(f.UserTypes) > 0 {
		d["userTypes"] = f.UserTypes
	}
	if len(f.Statuses) > 0 {
		d["statuses"] = f.Statuses
	}
	for name, s := range map[string]*string{"name": f.Name, "username": f.Username, "email": f.Email} {
		if s != nil {
			d[name] = *s
		}
	}
	if f.ClinicID != nil {
		d["clinicId"] = gid.Encode(*f.ClinicID)
	}
	return d
}

// Handler serves GET and HEAD ExportPrefix/<scope>?exp=…&sig=… (the URLs
// Export hands out) as a CSV download: 403 for a missing, altered or expired
// signature, 405 for other methods. No Authorization header is needed: the
// signature is the authority, for ExportTTL.
func (x *Exporter) Handler() http.Handler {
	return media.Serve(x.links, validScope, func(w http.ResponseWriter, r *http.Request, scope *exportScope) {
		ctx, err := x.viewerContext(r.Context(), *scope)
		if err != nil {
			slog.ErrorContext(r.Context(), "staffcsv: export failed", "viewer", scope.ViewerID, "err", err)
			http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="staff-%s.csv"`, time.Now().UTC().Format("20060102-150405")))
		if r.Method == http.MethodHead {
			return
		}
		// The headers go out with the first rows: a failure after that can
		// only cut the download short.
		if err := WriteCSV(ctx, x.client, x.dir, w, &scope.Filter); err != nil {
			slog.ErrorContext(r.Context(), "staffcsv: export failed", "viewer", scope.ViewerID, "err", err)
			// Abort the connection, so the download is visibly incomplete.
			panic(http.ErrAbortHandler)
		}
	})
}

// viewerContext is ctx with the exporter as the privacy rules see them
// (View Users, their organization and clinics), so that the export reads
// exactly what the users query shows them.
func (x *Exporter) viewerContext(ctx context.Context, s exportScope) (context.Context, error) {
	v := &viewer.Viewer{
		UserID: s.ViewerID, OrganizationID: s.OrganizationID, Support: s.Support,
		Permissions: []string{viewer.PermViewUsers}, AllClinics: s.AllClinics, ClinicIDs: s.Clinics,
	}
	if s.AllClinics {
		// Every clinic of the organization, now.
		ids, err := x.client.Clinic.Query().Where(clinic.OrganizationID(s.OrganizationID)).
			IDs(privacy.DecisionContext(ctx, privacy.Allow))
		if err != nil {
			return nil, err
		}
		v.ClinicIDs = ids
	}
	return viewer.NewContext(ctx, v), nil
}

func validScope(scope *exportScope) error {
	if scope.ViewerID <= 0 || !scope.Support && scope.OrganizationID <= 0 {
		return errors.New("no viewer or organization")
	}
	return nil
}

// WriteCSV writes the users that the users query shows ctx's viewer with
// filter to w as CSV (Header, then one Record per user), sorted by last name
// then id (the users query's LAST_NAME order). It reads PageSize users per
// page through the directory's search, loads their clinics, home clinics
// and permissions in one query each per page, and writes each page before
// reading the next, so memory stays flat however many users there are.
func WriteCSV(ctx context.Context, client *ent.Client, dir *directory.Service, w io.Writer, filter *directory.Search) error {
	out := csv.NewWriter(w)
	if err := out.Write(Header()); err != nil {
		return err
	}
	order := &ent.UserOrder{Direction: entgql.OrderDirectionAsc, Field: ent.UserOrderFieldLastName}
	first := PageSize
	var after *entgql.Cursor[int]
	for {
		page, err := dir.Search(ctx, after, &first, nil, nil, order, filter)
		if err != nil {
			return err
		}
		ids := make([]int, len(page.Edges))
		for i, e := range page.Edges {
			ids[i] = e.Node.ID
		}
		loaded, err := client.User.Query().Where(user.IDIn(ids...)).
			WithHomeClinic().WithClinics().WithPermissions().All(ctx)
		if err != nil {
			return err
		}
		byID := make(map[int]*ent.User, len(loaded))
		for _, u := range loaded {
			byID[u.ID] = u
		}
		for _, id := range ids {
			if u := byID[id]; u != nil { // gone since the page was read
				if err := out.Write(Record(u)); err != nil {
					return err
				}
			}
		}
		out.Flush()
		if err := out.Error(); err != nil {
			return err
		}
		if !page.PageInfo.HasNextPage || page.PageInfo.EndCursor == nil {
			return nil
		}
		after = page.PageInfo.EndCursor
	}
}
