// Package paging lets a connection count its own matches. ent's generated
// Paginate counts every match whenever a client asks for totalCount (or for
// pageInfo), which reads every matching row; the user search counts them
// capped instead (internal/directory) and runs Paginate under WithoutCount,
// where the users' count query is not sent at all.
package paging

import (
	"context"

	"entgo.io/ent"
)

type withoutCountKey struct{}

// WithoutCount returns ctx in which a count of users (ent's OpQueryCount)
// answers 0 without querying; the caller counts itself.
func WithoutCount(ctx context.Context) context.Context {
	return context.WithValue(ctx, withoutCountKey{}, true)
}

// SkipCounts is the interceptor, registered on the User schema, that
// answers counts under WithoutCount.
func SkipCounts() ent.Interceptor {
	return ent.InterceptFunc(func(next ent.Querier) ent.Querier {
		return ent.QuerierFunc(func(ctx context.Context, q ent.Query) (ent.Value, error) {
			if skip, _ := ctx.Value(withoutCountKey{}).(bool); skip {
				if qc := ent.QueryFromContext(ctx); qc != nil && qc.Op == ent.OpQueryCount {
					return 0, nil
				}
			}
			return next.Query(ctx, q)
		})
	})
}
