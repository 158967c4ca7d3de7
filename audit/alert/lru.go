package alert

import "strings"

// lru is a map with an intrusive recency list. Looking up and touching an
// existing entry does not allocate, which keeps Observe allocation-free for
// keys it already knows.
type lru[T any] struct {
	m map[string]*lruNode[T]
	// head is a sentinel: head.next is the most recently used node and
	// head.prev the least.
	head lruNode[T]
}

type lruNode[T any] struct {
	prev, next *lruNode[T]
	key        string
	val        T
}

func newLRU[T any]() *lru[T] {
	l := &lru[T]{m: make(map[string]*lruNode[T])}
	l.head.prev, l.head.next = &l.head, &l.head
	return l
}

func (l *lru[T]) len() int { return len(l.m) }

// get returns the entry for key, marking it most recently used, or nil.
func (l *lru[T]) get(key string) *T {
	n, ok := l.m[key]
	if !ok {
		return nil
	}
	if l.head.next != n {
		l.unlink(n)
		l.pushFront(n)
	}
	return &n.val
}

// add inserts a zero entry for key, which must not be present, as the most
// recently used.
func (l *lru[T]) add(key string) *T {
	// Event fields may share memory with a large decoded buffer; a tracked
	// entry must not pin it.
	n := &lruNode[T]{key: strings.Clone(key)}
	l.m[n.key] = n
	l.pushFront(n)
	return &n.val
}

// removeOldest forgets the least recently used entry, if any.
func (l *lru[T]) removeOldest() {
	n := l.head.prev
	if n == &l.head {
		return
	}
	l.unlink(n)
	delete(l.m, n.key)
}

func (l *lru[T]) unlink(n *lruNode[T]) {
	n.prev.next = n.next
	n.next.prev = n.prev
	n.prev, n.next = nil, nil
}

func (l *lru[T]) pushFront(n *lruNode[T]) {
	n.prev = &l.head
	n.next = l.head.next
	l.head.next.prev = n
	l.head.next = n
}
