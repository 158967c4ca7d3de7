package audit

import "sync"

// Subscription receives events as they become durable. A subscriber that
// falls more than its buffer behind is dropped: C is closed and Dropped
// reports true, so a slow reader never holds up the trail.
type Subscription struct {
	C <-chan Event

	c       chan Event
	filter  Filter
	dropped bool // guarded by subscribers.mu
	owner   *subscribers
}

// Filter selects events; empty fields match everything.
type Filter struct {
	KeyID string
	Actor string
	Kind  Kind
}

// Match reports whether e passes f.
func (f Filter) Match(e *Event) bool {
	return (f.KeyID == "" || f.KeyID == e.KeyID) &&
		(f.Actor == "" || f.Actor == e.Actor) &&
		(f.Kind == "" || f.Kind == e.Kind)
}

// Dropped reports whether the subscription ended because its reader fell
// behind (as opposed to Cancel or the trail closing).
func (s *Subscription) Dropped() bool {
	s.owner.mu.Lock()
	defer s.owner.mu.Unlock()
	return s.dropped
}

// Cancel ends the subscription; C is closed.
func (s *Subscription) Cancel() { s.owner.remove(s, false) }

type subscribers struct {
	mu     sync.Mutex
	set    map[*Subscription]struct{}
	closed bool
}

// Subscribe returns a live subscription to events matching f, buffering up
// to buf of them.
func (t *Trail) Subscribe(f Filter, buf int) *Subscription {
	return t.subs.add(f, buf)
}

func (h *subscribers) add(f Filter, buf int) *Subscription {
	if buf < 1 {
		buf = 1
	}
	c := make(chan Event, buf)
	s := &Subscription{C: c, c: c, filter: f, owner: h}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		close(c)
		return s
	}
	if h.set == nil {
		h.set = make(map[*Subscription]struct{})
	}
	h.set[s] = struct{}{}
	return s
}

func (h *subscribers) remove(s *Subscription, dropped bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.set[s]; !ok {
		return
	}
	delete(h.set, s)
	s.dropped = dropped
	close(s.c)
}

func (h *subscribers) publish(e Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.set {
		if !s.filter.Match(&e) {
			continue
		}
		select {
		case s.c <- e:
		default:
			delete(h.set, s)
			s.dropped = true
			close(s.c)
		}
	}
}

func (h *subscribers) closeAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for s := range h.set {
		delete(h.set, s)
		close(s.c)
	}
}

// Subscribers is the number of live subscriptions.
func (t *Trail) Subscribers() int {
	t.subs.mu.Lock()
	defer t.subs.mu.Unlock()
	return len(t.subs.set)
}
