package audit

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"strings"
	"sync"

	"github.com/latchkeyhq/latchkey/store"
)

// MACKeyLen is the length of the chain key.
const MACKeyLen = 32

// Meta names under which the trail keeps its head and pruning anchor.
const (
	metaHead   = "head"
	metaAnchor = "anchor"
)

// ErrTampered is wrapped by every error that reports a broken chain.
var ErrTampered = errors.New("audit: chain broken")

// chainKey is the secret the chain MACs are keyed with. Without it, a
// party that can write the store can still delete or alter events, but
// cannot make the chain verify afterwards.
type chainKey struct {
	b    []byte
	macs *sync.Pool // of hash.Hash, HMAC-SHA256 under b
}

func newChainKey(b []byte) chainKey {
	return chainKey{b: append([]byte(nil), b...), macs: new(sync.Pool)}
}

func (k chainKey) String() string { return "[REDACTED]" }

// mac is HMAC-SHA256(key, body); body already carries the previous MAC.
func (k chainKey) mac(body []byte) []byte { return k.macInto(nil, body) }

// macInto appends body's MAC to dst. The HMAC states are pooled: a fresh
// one hashes the key twice before the body.
func (k chainKey) macInto(dst, body []byte) []byte {
	m, _ := k.macs.Get().(hash.Hash)
	if m == nil {
		m = hmac.New(sha256.New, k.b)
	}
	m.Reset()
	m.Write(body)
	dst = m.Sum(dst)
	k.macs.Put(m)
	return dst
}

// point is a position in the chain: a sequence number and the MAC of the
// event there (zero and nil before the first event). The head is the last
// event written; the anchor the last event pruned.
type point struct {
	Seq uint64
	MAC []byte
}

// encodePoint stores p with a MAC of its own under label, so neither the
// head nor the anchor can be moved without the chain key.
func (k chainKey) encodePoint(label string, p point) []byte {
	b := binary.BigEndian.AppendUint64(nil, p.Seq)
	b = append(b, byte(len(p.MAC)))
	b = append(b, p.MAC...)
	m := hmac.New(sha256.New, k.b)
	m.Write([]byte("latchkey audit " + label))
	m.Write(b)
	return m.Sum(b)
}

func (k chainKey) decodePoint(label string, b []byte) (point, error) {
	if len(b) < 9+sha256.Size {
		return point{}, fmt.Errorf("%w: %s record is %d bytes", ErrTampered, label, len(b))
	}
	body, tag := b[:len(b)-sha256.Size], b[len(b)-sha256.Size:]
	m := hmac.New(sha256.New, k.b)
	m.Write([]byte("latchkey audit " + label))
	m.Write(body)
	if !hmac.Equal(m.Sum(nil), tag) {
		return point{}, fmt.Errorf("%w: %s record fails its MAC", ErrTampered, label)
	}
	n := int(body[8])
	if len(body) != 9+n {
		return point{}, fmt.Errorf("%w: %s record is malformed", ErrTampered, label)
	}
	return point{Seq: binary.BigEndian.Uint64(body), MAC: append([]byte(nil), body[9:]...)}, nil
}

// stored is the encoding of an event in the store: the MAC, then the JSON
// body the MAC covers. The body is kept byte for byte, so checking never
// depends on re-encoding giving the same bytes.
func (k chainKey) seal(e *Event) (store.AuditRecord, error) {
	if y := e.Time.Year(); y < 0 || y > 9999 {
		return store.AuditRecord{}, fmt.Errorf("audit: encode event: time %s out of range", e.Time)
	}
	e.MAC = nil
	v := make([]byte, sha256.Size, sha256.Size+400)
	v = appendEvent(v, e)
	k.macInto(v[:0], v[sha256.Size:])
	e.MAC = v[:sha256.Size:sha256.Size]
	return store.AuditRecord{Seq: e.Seq, Body: v, Terms: terms(e)}, nil
}

// open decodes a stored record without checking it.
func open(r store.AuditRecord) (Event, error) {
	if len(r.Body) < sha256.Size {
		return Event{}, fmt.Errorf("%w: record %d is %d bytes", ErrTampered, r.Seq, len(r.Body))
	}
	var e Event
	if err := json.Unmarshal(r.Body[sha256.Size:], &e); err != nil {
		return Event{}, fmt.Errorf("%w: record %d does not decode: %v", ErrTampered, r.Seq, err)
	}
	e.MAC = append([]byte(nil), r.Body[:sha256.Size]...)
	return e, nil
}

// check verifies one stored record against the chain position before it.
func (k chainKey) check(r store.AuditRecord, prev point) (Event, error) {
	if r.Seq != prev.Seq+1 {
		return Event{}, &BreakError{Seq: prev.Seq + 1, Reason: fmt.Sprintf("event missing (next stored is %d)", r.Seq)}
	}
	if len(r.Body) < sha256.Size {
		return Event{}, &BreakError{Seq: r.Seq, Reason: "record truncated"}
	}
	tag, body := r.Body[:sha256.Size], r.Body[sha256.Size:]
	if !hmac.Equal(k.mac(body), tag) {
		return Event{}, &BreakError{Seq: r.Seq, Reason: "event altered (MAC mismatch)"}
	}
	e, err := open(r)
	if err != nil {
		return Event{}, &BreakError{Seq: r.Seq, Reason: "event does not decode"}
	}
	if e.Seq != r.Seq {
		return Event{}, &BreakError{Seq: r.Seq, Reason: fmt.Sprintf("event stored under %d claims %d", r.Seq, e.Seq)}
	}
	if !hmac.Equal(e.Prev, prev.MAC) {
		return Event{}, &BreakError{Seq: r.Seq, Reason: "event does not follow its predecessor"}
	}
	return e, nil
}

// BreakError names the first event at which the chain fails.
type BreakError struct {
	Seq    uint64
	Reason string
}

func (e *BreakError) Error() string {
	return fmt.Sprintf("audit: chain broken at event %d: %s", e.Seq, e.Reason)
}

func (e *BreakError) Unwrap() error { return ErrTampered }

// terms are the index entries of an event: by key, by actor, by kind.
func terms(e *Event) []string {
	t := make([]string, 0, 3)
	if indexable(e.KeyID) {
		t = append(t, "k:"+e.KeyID)
	}
	if indexable(e.Actor) {
		t = append(t, "a:"+e.Actor)
	}
	if kt, ok := kindTerms[e.Kind]; ok {
		return append(t, kt)
	}
	return append(t, "t:"+string(e.Kind))
}

// kindTerms are the index terms of the known kinds, made once.
var kindTerms = func() map[Kind]string {
	m := make(map[Kind]string, len(Kinds))
	for _, k := range Kinds {
		m[k] = "t:" + string(k)
	}
	return m
}()

func indexable(v string) bool {
	return v != "" && len(v) <= store.MaxAuditTermLen-2 && strings.IndexByte(v, 0) < 0
}
