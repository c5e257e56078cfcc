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
	// failed: an "error" message ended it, which needs no complete.
	failed atomic.Bool
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
		op.sendErrors(gqlerror.List{{Message: "the operation is not a JSON object with a query"}})
		op.finish()
		return
	}
	params.ReadTime = graphql.TraceTiming{Start: start, End: graphql.Now()}
	exec := op.socket.exec
	oc, errs := exec.CreateOperationContext(ctx, params)
	if errs != nil {
		resp := exec.DispatchError(graphql.WithOperationContext(ctx, oc), errs)
		if errcode.GetErrorKind(errs) == errcode.KindProtocol {
			op.sendErrors(resp.Errors)
		} else {
			op.sendNext(resp)
		}
		op.finish()
		return
	}
	op.recoverFunc.Store(&oc.RecoverFunc)
	ctx = graphql.WithOperationContext(ctx, oc)
	waker := fanout.NewWaker(op.wake)
	responses, ctx := exec.DispatchOperation(fanout.WithWaker(ctx, waker), oc)
	if !waker.Used() {
		for {
			resp := responses(ctx)
			if resp == nil {
				break
			}
			op.sendNext(resp)
		}
		op.finish()
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
		if resp == nil {
			op.mu.Lock()
			op.done, op.running = true, false
			op.mu.Unlock()
			op.finish()
			return
		}
		op.sendNext(resp)
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
	op.sendErrors(gqlerror.List{gqlErr})
	op.finish()
}

// finish ends the operation: complete is sent unless the client stopped it,
// an error message ended it, or the socket is ending.
func (op *operation) finish() {
	s := op.socket
	s.forget(op)
	op.cancel()
	if op.stoppedByClient.Load() || op.failed.Load() || s.ctx.Err() != nil {
		return
	}
	s.send(message{ID: op.id, Type: "complete"})
}

// sendNext sends a response: "next", or "data" in graphql-ws.
func (op *operation) sendNext(resp *graphql.Response) {
	if op.ctx.Err() != nil {
		return
	}
	data, err := json.Marshal(resp)
	if err != nil {
		op.sendErrors(gqlerror.List{{Message: "the response could not be encoded"}})
		return
	}
	kind := "next"
	if op.socket.legacy {
		kind = "data"
	}
	op.socket.send(message{ID: op.id, Type: kind, Payload: data})
}

// sendErrors sends an "error" message: the operation failed before it ran.
func (op *operation) sendErrors(errs gqlerror.List) {
	if op.ctx.Err() != nil {
		return
	}
	data, err := json.Marshal(errs)
	if err != nil {
		return
	}
	op.failed.Store(true)
	op.socket.send(message{ID: op.id, Type: "error", Payload: data})
}
