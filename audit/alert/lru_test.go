package alert

import (
	"math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"testing"
	"time"
)

type lruOpKind uint8

const (
	opGet lruOpKind = iota
	opAdd
	opRemoveOldest
)

type lruOp struct {
	kind lruOpKind
	key  int
}

// lruModel is the obvious reference: entries most recently used first.
type lruModel struct {
	keys []string
	vals []int
}

func (m *lruModel) find(k string) int { return slices.Index(m.keys, k) }

func (m *lruModel) toFront(i int) {
	k, v := m.keys[i], m.vals[i]
	m.keys = slices.Insert(slices.Delete(m.keys, i, i+1), 0, k)
	m.vals = slices.Insert(slices.Delete(m.vals, i, i+1), 0, v)
}

// runLRU applies ops to an lru and to the model and fails at the first
// difference. add of a present key is turned into a get, since add requires
// an absent key. Every value is written through the pointer the lru
// returned, so a pointer into the wrong slot shows up as a wrong value.
func runLRU(t *testing.T, ops []lruOp) {
	t.Helper()
	l := newLRU[int]()
	var m lruModel
	next := 0
	for step, op := range ops {
		k := "k" + strconv.Itoa(op.key)
		switch {
		case op.kind == opRemoveOldest:
			l.removeOldest()
			if n := len(m.keys); n > 0 {
				m.keys, m.vals = m.keys[:n-1], m.vals[:n-1]
			}
		case op.kind == opAdd && m.find(k) < 0:
			p := l.add(k)
			if *p != 0 {
				t.Fatalf("step %d: add(%q) = %d, want the zero value", step, k, *p)
			}
			next++
			*p = next
			m.keys = slices.Insert(m.keys, 0, k)
			m.vals = slices.Insert(m.vals, 0, next)
		default:
			p := l.get(k)
			i := m.find(k)
			if i < 0 {
				if p != nil {
					t.Fatalf("step %d: get(%q) = %d, want nil", step, k, *p)
				}
				break
			}
			if p == nil || *p != m.vals[i] {
				t.Fatalf("step %d: get(%q) = %v, want %d", step, k, p, m.vals[i])
			}
			m.toFront(i)
			next++
			*p = next
			m.vals[0] = next
		}
		// A wrong order or a lost slot stays wrong, so a full check now and
		// then and at the end finds it without making long runs quadratic.
		if len(m.keys) < 64 || step%64 == 0 || step == len(ops)-1 {
			checkLRU(t, step, l, &m)
		}
	}
}

// checkLRU compares l with the model in both directions of its list and
// checks that every slot is either listed or free.
func checkLRU(t *testing.T, step int, l *lru[int], m *lruModel) {
	t.Helper()
	if l.len() != len(m.keys) {
		t.Fatalf("step %d: len() = %d, want %d", step, l.len(), len(m.keys))
	}
	var keys []string
	var vals []int
	prev := int32(lruNone)
	for i := l.head; i != lruNone; i = l.node(i).next {
		n := l.node(i)
		if n.prev != prev {
			t.Fatalf("step %d: slot %d has prev %d, want %d", step, i, n.prev, prev)
		}
		if j, ok := l.m[n.key]; !ok || j != i {
			t.Fatalf("step %d: map sends %q to slot %d (%v), list has it at %d", step, n.key, j, ok, i)
		}
		keys, vals = append(keys, n.key), append(vals, n.val)
		prev = i
		if len(keys) > len(m.keys) {
			break
		}
	}
	if l.tail != prev {
		t.Fatalf("step %d: tail = %d, want %d", step, l.tail, prev)
	}
	if !slices.Equal(keys, m.keys) || !slices.Equal(vals, m.vals) {
		t.Fatalf("step %d: order %v %v, want %v %v", step, keys, vals, m.keys, m.vals)
	}
	free := 0
	for i := l.free; i != lruNone; i = l.node(i).next {
		if n := l.node(i); n.key != "" || n.val != 0 || n.prev != 0 {
			t.Fatalf("step %d: free slot %d holds %+v, want it cleared", step, i, *n)
		}
		free++
		if free > int(l.used) {
			t.Fatalf("step %d: free list loops", step)
		}
	}
	if free+l.len() != int(l.used) {
		t.Fatalf("step %d: %d free + %d listed slots, want %d used", step, free, l.len(), l.used)
	}
}

