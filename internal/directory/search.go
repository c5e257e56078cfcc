// Package directory is the user directory: the user search (R17), the
// viewer's own profile, and the search for duplicate providers (R14). It
// reads profiles; internal/users writes them.
package directory

import (
	"context"
	"strings"

	"entgo.io/contrib/entgql"
	"entgo.io/ent/dialect"
	"entgo.io/ent/dialect/sql"
	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/clinicemr/usermanager/ent"
	"github.com/clinicemr/usermanager/ent/clinic"
	"github.com/clinicemr/usermanager/ent/predicate"
	"github.com/clinicemr/usermanager/ent/user"
	"github.com/clinicemr/usermanager/internal/apperr"
	"github.com/clinicemr/usermanager/internal/paging"
	"github.com/clinicemr/usermanager/internal/policy"
	"github.com/clinicemr/usermanager/internal/staff"
	"github.com/clinicemr/usermanager/internal/viewer"
)

// Search is the filter of the user search (R17). Every given filter must
// match.
type Search struct {
	UserTypes []staff.UserType `json:"userTypes"`
	Statuses  []user.Status    `json:"statuses"`
	// Name is part of the first, last or full name, in any case.
	Name     *string `json:"name"`
	Username *string `json:"username"`
	Email    *string `json:"email"`
	ClinicID *int    `json:"clinicId"`
}

// Service reads user profiles.
type Service struct {
	client  *ent.Client
	dialect string
	// sampled: whether a filter's matches are counted from a sample
	// (matches), by sampleKey.
	sampled *lru.Cache[string, bool]
}

// New returns a Service reading through client, whose database has the
// dialect dialectName (dialect.SQLite or dialect.Postgres).
func New(client *ent.Client, dialectName string) *Service {
	sampled, _ := lru.New[string, bool](sampledFilters) // errs only for a size < 1
	return &Service{client: client, dialect: dialectName, sampled: sampled}
}

// Search answers the users query. Which users the viewer may see at all is
// decided by the privacy rules (internal/policy); this adds the filters.
func (s *Service) Search(ctx context.Context, after *entgql.Cursor[int], first *int, before *entgql.Cursor[int], last *int,
	orderBy *ent.UserOrder, filter *Search) (*ent.UserConnection, error) {
	v, err := viewer.Require(ctx)
	if err != nil {
		return nil, err
	}
	if !v.Can(viewer.PermViewUsers) {
		return nil, apperr.Forbidden("searching users needs the View Users permission")
	}
	// The page and the count are read by different plans (see
	// containsFragment), so each has its own query. The matches, when
	// counted, come first: they also tell how common the filter is. On
	// PostgreSQL a name fragment's matches are read even when no count is
	// asked for (see fewMatches).
	total, want := 0, selected(ctx)
	var matched []int
	if want.count || s.dialect == dialect.Postgres && filter.hasFragment() {
		if matched, err = s.matches(ctx, v, filter); err != nil {
			return nil, err
		}
		total = len(matched)
	}
	page := readPage{indexOrder: orderBy == nil || orderBy.Field.String() == ent.UserOrderFieldLastName.String()}
	if want.count {
		page.counted = &total
	}
	q, err := s.query(ctx, filter, page)
	if err != nil {
		return nil, err
	}
	if s.dialect == dialect.Postgres && matched != nil && total <= CountLimit {
		q.Where(fewMatches(matched))
	}
	// Paginate's own count would read every match; the count is taken
	// here, capped at CountLimit, and only when asked for.
	conn, err := q.Paginate(paging.WithoutCount(ctx), after, first, before, last, ent.WithUserOrder(orderBy))
	if err != nil {
		return nil, err
	}
	conn.TotalCount = total
	if want.noEdges && total > 0 { // as Paginate derives pageInfo without a page
		conn.PageInfo.HasNextPage = first != nil
		conn.PageInfo.HasPreviousPage = last != nil
	}
	return conn, nil
}

// query is the users matching filter, to be read as r says.
func (s *Service) query(ctx context.Context, filter *Search, r reading) (*ent.UserQuery, error) {
	q := s.client.User.Query()
	if filter == nil {
		return q, nil
	}
	ps, err := filter.predicates(ctx, s.client, s.dialect, r)
	if err != nil {
		return nil, err
	}
	return q.Where(ps...), nil
}

// hasFragment tells whether f looks for a fragment of a name, username or
// email.
func (f *Search) hasFragment() bool {
	return f != nil && (derefOr(f.Name, "") != "" || derefOr(f.Username, "") != "" || derefOr(f.Email, "") != "")
}

func (f *Search) predicates(ctx context.Context, client *ent.Client, dialectName string, r reading) ([]predicate.User, error) {
	var ps []predicate.User
	contains := func(column, fragment string) error {
		p, err := containsFragment(ctx, client, dialectName, column, fragment, r)
		ps = append(ps, p)
		return err
	}
	if len(f.UserTypes) > 0 {
		ps = append(ps, user.UserTypeIn(f.UserTypes...))
	}
	if len(f.Statuses) > 0 {
		ps = append(ps, user.StatusIn(f.Statuses...))
	}
	if f.Name != nil {
		// search_text is folded (SearchText) and, on PostgreSQL,
		// trigram-indexed. A fragment of punctuation only is part of no
		// name.
		switch frag := policy.SearchFragment(*f.Name); {
		case frag != "":
			if err := contains(user.FieldSearchText, frag); err != nil {
				return nil, err
			}
		case strings.TrimSpace(*f.Name) != "":
			ps = append(ps, predicate.User(func(s *sql.Selector) { s.Where(sql.False()) }))
		}
	}
	if f.Username != nil && *f.Username != "" {
		if err := contains(user.FieldUsernameKey, policy.Key(*f.Username)); err != nil {
			return nil, err
		}
	}
	if f.Email != nil && *f.Email != "" {
		if err := contains(user.FieldEmailKey, policy.Key(*f.Email)); err != nil {
			return nil, err
		}
	}
	if f.ClinicID != nil {
		ps = append(ps, user.HasClinicsWith(clinic.ID(*f.ClinicID)))
	}
	return ps, nil
}

// Viewer answers the viewer query: the signed-in user, or null for an
// anonymous request (an error if its token was refused).
func (s *Service) Viewer(ctx context.Context) (*ent.User, error) {
	v := viewer.FromContext(ctx)
	if v == nil {
		return nil, viewer.Failure(ctx)
	}
	return s.client.User.Get(ctx, v.UserID)
}

// derefOr is *p, or def when p is nil.
func derefOr[T any](p *T, def T) T {
	if p != nil {
		return *p
	}
	return def
}
