package apitest_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/clinicemr/usermanager/internal/apitest"
	"github.com/clinicemr/usermanager/internal/demo"
)

// A GraphiQL-style introspection query: it must stay within the limits.
const limIntrospection = `query IntrospectionQuery { __schema { queryType { name } mutationType { name } subscriptionType { name }
  types { ...FullType } directives { name description locations args { ...InputValue } } } }
fragment FullType on __Type { kind name description
  fields(includeDeprecated: true) { name description args { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason }
  inputFields { ...InputValue } interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason } possibleTypes { ...TypeRef } }
fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }
fragment TypeRef on __Type { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name
  ofType { kind name ofType { kind name ofType { kind name } } } } } } } }`

func limRefused(t *testing.T, what string, r *apitest.Response) {
	t.Helper()
	if len(r.Errors) == 0 || (len(r.Data) > 0 && string(r.Data) != "null") {
		t.Fatalf("%s was not refused: %.300s", what, r.Body)
	}
}

// Oversized operations are refused before anything runs, with a clear
// error; ordinary ones (including GraphiQL's introspection) pass.
func TestLimitsRefuseOversizedOperations(t *testing.T) {
	t.Parallel()
	apitest.ForEachDatabase(t, func(t *testing.T, env *apitest.Env) {
		admin := env.LoginDemo(demo.AdminUsername)
		admin.MustDo(limIntrospection, nil, nil)
		admin.MustDo(`{ users(first: 100) { edges { node { clinics { name } permissions { key } homeClinic { name } } } } }`, nil, nil)

		var aliases strings.Builder
		aliases.WriteString("{")
		for i := range 10000 {
			fmt.Fprintf(&aliases, " a%d: viewer { id }", i)
		}
		aliases.WriteString(" }")
		limRefused(t, "10,000 aliases", admin.Do(aliases.String(), nil))

		r := admin.Do(`{ a1: viewer { id } a2: viewer { id } a3: viewer { id } a4: viewer { id } a5: viewer { id } a6: viewer { id } a7: viewer { id } a8: viewer { id }
			a9: viewer { id } a10: viewer { id } a11: viewer { id } a12: viewer { id } a13: viewer { id } a14: viewer { id } a15: viewer { id } a16: viewer { id }
			a17: viewer { id } a18: viewer { id } a19: viewer { id } a20: viewer { id } a21: viewer { id } a22: viewer { id } a23: viewer { id } a24: viewer { id }
			a25: viewer { id } a26: viewer { id } a27: viewer { id } a28: viewer { id } a29: viewer { id } a30: viewer { id } a31: viewer { id } }`, nil)
		limRefused(t, "31 aliases", r)
		if r.Code() != "BAD_USER_INPUT" || !strings.Contains(r.Errors[0].Message, "aliases") {
			t.Fatalf("31 aliases: %s", r.Body)
		}

		deep := "{ viewer { " + strings.Repeat("homeClinic { users(first: 1) { edges { node { ", 4) + "id" + strings.Repeat(" } } } }", 4) + " } }"
		r = admin.Do(deep, nil)
		limRefused(t, "a deep query", r)
		if !strings.Contains(r.Errors[0].Message, "deep") {
			t.Fatalf("deep query: %s", r.Body)
		}

		r = admin.Do(`{ clinics(first: 100) { edges { node { users(first: 100) { edges { node { clinics { users(first: 100) { totalCount } } } } } } } } }`, nil)
		limRefused(t, "nested pages of 100", r)
		if !strings.Contains(r.Errors[0].Message, "cost") {
			t.Fatalf("costly query: %s", r.Body)
		}
		limRefused(t, "a page of a million", admin.Do(`{ users(first: 1000000) { totalCount } }`, nil))

		// Credentials cannot be tried many times in one request.
		r = env.Anonymous().Do(`mutation { a: login(input: {login: "admin", password: "x1"}) { accessToken } b: login(input: {login: "admin", password: "x2"}) { accessToken } }`, nil)
		limRefused(t, "two logins in one request", r)
	})
}

// A batch of operations (a JSON array) is refused: one request, one
// operation.
func TestLimitsRefuseBatches(t *testing.T) {
	t.Parallel()
	env := apitest.New(t, apitest.Dialects[0], apitest.Options{})
	batch := make([]map[string]any, 1000)
	for i := range batch {
		batch[i] = map[string]any{"query": `mutation { login(input: {login: "admin", password: "guess"}) { accessToken } }`}
	}
	body, _ := json.Marshal(batch)
	res, err := http.Post(env.Server.URL+"/graphql", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	var answer struct {
		Data   json.RawMessage
		Errors []apitest.GraphQLError
	}
	_ = json.Unmarshal(out, &answer)
	if res.StatusCode < 400 || len(answer.Errors) == 0 || (len(answer.Data) > 0 && string(answer.Data) != "null") || strings.Contains(string(out), "INVALID_CREDENTIALS") {
		t.Fatalf("batch of 1000: status %d: %.300s", res.StatusCode, out)
	}
}
