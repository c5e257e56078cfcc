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
	// SentAt is when the event was raised (for delivery delay figures).
	SentAt time.Time `json:"t"`
}

// channel is the PostgreSQL NOTIFY channel.
const channel = "usermanager_events"

// Bus fans events out to this process's subscribers.
type Bus struct {
	dialect     string
	databaseURL string

	mu   sync.Mutex
	subs map[*subscriber]struct{}

	listener *pq.Listener
	done     chan struct{}
}

// New returns a bus; databaseURL is needed on PostgreSQL, to listen.
func New(dialectName, databaseURL string) *Bus {
	return &Bus{dialect: dialectName, databaseURL: databaseURL, subs: map[*subscriber]struct{}{}, done: make(chan struct{})}
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

// subscriber is one live subscription. Its buffer is bounded; when it
// overflows the subscriber is owed a Resync instead of a silent gap.
type subscriber struct {
	ch     chan Event
	missed bool
}

// Subscribe returns the events raised from now on, until ctx ends or the
// bus closes (the channel is then closed).
func (b *Bus) Subscribe(ctx context.Context) <-chan Event {
	s := &subscriber{ch: make(chan Event, 64)}
	b.mu.Lock()
	b.subs[s] = struct{}{}
	b.mu.Unlock()
	go func() {
		select {
		case <-ctx.Done():
		case <-b.done:
		}
		b.mu.Lock()
		delete(b.subs, s)
		close(s.ch)
		b.mu.Unlock()
	}()
	return s.ch
}

func (b *Bus) deliver(e Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for s := range b.subs {
		if s.missed {
			select {
			case s.ch <- Event{Kind: Resync, SentAt: time.Now()}:
				s.missed = false
			default:
				continue
			}
		}
		select {
		case s.ch <- e:
		default:
			s.missed = true
		}
	}
}