func randomOps(seed uint64, n, keySpace, removePct int) []lruOp {
	r := rand.New(rand.NewPCG(seed, seed))
	ops := make([]lruOp, n)
	for i := range ops {
		switch p := r.IntN(100); {
		case p < removePct:
			ops[i].kind = opRemoveOldest
		case p < removePct+(100-removePct)/2:
			ops[i].kind = opAdd
		default:
			ops[i].kind = opGet
		}
		ops[i].key = r.IntN(keySpace)
	}
	return ops
}

func TestLRUMatchesModel(t *testing.T) {
	cases := []struct {
		name                     string
		seed                     uint64
		ops, keySpace, removePct int
	}{
		{"few keys, many touches", 1, 2000, 4, 5},
		{"few keys, many removals", 2, 2000, 8, 40},
		{"one chunk", 3, 3000, lruChunkLen / 2, 10},
		{"several chunks", 4, 4000, 3 * lruChunkLen, 2},
		{"several chunks, churn", 5, 4000, 3 * lruChunkLen, 30},
		{"drains often", 6, 3000, 16, 60},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			runLRU(t, randomOps(tc.seed, tc.ops, tc.keySpace, tc.removePct))
		})
	}
}

// decodeLRUOps reads one op per byte: the low two bits choose it (get, add
// twice as often, remove the oldest) and, for get and add, the next byte
// with the upper six bits choose one of fuzzKeySpace keys, enough to span
// several chunks.
func decodeLRUOps(data []byte) []lruOp {
	const fuzzKeySpace = 3*lruChunkLen + 7
	var ops []lruOp
	for i := 0; i < len(data); i++ {
		b := data[i]
		if b&3 == 3 {
			ops = append(ops, lruOp{kind: opRemoveOldest})
			continue
		}
		kind := opAdd
		if b&3 == 0 {
			kind = opGet
		}
		k := int(b >> 2)
		if i+1 < len(data) {
			i++
			k = k<<8 | int(data[i])
		}
		ops = append(ops, lruOp{kind: kind, key: k % fuzzKeySpace})
	}
	return ops
}

func FuzzLRU(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		// Longer inputs only slow the fuzzer down: three chunks fill within
		// about 1,600 bytes.
		if len(data) > 4096 {
			data = data[:4096]
		}
		runLRU(t, decodeLRUOps(data))
	})
}

func TestLRUPointersSurviveAdds(t *testing.T) {
	const n = 4*lruChunkLen + 3
	l := newLRU[int]()
	ptrs := make([]*int, n)
	for i := range ptrs {
		ptrs[i] = l.add(strconv.Itoa(i))
		*ptrs[i] = i + 1
	}
	if len(l.chunks) != 5 {
		t.Fatalf("%d entries in %d chunks, want 5", n, len(l.chunks))
	}
	for i, p := range ptrs {
		if got := l.get(strconv.Itoa(i)); got != p || *p != i+1 {
			t.Fatalf("entry %d: get = %p (%d), want the pointer add returned, %p (%d)", i, got, *got, p, i+1)
		}
	}
}

