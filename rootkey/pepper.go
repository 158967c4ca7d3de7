package rootkey

import (
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"hash"
	"slices"
	"sync"
)

// MinPepperLen is the shortest pepper NewPepper accepts: the HMAC-SHA256
// key should carry at least as many bits as its output.
const MinPepperLen = 32

// ErrPepperTooShort is returned by NewPepper for fewer than MinPepperLen bytes.
var ErrPepperTooShort = errors.New("rootkey: pepper must be at least 32 bytes")

// HashLen is the length of the values Hash returns.
const HashLen = sha256.Size

// Pepper is the server-side HMAC key mixed into every stored key hash, so
// that a copy of the store alone can neither verify nor brute-force keys.
// The zero Pepper hashes nothing and verifies nothing.
type Pepper struct {
	_ [0]func()
	k *pepperKey
}

type pepperKey struct {
	b []byte
	// macs pools HMAC-SHA256 states under b: a fresh one hashes the key
	// twice before the secret, and every token exchange verifies one.
	macs sync.Pool
}

// NewPepper returns a Pepper holding a copy of b, so later changes to b do
// not change stored hashes.
func NewPepper(b []byte) (Pepper, error) {
	if len(b) < MinPepperLen {
		return Pepper{}, ErrPepperTooShort
	}
	return Pepper{k: &pepperKey{b: slices.Clone(b)}}, nil
}

// IsZero reports whether p is the zero Pepper.
func (p Pepper) IsZero() bool { return p.k == nil }

// Hash returns HMAC-SHA256(pepper, secret part of k), the value to store.
//
// Hashing the zero Key is allowed and gives a value no real key matches,
// useful as a decoy so an unknown key id costs as much as a wrong secret.
// The zero Pepper returns nil: failing closed beats storing an unpeppered
// hash.
func (p Pepper) Hash(k Key) []byte {
	if p.k == nil {
		return nil
	}
	return p.sum(make([]byte, 0, HashLen), k)
}

// sum appends Hash(k) to dst.
func (p Pepper) sum(dst []byte, k Key) []byte {
	mac, _ := p.k.macs.Get().(hash.Hash)
	if mac == nil {
		mac = hmac.New(sha256.New, p.k.b)
	}
	mac.Write(k.secret())
	dst = mac.Sum(dst)
	// Reset before pooling, so no state derived from the secret stays
	// behind.
	mac.Reset()
	p.k.macs.Put(mac)
	return dst
}

// Verify reports whether stored is Hash(k), comparing in constant time. It
// is false for the zero Key, the zero Pepper and a stored value of the
// wrong length.
func (p Pepper) Verify(k Key, stored []byte) bool {
	if p.k == nil {
		return false
	}
	// The HMAC is computed even for the zero Key so that every call costs
	// the same.
	var buf [HashLen]byte
	ok := hmac.Equal(p.sum(buf[:0], k), stored)
	return ok && !k.IsZero()
}

// Derive returns a 32-byte key for another purpose (label), so one secret
// file keys several MACs that cannot stand in for each other or for the
// key hashes. The zero Pepper derives nil.
func (p Pepper) Derive(label string) []byte {
	if p.k == nil {
		return nil
	}
	mac := hmac.New(sha256.New, p.k.b)
	mac.Write([]byte("latchkey derive\x00" + label))
	return mac.Sum(nil)
}
