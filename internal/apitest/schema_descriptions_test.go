package apitest_test

import (
	"sort"
	"strings"
	"testing"

	"entgo.io/ent/dialect"

	"github.com/clinicemr/usermanager/internal/apitest"
)

// fullIntrospectionQuery asks, like GraphiQL's introspection query, for every
// type, field, argument, input field, enum value and directive, deprecated
// ones included, with their descriptions.
const fullIntrospectionQuery = `
query IntrospectionQuery {
  __schema {
    types {
      kind name description
      fields(includeDeprecated: true) {
        name description
        args { name description }
      }
      inputFields { name description }
      enumValues(includeDeprecated: true) { name description }
    }
    directives { name description args { name description } }
  }
}`

// notOurs are the names the GraphQL specification defines, and gqlgen's
// code-generation directives (@goModel, @goField, ...) that gqlgen's
// introspection lists too: their descriptions are not ours to write.
var notOurs = map[string]bool{
	"String": true, "Int": true, "Float": true, "Boolean": true, "ID": true,
	"include": true, "skip": true, "deprecated": true, "specifiedBy": true, "oneOf": true, "defer": true,
	"goModel": true, "goField": true, "goTag": true, "goExtraField": true, "goEnum": true,
}

// TestSchemaDescriptions checks that every type, field, argument, input
// field and enum value of the API a client sees through introspection has a
// description (issue #12): the hand-written schema.graphqls and the types
// generated from the ent schema alike.
func TestSchemaDescriptions(t *testing.T) {
	t.Parallel()
	env := apitest.New(t, dialect.SQLite, apitest.Options{NoDemo: true})

	type named struct {
		Name        string
		Description *string
	}
	type field struct {
		named
		Args []named
	}
	var out struct {
		Schema struct {
			Types []struct {
				Kind string
				named
				Fields      []field
				InputFields []named
				EnumValues  []named
			}
			Directives []field
		} `json:"__schema"`
	}
	env.Anonymous().MustDo(fullIntrospectionQuery, nil, &out)

	var missing []string
	check := func(path string, d *string) {
		if d == nil || strings.TrimSpace(*d) == "" {
			missing = append(missing, path)
		}
	}
	types := 0
	for _, ty := range out.Schema.Types {
		if strings.HasPrefix(ty.Name, "__") || notOurs[ty.Name] {
			continue
		}
		types++
		check(ty.Kind+" "+ty.Name, ty.Description)
		for _, f := range ty.Fields {
			check(ty.Name+"."+f.Name, f.Description)
			for _, a := range f.Args {
				check(ty.Name+"."+f.Name+"("+a.Name+":)", a.Description)
			}
		}
		for _, f := range ty.InputFields {
			check(ty.Name+"."+f.Name, f.Description)
		}
		for _, v := range ty.EnumValues {
			check(ty.Name+"."+v.Name, v.Description)
		}
	}
	for _, d := range out.Schema.Directives {
		if notOurs[d.Name] {
			continue
		}
		check("@"+d.Name, d.Description)
		for _, a := range d.Args {
			check("@"+d.Name+"("+a.Name+":)", a.Description)
		}
	}
	if types < 50 {
		t.Fatalf("introspection returned only %d types; is the query right?", types)
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		t.Errorf("%d schema items have no description (describe them in schema.graphqls, "+
			"with .Comment() in ent/schema, or in internal/schemadoc):\n  %s",
			len(missing), strings.Join(missing, "\n  "))
	}
}