func TestLRURemoval(t *testing.T) {
	type result struct {
		order     []string
		fresh     int // value add returned for the last key added
		chunks    int
		used      int32
		reusedPtr bool // the last add returned a removed entry's pointer
	}
	cases := []struct {
		name string
		run  func(l *lru[int]) result
		want result
	}{
		{
			name: "remove from empty",
			run: func(l *lru[int]) result {
				l.removeOldest()
				return result{}
			},
			want: result{},
		},
		{
			name: "least recently used goes first",
			run: func(l *lru[int]) result {
				*l.add("a"), *l.add("b"), *l.add("c") = 1, 2, 3
				l.get("a")
				l.removeOldest()
				return result{}
			},
			want: result{order: []string{"a", "c"}, chunks: 1, used: 3},
		},
		{
			name: "removed slot is reused, cleared",
			run: func(l *lru[int]) result {
				*l.add("a"), *l.add("b") = 1, 2
				old := l.get("a")
				l.get("b")
				l.removeOldest()
				p := l.add("c")
				return result{fresh: *p, reusedPtr: p == old}
			},
			want: result{order: []string{"c", "b"}, chunks: 1, used: 2, reusedPtr: true},
		},
		{
			name: "removed key can return",
			run: func(l *lru[int]) result {
				*l.add("a") = 7
				l.removeOldest()
				p := l.add("a")
				return result{fresh: *p}
			},
			want: result{order: []string{"a"}, chunks: 1, used: 1},
		},
		{
			name: "drained and refilled past a chunk",
			run: func(l *lru[int]) result {
				for i := range lruChunkLen {
					*l.add(strconv.Itoa(i)) = i + 1
				}
				for range lruChunkLen {
					l.removeOldest()
				}
				for i := range lruChunkLen + 1 {
					*l.add(strconv.Itoa(i)) = i + 1
				}
				for range lruChunkLen {
					l.removeOldest()
				}
				return result{}
			},
			want: result{order: []string{strconv.Itoa(lruChunkLen)}, chunks: 2, used: lruChunkLen + 1},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := newLRU[int]()
			got := tc.run(l)
			for i := l.head; i != lruNone; i = l.node(i).next {
				got.order = append(got.order, l.node(i).key)
			}
			got.chunks, got.used = len(l.chunks), l.used
			if !slices.Equal(got.order, tc.want.order) || got.fresh != tc.want.fresh || got.chunks != tc.want.chunks ||
				got.used != tc.want.used || got.reusedPtr != tc.want.reusedPtr || l.len() != len(tc.want.order) {
				t.Fatalf("got %+v (len %d), want %+v", got, l.len(), tc.want)
			}
			for _, k := range []string{"a", "b", "c", "0"} {
				if p := l.get(k); (p != nil) != slices.Contains(tc.want.order, k) {
					t.Errorf("get(%q) = %v, want present %v", k, p, slices.Contains(tc.want.order, k))
				}
			}
		})
	}
}

func TestLRUGetMissing(t *testing.T) {
	l := newLRU[int]()
	if p := l.get("a"); p != nil {
		t.Fatalf("get on empty = %d, want nil", *p)
	}
	*l.add("a"), *l.add("b") = 1, 2
	for _, k := range []string{"c", "", "a\x00", "A"} {
		t.Run(strconv.Quote(k), func(t *testing.T) {
			if p := l.get(k); p != nil {
				t.Fatalf("get(%q) = %d, want nil", k, *p)
			}
			var order []string
			for i := l.head; i != lruNone; i = l.node(i).next {
				order = append(order, l.node(i).key)
			}
			if l.len() != 2 || !slices.Equal(order, []string{"b", "a"}) {
				t.Fatalf("after get(%q): len %d order %v, want 2 [b a]", k, l.len(), order)
			}
		})
	}
}

func TestLRUGetDoesNotAllocate(t *testing.T) {
	l := newLRU[keyState]()
	for i := range 2 * lruChunkLen {
		l.add("key-" + strconv.Itoa(i))
	}
	// Built before measuring, so only get can allocate.
	near, far := "key-"+strconv.Itoa(2*lruChunkLen-1), "key-0"
	cases := []struct {
		name string
		get  func()
	}{
		{"most recent", func() { l.get(near) }},
		{"moved to front", func() { l.get(near); l.get(far) }},
		{"missing", func() { l.get("absent") }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if n := testing.AllocsPerRun(1000, tc.get); n != 0 {
				t.Fatalf("%v allocations per get, want 0", n)
			}
		})
	}
}

