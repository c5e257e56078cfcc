package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/transport"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/validator"

	"github.com/clinicemr/usermanager/graph"
	"github.com/clinicemr/usermanager/graph/generated"
	"github.com/clinicemr/usermanager/internal/apperr"
)

// limitsHandler is the GraphQL endpoint with the server's request limits
// (body, batching, tokens, depth, aliases, fragments, cost, page size) and
// no services: every refusal tested here happens before a resolver runs,
// and the accepted queries ask only for __typename.
func limitsHandler() http.Handler {
	gql := handler.New(generated.NewExecutableSchema(generated.Config{Resolvers: &graph.Resolver{}}))
	gql.AddTransport(transport.POST{})
	gql.SetParserTokenLimit(MaxQueryTokens)
	gql.Use(DefaultLimits)
	gql.AroundFields(boundPageSize)
	gql.SetErrorPresenter(presentError)
	gql.SetRecoverFunc(recoverPanic)
	return limitBody(gql)
}

var testSchema = generated.NewExecutableSchema(generated.Config{Resolvers: &graph.Resolver{}}).Schema()

// checkLimits checks a query against l as the server does once the query is
// parsed and validated, and its variables coerced, without running it.
func checkLimits(t *testing.T, l Limits, q string, vars map[string]any) *gqlerror.Error {
	t.Helper()
	doc, errs := gqlparser.LoadQuery(testSchema, q)
	if errs != nil {
		t.Fatalf("invalid query: %v", errs)
	}
	op := doc.Operations[0]
	coerced, err := validator.VariableValues(testSchema, op, vars)
	if err != nil {
		t.Fatalf("variables: %v", err)
	}
	return l.MutateOperationContext(t.Context(), &graphql.OperationContext{Doc: doc, Operation: op, Variables: coerced})
}

type gqlAnswer struct {
	status int
	Data   map[string]any `json:"data"`
	Errors []struct {
		Message    string         `json:"message"`
		Extensions map[string]any `json:"extensions"`
	} `json:"errors"`
}

func post(t *testing.T, body []byte) gqlAnswer {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	limitsHandler().ServeHTTP(rec, req)
	var a gqlAnswer
	if err := json.Unmarshal(rec.Body.Bytes(), &a); err != nil {
		t.Fatalf("status %d, body %.300q: %v", rec.Code, rec.Body.String(), err)
	}
	a.status = rec.Code
	return a
}

func query(t *testing.T, q string, vars map[string]any) gqlAnswer {
	t.Helper()
	body, err := json.Marshal(map[string]any{"query": q, "variables": vars})
	if err != nil {
		t.Fatal(err)
	}
	return post(t, body)
}

// accepted: the operation passed every limit. Queries of these tests that
// pass the limits and reach real resolvers find no services; a limit passed
// shows as anything but a BAD_USER_INPUT refusal, so accepted queries here
// select only __typename, which needs none.
func accepted(t *testing.T, a gqlAnswer) {
	t.Helper()
	if a.status != http.StatusOK || len(a.Errors) > 0 || a.Data == nil {
		t.Fatalf("refused: status %d, errors %+v", a.status, a.Errors)
	}
}

// refusedWith: the operation was refused with BAD_USER_INPUT and a message
// containing want, and nothing ran.
func refusedWith(t *testing.T, a gqlAnswer, want string) {
	t.Helper()
	if len(a.Errors) == 0 {
		t.Fatalf("not refused (status %d, data %v); want %q", a.status, a.Data, want)
	}
	e := a.Errors[0]
	if !strings.Contains(e.Message, want) {
		t.Fatalf("refused with %q; want it to say %q", e.Message, want)
	}
	if e.Extensions["code"] != apperr.CodeBadUserInput {
		t.Errorf("code %v, want %s", e.Extensions["code"], apperr.CodeBadUserInput)
	}
	if len(a.Data) > 0 {
		t.Errorf("data %v came with the refusal", a.Data)
	}
}

// nested returns a query whose deepest field is at depth: the viewer, then
// homeClinic > users > edges > node over and over, then a scalar. Every
// connection asks for one item, so only the depth is large.
func nested(depth int) string {
	cycle := []string{"homeClinic", "users(first: 1)", "edges", "node"}
	leaf := map[string]string{"homeClinic": "id", "users(first: 1)": "totalCount", "edges": "cursor", "node": "id"}
	var b strings.Builder
	b.WriteString("query Deep { viewer { ")
	last := "node" // viewer is a User, as node is
	for i := 0; i < depth-2; i++ {
		last = cycle[i%len(cycle)]
		b.WriteString(last + " { ")
	}
	b.WriteString(leaf[last])
	b.WriteString(strings.Repeat(" }", depth))
	return b.String()
}

