package apitest_test

// R36: hostile text and malformed values in every argument of the schema.
// The table is built by walking the schema, so a new query, mutation or
// input field is covered without touching this file.

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/vektah/gqlparser/v2/ast"

	"github.com/clinicemr/usermanager/graph/generated"
	"github.com/clinicemr/usermanager/internal/apitest"
	"github.com/clinicemr/usermanager/internal/demo"
	"github.com/clinicemr/usermanager/internal/lockout"
)

// hostileValues are sent wherever their GraphQL type fits.
var hostileValues = map[string][]string{
	"String": {"nul\x00byte", "line\r\nbreak", strings.Repeat("x", 100_000)},
	"ID":     {"not-an-id", "\x00", strings.Repeat("A", 100_000)},
	// The last cursor is well-formed base64 of bytes that are no cursor.
	"Cursor": {"x", "\x00", strings.Repeat("A", 100_000), base64.RawStdEncoding.EncodeToString([]byte{0xc1, 0xff, 0x00, 0x92})},
	"Time":   {"not-a-time", "\x00", "99999-01-01T00:00:00Z"},
}

// hostileMultiLine are the input fields where line breaks are text.
var hostileMultiLine = map[string]bool{
	"RequestLicenseAdjustmentInput.explanation": true,
	"RejectLicenseAdjustmentInput.reason":       true,
}

// hostileLeaf is a position in an argument: steps through input fields, or
// "[]" for a list element, to a value of a scalar type.
type hostileLeaf struct {
	steps     []string
	scalar    string // String, ID, Cursor or Time
	inputType string // the input object holding the leaf, if any
}

type hostileCase struct {
	op        string // "query" or "mutation"
	field     *ast.FieldDefinition
	arg       *ast.ArgumentDefinition
	leaf      hostileLeaf
	value     string
	mayAccept bool
}

func (c hostileCase) name() string {
	v := c.value
	if len(v) > 12 {
		v = fmt.Sprintf("%.12q…(%d)", v, len(v))
	} else {
		v = fmt.Sprintf("%q", v)
	}
	return fmt.Sprintf("%s.%s(%s) = %s", c.op, c.field.Name, c.path(), v)
}

func (c hostileCase) path() string {
	return strings.Join(append([]string{c.arg.Name}, c.leaf.steps...), ".")
}

// hostileLeaves lists the String, ID, Cursor and Time positions of type t,
// through input objects and lists. Each input type is walked once per
// argument (seen), at its shallowest use: where filters nest themselves
// (and, or, hasUsersWith) without end.
func hostileLeaves(schema *ast.Schema, t *ast.Type, inputType string, seen map[string]bool) []hostileLeaf {
	if t.Elem != nil {
		var out []hostileLeaf
		for _, l := range hostileLeaves(schema, t.Elem, inputType, seen) {
			l.steps = append([]string{"[]"}, l.steps...)
			out = append(out, l)
		}
		return out
	}
	if _, ok := hostileValues[t.NamedType]; ok {
		return []hostileLeaf{{scalar: t.NamedType, inputType: inputType}}
	}
	def := schema.Types[t.NamedType]
	if def == nil || def.Kind != ast.InputObject || seen[def.Name] {
		return nil
	}
	seen[def.Name] = true
	var out []hostileLeaf
	var nested []*ast.FieldDefinition
	for _, f := range def.Fields { // scalars first, so nesting is shallowest-first
		if d := schema.Types[f.Type.Name()]; d != nil && d.Kind == ast.InputObject {
			nested = append(nested, f)
			continue
		}
		for _, l := range hostileLeaves(schema, f.Type, def.Name, seen) {
			l.steps = append([]string{f.Name}, l.steps...)
			out = append(out, l)
		}
	}
	for _, f := range nested {
		for _, l := range hostileLeaves(schema, f.Type, def.Name, seen) {
			l.steps = append([]string{f.Name}, l.steps...)
			out = append(out, l)
		}
	}
	return out
}

// hostileIDs are real IDs of the demo data, for required ID arguments.
type hostileIDs struct{ user, clinic, organization, session string }

