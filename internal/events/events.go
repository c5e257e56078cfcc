// Package events tells live subscribers what changed: license counts, a
// finished license adjustment, ended sessions.
//
// An event is raised inside the transaction of the change (PublishTx) and
// delivered only if it commits. On PostgreSQL it travels as NOTIFY, which
// the database sends on commit to every server instance listening, this
// one included; after the listener reconnects, subscribers get a Resync
// event, because notifications sent meanwhile are lost. On the embedded
// SQLite database there is one process, and events go straight to its
// subscribers after commit.
//
// Subscribers name the Topic they care about (a clinic's or an
// organization's counts or adjustments, a user's sessions), and an event
// wakes only the subscribers of its topics, so ten thousand idle watchers
// of other clinics cost a change nothing. Resync goes to everyone.
package events

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"entgo.io/ent/dialect"
	"github.com/lib/pq"

	"github.com/clinicemr/usermanager/ent"
)

// Kind of event.
type Kind string

const (
	// CountsChanged: license counts of a clinic changed.
	CountsChanged Kind = "counts"
	// AdjustmentFinished: a license adjustment was Completed or Rejected.
	AdjustmentFinished Kind = "adjustment"
	// SessionsEnded: sessions of a user ended (sign-out, inactivation,
	// password or type change); subscribers signed in as them re-check.
	SessionsEnded Kind = "sessions"
	// ImportProgress: a staff-list import (ImportID) committed progress or
	// finished.
	ImportProgress Kind = "import"
	// Resync: events may have been missed; subscribers re-read.
	Resync Kind = "resync"
)

// Event is one change. It carries identifiers only; subscribers read the
// current state through their own viewer, so authorization applies.
type Event struct {
	Kind           Kind `json:"k"`
	OrganizationID int  `json:"o,omitempty"`
	ClinicID       int  `json:"c,omitempty"`
	AdjustmentID   int  `json:"a,omitempty"`
	UserID         int  `json:"u,omitempty"`
	ImportID       int  `json:"i,omitempty"`
	// ClinicOnly: the event is for its clinic's subscribers only; those of
	// the whole organization are told by an event of their own (a bulk
	// change announces several clinics' counts with one organization
	// event).
	ClinicOnly bool `json:"co,omitempty"`
	// SentAt is when the event was raised (for delivery delay figures).
	SentAt time.Time `json:"t"`
}

// channel is the PostgreSQL NOTIFY channel.
const channel = "usermanager_events"

// Topic is what a subscriber watches: the events of one kind about one
// clinic, one whole organization or one user.
type Topic struct {
	Kind           Kind
	OrganizationID int
	// ClinicID is 0 for every clinic of the organization.
	ClinicID int
	UserID   int
}

// ClinicTopic is the topic of kind (CountsChanged or AdjustmentFinished) at a
// clinic, or across the organization when clinicID is nil.
func ClinicTopic(kind Kind, organizationID int, clinicID *int) Topic {
	t := Topic{Kind: kind, OrganizationID: organizationID}
	if clinicID != nil {
		t.ClinicID = *clinicID
	}
	return t
}

// UserTopic is the topic of a user's ended sessions.
func UserTopic(userID int) Topic { return Topic{Kind: SessionsEnded, UserID: userID} }

// topics are the topics e is delivered to (Resync aside): a clinic's event
// concerns its clinic and its whole organization.
func (e Event) topics() [2]Topic {
	if e.Kind == SessionsEnded {
		return [2]Topic{UserTopic(e.UserID)}
	}
	if e.ClinicOnly {
		return [2]Topic{{Kind: e.Kind, OrganizationID: e.OrganizationID, ClinicID: e.ClinicID}}
	}
	return [2]Topic{
		{Kind: e.Kind, OrganizationID: e.OrganizationID, ClinicID: e.ClinicID},
		{Kind: e.Kind, OrganizationID: e.OrganizationID},
	}
}

// sessionEndMemory is how long the bus remembers that a user's sessions
// ended (see SessionsMayHaveEnded).
const sessionEndMemory = time.Minute

