package server

import (
	"context"
	"fmt"
	"strings"

	"github.com/99designs/gqlgen/graphql"

	"github.com/clinicemr/usermanager/internal/apperr"
)

// Page sizes of every connection (SPEC: lists have a bounded page size).
const (
	DefaultPageSize = 20
	MaxPageSize     = 100
)

// boundPageSize applies to every field returning a connection, generated or
// hand-written: first/last above MaxPageSize are refused, and a request with
// neither gets DefaultPageSize instead of everything.
func boundPageSize(ctx context.Context, next graphql.Resolver) (any, error) {
	fc := graphql.GetFieldContext(ctx)
	if fc == nil || fc.Field.Definition == nil || !strings.HasSuffix(fc.Field.Definition.Type.Name(), "Connection") {
		return next(ctx)
	}
	first, hasFirst := fc.Args["first"].(*int)
	last, hasLast := fc.Args["last"].(*int)
	if !hasFirst && !hasLast {
		return next(ctx)
	}
	for name, n := range map[string]*int{"first": first, "last": last} {
		if n != nil && (*n < 0 || *n > MaxPageSize) {
			return nil, apperr.BadInput(fmt.Sprintf("%s must be between 0 and %d", name, MaxPageSize))
		}
	}
	if first == nil && last == nil {
		size := DefaultPageSize
		fc.Args["first"] = &size
	}
	return next(ctx)
}
