package badger

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// EncryptionKeySize is the only accepted key length: AES-256.
const EncryptionKeySize = 32

// DefaultGCInterval is how often the value log is garbage-collected when
// Options.GCInterval is zero.
const DefaultGCInterval = 5 * time.Minute

// Sizes chosen for a store of small records, and for memory: the server's
// whole footprint under load should stay within a couple of hundred MB.
// Both caches must be non-zero: Badger panics when encryption is on and the
// block cache is empty, and an empty index cache keeps every table index in
// memory. Key records are served from the key cache, so the block cache
// mostly serves queries of the audit trail and the janitor's sweeps, which
// read every key record once a minute and would otherwise keep a full
// cache of blocks they do not read again: with 100,000 keys, 16 MB of block
// cache showed as 32 MB more RSS under load than 4 MB. Each memtable costs its size
// again, or more, when it is flushed (the table builder's buffers, which
// Badger pools), so there are few and small ones: one filling, two waiting
// for the flush. Measured under exchange load with the audit trail on:
// peak RSS 443 MB with Badger's defaults and 16 MB memtables, 131 MB with
// the audit batches in the value log, 97 MB with 4 MB memtables.
const (
	blockCacheSize = 4 << 20
	indexCacheSize = 8 << 20
	memTableSize   = 4 << 20
	numMemtables   = 3
	// A table builder holds twice its table's size, and a compaction runs
	// up to eight or more builders at once: small tables keep compactions
	// from taking hundreds of MB.
	baseTableSize = 512 << 10
	// Values above valueThreshold go to the value log instead of the LSM
	// tree. On disk the audit trail's batches (tens of KB) live in batch
	// files and Badger holds references to them (auditfiles.go); in
	// memory they stay in the tree, up to inMemoryMaxValue.
	valueThreshold   = 16 << 10
	inMemoryMaxValue = 512 << 10
	valueLogFileSize = 64 << 20
	// spaceReserve is the free space writes need: the rest of the current
	// memtable log (twice the memtable), flushing a memtable, and room for
	// compaction.
	spaceReserve = 2*memTableSize + 8<<20
)

var (
	// ErrInvalidEncryptionKey means Options.EncryptionKey is not exactly
	// EncryptionKeySize bytes long.
	ErrInvalidEncryptionKey = errors.New("badgerstore: encryption key must be exactly 32 bytes (AES-256)")
	// ErrWrongEncryptionKey means the data directory was written with a
	// different key (or without one).
	ErrWrongEncryptionKey = errors.New("badgerstore: encryption key does not match the data directory")
)

// Options configures Open.
type Options struct {
	// Dir is the data directory; it is created if missing.
	Dir string
	// EncryptionKey encrypts everything written to Dir. Required, exactly
	// EncryptionKeySize bytes.
	EncryptionKey []byte
	// Logger receives Badger's own warnings and errors; nil discards them.
	Logger *slog.Logger
	// InMemory keeps everything in memory and ignores Dir. For tests only:
	// nothing survives Close.
	InMemory bool
	// GCInterval is the value-log garbage-collection period; zero means
	// DefaultGCInterval.
	GCInterval time.Duration
	// Now is the clock that decides when a revocation-log entry has
	// expired; nil means time.Now. Badger itself drops entries by the wall
	// clock, so Now must never run behind it: a test clock may only jump
	// ahead.
	Now func() time.Time
}

func (o Options) validate() error {
	if len(o.EncryptionKey) != EncryptionKeySize {
		return fmt.Errorf("%w, got %d bytes", ErrInvalidEncryptionKey, len(o.EncryptionKey))
	}
	if !o.InMemory && o.Dir == "" {
		return errors.New("badgerstore: data directory is required")
	}
	if o.GCInterval < 0 {
		return errors.New("badgerstore: GC interval must not be negative")
	}
	return nil
}

func (o Options) gcInterval() time.Duration {
	if o.GCInterval == 0 {
		return DefaultGCInterval
	}
	return o.GCInterval
}

