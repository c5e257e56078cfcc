package licenses

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"entgo.io/contrib/entgql"
	"entgo.io/ent/dialect"
	"entgo.io/ent/dialect/sql"
	"github.com/riverqueue/river"

	"github.com/clinicemr/usermanager/ent"
	"github.com/clinicemr/usermanager/ent/auditevent"
	"github.com/clinicemr/usermanager/ent/clinic"
	"github.com/clinicemr/usermanager/ent/license"
	"github.com/clinicemr/usermanager/ent/licenseadjustment"
	"github.com/clinicemr/usermanager/ent/licensecount"
	"github.com/clinicemr/usermanager/ent/predicate"
	"github.com/clinicemr/usermanager/ent/privacy"
	"github.com/clinicemr/usermanager/internal/apperr"
	"github.com/clinicemr/usermanager/internal/audit"
	"github.com/clinicemr/usermanager/internal/events"
	"github.com/clinicemr/usermanager/internal/gid"
	"github.com/clinicemr/usermanager/internal/mail"
	"github.com/clinicemr/usermanager/internal/staff"
	"github.com/clinicemr/usermanager/internal/txn"
	"github.com/clinicemr/usermanager/internal/viewer"
)

// DefaultWindow is how long an adjustment waits for Support before it is
// processed automatically (R26).
const DefaultWindow = 24 * time.Hour

// Codes of adjustment rule violations.
const (
	ReleaseExceedsAvailable apperr.Code = "RELEASE_EXCEEDS_AVAILABLE"
	InvalidStatusTransition apperr.Code = "INVALID_STATUS_TRANSITION"
)

// RequestAdjustmentInput asks billing to add or release licenses (R26).
type RequestAdjustmentInput struct {
	ClinicID      int                              `json:"clinicId"`
	Class         staff.LicenseClass               `json:"class"`
	Kind          licenseadjustment.Kind           `json:"kind"`
	Quantity      int                              `json:"quantity"`
	ReleaseReason *licenseadjustment.ReleaseReason `json:"releaseReason"`
	Explanation   *string                          `json:"explanation"`
}

// AdjustmentInput names an adjustment.
type AdjustmentInput struct {
	AdjustmentID int `json:"adjustmentId"`
}

// RejectAdjustmentInput names an adjustment and why it is rejected.
type RejectAdjustmentInput struct {
	AdjustmentID int    `json:"adjustmentId"`
	Reason       string `json:"reason"`
}

// AdjustmentPayload is the result of an adjustment mutation.
type AdjustmentPayload struct {
	Adjustment *ent.LicenseAdjustment `json:"adjustment"`
	UserErrors []*apperr.UserError    `json:"userErrors"`
}

// AdjustmentSearch narrows the licenseAdjustments list.
type AdjustmentSearch struct {
	ClinicID *int                       `json:"clinicId"`
	Statuses []licenseadjustment.Status `json:"statuses"`
	Kinds    []licenseadjustment.Kind   `json:"kinds"`
}

// MaxExplanation bounds a release's explanation.
const MaxExplanation = 2000

func refused(l apperr.List) *AdjustmentPayload { return &AdjustmentPayload{UserErrors: l} }

