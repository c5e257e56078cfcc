// Package fanout lets many subscriptions share one encoding of an event.
//
// gqlgen executes a subscription's selection for every subscriber and every
// event: with ten thousand watchers of one clinic's license counts, one
// change was executed and encoded ten thousand times. Here the event is a
// shared value (an *Event); the first subscriber to deliver it for a given
// operation executes the operation as usual, and every other subscriber of
// the same operation (the same document, operation name and variables) is
// handed that response as it is.
//
// Sharing is safe only when the response depends on nothing but the event
// and the operation, so it is limited to selections of leaf fields (scalars
// and enums, as in `licenseCountsChanged { class total inUse }`), and to
// resolvers that opt in with Deliver after authorizing the subscriber for
// the event's scope. A selection that reaches into objects (whose fields
// may depend on who asks) is executed per subscriber, as before.
//
// Wiring: the server registers Middleware as its innermost operation
// middleware; a subscription resolver returns Deliver(ctx, mailbox), and
// the producer of its events Puts them in the mailbox. A transport that
// offers a Waker (internal/livesocket) is told when to call the
// subscription's handler, so no goroutine per subscriber waits for events.
package fanout

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"sync"
	"sync/atomic"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
)

// Event is one value sent to many subscribers, with the responses made of
// it so far, one per distinct operation.
type Event[T any] struct {
	Value     T
	responses responses
}

// NewEvent wraps a value to be sent to many subscribers.
func NewEvent[T any](v T) *Event[T] {
	return &Event[T]{Value: v}
}

// responses holds an event's responses by operation key.
type responses struct {
	mu     sync.Mutex
	byName map[string]*response
}

// response is one operation's response to an event; ready is closed when
// resp is set (nil when the execution gave none, or errors, which are not
// shared).
type response struct {
	ready chan struct{}
	resp  *graphql.Response
}

// claim returns the response slot for key, and whether the caller is the
// first, who must fill it.
func (r *responses) claim(key string) (*response, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e, ok := r.byName[key]; ok {
		return e, false
	}
	if r.byName == nil {
		r.byName = map[string]*response{}
	}
	e := &response{ready: make(chan struct{})}
	r.byName[key] = e
	return e, true
}

// stream is one subscription's link between the middleware and Deliver.
type stream struct {
	// key identifies the operation, "" when its responses must not be
	// shared.
	key string
	// next waits for the subscription's next event: its responses, and a
	// function that hands its value to gqlgen's execution. ok is false when
	// the events ended or ctx did.
	next func(ctx context.Context) (shared *responses, forward func(context.Context), ok bool)
}

type streamKey struct{}

// Middleware is a gqlgen operation middleware (AroundOperations); it must be
// the innermost, so that the response it hands to many subscribers is the
// one gqlgen made of the event and the operation alone. Each subscriber gets
// its own copy of the Response, sharing the encoded data, which no layer
// may change.
func Middleware(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	oc := graphql.GetOperationContext(ctx)
	if oc.Operation == nil || oc.Operation.Operation != ast.Subscription {
		return next(ctx)
	}
	s := &stream{}
	if leavesOnly(oc.Operation.SelectionSet, true) {
		s.key = operationKey(oc)
	}
	handler := next(context.WithValue(ctx, streamKey{}, s))
	return func(ctx context.Context) *graphql.Response {
		// As gqlgen's own handler: once the subscriber has gone (its
		// session ended, R25), nothing more is sent, shared or not.
		if ctx.Err() != nil || s.next == nil {
			// s.next nil: the resolver does not share its events (or
			// refused).
			return handler(ctx)
		}
		shared, forward, ok := s.next(ctx)
		if !ok || ctx.Err() != nil {
			// The events ended (gqlgen's execution now sees its channel
			// closed) or the subscriber left: either way gqlgen ends the
			// stream.
			return handler(ctx)
		}
		if s.key == "" {
			forward(ctx)
			return handler(ctx)
		}
		slot, first := shared.claim(s.key)
		if !first {
			select {
			case <-slot.ready:
			case <-ctx.Done():
				return nil
			}
			if ctx.Err() != nil {
				return nil
			}
			if slot.resp != nil {
				// A copy each: whatever an outer layer might set on it
				// stays this subscriber's.
				resp := *slot.resp
				return &resp
			}
			// The first had no response to share: execute our own.
			forward(ctx)
			return handler(ctx)
		}
		defer close(slot.ready) // even if the execution panics
		forward(ctx)
		resp := handler(ctx)
		if resp != nil && len(resp.Errors) == 0 {
			// gqlgen encodes each response of a subscription into the same
			// buffer, overwritten at its next event: the others get a copy.
			kept := *resp
			kept.Data = bytes.Clone(resp.Data)
			slot.resp = &kept
		}
		return resp
	}
}

// Mailbox holds the next event of one subscriber: a newer event replaces
// one not yet taken, so a slow subscriber gets the newest value, not every
// one. Its producer (the counts hub) puts events; Deliver takes them.
type Mailbox[T any] struct {
	// ready holds a token once an event or the end arrives.
	ready chan struct{}

	mu      sync.Mutex
	pending *Event[T]
	closed  bool
	// wake, when set (a transport's Waker), is told once per take that an
	// event or the end arrived; woken: told, and nothing taken since.
	wake  func()
	woken bool
}

// NewMailbox returns an empty, open mailbox.
func NewMailbox[T any]() *Mailbox[T] { return &Mailbox[T]{ready: make(chan struct{}, 1)} }

