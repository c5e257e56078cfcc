package licenses

import (
	"context"
	"slices"
	"sync"

	"github.com/clinicemr/usermanager/ent"
	"github.com/clinicemr/usermanager/ent/privacy"
	"github.com/clinicemr/usermanager/internal/events"
	"github.com/clinicemr/usermanager/internal/fanout"
)

// countsHub shares one read of a scope's counts among all its subscribers:
// a change is read once, however many watch it, and sent to all as one
// fanout.Event, so that it is also encoded once per distinct subscription
// document. Subscribers are authorized
// one by one when they subscribe (subscriptionScope); the hub only hands
// each the counts of the scope it was allowed.
//
// Each Service has one; a feed is dropped with its last subscriber.
type countsHub struct {
	service *Service
	mu      sync.Mutex
	feeds   map[scopeKey]*countsFeed
}

func newCountsHub(s *Service) *countsHub {
	return &countsHub{service: s, feeds: map[scopeKey]*countsFeed{}}
}

// scopeKey identifies a scope: an organization, and a clinic or 0 for all
// of its clinics.
type scopeKey struct {
	orgID, clinicID int
}

// countsFeed keeps the subscribers of one scope up to date. One goroutine
// per scope reads the counts when woken (by a change, a Resync, or a new
// subscriber that needs its first counts), so a burst of changes and
// subscriptions gives one read.
type countsFeed struct {
	hub    *countsHub
	key    scopeKey
	clinic *ent.Clinic // nil for an organization
	wake   chan struct{}
	stop   func() // stops watching the bus

	mu      sync.Mutex
	members map[*countsMember]struct{}
	// waiting are the members still to have their first counts, in the
	// order they joined: a read for newcomers walks only these, not every
	// member (a thousand joining one after another would otherwise cost a
	// walk of the whole feed each).
	waiting []*countsMember
	// changed: an event arrived since the last read started, so every
	// member gets the next read, not only new ones.
	changed bool
	// reads counts the reads started; a member is given only the counts of
	// a read started after it joined.
	reads uint64
	// over: the feed stopped (no members left, the bus closed, or a read
	// failed); a new subscriber starts a new feed.
	over bool
}

// countsMember is one subscription. Its mailbox holds one message: when a
// subscriber is slow, newer counts replace those it has not taken yet.
type countsMember struct {
	out *fanout.Mailbox[[]*Count]
	// sent are the counts last handed to it: a read that finds the same
	// (an event that arrives after the subscriber's first read already saw
	// its change, or a Resync) is not sent again.
	sent []*Count
	// joinedAt is the feed's read count when it joined; started is set
	// once it has had its first counts.
	joinedAt uint64
	started  bool
}

// countsRead is one read of a scope's counts, as sent to its subscribers.
type countsRead = fanout.Event[[]*Count]

// join adds a subscriber of scope sc until ctx ends; its first counts come
// from a read started after now.
func (h *countsHub) join(ctx context.Context, sc scope) *fanout.Mailbox[[]*Count] {
	key := scopeKey{orgID: sc.orgID}
	if sc.clinicID != nil {
		key.clinicID = *sc.clinicID
	}
	m := &countsMember{out: fanout.NewMailbox[[]*Count]()}
	h.mu.Lock()
	f := h.feeds[key]
	if f == nil {
		f = h.startFeed(key, sc)
	}
	f.mu.Lock()
	m.joinedAt = f.reads
	f.members[m] = struct{}{}
	f.waiting = append(f.waiting, m)
	f.mu.Unlock()
	h.mu.Unlock()
	f.poke()
	context.AfterFunc(ctx, func() { f.leave(m) })
	return m.out
}

// watched is the clinic of a clinic's feed while it has subscribers, nil
// otherwise.
func (h *countsHub) watched(key scopeKey) *ent.Clinic {
	h.mu.Lock()
	defer h.mu.Unlock()
	if f := h.feeds[key]; f != nil {
		return f.clinic
	}
	return nil
}

