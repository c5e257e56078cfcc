//go:build ignore

// entc.go generates the ent data model and its GraphQL schema (graph/ent.graphqls).
// Run it with `go generate ./...` from the repository root.
package main

import (
	"log"

	"entgo.io/contrib/entgql"
	"entgo.io/ent/entc"
	"entgo.io/ent/entc/gen"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/clinicemr/usermanager/internal/schemadoc"
)

func main() {
	ex, err := entgql.NewExtension(
		entgql.WithSchemaGenerator(),
		entgql.WithSchemaPath("../graph/ent.graphqls"),
		entgql.WithConfigPath("../gqlgen.yml"),
		entgql.WithWhereInputs(true),
		entgql.WithNodeDescriptor(false),
		// Descriptions of everything generated (issue #12); fails when
		// something is left undescribed.
		entgql.WithSchemaHook(func(_ *gen.Graph, s *ast.Schema) error { return schemadoc.Describe(s) }),
	)
	if err != nil {
		log.Fatalf("creating entgql extension: %v", err)
	}
	err = entc.Generate("./schema", &gen.Config{
		Features: []gen.Feature{
			gen.FeaturePrivacy,
			gen.FeatureEntQL,
			gen.FeatureGlobalID,
			gen.FeatureVersionedMigration,
			gen.FeatureLock,
			gen.FeatureExecQuery,
			gen.FeatureIntercept,
			gen.FeatureModifier,
		},
	}, entc.Extensions(ex), entc.TemplateDir("./template"))
	if err != nil {
		log.Fatalf("running ent codegen: %v", err)
	}
}
