package badger

import (
	"time"

	"github.com/dgraph-io/badger/v4"
)

// settleLimit bounds the tables Open merges into the last level: the merge
// may rewrite every table, since the keys above can fall anywhere among
// those below. Merging 11 MB into a 13 MB last level (100,000 key records)
// took about half a second and 115 MB of heap at most; the bound keeps a
// start within a few seconds more.
const settleLimit = 64 << 20

// settleLevels merges every level into the last one when Open finds a
// small tree (needsSettle).
//
// Key records are written with random ids, so after many are created they
// lie in two or more levels whose key ranges interleave, and the last
// memtable's table spans them all. Badger compacts a full level's oldest
// tables first, and key records are the oldest, so the first minutes of
// use after many creations rewrite all of them, whatever is being written
// then, with a compaction's buffers (some 60 MB with 100,000 keys). Settled
// at open, before anything is served, the key records begin in the last
// level, which the later writes (audit index, usage entries, both sorting
// before the key records) do not reach.
//
// At open after a clean close every entry is in a table (Close flushes the
// memtable and merges level 0 down), so the whole tree settles; after a
// crash the entries replayed into the memtable reach the tables later.
func (s *Store) settleLevels() {
	above, ok := needsSettle(s.db.Levels(), settleLimit)
	if !ok {
		return
	}
	start := time.Now()
	// One worker: a start should not take more memory than the load.
	if err := s.db.Flatten(1); err != nil {
		s.logger.Warn("store levels not merged at open", "error", err)
		return
	}
	s.logger.Debug("store levels merged at open", "bytes", above, "took", time.Since(start).String())
}

// needsSettle reports whether levels, Badger's LSM levels from level 0
// down, hold tables above the last level and at most limit bytes in all,
// and how many bytes lie above the last level.
func needsSettle(levels []badger.LevelInfo, limit int64) (int64, bool) {
	if len(levels) < 2 {
		return 0, false
	}
	var above int64
	for _, l := range levels[:len(levels)-1] {
		above += l.Size
	}
	total := above + levels[len(levels)-1].Size
	return above, above > 0 && total <= limit
}
