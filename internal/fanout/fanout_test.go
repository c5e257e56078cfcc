package fanout_test

import (
	"context"
	"encoding/json"
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
// middleware around an execution whose resolver returns Deliver's channel,
// then the response handler until it answers nil. executions counts the
// executions (what gqlgen's marshalling would do per response).
type subscriber struct {
	events    chan *fanout.Event[int]
	responses chan string
	cancel    context.CancelFunc
}

func subscribe(t *testing.T, query string, vars map[string]any, set ast.SelectionSet, executions *atomic.Int64) *subscriber {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	s := &subscriber{events: make(chan *fanout.Event[int], 1), responses: make(chan string, 16), cancel: cancel}
	oc := &graphql.OperationContext{
		RawQuery:  query,
		Variables: vars,
		Operation: &ast.OperationDefinition{Operation: ast.Subscription, SelectionSet: set},
	}
	ctx = graphql.WithOperationContext(ctx, oc)
	handler := fanout.Middleware(ctx, func(ctx context.Context) graphql.ResponseHandler {
		values := fanout.Deliver(ctx, s.events) // the resolver
		return func(ctx context.Context) *graphql.Response {
			select {
			case v, ok := <-values:
				if !ok {
					return nil
				}
				executions.Add(1)
				data, _ := json.Marshal(map[string]int{"counts": v})
				return &graphql.Response{Data: data}
			case <-ctx.Done():
				return nil
			}
		}
	})
	go func() {
		defer close(s.responses)
		for {
			resp := handler(ctx)
			if resp == nil {
				return
			}
			s.responses <- string(resp.Data)
		}
	}()
	return s
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
		s.events <- e
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

	for round, v := range []int{7, 8} {
		send(subs, v)
		var wg sync.WaitGroup
		for _, s := range subs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if got, want := s.next(t), `{"counts":`+string(rune('0'+v))+`}`; got != want {
					t.Errorf("round %d: got %s, want %s", round, got, want)
				}
			}()
		}
		wg.Wait()
		// One execution for the 50 alike, one for the other variables.
		if got, want := executions.Load(), int64(2*(round+1)); got != want {
			t.Fatalf("round %d: %d executions in all, want %d", round, got, want)
		}
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
	close(a.events)
	if _, ok := <-a.responses; ok {
		t.Fatal("a response after the events ended")
	}
	// The subscriber leaves: the stream ends, the other goes on.
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