// Depth: 15 levels pass the limit, 16 are refused.
func TestDepthLimit(t *testing.T) {
	t.Parallel()
	if DefaultLimits.MaxDepth != 15 {
		t.Fatalf("MaxDepth %d; the product's limit is 15", DefaultLimits.MaxDepth)
	}
	// The accepted query would run resolvers, which need services: it is
	// checked against the limits alone.
	if err := checkLimits(t, DefaultLimits, nested(15), nil); err != nil {
		t.Fatalf("15 levels refused: %v", err)
	}
	refusedWith(t, query(t, nested(16), nil), "nested 16 levels deep; at most 15")
	refusedWith(t, query(t, nested(40), nil), "nested 40 levels deep")
}

// Aliases multiply a field: 30 pass, 31 are refused.
func TestAliasLimit(t *testing.T) {
	t.Parallel()
	aliases := func(n int) string {
		var b strings.Builder
		b.WriteString("{")
		for i := range n {
			fmt.Fprintf(&b, " a%d: __typename", i)
		}
		return b.String() + " }"
	}
	a := query(t, aliases(30), nil)
	accepted(t, a)
	if len(a.Data) != 30 {
		t.Errorf("%d answers to 30 aliases", len(a.Data))
	}
	refusedWith(t, query(t, aliases(31), nil), "uses 31 aliases; at most 30")
}

// Credential operations appear once per request, so aliases cannot
// multiply password guesses (R29).
func TestCredentialOperationsOncePerRequest(t *testing.T) {
	t.Parallel()
	q := `mutation {
		a: login(input: {login: "a", password: "x"}) { __typename }
		b: login(input: {login: "b", password: "y"}) { __typename }
	}`
	refusedWith(t, query(t, q, nil), "login may appear only once")
	q = `mutation { requestPasswordReset(input: {login: "a"}) { __typename } x: requestPasswordReset(input: {login: "b"}) { __typename } }`
	refusedWith(t, query(t, q, nil), "requestPasswordReset may appear only once")
}

// fragments returns a query whose fragments expand to 2^levels fields:
// each fragment spreads the one below twice.
func fragments(levels int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "query Q { ...F%d }\n", levels)
	b.WriteString("fragment F0 on Query { __typename }\n")
	for i := 1; i <= levels; i++ {
		fmt.Fprintf(&b, "fragment F%d on Query { ...F%d ...F%d }\n", i, i-1, i-1)
	}
	return b.String()
}

// A short query whose fragments expand past the field budget is refused
// without walking all of it; one within the budget passes.
func TestFragmentExpansionBudget(t *testing.T) {
	t.Parallel()
	// 2^13 = 8,192 fields: within the 10,000 budget.
	accepted(t, query(t, fragments(13), nil))
	// 2^14 = 16,384; 2^40 would take hours to walk.
	refusedWith(t, query(t, fragments(14), nil), "fragments expand to more than 10000 fields")
	refusedWith(t, query(t, fragments(40), nil), "fragments expand to more than 10000 fields")
}

// listsOfLists asks for users of the clinics of users of the clinics of
// users: each connection multiplies what it contains by its page size.
func listsOfLists(first string) string {
	vars := ""
	if strings.HasPrefix(first, "$") {
		vars = "(" + first + ": Int)"
	}
	return `query Lists` + vars + ` { users(first: ` + first + `) { edges { node { clinics {
		users(first: ` + first + `) { edges { node { clinics { id name } } } } } } } } }`
}

// Cost: connections multiply by their page size (also when the page size is
// a variable), so nested lists of 100 are refused and of 10 pass.
func TestCostMultipliesByPageSize(t *testing.T) {
	t.Parallel()
	// Accepted queries would run resolvers, which need services: they are
	// checked against the limits alone.
	notRefused := func(first string, vars map[string]any) {
		t.Helper()
		if err := checkLimits(t, DefaultLimits, listsOfLists(first), vars); err != nil {
			t.Fatalf("page size %s %v refused: %v", first, vars, err)
		}
	}
	notRefused("10", nil)
	refusedWith(t, query(t, listsOfLists("100"), nil), "would cost")
	notRefused("$n", map[string]any{"n": 10})
	refusedWith(t, query(t, listsOfLists("$n"), map[string]any{"n": 100}), "would cost")
	// Without a page size, the default (20) is assumed: 20 x 10 x 20 x 10
	// of each field at the bottom, 92,261 in all, within the limit...
	notRefused("$n", nil)
	// ...which a limit below that shows is counted.
	l := DefaultLimits
	l.MaxCost = 92_260
	if err := checkLimits(t, l, listsOfLists("$n"), nil); err == nil || !strings.Contains(err.Message, "would cost 92261") {
		t.Errorf("default page size: %v; want a refusal for a cost of 92261", err)
	}
}