// TestLRUHeapObjects holds what the collector has to mark to a few objects
// per chunk. The copy of each key is an object of its own, by design (see
// add), but holds no pointers, so the collector marks it without scanning
// it; everything else must not grow with the number of entries.
func TestLRUHeapObjects(t *testing.T) {
	keys := make([]string, manyKeys)
	for i := range keys {
		keys[i] = "9f8e7d6c" + strconv.Itoa(10_000_000+i)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	l := newLRU[keyState]()
	for _, k := range keys {
		l.add(k)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(l)
	runtime.KeepAlive(keys)

	objects := int64(after.HeapObjects) - int64(before.HeapObjects)
	structure := objects - manyKeys
	t.Logf("%d entries: %d heap objects, %d besides the key copies", manyKeys, objects, structure)
	if structure > manyKeys/100 {
		t.Fatalf("%d entries cost %d heap objects besides the key copies, want at most %d",
			manyKeys, structure, manyKeys/100)
	}
}

// manyKeys is the number of keys a large deployment tracks, the default
// MaxTracked.
const manyKeys = 100_000

// trackManyKeys returns a Detector that has seen manyKeys keys once each
// and the keys, in the order first seen.
func trackManyKeys(tb testing.TB) (*Detector, []string) {
	tb.Helper()
	d := mustDetector(tb, Config{})
	keys := make([]string, manyKeys)
	for i := range keys {
		keys[i] = "key-" + strconv.Itoa(i)
		d.Observe(exchange(0, key(keys[i])))
	}
	if n := d.Tracked(); n != manyKeys {
		tb.Fatalf("Tracked() = %d, want %d", n, manyKeys)
	}
	return d, keys
}

func BenchmarkObserveManyKeys(b *testing.B) {
	d, keys := trackManyKeys(b)
	e := exchange(0)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		e.KeyID = keys[i%len(keys)]
		e.Time = t0.Add(time.Duration(i) * time.Millisecond)
		if got := d.Observe(e); got != nil {
			b.Fatalf("unexpected alerts %v", kinds(got))
		}
	}
}

// BenchmarkGCManyKeys is the cost of one full collection while a Detector
// holds manyKeys keys: what every collection cycle pays for the state.
func BenchmarkGCManyKeys(b *testing.B) {
	d, _ := trackManyKeys(b)
	runtime.GC()
	for b.Loop() {
		runtime.GC()
	}
	runtime.KeepAlive(d)
}

// TestDetectorBytesPerKey bounds the heap a tracked key costs when many
// keys are used by one identity from one network, as a CI system's keys
// are: the identity's name is held once, and a key's state is a few words.
// It was 394 bytes before identities were interned and cooldowns packed,
// and 274 before networks were interned too.
func TestDetectorBytesPerKey(t *testing.T) {
	perKey, _ := detectorHeapPerKey(t)
	t.Logf("%.0f bytes per tracked key", perKey)
	if perKey > 260 {
		t.Fatalf("%.0f bytes per tracked key, want at most 260", perKey)
	}
}

// TestDetectorObjectsPerKey holds the heap objects a tracked key adds, which
// every collection visits: a key used by one identity from one network keeps
// them in its state, with no slice of its own.
func TestDetectorObjectsPerKey(t *testing.T) {
	_, perKey := detectorHeapPerKey(t)
	t.Logf("%.2f heap objects per tracked key", perKey)
	if perKey > 1.1 {
		t.Fatalf("%.2f heap objects per tracked key, want at most 1.1", perKey)
	}
}

// detectorHeapPerKey is the heap, in bytes and in objects, that a Detector
// holds per key after manyKeys keys were each used once by one identity
// from one network.
func detectorHeapPerKey(t *testing.T) (bytes, objects float64) {
	t.Helper()
	keys := make([]string, manyKeys)
	for i := range keys {
		keys[i] = "key-" + strconv.Itoa(i)
	}
	d := mustDetector(t, Config{})
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for _, k := range keys {
		d.Observe(exchange(0, key(k)))
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(d)
	runtime.KeepAlive(keys)
	return float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / manyKeys,
		float64(int64(after.HeapObjects)-int64(before.HeapObjects)) / manyKeys
}