// RequestAdjustment records a pending adjustment and schedules its automatic
// processing at the end of the window, in one transaction.
func (s *Service) RequestAdjustment(ctx context.Context, in RequestAdjustmentInput) (*AdjustmentPayload, error) {
	v, err := viewer.Require(ctx)
	if err != nil {
		return nil, err
	}
	if !v.Can(viewer.PermEditUsers) {
		return nil, apperr.Forbidden("requesting a license adjustment needs the Edit Users permission")
	}
	c, err := s.accessibleClinic(ctx, v, in.ClinicID)
	if err != nil {
		return nil, err
	}
	var errs apperr.List
	if in.Quantity < 1 || in.Quantity > MaxQuantity {
		errs.Add("quantity", apperr.InvalidQuantity, "the quantity must be between 1 and %d", MaxQuantity)
	}
	explanation := ""
	if in.Explanation != nil {
		explanation = strings.TrimSpace(*in.Explanation)
	}
	if len([]rune(explanation)) > MaxExplanation {
		errs.Add("explanation", apperr.TooLong, "the explanation must be at most %d characters", MaxExplanation)
	}
	if in.Kind == licenseadjustment.KindRELEASE {
		if in.ReleaseReason == nil {
			errs.Add("releaseReason", apperr.Required, "a release needs a reason")
		}
		if explanation == "" {
			errs.Add("explanation", apperr.Required, "a release needs an explanation")
		}
	} else if in.ReleaseReason != nil {
		errs.Add("releaseReason", apperr.Code("NOT_APPLICABLE"), "only a release has a reason")
	}
	if len(errs) > 0 {
		return refused(errs), nil
	}
	var created *ent.LicenseAdjustment
	err = txn.WithTx(ctx, s.client, func(tx *ent.Tx) error {
		if in.Kind == licenseadjustment.KindRELEASE {
			// Serialize release requests of a clinic so two cannot both pass
			// the check below (SQLite transactions are serialized already).
			if s.dialect == dialect.Postgres {
				if _, err := tx.Clinic.Query().Where(clinic.ID(c.ID)).ForUpdate().Only(ctx); err != nil {
					return err
				}
			}
			free, err := tx.License.Query().Where(license.ClinicID(c.ID), license.ClassEQ(in.Class), license.HolderIDIsNil()).Count(ctx)
			if err != nil {
				return err
			}
			pending, err := s.pendingReleases(ctx, tx, c.ID, in.Class)
			if err != nil {
				return err
			}
			if in.Quantity > free-pending {
				msg := fmt.Sprintf("only %d %s license%s available at %s to release", max(free-pending, 0),
					strings.ToLower(string(in.Class)), plural(free-pending, " is", "s are"), c.Name)
				if pending > 0 {
					msg += fmt.Sprintf(" (%d more already pending release)", pending)
				}
				return apperr.List{apperr.New("quantity", ReleaseExceedsAvailable, "%s", msg)}
			}
		}
		create := tx.LicenseAdjustment.Create().
			SetOrganizationID(c.OrganizationID).SetClinicID(c.ID).
			SetClass(in.Class).SetKind(in.Kind).SetQuantity(in.Quantity).
			SetNillableReleaseReason(in.ReleaseReason).SetExplanation(explanation).
			SetDueAt(s.Now().Add(s.Window))
		if !v.Support {
			create.SetRequestedByID(v.UserID)
		}
		if created, err = create.Save(ctx); err != nil {
			return err
		}
		if err := s.jobs.InsertTx(ctx, tx, ProcessAdjustmentArgs{AdjustmentID: created.ID},
			&river.InsertOpts{ScheduledAt: created.DueAt}); err != nil {
			return err
		}
		if err := s.recordAdjustment(ctx, tx, created, nil); err != nil {
			return err
		}
		return s.countsChanged(ctx, tx, c.OrganizationID, c.ID)
	})
	if l, ok := apperr.AsList(err); ok {
		return refused(l), nil
	}
	if err != nil {
		return nil, fmt.Errorf("requesting a license adjustment: %w", err)
	}
	return &AdjustmentPayload{Adjustment: created.Unwrap(), UserErrors: []*apperr.UserError{}}, nil
}

// CancelAdjustment withdraws a pending adjustment; only its requester may.
func (s *Service) CancelAdjustment(ctx context.Context, in AdjustmentInput) (*AdjustmentPayload, error) {
	v, err := viewer.Require(ctx)
	if err != nil {
		return nil, err
	}
	adj, err := s.visibleAdjustment(ctx, v, in.AdjustmentID)
	if err != nil {
		return nil, err
	}
	if adj.RequestedByID == nil || *adj.RequestedByID != v.UserID {
		return nil, apperr.Forbidden("only the manager who requested an adjustment can cancel it")
	}
	return s.transition(ctx, adj, func(tx *ent.Tx) (*ent.LicenseAdjustment, error) {
		return s.setStatus(ctx, tx, adj, licenseadjustment.StatusCANCELLED, nil, "")
	})
}

// ProcessAdjustment completes a pending adjustment now (Support only). A
// release that no longer fits is rejected with the reason.
func (s *Service) ProcessAdjustment(ctx context.Context, in AdjustmentInput) (*AdjustmentPayload, error) {
	v, adj, err := s.supportAdjustment(ctx, in.AdjustmentID)
	if err != nil {
		return nil, err
	}
	return s.transition(ctx, adj, func(tx *ent.Tx) (*ent.LicenseAdjustment, error) {
		return s.apply(ctx, tx, adj, &v.UserID)
	})
}

