package livesocket

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/clinicemr/usermanager/internal/apperr"
	"github.com/clinicemr/usermanager/internal/fanout"
)

// operation is one query, mutation or subscription a client started.
type operation struct {
	socket *socket
	id     string
	// ctx ends when the client stops the operation or the socket ends.
	ctx             context.Context
	cancel          context.CancelFunc
	stoppedByClient atomic.Bool
	// recoverFunc is the executor's, once the operation is parsed.
	recoverFunc atomic.Pointer[graphql.RecoverFunc]

	// For a subscription that wakes the socket (fanout.Waker): its
	// handler, and the calls of it owed.
	mu         sync.Mutex
	responses  graphql.ResponseHandler
	handlerCtx context.Context
	dispatched bool // responses is set: wakes may run it
	running    bool // a goroutine is calling it
	wakes      int  // calls owed: one per event (or end) announced
	done       bool // it answered nil: the operation is over
}

// run executes the operation: a query or mutation to its end; a
// subscription until its handler is owed no call, if it wakes the socket,
// or to its end otherwise.
func (op *operation) run(payload json.RawMessage, start time.Time) {
	defer op.recover()
	ctx := graphql.StartOperationTrace(op.ctx)
	params := &graphql.RawParams{}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber() // as gqlgen's transports read variables
	if err := dec.Decode(params); err != nil {
		op.finish(gqlerror.List{{
			Message:    "the operation is not a JSON object with a query",
			Extensions: map[string]any{"code": apperr.CodeBadUserInput},
		}})
		return
	}
	params.ReadTime = graphql.TraceTiming{Start: start, End: graphql.Now()}
	exec := op.socket.exec
	oc, errs := exec.CreateOperationContext(ctx, params)
	if errs != nil {
		resp := exec.DispatchError(graphql.WithOperationContext(ctx, oc), errs)
		if errcode.GetErrorKind(errs) == errcode.KindProtocol {
			op.finish(resp.Errors)
		} else {
			op.finish(op.sendNext(resp))
		}
		return
	}
	op.recoverFunc.Store(&oc.RecoverFunc)
	ctx = graphql.WithOperationContext(ctx, oc)
	waker := fanout.NewWaker(op.wake)
	responses, ctx := exec.DispatchOperation(fanout.WithWaker(ctx, waker), oc)
	if !waker.Used() {
		var errs gqlerror.List
		for errs == nil {
			resp := responses(ctx)
			if resp == nil {
				break
			}
			errs = op.sendNext(resp)
		}
		op.finish(errs)
		return
	}
	// Nothing waits for the events: each one wakes the socket. Its end
	// (op.stop) is one more wake, to which the handler answers nil.
	op.mu.Lock()
	op.responses, op.handlerCtx = responses, ctx
	op.dispatched, op.running = true, true
	op.mu.Unlock()
	op.drain()
}

// stop ends the operation (the client stopped it, or the socket ended);
// a subscription that wakes the socket is woken to see it.
func (op *operation) stop() {
	op.cancel()
	op.wake()
}

// wake announces an event (or the end) of a subscription.
func (op *operation) wake() {
	op.mu.Lock()
	op.wakes++
	if !op.dispatched || op.running || op.done {
		op.mu.Unlock()
		return
	}
	op.running = true
	op.mu.Unlock()
	go op.drainRecovered()
}

func (op *operation) drainRecovered() {
	defer op.recover()
	op.drain()
}

// drain makes the calls owed, one at a time; op.running is set.
func (op *operation) drain() {
	for {
		op.mu.Lock()
		if op.wakes == 0 || op.done {
			op.running = false
			op.mu.Unlock()
			return
		}
		op.wakes--
		op.mu.Unlock()
		resp := op.responses(op.handlerCtx)
		var errs gqlerror.List
		if resp != nil {
			errs = op.sendNext(resp)
		}
		if resp == nil || errs != nil {
			op.mu.Lock()
			op.done, op.running = true, false
			op.mu.Unlock()
			op.finish(errs)
			return
		}
	}
}

// recover turns a panic of the operation into an error message, as
// gqlgen's transport does (the executor's recover function logs it).
func (op *operation) recover() {
	v := recover()
	if v == nil {
		return
	}
	var err error
	if f := op.recoverFunc.Load(); f != nil && *f != nil {
		err = (*f)(op.ctx, v)
	} else {
		slog.ErrorContext(op.ctx, "panic serving a WebSocket operation", "panic", v)
	}
	var gqlErr *gqlerror.Error
	if !errors.As(err, &gqlErr) {
		gqlErr = &gqlerror.Error{Message: "internal system error"}
	}
	op.mu.Lock()
	op.done = true
	op.mu.Unlock()
	op.finish(gqlerror.List{gqlErr})
}

// finish ends the operation, freeing its ID first (so the client may
// reuse it as soon as it hears of the end): an "error" message when errs
// ended it, else complete; nothing if the client stopped it or the socket
// is ending.
func (op *operation) finish(errs gqlerror.List) {
	s := op.socket
	s.forget(op)
	if !op.stoppedByClient.Load() && op.ctx.Err() == nil && s.ctx.Err() == nil {
		if errs != nil {
			if data, err := json.Marshal(errs); err == nil {
				s.send(message{ID: op.id, Type: "error", Payload: data})
			}
		} else {
			s.send(message{ID: op.id, Type: "complete"})
		}
	}
	op.cancel()
}

// sendNext sends a response: "next", or "data" in graphql-ws. A response
// that cannot be encoded ends the operation with the errors returned.
func (op *operation) sendNext(resp *graphql.Response) gqlerror.List {
	if op.ctx.Err() != nil {
		return nil
	}
	data, err := json.Marshal(resp)
	if err != nil {
		return gqlerror.List{{Message: "the response could not be encoded"}}
	}
	kind := "next"
	if op.socket.legacy {
		kind = "data"
	}
	op.socket.send(message{ID: op.id, Type: kind, Payload: data})
	return nil
}