// badgerOptions translates o into Badger's options. It assumes o is valid.
func (o Options) badgerOptions() badger.Options {
	dir := o.Dir
	if o.InMemory {
		dir = ""
	}
	var logger badger.Logger
	if o.Logger != nil {
		logger = slogAdapter{o.Logger}
	}
	opts := badger.DefaultOptions(dir).WithValueThreshold(valueThreshold)
	if o.InMemory {
		// In memory there is no value log: every value stays in the tree,
		// so the threshold is the largest value, within one batch.
		opts = opts.WithValueThreshold(inMemoryMaxValue)
	}
	return opts.
		WithInMemory(o.InMemory).
		// Badger v4 defaults to false; an acknowledged revocation must
		// survive power loss, not only a process crash.
		WithSyncWrites(true).
		// UpdateKey relies on Badger detecting conflicting transactions.
		WithDetectConflicts(true).
		// Badger keeps the slice; a copy stops the caller from changing or
		// zeroing the key under a live database.
		WithEncryptionKey(append([]byte(nil), o.EncryptionKey...)).
		WithBlockCacheSize(blockCacheSize).
		WithIndexCacheSize(indexCacheSize).
		WithMemTableSize(memTableSize).
		WithNumMemtables(numMemtables).
		WithNumCompactors(2).
		WithBaseTableSize(baseTableSize).
		WithValueLogFileSize(valueLogFileSize).
		// Level 0 is merged down on a clean close, so a store reopened
		// after many key records were written does not merge them, and
		// rewrite the tables around them, under the first load.
		WithCompactL0OnClose(true).
		// Set last: WithLoggingLevel would install Badger's stderr logger,
		// and the adapter already drops everything below warnings.
		WithLogger(logger)
}

// String keeps the encryption key out of anything that prints Options.
func (o Options) String() string {
	return fmt.Sprintf("{Dir:%q EncryptionKey:[REDACTED] InMemory:%t GCInterval:%v}",
		o.Dir, o.InMemory, o.GCInterval)
}

// GoString keeps %#v from printing the encryption key.
func (o Options) GoString() string { return "badgerstore.Options" + o.String() }

// Format makes every fmt verb go through String or GoString.
func (o Options) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		_, _ = fmt.Fprint(f, o.GoString())
		return
	}
	_, _ = fmt.Fprint(f, o.String())
}

// LogValue keeps slog from printing the encryption key.
func (o Options) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("dir", o.Dir),
		slog.String("encryption_key", "[REDACTED]"),
		slog.Bool("in_memory", o.InMemory),
		slog.Duration("gc_interval", o.GCInterval),
	)
}

// slogAdapter forwards Badger's warnings and errors; its info and debug
// lines are routine chatter about compactions and are dropped.
type slogAdapter struct{ l *slog.Logger }

func (a slogAdapter) Errorf(format string, args ...any) {
	a.l.Error(strings.TrimSpace(fmt.Sprintf(format, args...)), "component", "badger")
}

func (a slogAdapter) Warningf(format string, args ...any) {
	msg := strings.TrimSpace(fmt.Sprintf(format, args...))
	level := slog.LevelWarn
	if cacheReport(msg) {
		level = slog.LevelDebug
	}
	a.l.Log(context.Background(), level, msg, "component", "badger")
}

// cacheReport reports whether msg is Badger's minute report that its block
// or index cache serves few reads. Both caches are small by design (see
// blockCacheSize): key records are served from the key cache, and what
// reads the store (the janitor's sweeps, audit queries) reads each block
// once. Under any steady use the report would be a warning a minute that
// asks for nothing to be done, so it is logged at debug level.
func cacheReport(msg string) bool {
	return strings.HasPrefix(msg, "Block cache might be too small") ||
		strings.HasPrefix(msg, "Index cache might be too small") ||
		strings.HasPrefix(msg, "Cache life expectancy")
}

func (slogAdapter) Infof(string, ...any)  {}
func (slogAdapter) Debugf(string, ...any) {}
