package users

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/clinicemr/usermanager/ent"
	"github.com/clinicemr/usermanager/ent/user"
	"github.com/clinicemr/usermanager/internal/audit"
	"github.com/clinicemr/usermanager/internal/staff"
	"github.com/clinicemr/usermanager/internal/txn"
	"github.com/clinicemr/usermanager/internal/viewer"
)

// Created is Create's answer to one input of CreateMany: its payload, or
// the error Create returns (a GraphQL error such as FORBIDDEN).
type Created struct {
	Payload *UserPayload
	Err     error
}

// errRefused: a unique index refused an input of CreateMany.
var errRefused = errors.New("users: a unique index refused an input of the batch")

// CreateMany is Create for several inputs of the batch that share no
// username, email, NPI or license number with each other (a staff-list
// import's rows), answering each exactly as Create would had they been
// created one after the other, in order. The inputs that break no rule are
// written in one transaction, with one statement for all of them where
// createUser has one per user: the users (and one each for their clinics
// and permissions), their activation, their invitations' links and email
// jobs, and their audit records; and their licenses, one statement for
// each clinic and class (licenses.Service.AllocateMany), in input order: an
// input is saved Active exactly when a license of its class is free at its
// home clinic once the inputs before it have taken theirs, and Inactive,
// with createUser's warning, otherwise (R23, R24).
//
// The uniqueness of those inputs is left to the unique indexes, as Create
// leaves it: when an index refuses one of them, none of them is written and
// their answers are nil; the caller creates each of those with Create, which
// finds the one refused and answers as createUser does.
func (b *CreateBatch) CreateMany(ins []CreateUserInput) ([]*Created, error) {
	out := make([]*Created, len(ins))
	type item struct {
		i        int
		pc       *preparedCreate
		inactive bool
		hash     string
		u        *ent.User
		// activated: it took a license; invited: it is invited.
		activated, invited bool
	}
	var items []*item
	for i, in := range ins {
		pc, errs, err := b.prepare(in, false)
		switch {
		case err != nil:
			out[i] = &Created{Err: err}
		case len(errs) > 0:
			out[i] = &Created{Payload: failed(errs)}
		default:
			pc.n.PermissionIDs = b.p.permissionIDsOf(b.ctx, pc.n.Permissions)
			hash, err := passwordHash(pc.n)
			if err != nil {
				return nil, err
			}
			items = append(items, &item{i: i, pc: pc, hash: hash,
				inactive: in.Status != nil && *in.Status == user.StatusINACTIVE})
		}
	}
	if len(items) == 0 {
		return out, nil
	}
	ctx, p := b.ctx, b.p
	inviter := viewer.FromContext(ctx).UserID
	err := txn.WithTx(ctx, p.client, func(tx *ent.Tx) error {
		creates := make([]*ent.UserCreate, len(items))
		for j, it := range items {
			perms, err := permissionIDs(ctx, tx, it.pc.n)
			if err != nil {
				return err
			}
			creates[j] = insertUser(tx, it.pc.n, it.hash, perms)
		}
		us, err := tx.User.CreateBulk(creates...).Save(ctx)
		if ent.IsConstraintError(err) {
			return errRefused
		}
		if err != nil {
			return err
		}
		// Licenses in input order, as createUser takes them: for each
		// clinic and class, its first users get the free ones.
		type pool struct {
			org, clinic int
			class       staff.LicenseClass
		}
		var pools []pool
		wanting := map[pool][]*item{}
		for j, it := range items {
			it.u, it.activated, it.invited = us[j], false, false
			if it.inactive {
				continue
			}
			n := it.pc.n
			class, _ := n.UserType.Class()
			k := pool{n.OrganizationID, n.HomeClinicID, class}
			if _, ok := wanting[k]; !ok {
				pools = append(pools, k)
			}
			wanting[k] = append(wanting[k], it)
		}
		for _, k := range pools {
			ids := make([]int, len(wanting[k]))
			for i, it := range wanting[k] {
				ids[i] = it.u.ID
			}
			taken, err := p.licenses.AllocateMany(ctx, tx, k.org, k.clinic, k.class, ids)
			if err != nil {
				return err
			}
			for _, it := range wanting[k] {
				it.activated = slices.Contains(taken, it.u.ID)
			}
		}
		var activated []int
		for _, it := range items {
			if it.activated {
				activated = append(activated, it.u.ID)
			}
		}
		if len(activated) > 0 {
			// One UPDATE for all: the users are what a read would give
			// (only the status and updated_at change), as in create.
			now := time.Now()
			rows, err := tx.User.Update().Where(user.IDIn(activated...)).
				SetStatus(user.StatusACTIVE).SetUpdatedAt(now).Save(ctx)
			if err != nil {
				return err
			}
			if rows != len(activated) {
				return fmt.Errorf("users: activating %d new users updated %d rows", len(activated), rows)
			}
			for _, it := range items {
				if it.activated {
					it.u.Status, it.u.UpdatedAt = user.StatusACTIVE, now
				}
			}
		}
		var invite []*ent.User
		for _, it := range items {
			if it.pc.n.Invite && it.u.Status == user.StatusACTIVE {
				it.invited = true
				invite = append(invite, it.u)
			}
		}
		var invitations []audit.Event
		if len(invite) > 0 {
			if invitations, err = p.resets.inviteNew(ctx, tx, invite, inviter, invitedOnCreate); err != nil {
				return err
			}
		}
		// The records in createUser's order: each user's creation, then
		// their invitation.
		events := make([]audit.Event, 0, len(items)+len(invitations))
		for _, it := range items {
			events = append(events, it.pc.createdEvent(it.u))
			if it.invited {
				events = append(events, invitations[0])
				invitations = invitations[1:]
			}
		}
		return audit.Records(ctx, tx.Client(), events)
	})
	if errors.Is(err, errRefused) {
		return out, nil // the items' answers stay nil: Create them
	}
	if err != nil {
		return nil, err
	}
	for _, it := range items {
		out[it.i] = &Created{Payload: succeeded(it.u, it.pc.createdWarnings(it.inactive, it.activated))}
	}
	return out, nil
}