// RejectAdjustment rejects a pending adjustment with a reason (Support only).
func (s *Service) RejectAdjustment(ctx context.Context, in RejectAdjustmentInput) (*AdjustmentPayload, error) {
	v, adj, err := s.supportAdjustment(ctx, in.AdjustmentID)
	if err != nil {
		return nil, err
	}
	reason := strings.TrimSpace(in.Reason)
	switch {
	case reason == "":
		return refused(apperr.List{apperr.New("reason", apperr.Required, "a rejection needs a reason")}), nil
	case len([]rune(reason)) > MaxExplanation:
		return refused(apperr.List{apperr.New("reason", apperr.TooLong, "the reason must be at most %d characters", MaxExplanation)}), nil
	}
	return s.transition(ctx, adj, func(tx *ent.Tx) (*ent.LicenseAdjustment, error) {
		return s.finish(ctx, tx, adj, licenseadjustment.StatusREJECTED, &v.UserID, reason)
	})
}

// errNotPending: the adjustment was no longer pending when the change was
// about to be written (processed, rejected or cancelled meanwhile).
var errNotPending = errors.New("the adjustment is no longer pending")

func (s *Service) transition(ctx context.Context, adj *ent.LicenseAdjustment, change func(tx *ent.Tx) (*ent.LicenseAdjustment, error)) (*AdjustmentPayload, error) {
	notPending := func(status licenseadjustment.Status) *AdjustmentPayload {
		return refused(apperr.List{apperr.New("adjustmentId", InvalidStatusTransition,
			"the adjustment is %s, no longer pending", strings.ToLower(string(status)))})
	}
	if adj.Status != licenseadjustment.StatusPENDING {
		return notPending(adj.Status), nil
	}
	var saved *ent.LicenseAdjustment
	err := txn.WithTx(ctx, s.client, func(tx *ent.Tx) (err error) {
		saved, err = change(tx)
		return err
	})
	if errors.Is(err, errNotPending) {
		current, gerr := s.client.LicenseAdjustment.Get(ctx, adj.ID)
		if gerr != nil {
			return nil, gerr
		}
		return notPending(current.Status), nil
	}
	if l, ok := apperr.AsList(err); ok {
		return refused(l), nil
	}
	if err != nil {
		return nil, fmt.Errorf("changing a license adjustment: %w", err)
	}
	return &AdjustmentPayload{Adjustment: saved.Unwrap(), UserErrors: []*apperr.UserError{}}, nil
}

// apply carries out a pending adjustment: an addition adds its licenses; a
// release removes free licenses, or is rejected when too few are free.
// processedBy is nil for automatic processing.
func (s *Service) apply(ctx context.Context, tx *ent.Tx, adj *ent.LicenseAdjustment, processedBy *int) (*ent.LicenseAdjustment, error) {
	if adj.Kind == licenseadjustment.KindADD {
		if err := s.Add(ctx, tx, adj.OrganizationID, adj.ClinicID, adj.Class, adj.Quantity); err != nil {
			return nil, err
		}
		if err := s.RecordTotalChange(ctx, tx, TotalChange{OrganizationID: adj.OrganizationID, ClinicID: adj.ClinicID,
			Class: adj.Class, Added: adj.Quantity, Adjustment: adj}); err != nil {
			return nil, err
		}
		return s.finish(ctx, tx, adj, licenseadjustment.StatusCOMPLETED, processedBy, "")
	}
	q := tx.License.Query().
		Where(license.ClinicID(adj.ClinicID), license.ClassEQ(adj.Class), license.HolderIDIsNil()).
		Order(license.ByID(sql.OrderDesc())).Limit(adj.Quantity)
	if s.dialect == dialect.Postgres {
		q = q.ForUpdate(sql.WithLockAction(sql.SkipLocked))
	}
	ids, err := q.IDs(ctx)
	if err != nil {
		return nil, err
	}
	if len(ids) == adj.Quantity {
		n, err := tx.License.Delete().Where(license.IDIn(ids...), license.HolderIDIsNil()).Exec(ctx)
		if err != nil {
			return nil, err
		}
		if n == adj.Quantity {
			if err := s.countsChanged(ctx, tx, adj.OrganizationID, adj.ClinicID); err != nil {
				return nil, err
			}
			if err := s.RecordTotalChange(ctx, tx, TotalChange{OrganizationID: adj.OrganizationID, ClinicID: adj.ClinicID,
				Class: adj.Class, Added: -n, Adjustment: adj}); err != nil {
				return nil, err
			}
			return s.finish(ctx, tx, adj, licenseadjustment.StatusCOMPLETED, processedBy, "")
		}
		return nil, fmt.Errorf("licenses: released %d of %d locked licenses", n, adj.Quantity)
	}
	reason := fmt.Sprintf("Only %d of the %d %s licenses to release %s still available: the others were assigned to active users after the request.",
		len(ids), adj.Quantity, strings.ToLower(string(adj.Class)), plural(len(ids), "is", "are"))
	return s.finish(ctx, tx, adj, licenseadjustment.StatusREJECTED, processedBy, reason)
}

