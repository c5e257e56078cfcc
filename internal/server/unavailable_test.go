package server

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/clinicemr/usermanager/internal/apperr"
)

// answerOutages turns the 200 of an answer carrying UNAVAILABLE into 503
// with Retry-After, and leaves every other answer alone.
func TestAnswerOutages(t *testing.T) {
	for _, c := range []struct {
		name       string
		code       string
		status     int // written by the transport; 0: implicit 200
		wantStatus int
	}{
		{"unavailable", apperr.CodeUnavailable, 0, http.StatusServiceUnavailable},
		{"unavailable, explicit 200", apperr.CodeUnavailable, http.StatusOK, http.StatusServiceUnavailable},
		{"unavailable after a 422", apperr.CodeUnavailable, http.StatusUnprocessableEntity, http.StatusUnprocessableEntity},
		{"internal", apperr.CodeInternal, 0, http.StatusOK},
		{"unauthenticated", apperr.CodeUnauthenticated, 0, http.StatusOK},
	} {
		h := answerOutages(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// What gqlgen does: run the operation, then write the answer.
			resp := flagOutages(r.Context(), func(ctx context.Context) graphql.ResponseHandler {
				return graphql.OneShot(&graphql.Response{Errors: gqlerror.List{{
					Message: "x", Extensions: map[string]any{"code": c.code}}}})
			})(r.Context())
			if resp == nil {
				t.Fatal("no response")
			}
			if c.status != 0 {
				w.WriteHeader(c.status)
			}
			_, _ = w.Write([]byte(`{}`))
		}))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/graphql", nil))
		if rec.Code != c.wantStatus {
			t.Errorf("%s: status %d, want %d", c.name, rec.Code, c.wantStatus)
		}
		if got := rec.Header().Get("Retry-After"); (got != "") != (c.wantStatus == http.StatusServiceUnavailable) {
			t.Errorf("%s: Retry-After %q", c.name, got)
		}
	}
}

// presentError answers UNAVAILABLE for an unreachable database, whatever
// wraps the error, and keeps SQLite's busy error an internal one.
func TestPresentErrorOutage(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	for _, c := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("loading: %w", refused), apperr.CodeUnavailable},
		{fmt.Errorf("ent: starting a transaction: %w", driver.ErrBadConn), apperr.CodeUnavailable},
		{apperr.Unavailable(), apperr.CodeUnavailable},
		{errors.New("database is locked (5) (SQLITE_BUSY)"), apperr.CodeInternal},
	} {
		got := presentError(context.Background(), c.err)
		if got.Extensions["code"] != c.want {
			t.Errorf("%v: code %v, want %s", c.err, got.Extensions["code"], c.want)
		}
		if c.want == apperr.CodeUnavailable && got.Message != apperr.UnavailableMessage {
			t.Errorf("%v: message %q leaks the cause", c.err, got.Message)
		}
	}
}
