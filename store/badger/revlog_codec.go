package badger

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/latchkeyhq/latchkey/store"
)

// The revocation log is loaded whole at start-up, so its entries use a
// compact binary encoding rather than JSON:
//
//	version  byte (revWireVersion)
//	kind     byte
//	flags    byte: which of Before, At, ExpiresAt are set
//	for each set time: seconds since the Unix epoch (varint), nanoseconds (uvarint)
//	value, actor, reason: length (uvarint) then the bytes
//
// Rev is not in the value: it is the key.
const (
	revLogPrefix   = "rlog/"
	revLogSeqKey   = "rlog-seq"
	revWireVersion = 1

	flagBefore    = 1 << 0
	flagAt        = 1 << 1
	flagExpiresAt = 1 << 2
	knownFlags    = flagBefore | flagAt | flagExpiresAt
)

var errRevTruncated = errors.New("truncated")

// revLogKey is "rlog/" and rev as 16 lower-case hex digits, so byte order
// is revision order.
func revLogKey(rev uint64) []byte {
	const hexDigits = "0123456789abcdef"
	k := make([]byte, len(revLogPrefix)+16)
	copy(k, revLogPrefix)
	for i := len(k) - 1; i >= len(revLogPrefix); i-- {
		k[i] = hexDigits[rev&0xf]
		rev >>= 4
	}
	return k
}

func parseRevLogKey(k []byte) (uint64, error) {
	if len(k) != len(revLogPrefix)+16 {
		return 0, fmt.Errorf("key of %d bytes", len(k))
	}
	return strconv.ParseUint(string(k[len(revLogPrefix):]), 16, 64)
}

func encodeRevocation(r store.Revocation) []byte {
	b := make([]byte, 0, 3+3*(binary.MaxVarintLen64+binary.MaxVarintLen32)+
		3*binary.MaxVarintLen32+len(r.Value)+len(r.Actor)+len(r.Reason))
	var flags byte
	for i, t := range [...]time.Time{r.Before, r.At, r.ExpiresAt} {
		if !t.IsZero() {
			flags |= 1 << i
		}
	}
	b = append(b, revWireVersion, byte(r.Kind), flags)
	for _, t := range [...]time.Time{r.Before, r.At, r.ExpiresAt} {
		if !t.IsZero() {
			b = binary.AppendVarint(b, t.Unix())
			b = binary.AppendUvarint(b, uint64(t.Nanosecond()))
		}
	}
	for _, s := range [...]string{r.Value, r.Actor, r.Reason} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	return b
}

// decodeRevocation parses a stored entry. Anything it cannot parse means
// the database is damaged, which callers treat as the store being down.
func decodeRevocation(rev uint64, b []byte) (store.Revocation, error) {
	r, err := parseRevocation(b)
	if err != nil {
		return store.Revocation{}, fmt.Errorf("%w: corrupt revocation %d: %v", store.ErrUnavailable, rev, err)
	}
	r.Rev = rev
	return r, nil
}

func parseRevocation(b []byte) (store.Revocation, error) {
	if len(b) < 3 {
		return store.Revocation{}, errRevTruncated
	}
	if b[0] != revWireVersion {
		return store.Revocation{}, fmt.Errorf("unsupported version %d", b[0])
	}
	flags := b[2]
	if flags&^knownFlags != 0 {
		return store.Revocation{}, fmt.Errorf("unknown flags %#x", flags)
	}
	r := store.Revocation{Kind: store.RevocationKind(b[1])}
	b = b[3:]
	for i, t := range [...]*time.Time{&r.Before, &r.At, &r.ExpiresAt} {
		if flags&(1<<i) == 0 {
			continue
		}
		sec, n := binary.Varint(b)
		if n <= 0 {
			return store.Revocation{}, errRevTruncated
		}
		b = b[n:]
		nsec, n := binary.Uvarint(b)
		if n <= 0 || nsec >= uint64(time.Second) {
			return store.Revocation{}, errRevTruncated
		}
		b = b[n:]
		*t = time.Unix(sec, int64(nsec)).UTC()
	}
	for _, s := range [...]*string{&r.Value, &r.Actor, &r.Reason} {
		l, n := binary.Uvarint(b)
		if n <= 0 || l > uint64(len(b)-n) {
			return store.Revocation{}, errRevTruncated
		}
		b = b[n:]
		*s = string(b[:l])
		b = b[l:]
	}
	if len(b) != 0 {
		return store.Revocation{}, fmt.Errorf("%d trailing bytes", len(b))
	}
	// Validate also rejects text that is not UTF-8 and unknown kinds.
	if err := r.Validate(); err != nil {
		return store.Revocation{}, err
	}
	return r, nil
}