// finish moves a pending adjustment to Completed or Rejected, and, in the
// same transaction, queues the requester's email and announces it (R27, R28).
func (s *Service) finish(ctx context.Context, tx *ent.Tx, adj *ent.LicenseAdjustment, status licenseadjustment.Status, processedBy *int, reason string) (*ent.LicenseAdjustment, error) {
	saved, err := s.setStatus(ctx, tx, adj, status, processedBy, reason)
	if err != nil {
		return nil, err
	}
	if err := s.queueMail(ctx, tx, saved); err != nil {
		return nil, err
	}
	err = s.events.PublishTx(ctx, tx, events.Event{Kind: events.AdjustmentFinished,
		OrganizationID: adj.OrganizationID, ClinicID: adj.ClinicID, AdjustmentID: adj.ID})
	return saved, err
}

// setStatus writes a status change conditionally on the adjustment still
// being pending, and records it.
func (s *Service) setStatus(ctx context.Context, tx *ent.Tx, adj *ent.LicenseAdjustment, status licenseadjustment.Status, processedBy *int, reason string) (*ent.LicenseAdjustment, error) {
	upd := tx.LicenseAdjustment.Update().
		Where(licenseadjustment.ID(adj.ID), licenseadjustment.StatusEQ(licenseadjustment.StatusPENDING)).
		SetStatus(status)
	if status != licenseadjustment.StatusCANCELLED {
		upd.SetProcessedAt(s.Now()).SetNillableProcessedByID(processedBy)
	}
	if reason != "" {
		upd.SetRejectionReason(reason)
	}
	n, err := upd.Save(ctx)
	if err != nil {
		return nil, err
	}
	if n != 1 {
		return nil, errNotPending
	}
	saved, err := tx.LicenseAdjustment.Get(ctx, adj.ID)
	if err != nil {
		return nil, err
	}
	if err := s.recordAdjustment(ctx, tx, saved, adj); err != nil {
		return nil, err
	}
	// Pending counts changed in every case.
	return saved, s.countsChanged(ctx, tx, adj.OrganizationID, adj.ClinicID)
}

func (s *Service) recordAdjustment(ctx context.Context, tx *ent.Tx, after, before *ent.LicenseAdjustment) error {
	e := audit.Event{Action: auditevent.ActionLICENSE_ADJUSTMENT_CHANGED,
		OrganizationID: &after.OrganizationID, TargetType: "LicenseAdjustment", TargetID: &after.ID,
		After: map[string]any{"status": string(after.Status), "kind": string(after.Kind),
			"class": string(after.Class), "quantity": after.Quantity, "clinicId": after.ClinicID}}
	if before != nil {
		e.Before = map[string]any{"status": string(before.Status)}
	}
	if after.RejectionReason != nil {
		e.Reason = *after.RejectionReason
	}
	if viewer.FromContext(ctx) == nil {
		e.ActorUsername = audit.SystemActor
	}
	return audit.Record(ctx, tx.Client(), e)
}

// TotalChange is a change of a clinic's billed licenses of one class.
type TotalChange struct {
	OrganizationID, ClinicID int
	Class                    staff.LicenseClass
	// Added is how many licenses were added; negative when removed.
	Added int
	// Adjustment is the completed adjustment that made the change; nil when
	// the licenses came with the clinic at its creation.
	Adjustment *ent.LicenseAdjustment
}

// Causes of a LICENSES_CHANGED record, in its "cause".
const (
	CauseAdjustment    = "ADJUSTMENT"
	CauseClinicCreated = "CLINIC_CREATED"
)

