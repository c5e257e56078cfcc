package audit

// Export of the audit trail as CSV (R31, issue #11 item 5).
//
// exportAuditEvents checks who asks and hands out a short-lived signed URL;
// the URL names the organization and the filter, and its signature binds
// them, so whoever holds it gets exactly that and nothing else. ExportHandler
// serves it, streaming the records from the database in batches.

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/clinicemr/usermanager/ent"
	"github.com/clinicemr/usermanager/ent/auditevent"
	"github.com/clinicemr/usermanager/ent/organization"
	"github.com/clinicemr/usermanager/ent/predicate"
	"github.com/clinicemr/usermanager/ent/privacy"
	"github.com/clinicemr/usermanager/internal/apperr"
	"github.com/clinicemr/usermanager/internal/gid"
	"github.com/clinicemr/usermanager/internal/media"
	"github.com/clinicemr/usermanager/internal/policy"
	"github.com/clinicemr/usermanager/internal/viewer"
)

const (
	// ExportPrefix is where ExportHandler is mounted.
	ExportPrefix = "/audit-export"
	// ExportTTL is the shortest lifetime of an export URL (it may live up
	// to 1.5×, see media.Signer).
	ExportTTL = 5 * time.Minute
	// exportBatch is how many records one query of the export reads.
	exportBatch = 1000
)

// ExportInput is exportAuditEvents' input. Support names the organization;
// a manager exports their own.
type ExportInput struct {
	OrganizationID *int    `json:"organizationId"`
	Filter         *Filter `json:"filter"`
}

// ExportPayload is exportAuditEvents' answer.
type ExportPayload struct {
	URL        *string             `json:"url"`
	ExpiresAt  *time.Time          `json:"expiresAt"`
	UserErrors []*apperr.UserError `json:"userErrors"`
}

// exportScope is what an export URL grants: the records of one organization
// that match Filter. It travels in the URL, signed.
type exportScope struct {
	OrganizationID int    `json:"org"`
	ViewerID       int    `json:"by"`
	Filter         Filter `json:"filter"`
	// Limited: the exporter is a manager with access to only some of the
	// organization's clinics, Clinics; the export shows what auditEvents
	// shows them (R3).
	Limited bool  `json:"limited,omitempty"`
	Clinics []int `json:"clinics,omitempty"`
}

// Exporter issues and serves export URLs.
type Exporter struct {
	client *ent.Client
	links  media.Downloads
}

// NewExporter signs its URLs with a key derived from mediaKey (the media
// URLs' HMAC key), so that a picture's signature is never an export's. Its
// URLs start with publicURL ("" gives relative URLs).
func NewExporter(client *ent.Client, mediaKey []byte, publicURL string, now func() time.Time) *Exporter {
	return &Exporter{client: client,
		links: media.NewDownloads(mediaKey, "audit export URLs", publicURL, ExportPrefix, ExportTTL, now)}
}

// Export answers exportAuditEvents. It needs View Users, and shows a manager
// what auditEvents shows them: their whole organization's trail. Support
// names the organization. The export is itself recorded (AUDIT_EXPORTED).
func (x *Exporter) Export(ctx context.Context, in ExportInput) (*ExportPayload, error) {
	v, err := viewer.Require(ctx)
	if err != nil {
		return nil, err
	}
	if !v.Can(viewer.PermViewUsers) {
		return nil, apperr.Forbidden("exporting the audit trail needs the View Users permission")
	}
	orgID := v.OrganizationID
	switch {
	case v.Support && in.OrganizationID == nil:
		return nil, apperr.BadInput("Support staff name the organization (organizationId)")
	case v.Support:
		orgID = *in.OrganizationID
		exists, err := x.client.Organization.Query().Where(organization.ID(orgID)).Exist(ctx)
		if err != nil {
			return nil, err
		}
		if !exists {
			return nil, apperr.NotFound("no such organization")
		}
	case in.OrganizationID != nil && *in.OrganizationID != orgID:
		return nil, apperr.NotFound("no such organization")
	}
	scope := exportScope{OrganizationID: orgID, ViewerID: v.UserID}
	if !v.Support && !v.AllClinics {
		scope.Limited, scope.Clinics = true, v.ClinicIDs
	}
	if in.Filter != nil {
		scope.Filter = *in.Filter
	}
	link, expiresAt, err := x.links.Link(scope)
	if err != nil {
		return nil, err
	}
	err = Record(ctx, x.client, Event{
		Action: auditevent.ActionAUDIT_EXPORTED, OrganizationID: &orgID,
		TargetType: "Organization", TargetID: &orgID,
		After: map[string]any{"filter": scope.Filter.describe(), "expiresAt": expiresAt.UTC().Format(time.RFC3339)},
	})
	if err != nil {
		return nil, err
	}
	return &ExportPayload{URL: &link, ExpiresAt: &expiresAt, UserErrors: []*apperr.UserError{}}, nil
}

