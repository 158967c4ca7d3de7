package badger

import "time"

// expiresAt rounds until up to Badger's one-second TTL resolution, so the
// entry never disappears before until.
func expiresAt(until time.Time) uint64 {
	sec := until.Unix()
	if until.Nanosecond() > 0 {
		sec++
	}
	return uint64(sec)
}
