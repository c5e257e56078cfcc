package schemadoc

import (
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2/ast"
)

func TestWherePredicates(t *testing.T) {
	def := &ast.Definition{Name: "ClinicWhereInput", Kind: ast.InputObject}
	for _, n := range []string{"not", "name", "nameNEQ", "nameNotIn", "nameIn", "nameGTE", "nameGT",
		"nameContainsFold", "nameContains", "hasOrganization", "hasOrganizationWith", "clinicID", "clinicIDIn"} {
		def.Fields = append(def.Fields, &ast.FieldDefinition{Name: n, Description: "x field predicates"})
	}
	for name, want := range map[string]string{
		"not":                 "Matches the Clinic objects the given filter does not match.",
		"name":                "Matches when name equals the given value.",
		"nameNEQ":             "Matches when name is not equal to the given value.",
		"nameNotIn":           "Matches when name is none of the given values.",
		"nameIn":              "Matches when name is one of the given values.",
		"nameGTE":             "Matches when name is greater than or equal to the given value.",
		"nameGT":              "Matches when name is greater than the given value.",
		"nameContainsFold":    "Matches when name contains the given text, in any case.",
		"nameContains":        "Matches when name contains the given text (case-sensitive).",
		"hasOrganization":     "Matches when the Clinic has an organization (true) or has none (false).",
		"hasOrganizationWith": "Matches when the Clinic has an organization that every given filter matches.",
		"clinicIDIn":          "Matches when clinicID is one of the given values.",
	} {
		if got := wherePredicate(def, name); got != want {
			t.Errorf("%s: got %q, want %q", name, got, want)
		}
	}
}

func TestDescribeFailsOnMissing(t *testing.T) {
	s := &ast.Schema{Types: map[string]*ast.Definition{
		"User": {Name: "User", Kind: ast.Object, Fields: ast.FieldList{
			{Name: "id", Type: ast.NamedType("ID", nil)},
			{Name: "nickname", Type: ast.NamedType("String", nil)},
		}},
		"String": {Name: "String", Kind: ast.Scalar},
	}}
	err := Describe(s)
	if err == nil || !strings.Contains(err.Error(), "User.nickname") || strings.Contains(err.Error(), "User.id") ||
		strings.Contains(err.Error(), "  String") {
		t.Fatalf("Describe = %v, want an error naming User.nickname only", err)
	}
	s.Types["User"].Fields[1].Description = "A nickname."
	if err := Describe(s); err != nil {
		t.Fatal(err)
	}
}
