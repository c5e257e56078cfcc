// Package pgtemp starts a throwaway PostgreSQL server from the machine's
// PostgreSQL binaries, for tests, benchmarks and generating migrations.
// When run as root it runs the server as the "postgres" OS user, because
// initdb refuses to run as root.
package pgtemp

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
	"time"

	_ "github.com/lib/pq" // the PostgreSQL driver
)

// ErrNoPostgres means no PostgreSQL server binaries were found.
var ErrNoPostgres = errors.New("pgtemp: no PostgreSQL server binaries found (install postgresql, or set TEST_DATABASE_URL)")

// Server is a running throwaway PostgreSQL server.
type Server struct {
	dir  string
	port int
	cmd  *exec.Cmd
}

// binDir finds the newest /usr/lib/postgresql/<version>/bin, or PG_BIN.
func binDir() (string, error) {
	if d := os.Getenv("PG_BIN"); d != "" {
		return d, nil
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Strings(dirs)
	for i := len(dirs) - 1; i >= 0; i-- {
		if _, err := os.Stat(filepath.Join(dirs[i], "initdb")); err == nil {
			return dirs[i], nil
		}
	}
	return "", ErrNoPostgres
}

// Start initialises and starts a server on a free loopback port.
func Start() (*Server, error) {
	bin, err := binDir()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "pgtemp-")
	if err != nil {
		return nil, err
	}
	cred, err := credential(dir)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	data := filepath.Join(dir, "data")
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("pgtemp: initdb: %v: %s", err, out)
	}
	port, err := freePort()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	s := &Server{dir: dir, port: port}
	s.cmd = exec.Command(filepath.Join(bin, "postgres"), "-D", data,
		"-p", strconv.Itoa(port), "-h", "127.0.0.1", "-k", dir,
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "max_connections=300", "-c", "shared_buffers=256MB")
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true}
	logFile, _ := os.Create(filepath.Join(dir, "postgres.log"))
	s.cmd.Stdout, s.cmd.Stderr = logFile, logFile
	if err := s.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("pgtemp: start postgres: %w", err)
	}
	if err := s.wait(); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

func (s *Server) wait() error {
	db, err := sql.Open("postgres", s.URL("postgres"))
	if err != nil {
		return err
	}
	defer db.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err = db.PingContext(ctx)
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(s.dir, "postgres.log"))
			return fmt.Errorf("pgtemp: server did not start: %v\n%s", err, log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// URL returns a lib/pq URL of a database on the server.
func (s *Server) URL(database string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.port, database)
}

// CreateDatabase creates an empty database and returns its URL.
func (s *Server) CreateDatabase(name string) (string, error) {
	return CreateDatabase(s.URL("postgres"), name)
}

// CreateDatabase creates an empty database on the server of adminURL (any
// database URL of a role allowed to create databases) and returns its URL.
func CreateDatabase(adminURL, name string) (string, error) {
	return CreateDatabaseFrom(adminURL, name, "")
}

// CreateDatabaseFrom is CreateDatabase copying a template database (none
// when template is ""), which must have no open connections: a cheap way to
// give each test a database already migrated and loaded.
func CreateDatabaseFrom(adminURL, name, template string) (string, error) {
	db, err := sql.Open("postgres", adminURL)
	if err != nil {
		return "", err
	}
	defer db.Close()
	stmt := `CREATE DATABASE "` + name + `"`
	if template != "" {
		stmt += ` TEMPLATE "` + template + `"`
	}
	if _, err := db.Exec(stmt); err != nil {
		return "", fmt.Errorf("pgtemp: create database %s: %w", name, err)
	}
	return withDatabase(adminURL, name)
}

// DropDatabase drops a database of the server of adminURL, if it exists,
// ending its connections first.
func DropDatabase(adminURL, name string) error {
	db, err := sql.Open("postgres", adminURL)
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.Exec(`DROP DATABASE IF EXISTS "` + name + `" WITH (FORCE)`); err != nil {
		return fmt.Errorf("pgtemp: drop database %s: %w", name, err)
	}
	return nil
}

// Stop stops the server and removes its files.
func (s *Server) Stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Signal(syscall.SIGINT) // fast shutdown
		done := make(chan struct{})
		go func() { _ = s.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = s.cmd.Process.Kill()
		}
	}
	os.RemoveAll(s.dir)
}

// credential returns the OS user to run PostgreSQL as: the current one, or
// "postgres" when running as root (and hands it dir).
func credential(dir string) (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("pgtemp: running as root needs a postgres OS user: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(dir, uid, gid); err != nil {
		return nil, err
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
