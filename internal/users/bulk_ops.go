package users

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"slices"

	"github.com/clinicemr/usermanager/internal/apperr"
	"github.com/clinicemr/usermanager/internal/audit"
	"github.com/clinicemr/usermanager/internal/permissions"
	"github.com/clinicemr/usermanager/internal/viewer"
)

// SetUsersStatus makes up to MaxBulkUsers users Active or Inactive
// (setUsersStatus). Each user goes through SetStatus, in the order given, so
// every rule of setUserStatus applies to each (R21-R25, R33-R35) and licenses
// are taken in that order, each activation in its own transaction with the
// conditional take of R23. A user who fails changes nothing of theirs and
// gets their own userErrors. Every audit record carries the call's
// bulkOperationId, and live license counts are announced once per clinic
// when the call ends.
func (p *Profiles) SetUsersStatus(ctx context.Context, in SetUsersStatusInput) (*BulkUsersPayload, error) {
	if err := bulkAllowed(ctx); err != nil {
		return nil, err
	}
	if errs := bulkCheckIDs(in.UserIDs); len(errs) > 0 {
		return bulkRefused(errs), nil
	}
	return p.bulk(ctx, dedupe(in.UserIDs), func(ctx context.Context, id int) (*UserPayload, error) {
		return p.SetStatus(ctx, SetStatusInput{UserID: id, Status: in.Status})
	})
}

// UpdateUsersAccess adds and removes permissions and clinics for up to
// MaxBulkUsers users (updateUsersAccess). Each user's new sets are their
// current ones plus those added, less those removed, saved through Update,
// so every rule of updateUser applies to each (R3, R9, R13, R16, R32-R35).
func (p *Profiles) UpdateUsersAccess(ctx context.Context, in UpdateUsersAccessInput) (*BulkUsersPayload, error) {
	if err := bulkAllowed(ctx); err != nil {
		return nil, err
	}
	errs := bulkCheckIDs(in.UserIDs)
	addP, removeP := dedupe(in.AddPermissions), dedupe(in.RemovePermissions)
	addC, removeC := dedupe(in.AddClinicIDs), dedupe(in.RemoveClinicIDs)
	if len(addP)+len(removeP)+len(addC)+len(removeC) == 0 {
		errs.Add("", apperr.Required, "nothing to change: give permissions or clinics to add or remove")
	}
	for _, list := range []struct {
		field string
		keys  []string
	}{{"addPermissions", addP}, {"removePermissions", removeP}} {
		for _, k := range list.keys {
			if _, ok := permissions.EntryOf(k); !ok {
				errs.Add(list.field, permissions.UnknownPermission, "there is no permission %q", k)
			}
		}
	}
	for _, k := range addP {
		if slices.Contains(removeP, k) {
			errs.Add("removePermissions", bothAddedAndRemoved, "permission %q is both added and removed", k)
		}
	}
	for _, id := range addC {
		if slices.Contains(removeC, id) {
			errs.Add("removeClinicIds", bothAddedAndRemoved, "a clinic is both added and removed")
		}
	}
	if len(errs) > 0 {
		return bulkRefused(errs), nil
	}
	change := &accessChange{addPermissions: addP, removePermissions: removeP, addClinics: addC, removeClinics: removeC}
	return p.bulk(ctx, dedupe(in.UserIDs), func(ctx context.Context, id int) (*UserPayload, error) {
		return p.Update(ctx, UpdateUserInput{ID: id, access: change})
	})
}

// bulkAllowed is the check of the single-user mutations, for the call as a
// whole: a signed-in viewer with Edit Users (R2).
func bulkAllowed(ctx context.Context) error {
	v, err := viewer.Require(ctx)
	if err != nil {
		return err
	}
	if !v.Can(viewer.PermEditUsers) {
		return apperr.Forbidden("editing users needs the Edit Users permission")
	}
	return nil
}

// bulkCheckIDs refuses an empty or over-long list of users.
func bulkCheckIDs(ids []int) apperr.List {
	var errs apperr.List
	switch {
	case len(ids) == 0:
		errs.Add("userIds", apperr.Required, "name at least one user")
	case len(ids) > MaxBulkUsers:
		errs.Add("userIds", TooManyItems, "a bulk change takes at most %d users, not %d", MaxBulkUsers, len(ids))
	}
	return errs
}

func bulkRefused(errs apperr.List) *BulkUsersPayload {
	return &BulkUsersPayload{Results: []*BulkUserResult{}, UserErrors: errs}
}

// bulk changes each user with change, in order, under one bulk operation:
// its ID in every audit record, and one announcement of each clinic's
// counts at the end. A rule broken for a user (a userError, FORBIDDEN,
// NOT_FOUND) becomes that user's result; any other error ends the call.
func (p *Profiles) bulk(ctx context.Context, ids []int, change func(context.Context, int) (*UserPayload, error)) (out *BulkUsersPayload, err error) {
	op, err := newBulkOperationID()
	if err != nil {
		return nil, err
	}
	ctx = audit.WithBulkOperation(ctx, op)
	ctx, flush := p.licenses.CoalesceCounts(ctx)
	defer func() {
		// Whatever happened, what committed is announced.
		if ferr := flush(); ferr != nil {
			slog.Error("announcing license counts after a bulk change", "bulkOperationId", op, "error", ferr)
		}
	}()
	out = &BulkUsersPayload{BulkOperationID: &op, Results: make([]*BulkUserResult, 0, len(ids)), UserErrors: []*apperr.UserError{}}
	for _, id := range ids {
		res := &BulkUserResult{UserID: id, UserErrors: []*apperr.UserError{}}
		payload, err := change(ctx, id)
		switch {
		case err == nil && len(payload.UserErrors) == 0:
			res.User = payload.User
		case err == nil:
			res.UserErrors = payload.UserErrors
		default:
			e, ok := apperr.AsError(err)
			switch {
			case ok && e.Code == apperr.CodeForbidden:
				res.UserErrors = []*apperr.UserError{apperr.New("userIds", permissions.Forbidden, "%s", e.Message)}
			case ok && e.Code == apperr.CodeNotFound:
				res.UserErrors = []*apperr.UserError{apperr.New("userIds", NotFound, "%s", e.Message)}
			default:
				return nil, err
			}
		}
		if len(res.UserErrors) == 0 {
			out.Succeeded++
		} else {
			out.Failed++
		}
		out.Results = append(out.Results, res)
	}
	return out, nil
}

func newBulkOperationID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("bulk operation ID: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// dedupe returns xs without repeats, keeping each first occurrence.
func dedupe[T comparable](xs []T) []T {
	seen := make(map[T]bool, len(xs))
	out := make([]T, 0, len(xs))
	for _, x := range xs {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

// without returns xs less the items of drop (never nil, so an empty result
// is a complete new set, refused by R9).
func without[T comparable](xs, drop []T) []T {
	out := make([]T, 0, len(xs))
	for _, x := range xs {
		if !slices.Contains(drop, x) {
			out = append(out, x)
		}
	}
	return out
}
