package alert

import "strings"

// lru is a map with a recency list. Looking up and touching an existing
// entry does not allocate, which keeps Observe allocation-free for keys it
// already knows.
//
// Entries live by value in fixed-size chunks and link to each other by slot
// index, so a hundred thousand entries are a few hundred chunk objects for
// the garbage collector to mark instead of a node object each. A chunk never
// moves once allocated, so a pointer to an entry's value stays valid for as
// long as the entry is present, however many entries are added after it.
type lru[T any] struct {
	m      map[string]int32
	chunks []*[lruChunkLen]lruNode[T]
	// head is the most recently used slot and tail the least; both are
	// lruNone when the lru is empty.
	head, tail int32
	// free heads a list of removed slots, chained through next, that add
	// fills before taking a fresh slot.
	free int32
	// used counts the slots ever handed out, so used is the next fresh slot.
	used int32
}

const (
	// lruChunkLen is a power of two so that a slot splits into chunk and
	// offset with a shift and a mask. A chunk of the largest entries, key
	// state, is about 50 KiB.
	lruChunkShift = 8
	lruChunkLen   = 1 << lruChunkShift
	lruNone       = -1
	// lruMaxSlots keeps every slot, and lruNone, representable in an int32.
	lruMaxSlots = 1<<31 - 1
)

type lruNode[T any] struct {
	prev, next int32
	key        string
	val        T
}

func newLRU[T any]() *lru[T] {
	return &lru[T]{
		m:    make(map[string]int32),
		head: lruNone,
		tail: lruNone,
		free: lruNone,
	}
}

func (l *lru[T]) len() int { return len(l.m) }

// get returns the entry for key, marking it most recently used, or nil.
//
// The pointer stays valid across later calls to add; it must not be used
// after the entry is removed, because add may hand its slot to another key.
func (l *lru[T]) get(key string) *T {
	i, ok := l.m[key]
	if !ok {
		return nil
	}
	n := l.node(i)
	if l.head != i {
		l.unlink(n)
		l.pushFront(i, n)
	}
	return &n.val
}

// add inserts a zero entry for key, which must not be present, as the most
// recently used. The returned pointer has the same lifetime as get's.
func (l *lru[T]) add(key string) *T {
	i := l.alloc()
	n := l.node(i)
	// Event fields may share memory with a large decoded buffer; a tracked
	// entry must not pin it.
	n.key = strings.Clone(key)
	l.m[n.key] = i
	l.pushFront(i, n)
	return &n.val
}

// removeOldest forgets the least recently used entry, if any.
func (l *lru[T]) removeOldest() {
	i := l.tail
	if i == lruNone {
		return
	}
	n := l.node(i)
	l.unlink(n)
	delete(l.m, n.key)
	// Clearing drops what the entry referenced, so the collector can free
	// it, and leaves the zero value that add promises.
	*n = lruNode[T]{next: l.free}
	l.free = i
}

func (l *lru[T]) node(i int32) *lruNode[T] {
	return &l.chunks[i>>lruChunkShift][i&(lruChunkLen-1)]
}

// alloc returns a zeroed slot that is in no list.
func (l *lru[T]) alloc() int32 {
	if i := l.free; i != lruNone {
		n := l.node(i)
		l.free, n.next = n.next, 0
		return i
	}
	if l.used == lruMaxSlots {
		panic("alert: lru slot index overflow")
	}
	i := l.used
	if int(i>>lruChunkShift) == len(l.chunks) {
		l.chunks = append(l.chunks, new([lruChunkLen]lruNode[T]))
	}
	l.used++
	return i
}

func (l *lru[T]) unlink(n *lruNode[T]) {
	if n.prev == lruNone {
		l.head = n.next
	} else {
		l.node(n.prev).next = n.next
	}
	if n.next == lruNone {
		l.tail = n.prev
	} else {
		l.node(n.next).prev = n.prev
	}
	n.prev, n.next = lruNone, lruNone
}

func (l *lru[T]) pushFront(i int32, n *lruNode[T]) {
	n.prev = lruNone
	n.next = l.head
	if l.head == lruNone {
		l.tail = i
	} else {
		l.node(l.head).prev = i
	}
	l.head = i
}