// baseValue is a plausible value of type t for a field named name: what a
// client filling in the required fields would send.
func baseValue(schema *ast.Schema, t *ast.Type, name string, ids hostileIDs) any {
	if t.Elem != nil {
		return []any{baseValue(schema, t.Elem, name, ids)}
	}
	lower := strings.ToLower(name)
	switch t.NamedType {
	case "String":
		switch {
		case strings.Contains(lower, "password"):
			return "Glacier!Walnut-Trombone-47"
		case strings.Contains(lower, "email"):
			return "hostile.base@example.com"
		case strings.Contains(lower, "username"), lower == "login":
			return "hostile.base"
		case lower == "npi":
			return "9999999995"
		case lower == "licensenumber":
			return "00000"
		case lower == "licensestate":
			return "CA"
		}
		return "Hostile Base"
	case "ID":
		switch {
		case strings.Contains(lower, "clinic"):
			return ids.clinic
		case strings.Contains(lower, "organization"):
			return ids.organization
		case strings.Contains(lower, "session"):
			return ids.session
		}
		return ids.user
	case "Int":
		return 1
	case "Float":
		return 1.0
	case "Boolean":
		return false
	case "Upload":
		return nil // a file part of the multipart request
	}
	def := schema.Types[t.NamedType]
	switch {
	case def == nil:
		return nil
	case def.Kind == ast.Enum:
		return def.EnumValues[0].Name
	case def.Kind == ast.InputObject:
		obj := map[string]any{}
		for _, f := range def.Fields {
			if f.Type.NonNull && f.DefaultValue == nil {
				obj[f.Name] = baseValue(schema, f.Type, f.Name, ids)
			}
		}
		return obj
	}
	return nil
}

// withHostile is the base value of t with the hostile value at steps.
func withHostile(schema *ast.Schema, t *ast.Type, name string, steps []string, value string, ids hostileIDs) any {
	if len(steps) == 0 {
		return value
	}
	if steps[0] == "[]" {
		return []any{withHostile(schema, t.Elem, name, steps[1:], value, ids)}
	}
	obj, _ := baseValue(schema, t, name, ids).(map[string]any)
	f := schema.Types[t.NamedType].Fields.ForName(steps[0])
	obj[steps[0]] = withHostile(schema, f.Type, f.Name, steps[1:], value, ids)
	return obj
}

// hostileSelection selects what a refusal would show: userErrors when the
// type has them.
func hostileSelection(schema *ast.Schema, t *ast.Type) string {
	def := schema.Types[t.Name()]
	if def == nil || (def.Kind != ast.Object && def.Kind != ast.Interface && def.Kind != ast.Union) {
		return ""
	}
	sel := "__typename"
	if def.Fields.ForName("userErrors") != nil {
		sel += " userErrors { field code message }"
	}
	if def.Fields.ForName("message") != nil && def.Fields.ForName("message").Type.Name() == "String" {
		sel += " message"
	}
	return " { " + sel + " }"
}

// hostileCases walks every argument of every query and mutation.
func hostileCases(schema *ast.Schema) (cases []hostileCase, covered map[string]bool) {
	covered = map[string]bool{}
	for _, root := range []struct {
		op  string
		def *ast.Definition
	}{{"query", schema.Query}, {"mutation", schema.Mutation}} {
		for _, f := range root.def.Fields {
			if strings.HasPrefix(f.Name, "__") {
				continue
			}
			for _, a := range f.Arguments {
				for _, leaf := range hostileLeaves(schema, a.Type, "", map[string]bool{}) {
					c := hostileCase{op: root.op, field: f, arg: a, leaf: leaf}
					covered[root.op+"."+f.Name+"("+c.path()+")"] = true
					for _, v := range hostileValues[leaf.scalar] {
						c.value = v
						c.mayAccept = strings.Contains(v, "\n") && len(leaf.steps) > 0 &&
							hostileMultiLine[leaf.inputType+"."+leaf.steps[len(leaf.steps)-1]]
						cases = append(cases, c)
					}
				}
			}
		}
	}
	return cases, covered
}

