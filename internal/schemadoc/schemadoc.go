// Package schemadoc describes the GraphQL types entgql generates from the ent
// schema (graph/ent.graphqls) where the ent schema cannot: type and enum
// value descriptions, and the filter, order and connection plumbing entgql
// writes without any (issue #12). ent/entc.go runs Describe as an entgql
// schema hook, before the schema is printed.
//
// Fields of ent types are described in ent/schema with .Comment(); Describe
// fails generation when anything is still undescribed, so a new field or
// type cannot slip into the API without one.
package schemadoc

import (
	"fmt"
	"sort"
	"strings"

	"github.com/vektah/gqlparser/v2/ast"
)

// Describe sets descriptions on the generated schema and returns an error
// naming every type, field, argument, input field or enum value still
// without one.
func Describe(s *ast.Schema) error {
	for name, def := range s.Types {
		if d, ok := types[name]; ok {
			def.Description = d
		}
		for _, f := range def.Fields {
			describeField(def, f)
		}
		for _, v := range def.EnumValues {
			if d, ok := enumValues[name+"."+v.Name]; ok {
				v.Description = d
			} else if v.Description == "" && strings.HasSuffix(name, "OrderField") {
				v.Description = "Order by " + camel(v.Name) + "."
			}
		}
	}
	return missing(s)
}

func describeField(def *ast.Definition, f *ast.FieldDefinition) {
	if d, ok := fields[def.Name+"."+f.Name]; ok {
		f.Description = d
	}
	if strings.HasSuffix(f.Type.Name(), "Connection") {
		for _, a := range f.Arguments {
			if (a.Name == "first" || a.Name == "last") && !strings.Contains(a.Description, pageSize) {
				a.Description = strings.TrimSpace(a.Description + " " + pageSize)
			}
		}
	}
	switch {
	case fields[def.Name+"."+f.Name] != "":
	case def.Kind == ast.InputObject && strings.HasSuffix(def.Name, "WhereInput"):
		// entgql describes only the first predicate of each field, as
		// "name field predicates": describe each one instead.
		f.Description = wherePredicate(def, f.Name)
	case f.Description != "":
	case f.Name == "id" && def.Kind == ast.Object:
		f.Description = "The object's opaque, globally unique ID (node(id:) fetches it)."
	}
}

// pageSize is the bound internal/server puts on every connection.
const pageSize = "At most 100; 20 when neither first nor last is given."

// predicates are the suffixes entgql gives a field's filter predicates in a
// WhereInput, longest first where one ends another.
var predicates = []struct{ suffix, phrase string }{
	{"ContainsFold", "contains the given text, in any case"},
	{"EqualFold", "equals the given text, in any case"},
	{"Contains", "contains the given text (case-sensitive)"},
	{"HasPrefix", "starts with the given text"},
	{"HasSuffix", "ends with the given text"},
	{"NotIn", "is none of the given values"},
	{"In", "is one of the given values"},
	{"NEQ", "is not equal to the given value"},
	{"GTE", "is greater than or equal to the given value"},
	{"GT", "is greater than the given value"},
	{"LTE", "is less than or equal to the given value"},
	{"LT", "is less than the given value"},
	{"IsNil", "is null (pass true)"},
	{"NotNil", "is not null (pass true)"},
}

// wherePredicate describes a field of a <Type>WhereInput: a combinator, an
// edge predicate, or a predicate on one of the type's fields.
func wherePredicate(def *ast.Definition, name string) string {
	typ := strings.TrimSuffix(def.Name, "WhereInput")
	switch name {
	case "not":
		return "Matches the " + typ + " objects the given filter does not match."
	case "and":
		return "Matches the " + typ + " objects every given filter matches."
	case "or":
		return "Matches the " + typ + " objects at least one given filter matches."
	}
	if edge, ok := strings.CutPrefix(name, "has"); ok && edge != "" {
		if edge, ok := strings.CutSuffix(edge, "With"); ok {
			return fmt.Sprintf("Matches when the %s has %s that every given filter matches.", typ, withArticle(camel(edge)))
		}
		return fmt.Sprintf("Matches when the %s has %s (true) or has none (false).", typ, withArticle(camel(edge)))
	}
	for _, p := range predicates {
		if base, ok := strings.CutSuffix(name, p.suffix); ok && def.Fields.ForName(base) != nil {
			return fmt.Sprintf("Matches when %s %s.", base, p.phrase)
		}
	}
	// The field's name alone is its equality predicate.
	return "Matches when " + name + " equals the given value."
}

// withArticle puts "a" or "an" before a noun.
func withArticle(noun string) string {
	if noun != "" && strings.ContainsRune("aeiou", rune(noun[0])) {
		return "an " + noun
	}
	return "a " + noun
}

// camel turns CREATED_AT or Organization into createdAt or organization.
func camel(s string) string {
	parts := strings.Split(strings.ToLower(s), "_")
	for i := 1; i < len(parts); i++ {
		if parts[i] != "" {
			parts[i] = strings.ToUpper(parts[i][:1]) + parts[i][1:]
		}
	}
	return strings.Join(parts, "")
}

// builtin are the GraphQL specification's scalars, whose descriptions are not
// ours to write.
var builtin = map[string]bool{"String": true, "Int": true, "Float": true, "Boolean": true, "ID": true}

// missing lists whatever in s has no description.
func missing(s *ast.Schema) error {
	var out []string
	for name, def := range s.Types {
		if builtin[name] || strings.HasPrefix(name, "__") {
			continue
		}
		if def.Description == "" {
			out = append(out, name)
		}
		for _, f := range def.Fields {
			if f.Description == "" {
				out = append(out, name+"."+f.Name)
			}
			for _, a := range f.Arguments {
				if a.Description == "" {
					out = append(out, name+"."+f.Name+"("+a.Name+":)")
				}
			}
		}
		for _, v := range def.EnumValues {
			if v.Description == "" {
				out = append(out, name+"."+v.Name)
			}
		}
	}
	if len(out) == 0 {
		return nil
	}
	sort.Strings(out)
	return fmt.Errorf("schemadoc: %d items of the generated GraphQL schema have no description; "+
		"describe ent fields and edges with .Comment() in ent/schema, and types and enum values in "+
		"internal/schemadoc:\n  %s", len(out), strings.Join(out, "\n  "))
}