// The cost of a query is counted with the page size multiplying what the
// connection contains, and plain lists by an estimate of 10.
func TestCostArithmetic(t *testing.T) {
	t.Parallel()
	// The two queries differ only in page size; the part below the
	// connection costs 100 times more at 100 than at 1.
	l := Limits{MaxDepth: 100, MaxAliases: 100, MaxFields: 1_000_000}
	for _, c := range []struct {
		first   int
		maxCost int
		refuse  bool
	}{
		// users (1) + edges, node, id (3 x first).
		{first: 1, maxCost: 4, refuse: false},
		{first: 1, maxCost: 3, refuse: true},
		{first: 100, maxCost: 301, refuse: false},
		{first: 100, maxCost: 300, refuse: true},
	} {
		l.MaxCost = c.maxCost
		q := fmt.Sprintf(`{ users(first: %d) { edges { node { id } } } }`, c.first)
		err := checkLimits(t, l, q, nil)
		if (err != nil) != c.refuse {
			t.Errorf("first %d, MaxCost %d: refused %v (%v), want %v", c.first, c.maxCost, err != nil, err, c.refuse)
		}
	}
}

// Page sizes above 100 or below 0 are refused before the resolver runs.
func TestPageSizeBounds(t *testing.T) {
	t.Parallel()
	for _, q := range []string{
		`{ users(first: 101) { totalCount } }`,
		`{ users(last: 101) { totalCount } }`,
		`{ users(first: -1) { totalCount } }`,
		`{ clinics(first: 1000) { totalCount } }`,
	} {
		a := query(t, q, nil)
		if len(a.Errors) == 0 || !strings.Contains(a.Errors[0].Message, "between 0 and 100") {
			t.Errorf("%s: answer %+v; want a refusal naming the bounds", q, a.Errors)
			continue
		}
		if a.Errors[0].Extensions["code"] != apperr.CodeBadUserInput {
			t.Errorf("%s: code %v", q, a.Errors[0].Extensions["code"])
		}
	}
}

// The parser stops at 1,000 tokens.
func TestTokenLimit(t *testing.T) {
	t.Parallel()
	fields := func(n int) string { return "{" + strings.Repeat(" __typename", n) + " }" }
	accepted(t, query(t, fields(990), nil)) // 992 tokens
	a := query(t, fields(1000), nil)        // 1,002 tokens
	if len(a.Errors) == 0 || !strings.Contains(a.Errors[0].Message, "token limit of 1000") {
		t.Fatalf("1,002 tokens: %+v; want the token limit refusal", a.Errors)
	}
	if len(a.Data) > 0 {
		t.Errorf("data %v came with the refusal", a.Data)
	}
}

// An array of operations (batching) is refused with a clear message.
func TestBatchingRefused(t *testing.T) {
	t.Parallel()
	for _, body := range []string{
		`[{"query":"{ __typename }"},{"query":"{ __typename }"}]`,
		" \n\t[{\"query\":\"{ __typename }\"}]",
	} {
		a := post(t, []byte(body))
		if a.status != http.StatusBadRequest {
			t.Errorf("%q: status %d, want 400", body, a.status)
		}
		refusedWith(t, a, "batching is not supported")
	}
}

// A body over 1 MiB is answered 413; one of exactly 1 MiB is read.
func TestBodyLimit(t *testing.T) {
	t.Parallel()
	body := func(size int) []byte {
		prefix := `{"query":"{ __typename }","variables":{"pad":"`
		suffix := `"}}`
		return []byte(prefix + strings.Repeat("x", size-len(prefix)-len(suffix)) + suffix)
	}
	if a := post(t, body(MaxBodyBytes)); a.status != http.StatusOK || len(a.Errors) > 0 {
		t.Errorf("a body of exactly %d bytes: status %d, errors %+v", MaxBodyBytes, a.status, a.Errors)
	}
	a := post(t, body(MaxBodyBytes+1))
	if a.status != http.StatusRequestEntityTooLarge {
		t.Fatalf("a body of %d bytes: status %d, want 413", MaxBodyBytes+1, a.status)
	}
	refusedWith(t, a, "too large")
}
