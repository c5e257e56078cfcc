package directory

import (
	"context"

	"github.com/99designs/gqlgen/graphql"

	"github.com/clinicemr/usermanager/ent"
)

// CountLimit is how many matches a user search counts. An exact count reads
// every match, which at a million users costs hundreds of milliseconds for a
// common fragment; no one pages through more than a thousand users, so more
// are reported as "1,000+" (totalCount 1000, totalCountIsExact false), as
// Gmail, Okta and the Microsoft 365 admin center do. Issue #16 allows the
// cap ("or capped"); it is newer than SPEC R17's "with a total count".
const CountLimit = 1000

// ReportedCount is conn's totalCount as clients see it: the number of
// matches, at most CountLimit.
func ReportedCount(conn *ent.UserConnection) int {
	return min(conn.TotalCount, CountLimit)
}

// CountIsExact tells whether conn's totalCount is every match (false when
// more than CountLimit users match).
func CountIsExact(conn *ent.UserConnection) bool {
	return conn.TotalCount <= CountLimit
}

// countMatches counts q's users up to CountLimit+1, reading at most that
// many IDs through the same privacy rules and filters as the page.
func countMatches(ctx context.Context, q *ent.UserQuery) (int, error) {
	ids, err := q.Limit(CountLimit + 1).IDs(ctx)
	return len(ids), err
}

// selection is what the users field being resolved asks for.
type selection struct {
	// count: totalCount or totalCountIsExact (under any alias), or
	// pageInfo without edges, which ent's Paginate derives from the count.
	count bool
	// noEdges: no edges are asked for (Paginate then reads no page).
	noEdges bool
}

// selected reads the users field's selection from ctx. Outside GraphQL
// (the CSV export) edges are read and no one reads the count.
func selected(ctx context.Context) selection {
	fc := graphql.GetFieldContext(ctx)
	if fc == nil || !graphql.HasOperationContext(ctx) {
		return selection{}
	}
	var count, pageInfo, edges bool
	for _, f := range graphql.CollectFields(graphql.GetOperationContext(ctx), fc.Field.Selections, nil) {
		switch f.Name {
		case "totalCount", "totalCountIsExact":
			count = true
		case "pageInfo":
			pageInfo = true
		case "edges":
			edges = true
		}
	}
	return selection{count: count || pageInfo && !edges, noEdges: !edges}
}
