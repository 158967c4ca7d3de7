package server

import (
	"crypto/sha256"
	"sync"
	"time"

	"github.com/latchkeyhq/latchkey/issuer"
)

// verifiedCacheSize bounds each of the cache's two generations, so at most
// twice this many tokens' claims are held (a few hundred bytes each).
const verifiedCacheSize = 16384

// verifiedCache remembers tokens whose signature and claims already
// verified, so a resource server introspecting the same token on every
// request pays for one signature check, not one per call. It only ever
// answers "this string verified under this keyring": the revocation list
// and the root key's state are still checked on every call, so a cached
// entry never outlives a revocation; an entry is not used once the token
// has expired, and a keyring change (a new *issuer.Issuer) misses every
// entry made under the old one. Tokens are keyed by SHA-256, so the cache
// holds no bearer token and a forged token cannot collide with a cached one.
//
// Two generations bound memory: when the current one fills, it becomes
// the previous and the oldest is dropped; a hit in the previous one moves
// the entry forward.
type verifiedCache struct {
	mu        sync.Mutex
	cur, prev map[[sha256.Size]byte]verifiedEntry
	size      int
}

type verifiedEntry struct {
	under  *issuer.Issuer
	claims issuer.Claims
}

func newVerifiedCache(size int) *verifiedCache {
	return &verifiedCache{cur: make(map[[sha256.Size]byte]verifiedEntry), size: size}
}

// get returns the claims of raw if it verified under iss and has not
// expired at now.
func (c *verifiedCache) get(iss *issuer.Issuer, sum [sha256.Size]byte, now time.Time) (issuer.Claims, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.cur[sum]
	if !ok {
		if e, ok = c.prev[sum]; ok {
			delete(c.prev, sum)
			c.addLocked(sum, e)
		}
	}
	if !ok || e.under != iss || !now.Before(e.claims.ExpiresAt) {
		return issuer.Claims{}, false
	}
	return e.claims, true
}

// put records that the token hashing to sum verified under iss.
func (c *verifiedCache) put(iss *issuer.Issuer, sum [sha256.Size]byte, claims issuer.Claims) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.addLocked(sum, verifiedEntry{under: iss, claims: claims})
}

func (c *verifiedCache) addLocked(sum [sha256.Size]byte, e verifiedEntry) {
	if len(c.cur) >= c.size {
		c.prev, c.cur = c.cur, make(map[[sha256.Size]byte]verifiedEntry, c.size)
	}
	c.cur[sum] = e
}

// len is how many entries are held, for tests.
func (c *verifiedCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.cur) + len(c.prev)
}
