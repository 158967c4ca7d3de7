package revocation

import (
	"encoding/binary"
	"time"

	"github.com/latchkeyhq/latchkey/store"
)

// arena holds the full record of every folded entry (value, times, actor,
// reason) back to back in one byte slice. Snapshot and folding need these
// fields, the hot path does not; keeping them in a single pointer-free
// allocation instead of a string per field is what lets the GC skip the
// view whatever its size.
//
// Records are appended and never changed in place. One that no slot
// refers to any more (folded over or pruned) is dead weight counted in
// dead until compact copies the live ones out.
//
// A record is a 4-byte little-endian body length and the body: uvarint
// Rev, the kind byte, a byte of flags saying which of Before, At and
// ExpiresAt are set, each set time as varint seconds and uvarint
// nanoseconds, then Value, Actor and Reason, each uvarint-length-prefixed.
type arena struct {
	buf  []byte
	dead int
}

const recordHeader = 4

// add appends e's record and returns where it starts.
func (a *arena) add(e store.Revocation) uint64 {
	off := len(a.buf)
	b := append(a.buf, 0, 0, 0, 0)
	b = binary.AppendUvarint(b, e.Rev)
	b = append(b, byte(e.Kind), 0)
	flags := len(b) - 1
	for i, t := range [...]time.Time{e.Before, e.At, e.ExpiresAt} {
		if t.IsZero() {
			continue
		}
		b[flags] |= 1 << i
		b = binary.AppendVarint(b, t.Unix())
		b = binary.AppendUvarint(b, uint64(t.Nanosecond()))
	}
	for _, s := range [...]string{e.Value, e.Actor, e.Reason} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	binary.LittleEndian.PutUint32(b[off:], uint32(len(b)-off-recordHeader))
	a.buf = b
	return uint64(off)
}

// recordSize is how many bytes add(e) appends.
func recordSize(e store.Revocation) int {
	n := recordHeader + uvarintLen(e.Rev) + 2
	for _, t := range [...]time.Time{e.Before, e.At, e.ExpiresAt} {
		if !t.IsZero() {
			sec := t.Unix()
			n += uvarintLen(uint64(sec<<1)^uint64(sec>>63)) + uvarintLen(uint64(t.Nanosecond()))
		}
	}
	for _, s := range [...]string{e.Value, e.Actor, e.Reason} {
		n += uvarintLen(uint64(len(s))) + len(s)
	}
	return n
}

func uvarintLen(x uint64) int {
	n := 1
	for ; x >= 0x80; x >>= 7 {
		n++
	}
	return n
}

// size is the length of the record at off, header included.
func (a *arena) size(off uint64) int {
	return recordHeader + int(binary.LittleEndian.Uint32(a.buf[off:]))
}

// free marks the record at off as dead.
func (a *arena) free(off uint64) {
	a.dead += a.size(off)
}

// get decodes the record at off. Its strings are copies, so they do not
// keep the arena alive.
func (a *arena) get(off uint64) store.Revocation {
	return decodeRecord(a.buf, int(off)+recordHeader)
}

// kindValue is the kind and value of the record at off, what its digest
// is made of, read without decoding the rest of the record.
func (a *arena) kindValue(off uint64) (store.RevocationKind, string) {
	b, i := a.buf, int(off)+recordHeader
	_, i = uvarintAt(b, i) // Rev
	kind, flags := store.RevocationKind(b[i]), b[i+1]
	i += 2
	for bit := range 3 { // Before, At, ExpiresAt: seconds and nanoseconds
		if flags&(1<<bit) != 0 {
			_, i = uvarintAt(b, i)
			_, i = uvarintAt(b, i)
		}
	}
	n, i := uvarintAt(b, i)
	return kind, string(b[i : i+int(n)])
}

// compact copies the live records, those the index's slots refer to, into
// a new buffer of exactly their size, and repoints the slots.
func (a *arena) compact(index map[digest]uint32, ss *slots) {
	b := make([]byte, 0, len(a.buf)-a.dead)
	for _, i := range index {
		s := &ss.s[i]
		n := uint64(a.size(s.off))
		off := uint64(len(b))
		b = append(b, a.buf[s.off:s.off+n]...)
		s.off = off
	}
	a.buf, a.dead = b, 0
}

// decodeRecord decodes the body that starts at i. It takes a string as
// well as a byte slice so that Snapshot can decode a million records out
// of one string copy of the arena without a string allocation each.
func decodeRecord[T ~string | ~[]byte](b T, i int) store.Revocation {
	var e store.Revocation
	e.Rev, i = uvarintAt(b, i)
	e.Kind = store.RevocationKind(b[i])
	flags := b[i+1]
	i += 2
	for bit, t := range [...]*time.Time{&e.Before, &e.At, &e.ExpiresAt} {
		if flags&(1<<bit) == 0 {
			continue
		}
		var zsec, nsec uint64
		zsec, i = uvarintAt(b, i)
		nsec, i = uvarintAt(b, i)
		sec := int64(zsec>>1) ^ -int64(zsec&1)
		*t = time.Unix(sec, int64(nsec)).UTC()
	}
	for _, s := range [...]*string{&e.Value, &e.Actor, &e.Reason} {
		var n uint64
		n, i = uvarintAt(b, i)
		*s = string(b[i : i+int(n)])
		i += int(n)
	}
	return e
}

// uvarintAt reads the uvarint at i and returns it and the index after it.
// The arena only holds what add wrote, so the input is well formed.
func uvarintAt[T ~string | ~[]byte](b T, i int) (uint64, int) {
	var x uint64
	for shift := uint(0); ; shift += 7 {
		c := b[i]
		i++
		if c < 0x80 {
			return x | uint64(c)<<shift, i
		}
		x |= uint64(c&0x7f) << shift
	}
}