// RecordTotalChange records LICENSES_CHANGED (R31) for a change of a
// clinic's total that tx has just written, so the trail answers who changed
// the billed licenses and when. The actor is the viewer (Support), or
// SystemActor when an adjustment is processed at the end of its window.
//
// The total after is read from the kept counts: the licenses' statement
// triggers have already updated them in tx, and the count's row stays
// locked until tx commits (SQLite has one writer at a time anyway), so no
// other change can come in between. The total before is derived from it
// rather than read beforehand, where a change committed by another
// transaction in between would make it wrong.
func (s *Service) RecordTotalChange(ctx context.Context, tx *ent.Tx, c TotalChange) error {
	// Bookkeeping of the system: the viewer's privacy rules do not apply.
	sctx := privacy.DecisionContext(ctx, privacy.Allow)
	count, err := tx.LicenseCount.Query().
		Where(licensecount.ClinicID(c.ClinicID), licensecount.ClassEQ(c.Class)).Only(sctx)
	if err != nil {
		return fmt.Errorf("licenses: reading the %s total of clinic %d: %w", c.Class, c.ClinicID, err)
	}
	e := audit.Event{Action: auditevent.ActionLICENSES_CHANGED,
		OrganizationID: &c.OrganizationID, TargetType: "Clinic", TargetID: &c.ClinicID,
		Before: map[string]any{"class": string(c.Class), "total": count.Total - c.Added},
		// The trail shows no target ID, so After names the clinic too.
		After: map[string]any{"class": string(c.Class), "total": count.Total,
			"clinicId": gid.Encode(c.ClinicID), "cause": CauseClinicCreated},
	}
	if c.Adjustment != nil {
		e.After["cause"] = CauseAdjustment
		e.After["adjustmentId"] = gid.Encode(c.Adjustment.ID)
	}
	if viewer.FromContext(ctx) == nil {
		e.ActorUsername = audit.SystemActor
	}
	return audit.Record(ctx, tx.Client(), e)
}

// queueMail queues the email telling the requester how their adjustment
// ended (R27), when the requester has an email address.
func (s *Service) queueMail(ctx context.Context, tx *ent.Tx, adj *ent.LicenseAdjustment) error {
	if adj.RequestedByID == nil {
		return nil
	}
	sctx := privacy.DecisionContext(ctx, privacy.Allow)
	requester, err := tx.User.Get(sctx, *adj.RequestedByID)
	if err != nil || requester.Email == "" {
		return err
	}
	c, err := tx.Clinic.Get(sctx, adj.ClinicID)
	if err != nil {
		return err
	}
	total, err := tx.License.Query().Where(license.ClinicID(adj.ClinicID), license.ClassEQ(adj.Class)).Count(sctx)
	if err != nil {
		return err
	}
	free, err := tx.License.Query().Where(license.ClinicID(adj.ClinicID), license.ClassEQ(adj.Class), license.HolderIDIsNil()).Count(sctx)
	if err != nil {
		return err
	}
	data := map[string]any{
		"Name": requester.FirstName, "Clinic": c.Name, "Class": adj.Class.Title(),
		"Verb": "Add", "Quantity": adj.Quantity, "Total": total, "Available": free,
		"RequestedAt": adj.CreatedAt.UTC().Format("2 Jan 2006 15:04 MST"), "Reason": "",
	}
	if adj.Kind == licenseadjustment.KindRELEASE {
		data["Verb"] = "Release"
	}
	name := "adjustment_completed"
	if adj.Status == licenseadjustment.StatusREJECTED {
		name = "adjustment_rejected"
		data["Reason"] = *adj.RejectionReason
	}
	msg, err := mail.Render(name, requester.Email, data)
	if err != nil {
		return err
	}
	return s.jobs.InsertTx(ctx, tx, mail.SendArgs{Message: msg}, nil)
}

// Adjustments lists adjustments: a manager's, of the clinics they can
// access; Support's, of every organization.
func (s *Service) Adjustments(ctx context.Context, after *entgql.Cursor[int], first *int, before *entgql.Cursor[int], last *int,
	orderBy *ent.LicenseAdjustmentOrder, filter *AdjustmentSearch) (*ent.LicenseAdjustmentConnection, error) {
	v, err := viewer.Require(ctx)
	if err != nil {
		return nil, err
	}
	if !v.Can(viewer.PermViewUsers) {
		return nil, apperr.Forbidden("seeing license adjustments needs the View Users permission")
	}
	var ps []predicate.LicenseAdjustment
	if !v.Support && !v.AllClinics {
		ps = append(ps, licenseadjustment.ClinicIDIn(v.ClinicIDs...))
	}
	if filter != nil {
		if filter.ClinicID != nil {
			if _, err := s.accessibleClinic(ctx, v, *filter.ClinicID); err != nil {
				return nil, err
			}
			ps = append(ps, licenseadjustment.ClinicID(*filter.ClinicID))
		}
		if len(filter.Statuses) > 0 {
			ps = append(ps, licenseadjustment.StatusIn(filter.Statuses...))
		}
		if len(filter.Kinds) > 0 {
			ps = append(ps, licenseadjustment.KindIn(filter.Kinds...))
		}
	}
	return s.client.LicenseAdjustment.Query().Where(ps...).
		Paginate(ctx, after, first, before, last, ent.WithLicenseAdjustmentOrder(orderBy))
}