// Bus fans events out to this process's subscribers.
type Bus struct {
	dialect     string
	databaseURL string

	mu       sync.Mutex
	watchers map[Topic]map[*watcher]struct{}
	closed   bool
	// sessionsEnded is when SessionsEnded events last arrived, by user, and
	// resynced when the last Resync did, both within sessionEndMemory.
	sessionsEnded map[int]time.Time
	resynced      time.Time
	sweptAt       time.Time

	listener *pq.Listener
	done     chan struct{}
}

// watcher is one registration of Watch.
type watcher struct {
	topic   Topic
	onEvent func(Event)
	onClose func()
}

// New returns a bus; databaseURL is needed on PostgreSQL, to listen.
func New(dialectName, databaseURL string) *Bus {
	return &Bus{
		dialect: dialectName, databaseURL: databaseURL,
		watchers: map[Topic]map[*watcher]struct{}{}, sessionsEnded: map[int]time.Time{},
		sweptAt: time.Now(), done: make(chan struct{}),
	}
}

// Start listens for other instances' events (PostgreSQL). It returns once
// listening.
func (b *Bus) Start(ctx context.Context) error {
	if b.dialect != dialect.Postgres {
		return nil
	}
	b.listener = pq.NewListener(b.databaseURL, 100*time.Millisecond, 10*time.Second, func(ev pq.ListenerEventType, err error) {
		if err != nil {
			slog.Warn("event listener", "event", int(ev), "error", err)
		}
	})
	if err := b.listener.Listen(channel); err != nil {
		b.listener.Close()
		return fmt.Errorf("events: listening: %w", err)
	}
	go b.listen()
	return nil
}

func (b *Bus) listen() {
	ping := time.NewTicker(30 * time.Second)
	defer ping.Stop()
	for {
		select {
		case <-b.done:
			return
		case n, ok := <-b.listener.Notify:
			if !ok {
				return
			}
			if n == nil {
				// The connection was lost and re-established: anything sent
				// meanwhile is gone.
				b.deliver(Event{Kind: Resync, SentAt: time.Now()})
				continue
			}
			var e Event
			if err := json.Unmarshal([]byte(n.Extra), &e); err != nil {
				slog.Warn("event listener: unreadable event", "error", err)
				continue
			}
			b.deliver(e)
		case <-ping.C:
			_ = b.listener.Ping()
		}
	}
}

// Close stops listening and ends every subscription.
func (b *Bus) Close() {
	select {
	case <-b.done:
		return
	default:
	}
	close(b.done)
	if b.listener != nil {
		_ = b.listener.Close()
	}
	b.mu.Lock()
	b.closed = true
	var ending []*watcher
	for _, set := range b.watchers {
		for w := range set {
			ending = append(ending, w)
		}
	}
	clear(b.watchers)
	b.mu.Unlock()
	for _, w := range ending {
		w.onClose()
	}
}

// PublishTx raises e in tx: subscribers on every instance get it once tx
// commits, and never if it rolls back.
func (b *Bus) PublishTx(ctx context.Context, tx *ent.Tx, e Event) error {
	e.SentAt = time.Now()
	if b.dialect == dialect.Postgres {
		payload, err := json.Marshal(e)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "SELECT pg_notify($1, $2)", channel, string(payload))
		return err
	}
	tx.OnCommit(func(next ent.Committer) ent.Committer {
		return ent.CommitFunc(func(ctx context.Context, tx *ent.Tx) error {
			if err := next.Commit(ctx, tx); err != nil {
				return err
			}
			b.deliver(e)
			return nil
		})
	})
	return nil
}

// NotifyColumn raises e in tx as PublishTx does, with no statement of its
// own on PostgreSQL: it returns the pg_notify call to add to a statement
// the caller runs next in tx (as a RETURNING column of an UPDATE of one
// row, say), with its arguments numbered from $first. The NOTIFY is sent
// when tx commits, as PublishTx's is, provided that statement evaluates the
// call exactly once. Elsewhere it returns "": call PublishTx instead.
func (b *Bus) NotifyColumn(e Event, first int) (column string, args []any, err error) {
	if b.dialect != dialect.Postgres {
		return "", nil, nil
	}
	e.SentAt = time.Now()
	payload, err := json.Marshal(e)
	if err != nil {
		return "", nil, err
	}
	return fmt.Sprintf("pg_notify($%d, $%d)", first, first+1), []any{channel, string(payload)}, nil
}

