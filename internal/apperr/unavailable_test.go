package apperr

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"

	"github.com/lib/pq"
)

func TestOutage(t *testing.T) {
	dial := &net.OpError{Op: "dial", Net: "tcp", Err: &net.AddrError{Err: "connection refused"}}
	reset := &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
	connectDeadline := &net.OpError{Op: "dial", Net: "tcp", Err: context.DeadlineExceeded}
	for _, c := range []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"bad connection", driver.ErrBadConn, true},
		{"bad connection, wrapped", fmt.Errorf("ent: starting a transaction: %w", driver.ErrBadConn), true},
		{"connection refused", dial, true},
		{"connection reset", fmt.Errorf("query: %w", reset), true},
		{"connect deadline", connectDeadline, true},
		{"joined with a rollback error", errors.Join(errors.New("rolling back"), dial), true},
		{"pq connection failure (08006)", &pq.Error{Code: "08006", Message: "connection failure"}, true},
		{"pq admin shutdown (57P01)", &pq.Error{Code: "57P01", Message: "terminating connection due to administrator command"}, true},
		{"pq starting up (57P03)", &pq.Error{Code: "57P03", Message: "the database system is starting up"}, true},
		{"pq too many connections (53300)", &pq.Error{Code: "53300", Message: "sorry, too many clients already"}, true},
		{"pq unique violation (23505)", &pq.Error{Code: "23505", Message: "duplicate key"}, false},
		{"pq statement timeout (57014)", &pq.Error{Code: "57014", Message: "canceling statement"}, false},
		{"sqlite busy", errors.New("database is locked (5) (SQLITE_BUSY)"), false},
		{"operation deadline", context.DeadlineExceeded, false},
		{"cancelled", context.Canceled, false},
		{"EOF of an upload", io.ErrUnexpectedEOF, false},
		{"a plain error", errors.New("boom"), false},
	} {
		if got := Outage(c.err); got != c.want {
			t.Errorf("%s: Outage(%v) = %v, want %v", c.name, c.err, got, c.want)
		}
	}
}
