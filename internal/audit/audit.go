// Package audit writes and reads the append-only audit trail (R31).
//
// Services call Record with the client of the transaction that makes the
// change, so a record exists exactly when the change does. The schema
// (ent/schema/audit_event.go) refuses every update and delete.
package audit

import (
	"context"
	"time"

	"entgo.io/contrib/entgql"

	"github.com/clinicemr/usermanager/ent"
	"github.com/clinicemr/usermanager/ent/auditevent"
	"github.com/clinicemr/usermanager/ent/predicate"
	"github.com/clinicemr/usermanager/ent/privacy"
	"github.com/clinicemr/usermanager/internal/requestinfo"
	"github.com/clinicemr/usermanager/internal/viewer"
)

// SystemActor is the actor username of what the server does on its own,
// with nobody signed in (an adjustment processed when its window ends).
const SystemActor = "system"

// Event is one record to write. The actor is the request's viewer unless
// ActorID is set (sign-in, where there is no viewer yet); with neither,
// ActorUsername alone names it (SystemActor for background work).
type Event struct {
	Action         auditevent.Action
	OrganizationID *int
	ActorID        *int
	ActorUsername  string
	TargetUserID   *int
	TargetType     string
	TargetID       *int
	// Before and After hold the changed values; never secrets.
	Before, After map[string]any
	Failed        bool
	Reason        string
}

type bulkOperationKey struct{}

// WithBulkOperation returns ctx for the work of one bulk change: every
// record written with it carries id as after.bulkOperationId.
func WithBulkOperation(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, bulkOperationKey{}, id)
}

// BulkOperation is the ID of the bulk change ctx works for, or "".
func BulkOperation(ctx context.Context) string {
	id, _ := ctx.Value(bulkOperationKey{}).(string)
	return id
}

// Record writes e with client, normally a transaction's client.
func Record(ctx context.Context, client *ent.Client, e Event) error {
	// Writing the trail is the system's duty whoever acts; reading it is
	// what the privacy rules restrict.
	return create(ctx, client, e).Exec(privacy.DecisionContext(ctx, privacy.Allow))
}

// Records writes es with client in one statement, in their order (their
// IDs ascend as if each were written by Record in turn): what a change of
// many users at once records.
func Records(ctx context.Context, client *ent.Client, es []Event) error {
	if len(es) == 0 {
		return nil
	}
	creates := make([]*ent.AuditEventCreate, len(es))
	for i, e := range es {
		creates[i] = create(ctx, client, e)
	}
	return client.AuditEvent.CreateBulk(creates...).Exec(privacy.DecisionContext(ctx, privacy.Allow))
}

// create is the insert of e that Record and Records run.
func create(ctx context.Context, client *ent.Client, e Event) *ent.AuditEventCreate {
	info := requestinfo.From(ctx)
	c := client.AuditEvent.Create().
		SetAction(e.Action).
		SetNillableOrganizationID(e.OrganizationID).
		SetNillableTargetUserID(e.TargetUserID).
		SetTargetType(e.TargetType).
		SetNillableTargetID(e.TargetID).
		SetClientIP(truncate(info.ClientIP, 64)).
		SetRequestID(truncate(info.RequestID, 64)).
		SetReason(e.Reason).
		SetCreatedAt(time.Now())
	if e.Before != nil {
		c.SetBefore(e.Before)
	}
	if id := BulkOperation(ctx); id != "" {
		// A bulk change ties each of its records to the call (a copy: the
		// caller's map is left alone).
		after := make(map[string]any, len(e.After)+1)
		for k, v := range e.After {
			after[k] = v
		}
		after["bulkOperationId"] = id
		e.After = after
	}
	if e.After != nil {
		c.SetAfter(e.After)
	}
	if e.Failed {
		c.SetOutcome(auditevent.OutcomeFAILURE)
	}
	if e.ActorID != nil {
		c.SetActorID(*e.ActorID).SetActorUsername(e.ActorUsername)
	} else if v := viewer.FromContext(ctx); v != nil && v.UserID != 0 {
		c.SetActorID(v.UserID).SetActorUsername(v.Username)
	} else {
		// Nobody is signed in: background work names itself (SystemActor).
		c.SetActorUsername(e.ActorUsername)
	}
	return c
}

// Filter narrows auditEvents.
type Filter struct {
	UserID  *int                `json:"userId"`
	ActorID *int                `json:"actorId"`
	Actions []auditevent.Action `json:"actions"`
	From    *time.Time          `json:"from"`
	To      *time.Time          `json:"to"`
}

// Events answers the auditEvents query for the viewer's organization (the
// privacy rules confine it and require View Users); newest first unless
// ordered otherwise.
func Events(ctx context.Context, client *ent.Client, after *entgql.Cursor[int], first *int, before *entgql.Cursor[int], last *int,
	orderBy *ent.AuditEventOrder, filter *Filter) (*ent.AuditEventConnection, error) {
	if _, err := viewer.Require(ctx); err != nil {
		return nil, err
	}
	q := client.AuditEvent.Query()
	if filter != nil {
		q = q.Where(filter.predicates()...)
	}
	if orderBy == nil {
		orderBy = &ent.AuditEventOrder{Field: ent.AuditEventOrderFieldCreatedAt, Direction: entgql.OrderDirectionDesc}
	}
	return q.Paginate(ctx, after, first, before, last, ent.WithAuditEventOrder(orderBy))
}

func (f *Filter) predicates() []predicate.AuditEvent {
	var ps []predicate.AuditEvent
	if f.UserID != nil {
		ps = append(ps, auditevent.TargetUserID(*f.UserID))
	}
	if f.ActorID != nil {
		ps = append(ps, auditevent.ActorID(*f.ActorID))
	}
	if len(f.Actions) > 0 {
		ps = append(ps, auditevent.ActionIn(f.Actions...))
	}
	if f.From != nil {
		ps = append(ps, auditevent.CreatedAtGTE(*f.From))
	}
	if f.To != nil {
		ps = append(ps, auditevent.CreatedAtLT(*f.To))
	}
	return ps
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