// Watch calls onEvent with every event of topic, and every Resync, from
// now until stop is called; onClose instead, once, if the bus closes first.
// onEvent runs on the goroutine delivering the event, while the bus is
// locked: it must return at once and not call the bus.
func (b *Bus) Watch(topic Topic, onEvent func(Event), onClose func()) (stop func()) {
	w := &watcher{topic: topic, onEvent: onEvent, onClose: onClose}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		onClose()
		return func() {}
	}
	set := b.watchers[topic]
	if set == nil {
		set = map[*watcher]struct{}{}
		b.watchers[topic] = set
	}
	set[w] = struct{}{}
	b.mu.Unlock()
	return func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		if set := b.watchers[topic]; set != nil {
			delete(set, w)
			if len(set) == 0 {
				delete(b.watchers, topic)
			}
		}
	}
}

// SessionsMayHaveEnded reports whether sessions of a user may have ended
// since a moment (time.Now when their session was read): a SessionsEnded
// event for them or a Resync arrived since then, or it is too long ago to
// know. A watch registered after reading a session asks this to learn of an
// end announced in between without asking the database.
func (b *Bus) SessionsMayHaveEnded(userID int, since time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if since.IsZero() || time.Since(since) > sessionEndMemory/2 {
		return true
	}
	ended, ok := b.sessionsEnded[userID]
	return ok && !ended.Before(since) || !b.resynced.Before(since)
}

// subscriberBuffer bounds the events waiting for a channel subscriber.
const subscriberBuffer = 16

// Subscribe returns every event raised from now on, until ctx ends or the
// bus closes (the channel is then closed). A subscriber that falls more than
// a few events behind gets a Resync instead of the events it missed. Live
// subscriptions watch a topic instead (SubscribeTopic, Watch).
func (b *Bus) Subscribe(ctx context.Context) <-chan Event {
	return b.SubscribeTopic(ctx, everything)
}

// everything is the topic of every event.
var everything = Topic{Kind: "*"}

// SubscribeTopic is Subscribe for the events of one topic, and Resyncs.
func (b *Bus) SubscribeTopic(ctx context.Context, topic Topic) <-chan Event {
	ch := make(chan Event, subscriberBuffer)
	var once sync.Once
	closeCh := func() { once.Do(func() { close(ch) }) }
	// missed is only touched by onEvent, under the bus's lock.
	missed := false
	stop := b.Watch(topic, func(e Event) {
		if missed {
			select {
			case ch <- Event{Kind: Resync, SentAt: time.Now()}:
				missed = false
			default:
				return
			}
		}
		select {
		case ch <- e:
		default:
			missed = true
		}
	}, closeCh)
	context.AfterFunc(ctx, func() {
		stop() // no event is sent after this
		closeCh()
	})
	return ch
}

func (b *Bus) deliver(e Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch e.Kind {
	case Resync:
		b.resynced = time.Now()
		for _, set := range b.watchers {
			for w := range set {
				w.onEvent(e)
			}
		}
		return
	case SessionsEnded:
		b.rememberSessionsEnded(e.UserID)
	}
	for w := range b.watchers[everything] {
		w.onEvent(e)
	}
	topics := e.topics()
	for i, t := range topics {
		if t == (Topic{}) || i == 1 && t == topics[0] {
			continue
		}
		for w := range b.watchers[t] {
			w.onEvent(e)
		}
	}
}

// rememberSessionsEnded notes that a user's sessions ended now, and forgets
// what is older than sessionEndMemory.
func (b *Bus) rememberSessionsEnded(userID int) {
	now := time.Now()
	b.sessionsEnded[userID] = now
	if now.Sub(b.sweptAt) < sessionEndMemory {
		return
	}
	b.sweptAt = now
	for id, at := range b.sessionsEnded {
		if now.Sub(at) > sessionEndMemory {
			delete(b.sessionsEnded, id)
		}
	}
}
