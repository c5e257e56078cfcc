package directory

import (
	"context"
	"strings"
	"unicode/utf8"

	"entgo.io/ent/dialect"
	"entgo.io/ent/dialect/sql"

	"github.com/clinicemr/usermanager/ent"
	"github.com/clinicemr/usermanager/ent/predicate"
	"github.com/clinicemr/usermanager/ent/user"
	"github.com/clinicemr/usermanager/internal/db"
)

// commonMatches is how many matches in the SQLite search index make a
// fragment common (see containsFragment).
const commonMatches = 500

// reading is how a query of the user search will be read: readPage or
// readCount. On SQLite each is best served by a different plan.
type reading interface{ isReading() }

// readPage: a page, sorted. indexOrder tells whether it is sorted the way
// an index of users is (by last name then id, or by id); other sorts read
// every match anyway. counted, when not nil, is how many users match the
// whole filter, capped (countMatches), which tells how common a fragment
// is without counting its matches again.
type readPage struct {
	indexOrder bool
	counted    *int
}

// readCount: the matches' IDs, up to a limit (countMatches).
type readCount struct{}

// readSample: some of the matches' IDs, up to a limit (Service.matches). On
// PostgreSQL the trigram index then returns a random sample of about
// sampleSize of each of the fragment's trigrams' entries, when each has many
// more (gin_fuzzy_search_limit); otherwise all of them.
type readSample struct{}

func (readPage) isReading()   {}
func (readCount) isReading()  {}
func (readSample) isReading() {}

// sampleSize is how many of a trigram's index entries a sampled read looks
// at: enough for CountLimit+1 matches when the viewer sees most of them.
const sampleSize = "2500"

// containsFragment matches users whose column (search_text, username_key or
// email_key, all folded) contains fragment. Both databases find exactly the
// users whose text contains the fragment, through an index:
//
//   - PostgreSQL: a LIKE, which the pg_trgm indexes serve.
//   - SQLite: a fragment of three characters or more is looked up in the
//     trigram index db.SQLiteSearchTable (a LIKE would read every user); a
//     shorter one, which no trigram can find, is a LIKE.
//
// On SQLite the best plan depends on how the query is read (r) and on how
// common the fragment is, which the planner cannot know:
//
//   - The count joins the search index, which it then reads match by
//     match, stopping at the count's limit; "id IN (matches)" would read
//     every match first.
//   - For a page, the matches are counted first (a fraction of a
//     millisecond): by the count when the client asked for one, else up to
//     commonMatches in the search index. A page of a rare fragment ("yela")
//     is read match by match and sorted.
//   - A page of a common name fragment ("son", a tenth of all users) reads
//     the organization's users in the list's order from an index that holds
//     their search text (db.SQLiteUserListIndex), keeping the matches, and
//     stops as soon as the page is full: a few hundred index entries and no
//     read of the search index at all. Usernames and emails are not in that
//     index: their common fragments keep the match list out of the
//     planner's choice of index, with the unary + in "+users.id IN (...)",
//     so that the organization's users are still read in order.
//
// A sampled read (readSample, PostgreSQL only) sets gin_fuzzy_search_limit
// for its own statement: the pattern is given by a subquery that sets it,
// which PostgreSQL runs before the index scan that needs the pattern, and the
// setting ends with the statement's transaction (Search runs none of its own).
func containsFragment(ctx context.Context, client *ent.Client, dialectName, column, fragment string, r reading) (predicate.User, error) {
	if _, ok := r.(readSample); ok && dialectName == dialect.Postgres {
		return predicate.User(func(s *sql.Selector) {
			s.Where(sql.P(func(b *sql.Builder) {
				b.Ident(s.C(column)).WriteString(" LIKE (SELECT ").Arg("%" + likeEscaper.Replace(fragment) + "%").
					WriteString(" WHERE set_config('gin_fuzzy_search_limit', '" + sampleSize + "', true) IS NOT NULL)")
			}))
		}), nil
	}
	if dialectName != dialect.SQLite || utf8.RuneCountInString(fragment) < 3 {
		return predicate.User(func(s *sql.Selector) { s.Where(sql.Contains(s.C(column), fragment)) }), nil
	}
	// An FTS5 phrase in double quotes (doubled inside) is matched
	// literally; {column} limits it to the column.
	match := "{" + column + "} : \"" + strings.ReplaceAll(fragment, `"`, `""`) + `"`
	page, ok := r.(readPage)
	if !ok {
		return predicate.User(func(s *sql.Selector) {
			// One alias per column, for a search by name and email.
			index := sql.Table(db.SQLiteSearchTable).As(column + "_matches")
			s.Join(index).On(s.C(user.FieldID), index.C("rowid"))
			s.Where(sql.P(func(b *sql.Builder) {
				b.WriteString(index.C(db.SQLiteSearchTable) + " MATCH ").Arg(match)
			}))
		}), nil
	}
	// The filter's matches (when counted) are the fragment's, or fewer.
	n := 0
	if page.counted != nil {
		n = *page.counted
	} else {
		var err error
		if n, err = indexMatches(ctx, client, match); err != nil {
			return nil, err
		}
	}
	common := n >= commonMatches && page.indexOrder
	if common && column == user.FieldSearchText {
		return predicate.User(func(s *sql.Selector) { s.Where(sql.Contains(s.C(column), fragment)) }), nil
	}
	return predicate.User(func(s *sql.Selector) {
		s.Where(sql.P(func(b *sql.Builder) {
			if common {
				b.WriteString("+")
			}
			b.Ident(s.C(user.FieldID)).WriteString(" IN (SELECT rowid FROM " + db.SQLiteSearchTable +
				" WHERE " + db.SQLiteSearchTable + " MATCH ").Arg(match).WriteString(")")
		}))
	}), nil
}

// indexMatches counts the search index's matches of an FTS5 query, up to
// commonMatches, in every organization (a plan's hint, never shown).
func indexMatches(ctx context.Context, client *ent.Client, match string) (int, error) {
	rows, err := client.QueryContext(ctx, "SELECT COUNT(*) FROM (SELECT 1 FROM "+db.SQLiteSearchTable+
		" WHERE "+db.SQLiteSearchTable+" MATCH ? LIMIT ?)", match, commonMatches)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	var n int
	for rows.Next() {
		if err := rows.Scan(&n); err != nil {
			return 0, err
		}
	}
	return n, rows.Err()
}

// likeEscaper escapes LIKE's wildcards (and its escape character) as
// sql.Contains does, so that a fragment matches literally.
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