// describe is the filter as the export's audit record shows it: the fields
// set, IDs opaque as the API shows them.
func (f Filter) describe() map[string]any {
	d := map[string]any{}
	if f.UserID != nil {
		d["userId"] = gid.Encode(*f.UserID)
	}
	if f.ActorID != nil {
		d["actorId"] = gid.Encode(*f.ActorID)
	}
	if len(f.Actions) > 0 {
		d["actions"] = f.Actions
	}
	if f.From != nil {
		d["from"] = f.From.UTC().Format(time.RFC3339Nano)
	}
	if f.To != nil {
		d["to"] = f.To.UTC().Format(time.RFC3339Nano)
	}
	return d
}

// Handler serves GET and HEAD ExportPrefix/<scope>?exp=…&sig=… (the URLs
// Export hands out) as a CSV download: 403 for a missing, altered or expired
// signature, 405 for other methods. No Authorization header is needed: the
// signature is the authority, for ExportTTL.
func (x *Exporter) Handler() http.Handler {
	return media.Serve(x.links, validScope, func(w http.ResponseWriter, r *http.Request, scope *exportScope) {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="audit-trail-%d-%s.csv"`,
			scope.OrganizationID, time.Now().UTC().Format("20060102-150405")))
		if r.Method == http.MethodHead {
			return
		}
		// The headers go out with the first rows: a failure after that can
		// only cut the download short (the client sees a truncated body).
		var visible []predicate.AuditEvent
		if scope.Limited {
			visible = append(visible, policy.AuditEventsVisibleTo(scope.ViewerID, scope.Clinics))
		}
		if err := WriteCSV(r.Context(), x.client, w, scope.OrganizationID, scope.Filter, visible...); err != nil {
			slog.ErrorContext(r.Context(), "audit: export failed", "organization", scope.OrganizationID, "err", err)
			// Abort the connection, so the download is visibly incomplete.
			panic(http.ErrAbortHandler)
		}
	})
}

func validScope(scope *exportScope) error {
	if scope.OrganizationID <= 0 {
		return errors.New("no organization")
	}
	return nil
}

// ExportColumns is the CSV header.
var ExportColumns = []string{
	"id", "time", "action", "actor_username", "actor_id", "target_type", "target_id",
	"target_user_id", "organization_id", "outcome", "reason", "client_ip", "request_id", "before", "after",
}

// WriteCSV writes the organization's records that match filter to w as CSV
// (ExportColumns), oldest first, reading exportBatch records per query
// (keyset pagination on created_at, id) so that memory stays flat however
// long the period. IDs are opaque, as the API shows them; times are
// RFC 3339 in UTC; cells a spreadsheet would run as formulas are defused.
//
// visible narrows the records to what the exporter may read (R3).
func WriteCSV(ctx context.Context, client *ent.Client, w io.Writer, orgID int, filter Filter, visible ...predicate.AuditEvent) error {
	// The URL's signature is the authority here, not a signed-in viewer.
	ctx = privacy.DecisionContext(ctx, privacy.Allow)
	out := csv.NewWriter(w)
	if err := out.Write(ExportColumns); err != nil {
		return err
	}
	var last *ent.AuditEvent
	for {
		q := client.AuditEvent.Query().
			Where(auditevent.OrganizationID(orgID)).Where(filter.predicates()...).Where(visible...)
		if last != nil {
			q = q.Where(auditevent.Or(
				auditevent.CreatedAtGT(last.CreatedAt),
				auditevent.And(auditevent.CreatedAt(last.CreatedAt), auditevent.IDGT(last.ID)),
			))
		}
		batch, err := q.Order(ent.Asc(auditevent.FieldCreatedAt), ent.Asc(auditevent.FieldID)).Limit(exportBatch).All(ctx)
		if err != nil {
			return err
		}
		for _, e := range batch {
			row, err := csvRow(e)
			if err != nil {
				return err
			}
			if err := out.Write(row); err != nil {
				return err
			}
		}
		out.Flush()
		if err := out.Error(); err != nil {
			return err
		}
		if len(batch) < exportBatch {
			return nil
		}
		last = batch[len(batch)-1]
	}
}

func csvRow(e *ent.AuditEvent) ([]string, error) {
	before, err := jsonCell(e.Before)
	if err != nil {
		return nil, err
	}
	after, err := jsonCell(e.After)
	if err != nil {
		return nil, err
	}
	row := []string{
		gid.Encode(e.ID), e.CreatedAt.UTC().Format(time.RFC3339Nano), string(e.Action),
		e.ActorUsername, optionalID(e.ActorID), e.TargetType, optionalID(e.TargetID),
		optionalID(e.TargetUserID), optionalID(e.OrganizationID), string(e.Outcome),
		e.Reason, e.ClientIP, e.RequestID, before, after,
	}
	for i, cell := range row {
		row[i] = Defuse(cell)
	}
	return row, nil
}

func optionalID(id *int) string {
	if id == nil {
		return ""
	}
	return gid.Encode(*id)
}

func jsonCell(m map[string]any) (string, error) {
	if m == nil {
		return "", nil
	}
	b, err := json.Marshal(m)
	return string(b), err
}

// Defuse keeps a spreadsheet from running a cell as a formula (CSV
// injection): a cell starting with =, +, -, @, a tab or a carriage return
// gets a leading apostrophe. The users export (internal/staffcsv) uses it
// too.
func Defuse(cell string) string {
	if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
		return "'" + cell
	}
	return cell
}