// startFeed starts the feed of a scope; h.mu is held.
func (h *countsHub) startFeed(key scopeKey, sc scope) *countsFeed {
	f := &countsFeed{hub: h, key: key, clinic: sc.clinic, wake: make(chan struct{}, 1), members: map[*countsMember]struct{}{}}
	h.feeds[key] = f
	// Watch before the first read, so a change committed meanwhile is not
	// missed.
	f.stop = h.service.events.Watch(events.ClinicTopic(events.CountsChanged, sc.orgID, sc.clinicID),
		func(events.Event) {
			f.mu.Lock()
			f.changed = true
			f.mu.Unlock()
			f.poke()
		},
		// Not f.end itself: Watch calls this at once if the bus is closed,
		// and h.mu is held.
		func() { go f.end() })
	go f.run()
	return f
}

// poke wakes the feed's reader; pokes while it is busy coalesce into one
// more read.
func (f *countsFeed) poke() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

func (f *countsFeed) run() {
	// The subscribers were authorized for this scope when they joined; the
	// read itself needs no viewer.
	ctx := privacy.DecisionContext(context.Background(), privacy.Allow)
	for range f.wake {
		f.mu.Lock()
		if f.over {
			f.mu.Unlock()
			return
		}
		everyone := f.changed
		f.changed = false
		f.reads++
		read := f.reads
		f.mu.Unlock()

		counts, err := f.hub.service.count(ctx, f.key.orgID, f.clinic)
		if err != nil {
			// As when every subscriber read for itself: a failed read ends
			// the subscriptions (clients subscribe again).
			f.end()
			return
		}
		event := fanout.NewEvent(counts)
		f.mu.Lock()
		if everyone {
			for m := range f.members {
				if m.started && !sameCounts(m.sent, counts) {
					m.send(event)
				}
			}
		}
		// Newcomers who joined before this read began get it as their
		// first counts; those who joined since wait for the next read.
		n := 0
		for _, m := range f.waiting {
			if m.joinedAt >= read {
				break
			}
			n++
			if _, member := f.members[m]; member {
				m.send(event)
				m.started = true
			}
		}
		f.waiting = slices.Delete(f.waiting, 0, n)
		f.mu.Unlock()
	}
}

// send hands counts to the subscriber, replacing counts it has not taken.
func (m *countsMember) send(counts *countsRead) {
	m.sent = counts.Value
	m.out.Put(counts)
}

// sameCounts reports whether two reads of one scope found the same counts.
func sameCounts(a, b []*Count) bool {
	return slices.EqualFunc(a, b, func(x, y *Count) bool {
		return x.Class == y.Class && x.Total == y.Total && x.InUse == y.InUse && x.Available == y.Available &&
			x.PendingAdditions == y.PendingAdditions && x.PendingReleases == y.PendingReleases &&
			(x.Clinic == nil) == (y.Clinic == nil) && (x.Clinic == nil || x.Clinic.ID == y.Clinic.ID)
	})
}

// leave removes a subscriber; the last one stops the feed.
func (f *countsFeed) leave(m *countsMember) {
	f.hub.mu.Lock()
	defer f.hub.mu.Unlock()
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.members[m]; !ok {
		return
	}
	delete(f.members, m)
	m.out.Close()
	if len(f.members) == 0 {
		f.stopLocked()
	}
}

// end ends every subscription of the feed (the bus closed, or a read
// failed).
func (f *countsFeed) end() {
	f.hub.mu.Lock()
	defer f.hub.mu.Unlock()
	f.mu.Lock()
	defer f.mu.Unlock()
	for m := range f.members {
		m.out.Close()
	}
	clear(f.members)
	f.waiting = nil
	f.stopLocked()
}

// stopLocked stops the feed; the hub's and the feed's locks are held.
func (f *countsFeed) stopLocked() {
	if f.over {
		return
	}
	f.over = true
	if f.hub.feeds[f.key] == f {
		delete(f.hub.feeds, f.key)
	}
	// Unwatching takes the bus's lock, which a delivery holds while it
	// calls into this feed: do it outside these locks.
	go f.stop()
	f.poke() // the reader sees over and returns
}
