package fanout_test

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/clinicemr/usermanager/internal/fanout"
)

// leaves is `subscription { counts { total inUse } }`.
var leaves = ast.SelectionSet{&ast.Field{Name: "counts", SelectionSet: ast.SelectionSet{
	&ast.Field{Name: "total"}, &ast.Field{Name: "inUse"},
}}}

// objects is `subscription { counts { total clinic { name } } }`.
var objects = ast.SelectionSet{&ast.Field{Name: "counts", SelectionSet: ast.SelectionSet{
	&ast.Field{Name: "total"},
	&ast.InlineFragment{SelectionSet: ast.SelectionSet{
		&ast.Field{Name: "clinic", SelectionSet: ast.SelectionSet{&ast.Field{Name: "name"}}},
	}},
}}}

// subscriber runs one subscription the way gqlgen does: the operation
// middleware around an execution whose resolver returns Deliver's channel
// and which, like gqlgen's generated code, encodes every response of the
// subscription into one buffer that the next event overwrites; then the
// response handler until it answers nil. executions counts the executions.
type subscriber struct {
	events    *fanout.Mailbox[int]
	responses chan string
	// answered counts the handler's responses.
	answered atomic.Int64
	handler  graphql.ResponseHandler
	ctx      context.Context
	cancel   context.CancelFunc
}

func subscribe(t *testing.T, query string, vars map[string]any, set ast.SelectionSet, executions *atomic.Int64) *subscriber {
	t.Helper()
	s := newSubscriber(t, query, vars, set, executions)
	go s.run()
	return s
}

// newSubscriber subscribes without running the handler yet.
func newSubscriber(t *testing.T, query string, vars map[string]any, set ast.SelectionSet, executions *atomic.Int64) *subscriber {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	s := &subscriber{events: fanout.NewMailbox[int](), responses: make(chan string, 64), ctx: ctx, cancel: cancel}
	oc := &graphql.OperationContext{
		RawQuery:  query,
		Variables: vars,
		Operation: &ast.OperationDefinition{Operation: ast.Subscription, SelectionSet: set},
	}
	s.ctx = graphql.WithOperationContext(ctx, oc)
	s.handler = fanout.Middleware(s.ctx, func(ctx context.Context) graphql.ResponseHandler {
		values := fanout.Deliver(ctx, s.events) // the resolver
		var buf bytes.Buffer
		return func(ctx context.Context) *graphql.Response {
			if ctx.Err() != nil {
				return nil
			}
			select {
			case v, ok := <-values:
				if !ok {
					return nil
				}
				executions.Add(1)
				buf.Reset()
				fmt.Fprintf(&buf, `{"counts":%d}`, v)
				return &graphql.Response{Data: buf.Bytes()}
			case <-ctx.Done():
				return nil
			}
		}
	})
	return s
}

// run answers the subscription's events until the handler ends it.
func (s *subscriber) run() {
	defer close(s.responses)
	for {
		resp := s.handler(s.ctx)
		if resp == nil {
			return
		}
		s.answered.Add(1)
		s.responses <- string(resp.Data) // what a transport encodes
	}
}

func (s *subscriber) next(t *testing.T) string {
	t.Helper()
	select {
	case r, ok := <-s.responses:
		if !ok {
			t.Fatal("the subscription ended")
		}
		return r
	case <-time.After(5 * time.Second):
		t.Fatal("no response within 5s")
	}
	return ""
}

// send hands one event to every subscriber, as the counts hub does.
func send(subs []*subscriber, v int) {
	e := fanout.NewEvent(v)
	for _, s := range subs {
		s.events.Put(e)
	}
}

func TestOneExecutionPerEventAndOperation(t *testing.T) {
	t.Parallel()
	var executions atomic.Int64
	const q = "subscription { counts { total inUse } }"
	var subs []*subscriber
	for range 50 {
		subs = append(subs, subscribe(t, q, map[string]any{"c": "1"}, leaves, &executions))
	}
	other := subscribe(t, q, map[string]any{"c": "2"}, leaves, &executions) // other variables
	subs = append(subs, other)

	// The events follow one another as soon as every subscriber has
	// answered the last one (a mailbox holds one event: a newer one would
	// replace it): whoever executes an event first reuses its buffer for
	// the next one while the others may still be sending what it shared.
	const events = 30
	go func() {
		for v := 1; v <= events; v++ {
			send(subs, v)
			for _, s := range subs {
				for s.answered.Load() < int64(v) && s.ctx.Err() == nil {
					time.Sleep(100 * time.Microsecond)
				}
			}
		}
	}()
	var wg sync.WaitGroup
	for i, s := range subs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for v := 1; v <= events; v++ {
				if got, want := s.next(t), fmt.Sprintf(`{"counts":%d}`, v); got != want {
					t.Errorf("subscriber %d, event %d: got %s, want %s", i, v, got, want)
					return
				}
			}
		}()
	}
	wg.Wait()
	// One execution per event for the 50 alike, one for the other variables.
	if got, want := executions.Load(), int64(2*events); got != want {
		t.Fatalf("%d executions in all, want %d", got, want)
	}
}

func TestNothingAfterTheSubscriberLeft(t *testing.T) {
	t.Parallel()
	var executions atomic.Int64
	const q = "subscription { counts { total } }"
	first := subscribe(t, q, nil, leaves, &executions)
	gone := newSubscriber(t, q, nil, leaves, &executions)
	// An event is waiting when the subscriber's session ends (inactivation
	// changes the counts as it ends the session): it is not sent.
	send([]*subscriber{first, gone}, 1)
	first.next(t)
	gone.cancel()
	if resp := gone.handler(gone.ctx); resp != nil {
		t.Fatalf("sent %s after the subscriber left", resp.Data)
	}
}

func TestObjectSelectionsExecutePerSubscriber(t *testing.T) {
	t.Parallel()
	var executions atomic.Int64
	const q = "subscription { counts { total ... on Count { clinic { name } } } }"
	var subs []*subscriber
	for range 5 {
		subs = append(subs, subscribe(t, q, nil, objects, &executions))
	}
	send(subs, 3)
	for _, s := range subs {
		if got := s.next(t); got != `{"counts":3}` {
			t.Fatalf("got %s", got)
		}
	}
	if got := executions.Load(); got != 5 {
		t.Fatalf("%d executions, want 5: a selection of objects may depend on who asks", got)
	}
}

func TestEndsWithItsEvents(t *testing.T) {
	t.Parallel()
	var executions atomic.Int64
	a := subscribe(t, "subscription { counts { total } }", nil, leaves, &executions)
	b := subscribe(t, "subscription { counts { total } }", nil, leaves, &executions)
	send([]*subscriber{a, b}, 1)
	a.next(t)
	b.next(t)

	// The resolver's events end: the stream ends.
	a.events.Close()
	if _, ok := <-a.responses; ok {
		t.Fatal("a response after the events ended")
	}
	// The other goes on.
	send([]*subscriber{b}, 2)
	if got := b.next(t); got != `{"counts":2}` {
		t.Fatalf("after the other ended: got %s", got)
	}
	// The subscriber leaves: the stream ends.
	b.cancel()
	select {
	case _, ok := <-b.responses:
		if ok {
			t.Fatal("a response after the subscriber left")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the stream did not end when its subscriber left")
	}
}
