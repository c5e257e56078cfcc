//go:build ignore

// gen_migration writes a new PostgreSQL migration into internal/db/migrations
// with the changes the ent schema needs. Usage (from the repository root):
//
//	go run -mod=mod ./internal/db/gen_migration.go <name>
package main

import (
	"context"
	"fmt"
	"log"
	"os"

	atlas "ariga.io/atlas/sql/migrate"
	"ariga.io/atlas/sql/sqltool"
	"entgo.io/ent/dialect"
	"entgo.io/ent/dialect/sql/schema"

	"github.com/clinicemr/usermanager/ent/migrate"
	"github.com/clinicemr/usermanager/internal/pgtemp"
)

const dirPath = "internal/db/migrations"

func main() {
	if len(os.Args) != 2 {
		log.Fatal("usage: go run -mod=mod ./internal/db/gen_migration.go <name>")
	}
	srv, err := pgtemp.Start()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Stop()
	devURL, err := srv.CreateDatabase("dev")
	if err != nil {
		log.Fatal(err)
	}
	dir, err := sqltool.NewGooseDir(dirPath)
	if err != nil {
		log.Fatal(err)
	}
	// Hand-written migrations (such as the pg_trgm extension) change the
	// directory's checksum: re-hash before diffing.
	sum, err := dir.Checksum()
	if err != nil {
		log.Fatal(err)
	}
	if err := atlas.WriteSumFile(dir, sum); err != nil {
		log.Fatal(err)
	}
	err = migrate.NamedDiff(context.Background(), devURL, os.Args[1],
		schema.WithDir(dir),
		schema.WithMigrationMode(schema.ModeReplay),
		schema.WithDialect(dialect.Postgres),
		schema.WithFormatter(sqltool.GooseFormatter),
		// Keep hand-written indexes ent cannot describe (join tables).
		schema.WithDropIndex(false),
		schema.WithDropColumn(true),
	)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("migrations written to", dirPath)
}
