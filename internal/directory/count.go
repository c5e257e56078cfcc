package directory

import (
	"context"
	"encoding/json"
	"fmt"

	"entgo.io/ent/dialect"
	"entgo.io/ent/dialect/sql"
	"github.com/99designs/gqlgen/graphql"
	"github.com/lib/pq"

	"github.com/clinicemr/usermanager/ent"
	"github.com/clinicemr/usermanager/ent/predicate"
	"github.com/clinicemr/usermanager/ent/user"
	"github.com/clinicemr/usermanager/internal/viewer"
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

// matches reads the IDs of filter's matches, up to CountLimit+1, through the
// same privacy rules as the page: how many there are is the count.
//
// On PostgreSQL, reading the matches of a common name fragment ("mar", 48,000
// users of a million) costs 10-25 ms, most of it in listing every index entry
// of its trigram before the first user is read. A sample of the entries
// (readSample) costs about a millisecond and, when it holds more than
// CountLimit matches, proves that many match: the count, capped, is as exact
// as an exact read's. A sample with fewer proves nothing, since it may have
// missed matches, and the matches are read again exactly. Which filters'
// samples hold enough is learnt per viewer scope (sampleKey): a filter is
// sampled once an exact read has found more than CountLimit matches, and no
// longer once a sample has come short, so that a search usually reads its
// matches once.
func (s *Service) matches(ctx context.Context, v *viewer.Viewer, filter *Search) ([]int, error) {
	key, sampled := "", false
	if s.dialect == dialect.Postgres && filter.hasFragment() {
		key = sampleKey(v, filter)
		sampled, _ = s.sampled.Get(key)
	}
	if sampled {
		ids, err := s.readMatches(ctx, filter, readSample{})
		if err != nil || len(ids) > CountLimit {
			return ids, err
		}
		s.sampled.Add(key, false)
	}
	ids, err := s.readMatches(ctx, filter, readCount{})
	if err == nil && key != "" && len(ids) > CountLimit {
		s.sampled.ContainsOrAdd(key, true)
	}
	return ids, err
}

// readMatches reads the IDs of filter's matches as r says, up to
// CountLimit+1.
func (s *Service) readMatches(ctx context.Context, filter *Search, r reading) ([]int, error) {
	q, err := s.query(ctx, filter, r)
	if err != nil {
		return nil, err
	}
	ids, err := q.Limit(CountLimit + 1).IDs(ctx)
	if ids == nil && err == nil {
		ids = []int{} // read, and none matched
	}
	return ids, err
}

// sampledFilters is how many filters (per viewer scope) Service remembers
// the sampling of.
const sampledFilters = 10000

// sampleKey names filter as seen by v: the users v may see (the privacy
// rules' inputs) and the filter. Only how the matches are read depends on it.
func sampleKey(v *viewer.Viewer, filter *Search) string {
	f, _ := json.Marshal(filter)
	scope := "all"
	if !v.AllClinics || v.Support {
		scope = fmt.Sprint(v.UserID, v.ClinicIDs)
	}
	return fmt.Sprintf("%d %s %s", v.OrganizationID, scope, f)
}

// fewMatches restricts a page to the given users: all the matches of its
// filter, when there are at most CountLimit of them (read just before).
// PostgreSQL's estimate of how many users a fragment matches is a guess from
// a sample of about a hundred names: when one of them contains "zubr", it
// expects 1% of all users to, and reads a page of them by walking the
// organization's users in the list's order, past a million index entries
// for the 200 who match (2.6 s at a million users). Given their IDs, it
// fetches them by primary key and sorts them: a millisecond or two for a
// thousand.
func fewMatches(ids []int) predicate.User {
	list := make([]int64, len(ids))
	for i, id := range ids {
		list[i] = int64(id)
	}
	return predicate.User(func(s *sql.Selector) {
		s.Where(sql.P(func(b *sql.Builder) {
			b.Ident(s.C(user.FieldID)).WriteString(" = ANY(").Arg(pq.Array(list)).WriteString(")")
		}))
	})
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
