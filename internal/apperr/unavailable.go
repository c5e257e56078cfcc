package apperr

import (
	"database/sql/driver"
	"errors"
	"net"
	"strings"
)

// CodeUnavailable: the server cannot answer now because its database is
// unreachable. Clients retry later (the HTTP answer is 503 with
// Retry-After); unlike UNAUTHENTICATED it is no reason to sign anyone out.
const CodeUnavailable = "UNAVAILABLE"

// UnavailableMessage is what clients are told during an outage; the cause
// goes to the log only.
const UnavailableMessage = "the service is temporarily unavailable: try again in a few seconds"

// Unavailable: the database cannot be reached.
func Unavailable() error { return &Error{CodeUnavailable, UnavailableMessage} }

// Outage reports whether err means the database could not be reached, as
// opposed to a fault of the request or of the code. It is the one place
// that decides which errors answer UNAVAILABLE:
//
//   - driver.ErrBadConn: the connection broke (database/sql retries it on a
//     fresh connection first, so it surfaces only when those fail too);
//   - *net.OpError: dialing or talking to the server failed (refused,
//     reset, timed out, including a connect that ran out of its deadline);
//   - SQLSTATE class 08 (connection exception), 57P01-57P03 (the server is
//     shutting down, crashed or is starting up) and 53300 (too many
//     connections), read through the SQLState method lib/pq and pgx errors
//     share.
//
// SQLite's "database is locked" (busy) is not an outage: the file is local
// and the lock is another writer's; it stays an internal error.
func Outage(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, driver.ErrBadConn) {
		return true
	}
	var op *net.OpError
	if errors.As(err, &op) {
		return true
	}
	var state interface{ SQLState() string }
	if errors.As(err, &state) {
		code := state.SQLState()
		return strings.HasPrefix(code, "08") || code == "57P01" || code == "57P02" || code == "57P03" || code == "53300"
	}
	return false
}
