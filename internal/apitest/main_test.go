package apitest_test

import (
	"flag"
	"log/slog"
	"os"
	"testing"

	"github.com/clinicemr/usermanager/internal/passwords"
	"github.com/clinicemr/usermanager/internal/testdb"
)

func TestMain(m *testing.M) {
	// Test environments create dozens of users: hash them cheaply. A unit
	// test in internal/passwords pins the production cost.
	passwords.UseParams(passwords.Cheap)
	// The access log writes a line per request: tests show warnings and
	// errors only (tests that read the log install their own handler).
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	// Most of an API test's time is spent waiting (on the database, the job
	// queue, a subscription), so more of them than there are cores run at
	// once by default; -parallel still decides when given.
	flag.Parse()
	if !flagGiven("test.parallel") {
		_ = flag.Set("test.parallel", "4")
	}
	code := m.Run()
	testdb.Stop()
	os.Exit(code)
}

func flagGiven(name string) bool {
	given := false
	flag.Visit(func(f *flag.Flag) { given = given || f.Name == name })
	return given
}