// Put leaves e for the subscriber, replacing an event it has not taken.
func (m *Mailbox[T]) Put(e *Event[T]) {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return
	}
	m.pending = e
	m.arrived()
}

// Close ends the subscriber's events; one not yet taken is dropped.
func (m *Mailbox[T]) Close() {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return
	}
	m.closed = true
	m.pending = nil
	m.arrived()
}

// arrived tells the taker that something arrived; m.mu is held, and
// released here.
func (m *Mailbox[T]) arrived() {
	select {
	case m.ready <- struct{}{}:
	default:
	}
	wake := m.wake
	if wake == nil || m.woken {
		m.mu.Unlock()
		return
	}
	m.woken = true
	m.mu.Unlock()
	wake()
}

// take returns the pending event (nil if none) and whether events go on.
func (m *Mailbox[T]) take() (*Event[T], bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.woken = false
	if m.closed {
		return nil, false
	}
	e := m.pending
	m.pending = nil
	return e, true
}

// await takes the next event, waiting for one: nil when the events ended
// (open is false) or ctx did.
func (m *Mailbox[T]) await(ctx context.Context) (e *Event[T], open bool) {
	for {
		e, open := m.take()
		if e != nil || !open {
			return e, open
		}
		select {
		case <-m.ready:
		case <-ctx.Done():
			return nil, true
		}
	}
}

// wakeWith has wake told of every event (and the end), at once if one is
// waiting.
func (m *Mailbox[T]) wakeWith(wake func()) {
	m.mu.Lock()
	m.wake = wake
	if m.pending == nil && !m.closed || m.woken {
		m.mu.Unlock()
		return
	}
	m.woken = true
	m.mu.Unlock()
	wake()
}

// Waker lets a transport serve a subscription without a goroutine waiting
// for its events: a subscription delivered from a Mailbox calls wake when
// an event (or the end) is there, and the transport then calls the
// subscription's ResponseHandler once per wake, one call at a time; such a
// call does not wait for events. Used tells whether the subscription took
// the Waker; if not, the transport calls the handler in a loop, as gqlgen
// does.
type Waker struct {
	wake func()
	used atomic.Bool
}

// NewWaker returns a Waker that calls wake.
func NewWaker(wake func()) *Waker { return &Waker{wake: wake} }

// Used reports whether the subscription wakes the transport.
func (w *Waker) Used() bool { return w.used.Load() }

type wakerKey struct{}

// WithWaker offers w to the subscription run under ctx.
func WithWaker(ctx context.Context, w *Waker) context.Context {
	return context.WithValue(ctx, wakerKey{}, w)
}

// Deliver returns the channel a subscription resolver gives gqlgen for
// events: their values, each executed once per distinct operation when
// Middleware is installed (and per subscriber otherwise). The caller has
// authorized the subscriber for every event that arrives in the mailbox,
// and an event's value must be the same for everyone it is sent to.
func Deliver[T any](ctx context.Context, events *Mailbox[T]) <-chan T {
	values := make(chan T, 1)
	s, ok := ctx.Value(streamKey{}).(*stream)
	if !ok || s.next != nil {
		// Not under Middleware: hand the values on one by one.
		go func() {
			defer close(values)
			for {
				e, _ := events.await(ctx)
				if e == nil {
					return // the events or ctx ended
				}
				select {
				case values <- e.Value:
				case <-ctx.Done():
					return
				}
			}
		}()
		return values
	}
	if w, ok := ctx.Value(wakerKey{}).(*Waker); ok && w.used.CompareAndSwap(false, true) {
		// The transport calls the handler when told, so next finds the
		// event without waiting.
		events.wakeWith(w.wake)
	}
	ended := false
	s.next = func(ctx context.Context) (*responses, func(context.Context), bool) {
		if ended {
			return nil, nil, false
		}
		e, open := events.await(ctx)
		if !open {
			ended = true
			close(values)
		}
		if e == nil {
			return nil, nil, false
		}
		forward := func(ctx context.Context) {
			select {
			case values <- e.Value:
			case <-ctx.Done():
			}
		}
		return &e.responses, forward, true
	}
	return values
}

// operationKey identifies what decides a response besides the event: the
// document, the operation chosen in it and the variables (which @include
// and @skip may read).
func operationKey(oc *graphql.OperationContext) string {
	vars, err := json.Marshal(oc.Variables) // maps marshal in key order
	if err != nil {
		return ""
	}
	h := sha256.New()
	h.Write([]byte(oc.RawQuery))
	h.Write([]byte{0})
	h.Write([]byte(oc.OperationName))
	h.Write([]byte{0})
	h.Write(vars)
	return string(h.Sum(nil))
}

// leavesOnly reports whether a subscription's selection, below its root
// field, asks only for leaf fields (scalars, enums, __typename).
func leavesOnly(set ast.SelectionSet, root bool) bool {
	for _, sel := range set {
		switch sel := sel.(type) {
		case *ast.Field:
			if len(sel.SelectionSet) == 0 {
				continue
			}
			if !root || !leavesOnly(sel.SelectionSet, false) {
				return false
			}
		case *ast.InlineFragment:
			if !leavesOnly(sel.SelectionSet, root) {
				return false
			}
		case *ast.FragmentSpread:
			if sel.Definition == nil || !leavesOnly(sel.Definition.SelectionSet, root) {
				return false
			}
		default:
			return false
		}
	}
	return true
}
