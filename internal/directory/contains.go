package directory

import (
	"context"
	"strings"
	"unicode/utf8"

	entbase "entgo.io/ent"
	"entgo.io/ent/dialect"
	"entgo.io/ent/dialect/sql"

	"github.com/clinicemr/usermanager/ent"
	"github.com/clinicemr/usermanager/ent/predicate"
	"github.com/clinicemr/usermanager/ent/user"
	"github.com/clinicemr/usermanager/internal/db"
)

// commonMatches is how many matches in the SQLite search index make a
// fragment common (see containsFragment).
const commonMatches = 2000

// containsFragment matches users whose column (search_text, username_key or
// email_key, all folded) contains fragment. Both databases find exactly the
// users whose text contains the fragment, through an index:
//
//   - PostgreSQL: a LIKE, which the pg_trgm indexes serve.
//   - SQLite: a fragment of three characters or more is looked up in the
//     trigram index db.SQLiteSearchTable (a LIKE would read every user); a
//     shorter one, which no trigram can find, is a LIKE.
//
// On SQLite the best plan for a page depends on how common the fragment
// is, which the planner cannot know: a rare one ("yela") is fastest read
// match by match; a common one ("son", a tenth of all users) is fastest read
// through the organization's users in the list's order (an index), keeping
// those among the matches, which stops as soon as a page is full. So the
// matches are counted first, up to commonMatches (a fraction of a
// millisecond), and for a common fragment the page query (not the count,
// which reads every match either way) keeps the match list out of the
// planner's choice of index, with the unary + in "+users.id IN (...)".
//
// indexOrder tells whether the page is sorted the way an index of users is
// (by last name then id, or by id); other sorts read every match anyway.
func containsFragment(ctx context.Context, client *ent.Client, dialectName, column, fragment string, indexOrder bool) (predicate.User, error) {
	if dialectName != dialect.SQLite || utf8.RuneCountInString(fragment) < 3 {
		return predicate.User(func(s *sql.Selector) { s.Where(sql.Contains(s.C(column), fragment)) }), nil
	}
	// An FTS5 phrase in double quotes (doubled inside) is matched
	// literally; {column} limits it to the column.
	match := "{" + column + "} : \"" + strings.ReplaceAll(fragment, `"`, `""`) + `"`
	rows, err := client.QueryContext(ctx, "SELECT COUNT(*) FROM (SELECT 1 FROM "+db.SQLiteSearchTable+
		" WHERE "+db.SQLiteSearchTable+" MATCH ? LIMIT ?)", match, commonMatches)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var n int
	for rows.Next() {
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	common := n >= commonMatches && indexOrder
	return predicate.User(func(s *sql.Selector) {
		page := false
		if qc := entbase.QueryFromContext(s.Context()); qc != nil {
			page = qc.Op == entbase.OpQueryAll
		}
		s.Where(sql.P(func(b *sql.Builder) {
			if common && page {
				b.WriteString("+")
			}
			b.Ident(s.C(user.FieldID)).WriteString(" IN (SELECT rowid FROM " + db.SQLiteSearchTable +
				" WHERE " + db.SQLiteSearchTable + " MATCH ").Arg(match).WriteString(")")
		}))
	}), nil
}