func (s *Service) accessibleClinic(ctx context.Context, v *viewer.Viewer, clinicID int) (*ent.Clinic, error) {
	// The privacy rules hide other organizations' clinics.
	c, err := s.client.Clinic.Query().Where(clinic.ID(clinicID)).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, apperr.NotFound("no such clinic")
	}
	if err != nil {
		return nil, err
	}
	if !v.HasClinic(c.ID) {
		return nil, apperr.Forbidden("no access to this clinic")
	}
	return c, nil
}

func (s *Service) visibleAdjustment(ctx context.Context, v *viewer.Viewer, id int) (*ent.LicenseAdjustment, error) {
	adj, err := s.client.LicenseAdjustment.Query().Where(licenseadjustment.ID(id)).Only(ctx)
	if ent.IsNotFound(err) || err == nil && !v.HasClinic(adj.ClinicID) {
		return nil, apperr.NotFound("no such license adjustment")
	}
	return adj, err
}

func (s *Service) supportAdjustment(ctx context.Context, id int) (*viewer.Viewer, *ent.LicenseAdjustment, error) {
	v, err := viewer.Require(ctx)
	if err != nil {
		return nil, nil, err
	}
	if !v.Support {
		return nil, nil, apperr.Forbidden("only Support staff process license adjustments")
	}
	adj, err := s.visibleAdjustment(ctx, v, id)
	return v, adj, err
}

func (s *Service) pendingReleases(ctx context.Context, tx *ent.Tx, clinicID int, class staff.LicenseClass) (int, error) {
	pending, err := tx.LicenseAdjustment.Query().Where(licenseadjustment.ClinicID(clinicID),
		licenseadjustment.ClassEQ(class), licenseadjustment.KindEQ(licenseadjustment.KindRELEASE),
		licenseadjustment.StatusEQ(licenseadjustment.StatusPENDING)).All(ctx)
	n := 0
	for _, p := range pending {
		n += p.Quantity
	}
	return n, err
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// ProcessAdjustmentArgs is the job that processes an adjustment when its
// window ends.
type ProcessAdjustmentArgs struct {
	AdjustmentID int `json:"adjustmentId"`
}

// Kind names the job in the queue.
func (ProcessAdjustmentArgs) Kind() string { return "process_license_adjustment" }

// ProcessAdjustmentWorker processes adjustments still pending at the end of
// their window. Retries are harmless: an adjustment no longer pending is
// left alone, and the status change is conditional on it being pending.
type ProcessAdjustmentWorker struct {
	river.WorkerDefaults[ProcessAdjustmentArgs]
	Licenses *Service
}

// Work processes the adjustment if it is still pending.
func (w *ProcessAdjustmentWorker) Work(ctx context.Context, job *river.Job[ProcessAdjustmentArgs]) error {
	s := w.Licenses
	ctx = privacy.DecisionContext(ctx, privacy.Allow)
	adj, err := s.client.LicenseAdjustment.Get(ctx, job.Args.AdjustmentID)
	if ent.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if adj.Status != licenseadjustment.StatusPENDING {
		return nil
	}
	err = txn.WithTx(ctx, s.client, func(tx *ent.Tx) error {
		_, err := s.apply(ctx, tx, adj, nil)
		return err
	})
	if errors.Is(err, errNotPending) {
		return nil
	}
	return err
}

// finishedSince lists the adjustments of a scope processed after t.
func (s *Service) finishedSince(ctx context.Context, sc scope, t time.Time) ([]*ent.LicenseAdjustment, error) {
	q := s.client.LicenseAdjustment.Query().Where(licenseadjustment.OrganizationID(sc.orgID),
		licenseadjustment.ProcessedAtGT(t),
		licenseadjustment.StatusIn(licenseadjustment.StatusCOMPLETED, licenseadjustment.StatusREJECTED))
	if sc.clinicID != nil {
		q = q.Where(licenseadjustment.ClinicID(*sc.clinicID))
	}
	return q.Order(licenseadjustment.ByProcessedAt()).Limit(100).All(ctx)
}
