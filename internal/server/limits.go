package server

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/clinicemr/usermanager/internal/apperr"
)

// Limits bounds what one GraphQL operation may ask for, so a single request
// cannot exhaust the server: nesting depth, aliases (which multiply a field),
// and cost, where a connection multiplies the cost of what it contains by
// its page size. Credential operations (login, refreshSession, password
// resets) may appear
// once per request, so aliases cannot multiply guesses past rate limits.
type Limits struct {
	MaxDepth   int
	MaxAliases int
	MaxCost    int
	// MaxFields bounds the fields the check itself walks: fragments spread
	// twice at each of many levels make a short query expand to millions
	// of fields, which even counting would take seconds.
	MaxFields int
}

// DefaultLimits fit every screen of the admin app with room to spare.
var DefaultLimits = Limits{MaxDepth: 15, MaxAliases: 30, MaxCost: 500_000, MaxFields: 10_000}

// MaxQueryTokens bounds the parser (names, punctuation and values of the
// query text): validating a query costs more than linear time in its size
// (field merging compares pairs), so size is refused while parsing. 1,000
// is GraphQL Armor's default; GraphiQL's introspection query has under 200,
// and the worst query that fits validates in under 0.1 s.
const MaxQueryTokens = 1_000

// listEstimate is the size assumed for a plain list (not a connection).
const listEstimate = 10

// onceFields may appear only once in an operation.
var onceFields = []string{"login", "refreshSession", "requestPasswordReset", "resetPassword", "sendPasswordResetEmail"}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = Limits{}

func (Limits) ExtensionName() string                   { return "Limits" }
func (Limits) Validate(graphql.ExecutableSchema) error { return nil }

// MutateOperationContext refuses an operation over a limit before anything
// runs.
func (l Limits) MutateOperationContext(_ context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if oc.Operation == nil {
		return nil
	}
	w := walker{vars: oc.Variables, once: map[string]int{}, budget: l.MaxFields}
	cost := w.cost(oc.Operation.SelectionSet, 1, 1)
	refuse := func(format string, args ...any) *gqlerror.Error {
		return &gqlerror.Error{Message: fmt.Sprintf(format, args...),
			Extensions: map[string]any{"code": apperr.CodeBadUserInput}}
	}
	switch {
	case w.budget < 0:
		return refuse("the query is too complex: its fragments expand to more than %d fields", l.MaxFields)
	case w.depth > l.MaxDepth:
		return refuse("the query is nested %d levels deep; at most %d are allowed", w.depth, l.MaxDepth)
	case w.aliases > l.MaxAliases:
		return refuse("the query uses %d aliases; at most %d are allowed", w.aliases, l.MaxAliases)
	case cost > l.MaxCost:
		return refuse("the query would cost %d (connections multiply by their page size); at most %d is allowed: ask for smaller pages or fewer nested lists", cost, l.MaxCost)
	}
	for name, n := range w.once {
		if n > 1 {
			return refuse("%s may appear only once in a request", name)
		}
	}
	return nil
}

type walker struct {
	vars    map[string]any
	depth   int
	aliases int
	once    map[string]int
	seen    []string // fragment spreads on the current path (cycles are invalid anyway)
	budget  int      // fields left to walk; below zero the walk gave up
}

// cost of a selection set reached multiplier times, at depth.
func (w *walker) cost(set ast.SelectionSet, multiplier, depth int) int {
	if depth > w.depth {
		w.depth = depth
	}
	total := 0
	for _, sel := range set {
		if w.budget < 0 {
			return total
		}
		switch s := sel.(type) {
		case *ast.Field:
			w.budget--
			if s.Alias != "" && s.Alias != s.Name {
				w.aliases++
			}
			if slices.Contains(onceFields, s.Name) {
				w.once[s.Name]++
			}
			inner := multiplier
			if s.Definition != nil {
				switch t := s.Definition.Type; {
				case strings.HasSuffix(t.Name(), "Connection"):
					inner = saturate(multiplier, w.pageSize(s))
				case t.Elem != nil && !(s.ObjectDefinition != nil && strings.HasSuffix(s.ObjectDefinition.Name, "Connection")):
					// A connection's edges are already counted by its page size.
					inner = saturate(multiplier, listEstimate)
				}
			}
			total += multiplier
			if strings.HasPrefix(s.Name, "__") {
				// Introspection: bounded by the schema, not by data; only
				// its depth counts.
				inner = 0
			}
			if len(s.SelectionSet) > 0 {
				total += w.cost(s.SelectionSet, inner, depth+1)
			}
		case *ast.InlineFragment:
			total += w.cost(s.SelectionSet, multiplier, depth)
		case *ast.FragmentSpread:
			if s.Definition == nil || slices.Contains(w.seen, s.Name) {
				continue
			}
			w.seen = append(w.seen, s.Name)
			total += w.cost(s.Definition.SelectionSet, multiplier, depth)
			w.seen = w.seen[:len(w.seen)-1]
		}
		if total > 1<<30 {
			return total
		}
	}
	return total
}

// pageSize is what a connection field returns at most.
func (w *walker) pageSize(f *ast.Field) int {
	args := f.ArgumentMap(w.vars)
	size := 0
	for _, name := range []string{"first", "last"} {
		switch v := args[name].(type) {
		case int64:
			size = max(size, int(v))
		case int:
			size = max(size, v)
		}
	}
	if size <= 0 {
		return DefaultPageSize
	}
	return size
}

func saturate(a, b int) int {
	if a > 0 && b > (1<<30)/a {
		return 1 << 30
	}
	return a * b
}
