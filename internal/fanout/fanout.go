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
// middleware; a subscription resolver returns Deliver(ctx, events).
package fanout

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"sync"

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

// Deliver returns the channel a subscription resolver gives gqlgen for
// events: their values, each executed once per distinct operation when
// Middleware is installed (and per subscriber otherwise). The caller has
// authorized the subscriber for every event that arrives on events, and an
// event's value must be the same for everyone it is sent to.
func Deliver[T any](ctx context.Context, events <-chan *Event[T]) <-chan T {
	values := make(chan T, 1)
	s, ok := ctx.Value(streamKey{}).(*stream)
	if !ok || s.next != nil {
		// Not under Middleware: hand the values on one by one.
		go func() {
			defer close(values)
			for e := range events {
				select {
				case values <- e.Value:
				case <-ctx.Done():
					return
				}
			}
		}()
		return values
	}
	ended := false
	s.next = func(ctx context.Context) (*responses, func(context.Context), bool) {
		if ended {
			return nil, nil, false
		}
		select {
		case e, ok := <-events:
			if !ok {
				ended = true
				close(values)
				return nil, nil, false
			}
			forward := func(ctx context.Context) {
				select {
				case values <- e.Value:
				case <-ctx.Done():
				}
			}
			return &e.responses, forward, true
		case <-ctx.Done():
			return nil, nil, false
		}
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