// hostileWrites is a fingerprint of everything a mutation could write:
// successful audit events (R31 records every change) and the rows and
// last updates of what they are about. Failed sign-ins are recorded on
// purpose (R29), and so are not counted.
func hostileWrites(t *testing.T, env *apitest.Env) string {
	t.Helper()
	row := env.DB.SQL.QueryRow(`SELECT
		(SELECT COUNT(*) FROM users), (SELECT COUNT(*) FROM clinics), (SELECT COUNT(*) FROM organizations),
		(SELECT COUNT(*) FROM licenses), (SELECT COUNT(*) FROM license_adjustments),
		(SELECT COUNT(*) FROM password_resets), (SELECT COUNT(*) FROM sessions),
		(SELECT COUNT(*) FROM user_clinics), (SELECT COUNT(*) FROM user_permissions),
		(SELECT COUNT(*) FROM audit_events WHERE outcome = 'SUCCESS'),
		(SELECT MAX(updated_at) FROM users), (SELECT MAX(updated_at) FROM clinics)`)
	vals := make([]any, 12)
	ptrs := make([]any, len(vals))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := row.Scan(ptrs...); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprint(vals...)
}

// hostileSend sends one case, as multipart when an argument is an upload.
func hostileSend(t *testing.T, env *apitest.Env, c *apitest.Client, query string, vars map[string]any, uploads []string) *apitest.Response {
	t.Helper()
	if len(uploads) == 0 {
		return c.Do(query, vars)
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	ops, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	_ = mw.WriteField("operations", string(ops))
	fileMap := map[string][]string{}
	for i, path := range uploads {
		fileMap[fmt.Sprint(i)] = []string{path}
	}
	m, _ := json.Marshal(fileMap)
	_ = mw.WriteField("map", string(m))
	for i := range uploads {
		fw, _ := mw.CreateFormFile(fmt.Sprint(i), "picture.png")
		_, _ = fw.Write(imgPNG(t, 8, 8))
	}
	_ = mw.Close()
	req, _ := http.NewRequest(http.MethodPost, env.Server.URL+"/graphql", &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	res, err := env.Server.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	r := &apitest.Response{Status: res.StatusCode, Body: raw}
	if err := json.Unmarshal(raw, r); err != nil {
		t.Fatalf("status %d: %s", res.StatusCode, raw)
	}
	return r
}

// hostileRequest builds the operation of a case: its field with the
// hostile argument and base values of the other required arguments.
func hostileRequest(schema *ast.Schema, c hostileCase, ids hostileIDs) (query string, vars map[string]any, uploads []string) {
	vars = map[string]any{}
	var decls, args []string
	for _, a := range c.field.Arguments {
		var v any
		switch {
		case a == c.arg:
			v = withHostile(schema, a.Type, a.Name, c.leaf.steps, c.value, ids)
		case a.Type.NonNull && a.DefaultValue == nil:
			v = baseValue(schema, a.Type, a.Name, ids)
		default:
			continue
		}
		vars[a.Name] = v
		decls = append(decls, fmt.Sprintf("$%s: %s", a.Name, a.Type.String()))
		args = append(args, fmt.Sprintf("%s: $%s", a.Name, a.Name))
		// Upload fields get a file part.
		if def := schema.Types[a.Type.Name()]; def != nil && def.Kind == ast.InputObject {
			for _, f := range def.Fields {
				if f.Type.Name() == "Upload" {
					uploads = append(uploads, "variables."+a.Name+"."+f.Name)
				}
			}
		}
	}
	query = fmt.Sprintf("%s(%s) { %s(%s)%s }", c.op, strings.Join(decls, ", "), c.field.Name,
		strings.Join(args, ", "), hostileSelection(schema, c.field.Type))
	return query, vars, uploads
}

// hostileIDsOf reads real IDs of the demo data.
func hostileIDsOf(t *testing.T, admin *apitest.Client) hostileIDs {
	t.Helper()
	var out struct {
		Viewer struct {
			HomeClinic struct {
				ID           string
				Organization struct{ ID string }
			}
		}
		Users struct {
			Edges []struct{ Node struct{ ID string } }
		}
		Sessions []struct{ ID string }
	}
	admin.MustDo(`{ viewer { homeClinic { id organization { id } } }
		users(filter: {username: "pt.jordan"}) { edges { node { id } } } sessions { id } }`, nil, &out)
	if len(out.Users.Edges) != 1 || len(out.Sessions) == 0 {
		t.Fatalf("demo data: %+v", out)
	}
	return hostileIDs{user: out.Users.Edges[0].Node.ID, clinic: out.Viewer.HomeClinic.ID,
		organization: out.Viewer.HomeClinic.Organization.ID, session: out.Sessions[0].ID}
}

// hostileAnonymous: operations anyone may send (or that eager-load without
// a viewer) are also sent without signing in, as is every eighth other case.
var hostileAnonymous = []string{"login", "refreshSession", "requestPasswordReset", "resetPassword",
	"passwordStrength", "node", "nodes", "users", "clinics"}

// R36: NUL, CR/LF, 100,000-character strings, garbage cursors, times and IDs
// in every argument of every query and mutation: never an internal error or
// a recovered panic, and nothing written unless the value is acceptable
// there (line breaks in a multi-line field).
func TestHostileInputEveryArgument(t *testing.T) {
	// Not parallel: it reads the process-wide log.
	logs := secCaptureLog(t)
	schema := generated.NewExecutableSchema(generated.Config{}).Schema()
	cases, covered := hostileCases(schema)
	paths := make([]string, 0, len(covered))
	for p := range covered {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	top := map[string]bool{}
	for _, c := range cases {
		top[c.op+"."+c.field.Name+"("+c.arg.Name+")"] = true
	}
	t.Logf("hostile input covers %d schema arguments: %d of queries and mutations, the rest fields of their input objects; %d cases: %s",
		len(covered), len(top), len(cases), strings.Join(paths, " "))
	if len(covered) < 60 {
		t.Fatalf("only %d schema arguments found: is the schema walk broken?", len(covered))
	}
	opts := apitest.Options{Lockout: lockout.Policy{IPThreshold: 10_000}, ResetMinResponse: time.Millisecond}
	apitest.ForEachDatabaseWith(t, opts, func(t *testing.T, env *apitest.Env) {
		admin := env.LoginDemo(demo.AdminUsername)
		ids := hostileIDsOf(t, admin)
		before := hostileWrites(t, env)
		for i, c := range cases {
			clients := map[string]*apitest.Client{"admin": admin}
			if slices.Contains(hostileAnonymous, c.field.Name) || i%8 == 0 {
				clients["anonymous"] = env.Anonymous()
			}
			for who, client := range clients {
				query, vars, uploads := hostileRequest(schema, c, ids)
				r := hostileSend(t, env, client, query, vars, uploads)
				what := who + ": " + c.name()
				if r.Status >= 500 || slices.Contains(r.Codes(), "INTERNAL_SERVER_ERROR") {
					t.Errorf("%s: internal error (status %d): %.600s", what, r.Status, r.Body)
					continue
				}
				accepted := c.op == "mutation" && len(r.Errors) == 0 && !hostileRefused(r, c.field.Name)
				if accepted && c.field.Name != "requestPasswordReset" && !c.mayAccept {
					t.Errorf("%s: accepted: %.600s", what, r.Body)
				}
				after := hostileWrites(t, env)
				if after != before && !(accepted && c.mayAccept) {
					t.Errorf("%s: something was written (%s -> %s): %.600s", what, before, after, r.Body)
				}
				before = after
			}
		}
		if strings.Contains(logs.String(), "panic") || strings.Contains(logs.String(), "goroutine ") {
			t.Errorf("the log shows a recovered panic: %.2000s", logs.String())
		}
	})
}

// hostileRefused reports whether a mutation's payload refused its input
// with userErrors (login's INVALID_CREDENTIALS included).
func hostileRefused(r *apitest.Response, field string) bool {
	var data map[string]struct {
		UserErrors []apitest.UserError
	}
	if json.Unmarshal(r.Data, &data) != nil {
		return false
	}
	return len(data[field].UserErrors) > 0
}

// R36 in detail: what a client sees for each kind of hostile input.
func TestHostileInputAnswers(t *testing.T) {
	t.Parallel()
	opts := apitest.Options{ResetMinResponse: time.Millisecond}
	apitest.ForEachDatabaseWith(t, opts, func(t *testing.T, env *apitest.Env) {
		admin := env.LoginDemo(demo.AdminUsername)
		ids := hostileIDsOf(t, admin)
		anon := env.Anonymous()

		wantBadInput := func(what string, r *apitest.Response, argument string) {
			t.Helper()
			if r.Code() != "BAD_USER_INPUT" || !strings.Contains(r.Errors[0].Message, argument) {
				t.Errorf("%s: %.400s, want BAD_USER_INPUT naming %s", what, r.Body, argument)
			}
		}
		t.Log("a NUL or a 100,000-character filter is refused, on SQLite as on PostgreSQL")
		for _, name := range []string{"\x00", "a\x00", strings.Repeat("a", 100_000), "a\nb"} {
			r := admin.Do(`query($n: String) { users(filter: {name: $n}) { totalCount } }`, map[string]any{"n": name})
			wantBadInput(fmt.Sprintf("users(filter: {name: %.10q})", name), r, "filter.name")
		}
		r := admin.Do(`query($n: String) { users(filter: {name: $n}) { totalCount } }`, map[string]any{"n": strings.Repeat("a", 256)})
		if len(r.Errors) != 0 {
			t.Errorf("a 256-character filter: %.300s", r.Body)
		}
		wantBadInput("duplicateProviders", admin.Do(`{ duplicateProviders(input: {lastName: "Re\u0000yes"}) { reasons } }`, nil), "input.lastName")
		wantBadInput("passwordStrength", anon.Do(`query($p: String!) { passwordStrength(password: $p) { acceptable } }`,
			map[string]any{"p": "Glacier!\x00Walnut"}), "password")
		wantBadInput("auditEvents time", admin.Do(`{ auditEvents(filter: {from: "yesterday"}) { totalCount } }`, nil), "filter.from")
		wantBadInput("node", anon.Do(`{ node(id: "garbage") { id } }`, nil), "id")
		wantBadInput("nodes", admin.Do(`query($ids: [ID!]!) { nodes(ids: $ids) { id } }`, map[string]any{"ids": []string{ids.user, "x"}}), "ids.1")

		for _, protocol := range []string{apitest.GraphQLTransportWS, apitest.GraphQLWS, apitest.SSE} {
			liveExpectRefused(t, "subscription with a malformed clinic ID over "+protocol,
				admin.Subscribe(protocol, liveCountsSub, map[string]any{"c": "garbage"}), "BAD_USER_INPUT")
		}

		t.Log("login and requestPasswordReset keep their answers")
		for _, login := range []string{"admin\x00", "ad\x00min", "admin\r\nx"} {
			p, res := secLogin(t, env, login, env.Password, nil)
			if len(res.Errors) != 0 {
				t.Errorf("login %q: %s", login, res.Body)
			}
			secWantLoginCode(t, fmt.Sprintf("login %q", login), p, secCodeInvalidCreds)
			res, _ = secRequestReset(t, env, login)
			var out struct{ RequestPasswordReset struct{ Message string } }
			res.Decode(t, &out)
			if !strings.HasPrefix(out.RequestPasswordReset.Message, "If an active account matches") {
				t.Errorf("requestPasswordReset %q: %s", login, res.Body)
			}
		}

		t.Log("createUser: text and ID problems come back together as userErrors; nothing is written")
		before := hostileWrites(t, env)
		var created struct {
			CreateUser struct {
				User       *struct{ ID string }
				UserErrors []apitest.UserError
			}
		}
		admin.MustDo(`mutation($in: CreateUserInput!) { createUser(input: $in) { user { id } userErrors { field code message } } }`,
			map[string]any{"in": map[string]any{
				"username": "hostile.one", "email": "hostile.one@example.com", "password": "Glacier!Walnut-Trombone-47",
				"userType": "PT", "firstName": "Nul\x00", "lastName": "Line\nBreak", "homeClinicId": ids.clinic,
				"clinicIds": []string{ids.clinic, "garbage"}, "copyPermissionsFrom": []string{"\x00"},
			}}, &created)
		got := map[string]string{}
		for _, e := range created.CreateUser.UserErrors {
			if e.Field != nil {
				got[*e.Field] = e.Code
			}
		}
		want := map[string]string{"firstName": "INVALID_CHARACTERS", "lastName": "INVALID_CHARACTERS",
			"clinicIds.1": "INVALID_ID", "copyPermissionsFrom.0": "INVALID_ID"}
		for f, code := range want {
			if got[f] != code {
				t.Errorf("createUser: userErrors %+v, want %s on %s", created.CreateUser.UserErrors, code, f)
			}
		}
		if created.CreateUser.User != nil || hostileWrites(t, env) != before {
			t.Errorf("createUser with hostile input wrote something: %+v", created)
		}

		t.Log("a line break is text in an explanation, not in a rejection's ID")
		var adj struct {
			RequestLicenseAdjustment struct {
				Adjustment *struct{ Explanation *string }
				UserErrors []apitest.UserError
			}
		}
		admin.MustDo(`mutation($in: RequestLicenseAdjustmentInput!) { requestLicenseAdjustment(input: $in) {
			adjustment { explanation } userErrors { field code message } } }`,
			map[string]any{"in": map[string]any{"clinicId": ids.clinic, "class": "THERAPIST", "kind": "ADD", "quantity": 1,
				"explanation": "New hires:\r\n- two therapists\n\tstarting Monday"}}, &adj)
		if a := adj.RequestLicenseAdjustment.Adjustment; a == nil || a.Explanation == nil || !strings.Contains(*a.Explanation, "\r\n- two") {
			t.Errorf("multi-line explanation: %+v", adj)
		}
	})
}

// R36: a garbage cursor in a nested connection, even 30 times over and
// without signing in, is BAD_USER_INPUT, logged at most at info, with no
// recovered panic or stack trace.
func TestHostileCursorNested(t *testing.T) {
	// Not parallel: it reads the process-wide log.
	logs := secCaptureLog(t)
	apitest.ForEachDatabase(t, func(t *testing.T, env *apitest.Env) {
		admin := env.LoginDemo(demo.AdminUsername)
		nested := `{ clinics { edges { node { users(after: "x") { totalCount } } } } }`
		var aliased strings.Builder
		aliased.WriteString("{")
		for i := range 30 {
			fmt.Fprintf(&aliased, ` a%d: clinics { edges { node { users(after: "x%d") { totalCount } } } }`, i, i)
		}
		aliased.WriteString(" }")
		for _, c := range []struct {
			what   string
			client *apitest.Client
			query  string
		}{
			{"root cursor", admin, `{ users(after: "x") { totalCount } }`},
			{"root cursor, anonymous", env.Anonymous(), `{ users(before: "x") { totalCount } }`},
			{"nested cursor", admin, nested},
			{"nested cursor, anonymous", env.Anonymous(), nested},
			{"30 aliased nested cursors, anonymous", env.Anonymous(), aliased.String()},
			{"nested cursor in a fragment", admin, `{ clinics { edges { node { ...U } } } } fragment U on Clinic { users(after: "x") { totalCount } }`},
		} {
			logs.mu.Lock()
			logs.buf.Reset()
			logs.mu.Unlock()
			r := c.client.Do(c.query, nil)
			if r.Code() != "BAD_USER_INPUT" || slices.Contains(r.Codes(), "INTERNAL_SERVER_ERROR") || r.Data != nil && string(r.Data) != "null" {
				t.Errorf("%s: %.500s, want only BAD_USER_INPUT", c.what, r.Body)
			}
			if !strings.Contains(r.Errors[0].Message, "cursor") {
				t.Errorf("%s: %q does not say what is wrong", c.what, r.Errors[0].Message)
			}
			out := logs.String()
			if strings.Contains(out, "panic") || strings.Contains(out, "goroutine ") || strings.Contains(out, "level=ERROR") || strings.Contains(out, "level=WARN") {
				t.Errorf("%s: logged %.1000s", c.what, out)
			}
			if len(out) > 4096 {
				t.Errorf("%s: %d bytes of log for one request", c.what, len(out))
			}
		}
	})
}
