package events

import (
	"context"
	"testing"
	"time"

	"entgo.io/ent/dialect"
)

// recorder collects the events a watcher is given.
type recorder struct {
	got    []Event
	closed int
}

// watch registers a recorder of topic on b.
func watch(b *Bus, topic Topic) (*recorder, func()) {
	r := &recorder{}
	stop := b.Watch(topic, func(e Event) { r.got = append(r.got, e) }, func() { r.closed++ })
	return r, stop
}

func (r *recorder) kinds() []Kind {
	var out []Kind
	for _, e := range r.got {
		out = append(out, e.Kind)
	}
	return out
}

func clinicID(id int) *int { return &id }

// An event wakes the watchers of its topics only: a clinic's counts reach
// that clinic's and its organization's watchers, a user's session ends that
// user's; a Resync reaches everyone.
func TestWatchRoutesByTopic(t *testing.T) {
	t.Parallel()
	b := New(dialect.SQLite, "")
	clinic1, _ := watch(b, ClinicTopic(CountsChanged, 1, clinicID(10)))
	clinic2, _ := watch(b, ClinicTopic(CountsChanged, 1, clinicID(20)))
	org1, _ := watch(b, ClinicTopic(CountsChanged, 1, nil))
	org2, _ := watch(b, ClinicTopic(CountsChanged, 2, nil))
	adjustments1, _ := watch(b, ClinicTopic(AdjustmentFinished, 1, clinicID(10)))
	user7, _ := watch(b, UserTopic(7))
	user8, _ := watch(b, UserTopic(8))

	b.deliver(Event{Kind: CountsChanged, OrganizationID: 1, ClinicID: 10})
	b.deliver(Event{Kind: SessionsEnded, UserID: 7})
	b.deliver(Event{Kind: AdjustmentFinished, OrganizationID: 1, ClinicID: 10, AdjustmentID: 3})

	for name, c := range map[string]struct {
		r    *recorder
		want int
	}{
		"clinic 10": {clinic1, 1}, "clinic 20": {clinic2, 0}, "organization 1": {org1, 1}, "organization 2": {org2, 0},
		"adjustments of clinic 10": {adjustments1, 1}, "user 7": {user7, 1}, "user 8": {user8, 0},
	} {
		if len(c.r.got) != c.want {
			t.Errorf("%s: got %v, want %d events", name, c.r.got, c.want)
		}
	}

	b.deliver(Event{Kind: Resync})
	for name, r := range map[string]*recorder{"clinic 20": clinic2, "organization 2": org2, "user 8": user8} {
		if k := r.kinds(); len(k) != 1 || k[0] != Resync {
			t.Errorf("%s after a Resync: got %v, want one Resync", name, k)
		}
	}
}

// An event of a clinic-less scope reaches an organization's watcher once.
func TestWatchDeliversOnce(t *testing.T) {
	t.Parallel()
	b := New(dialect.SQLite, "")
	org, _ := watch(b, ClinicTopic(CountsChanged, 1, nil))
	b.deliver(Event{Kind: CountsChanged, OrganizationID: 1})
	if len(org.got) != 1 {
		t.Fatalf("got %v, want one event", org.got)
	}
}

// After stop, a watcher is given nothing; when the bus closes, the
// watchers still registered are told once, and later ones at once.
func TestWatchStopAndClose(t *testing.T) {
	t.Parallel()
	b := New(dialect.SQLite, "")
	stopped, stop := watch(b, UserTopic(1))
	kept, _ := watch(b, UserTopic(1))
	stop()
	b.deliver(Event{Kind: SessionsEnded, UserID: 1})
	if len(stopped.got) != 0 || len(kept.got) != 1 {
		t.Fatalf("stopped got %v, kept got %v", stopped.got, kept.got)
	}
	sub := b.Subscribe(t.Context())
	b.Close()
	b.Close()
	if stopped.closed != 0 || kept.closed != 1 {
		t.Fatalf("on close: stopped told %d times, kept %d, want 0 and 1", stopped.closed, kept.closed)
	}
	if _, open := <-sub; open {
		t.Fatal("a subscription's channel stayed open after the bus closed")
	}
	late, _ := watch(b, UserTopic(1))
	if late.closed != 1 {
		t.Fatalf("a watch of a closed bus was told %d times, want 1", late.closed)
	}
}

// A channel subscriber that falls behind is owed a Resync, sent before the
// next event it has room for; its channel closes with its context.
func TestSubscribeOverflowBecomesResync(t *testing.T) {
	t.Parallel()
	b := New(dialect.SQLite, "")
	ctx, cancel := context.WithCancel(t.Context())
	in := b.SubscribeTopic(ctx, ClinicTopic(CountsChanged, 1, clinicID(10)))
	for range subscriberBuffer + 3 {
		b.deliver(Event{Kind: CountsChanged, OrganizationID: 1, ClinicID: 10})
	}
	b.deliver(Event{Kind: CountsChanged, OrganizationID: 1, ClinicID: 20}) // not its topic
	for range subscriberBuffer {
		<-in
	}
	b.deliver(Event{Kind: CountsChanged, OrganizationID: 1, ClinicID: 10, AdjustmentID: 99})
	if e := <-in; e.Kind != Resync {
		t.Fatalf("after an overflow: got %+v, want a Resync", e)
	}
	if e := <-in; e.AdjustmentID != 99 {
		t.Fatalf("after the Resync: got %+v, want the newest event", e)
	}
	cancel()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case _, open := <-in:
			if !open {
				return
			}
		case <-deadline:
			t.Fatal("the channel stayed open after its context ended")
		}
	}
}

// SessionsMayHaveEnded tells a watch registered after reading a session
// whether an end of the user's sessions, or a Resync, arrived meanwhile.
func TestSessionsMayHaveEnded(t *testing.T) {
	t.Parallel()
	b := New(dialect.SQLite, "")
	read := time.Now()
	if b.SessionsMayHaveEnded(1, read) {
		t.Fatal("nothing happened, yet the sessions may have ended")
	}
	if !b.SessionsMayHaveEnded(1, time.Time{}) || !b.SessionsMayHaveEnded(1, read.Add(-sessionEndMemory)) {
		t.Fatal("an unknown or old reading time must be checked")
	}
	b.deliver(Event{Kind: SessionsEnded, UserID: 2})
	if b.SessionsMayHaveEnded(1, read) || !b.SessionsMayHaveEnded(2, read) {
		t.Fatal("another user's sessions ended: only theirs may have")
	}
	if b.SessionsMayHaveEnded(2, time.Now().Add(time.Second)) {
		t.Fatal("an end announced before the reading counts")
	}
	b.deliver(Event{Kind: Resync})
	if !b.SessionsMayHaveEnded(1, read) {
		t.Fatal("after a Resync every session may have ended")
	}
}
