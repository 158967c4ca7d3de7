package revocation

import (
	"sort"

	"github.com/latchkeyhq/latchkey/store"
)

// history is a ring of the newest applied revocations, in revision order.
// floor is the revision just before the oldest event held: a watcher that
// has seen floor (or later) can be caught up from the ring alone.
type history struct {
	buf   []store.Revocation
	head  int // index of the oldest event once buf is full
	limit int
	floor uint64
}

func newHistory(limit int, floor uint64) history {
	return history{limit: limit, floor: floor}
}

func (h *history) push(e store.Revocation) {
	if len(h.buf) < h.limit {
		h.buf = append(h.buf, e)
		return
	}
	h.floor = h.buf[h.head].Rev
	h.buf[h.head] = e
	h.head = (h.head + 1) % h.limit
}

func (h *history) at(i int) store.Revocation {
	return h.buf[(h.head+i)%len(h.buf)]
}

// after returns the events with Rev > from, oldest first.
func (h *history) after(from uint64) []store.Revocation {
	n := len(h.buf)
	i := sort.Search(n, func(i int) bool { return h.at(i).Rev > from })
	out := make([]store.Revocation, 0, n-i)
	for ; i < n; i++ {
		out = append(out, h.at(i))
	}
	return out
}
