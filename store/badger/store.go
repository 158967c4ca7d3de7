package badger

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/latchkeyhq/latchkey/store"
)

var _ store.Store = (*Store)(nil)

// gcDiscardRatio rewrites a value-log file once half of it is garbage.
const gcDiscardRatio = 0.5

// maxTxnAttempts bounds conflict retries. Every round of conflicting
// writers lets at least one commit, so this is only reached under a
// pathological write storm on a single record.
const maxTxnAttempts = 1000

// Store is a store.Store on an encrypted Badger database.
type Store struct {
	db     *badger.DB
	logger *slog.Logger
	now    func() time.Time
	// dir is checked for free space before each write; empty in memory.
	dir string

	// mu is held shared by every call and exclusively by Close, so Close
	// waits for calls in flight and no call reaches a closed database.
	mu     sync.RWMutex
	closed bool

	stopGC chan struct{}
	gcDone chan struct{}
	hooks  hooks

	// batches holds the audit log's batches; nil in memory, where they
	// stay in Badger.
	batches *batchFiles
	// cover and indexSpan shape the audit index (auditindex.go);
	// indexSpan is auditIndexSpan but in tests.
	cover     *covered
	indexSpan uint64
}

// hooks lets tests drive the GC loop without waiting on real time.
type hooks struct {
	newTicker func(time.Duration) (<-chan time.Time, func())
	afterGC   func(error)
	// tune changes Badger's options; tests use it for small levels.
	tune func(badger.Options) badger.Options
}

// Open opens (or creates) the store described by opts.
func Open(opts Options) (*Store, error) {
	return open(opts, hooks{})
}

func open(opts Options, h hooks) (*Store, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	if !opts.InMemory {
		if err := precheck(opts); err != nil {
			return nil, err
		}
	}
	bopts := opts.badgerOptions()
	if h.tune != nil {
		bopts = h.tune(bopts)
	}
	db, err := badger.Open(bopts)
	if err != nil {
		return nil, openError(opts.Dir, err)
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	s := &Store{db: db, logger: logger, now: now, hooks: h, cover: newCovered(), indexSpan: auditIndexSpan}
	if !opts.InMemory {
		s.dir = opts.Dir
		s.batches, err = openBatchFiles(opts.Dir, opts.EncryptionKey)
		if err != nil {
			_ = db.Close()
			return nil, err
		}
		// Files a crashed prune left behind go now. Damage that stops
		// this leaves every file in place, and shows in reads and Verify.
		if err := s.dropAuditFiles(); err != nil {
			logger.Warn("audit batch files left by pruning not deleted", "error", err)
		}
	}
	// Only a store on disk has levels of tables, and can hold usage
	// entries written before they moved.
	if !opts.InMemory {
		s.settleLevels()
		moved, err := moveLegacyUsage(db)
		if err != nil {
			_ = s.batches.close()
			_ = db.Close()
			return nil, err
		}
		if moved > 0 {
			logger.Info("usage entries moved in front of the key records", "entries", moved)
		}
	}
	// Badger refuses value-log GC in memory, so there is nothing to run.
	if !opts.InMemory {
		newTicker := h.newTicker
		if newTicker == nil {
			newTicker = realTicker
		}
		tick, stop := newTicker(opts.gcInterval())
		s.stopGC = make(chan struct{})
		s.gcDone = make(chan struct{})
		go s.gcLoop(tick, stop)
	}
	return s, nil
}

// precheck reports a held directory or a wrong key before badger.Open runs.
// badger.Open detects both too, but when it fails on the key it has already
// started goroutines that it never stops.
func precheck(opts Options) error {
	if lockHeld(opts.Dir) {
		return fmt.Errorf("%w: %s", store.ErrLocked, opts.Dir)
	}
	// Read-only: the registry is only read, never created or rewritten.
	kr, err := badger.OpenKeyRegistry(badger.KeyRegistryOptions{
		Dir:           opts.Dir,
		ReadOnly:      true,
		EncryptionKey: opts.EncryptionKey,
	})
	if errors.Is(err, badger.ErrEncryptionKeyMismatch) {
		return fmt.Errorf("%w %q", ErrWrongEncryptionKey, opts.Dir)
	}
	if err == nil {
		_ = kr.Close()
	}
	// Any other problem with the registry is left for badger.Open to report.
	return nil
}

func openError(dir string, err error) error {
	switch {
	case errors.Is(err, badger.ErrEncryptionKeyMismatch):
		return fmt.Errorf("%w %q", ErrWrongEncryptionKey, dir)
	case lockHeld(dir) || strings.Contains(err.Error(), "Cannot acquire directory lock"):
		return fmt.Errorf("%w: %s", store.ErrLocked, dir)
	default:
		return fmt.Errorf("%w: open %s: %w", store.ErrUnavailable, dir, err)
	}
}

func realTicker(d time.Duration) (<-chan time.Time, func()) {
	t := time.NewTicker(d)
	return t.C, t.Stop
}

// Close stops the GC loop and closes the database. Calls made after Close
// return errors wrapping store.ErrUnavailable; closing twice is a no-op.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if s.stopGC != nil {
		close(s.stopGC)
		<-s.gcDone
	}
	if s.batches != nil {
		_ = s.batches.close()
	}
	if err := s.db.Close(); err != nil {
		return unavailable("close", err)
	}
	return nil
}

func (s *Store) gcLoop(tick <-chan time.Time, stop func()) {
	defer close(s.gcDone)
	defer stop()
	for {
		select {
		case <-s.stopGC:
			return
		case <-tick:
			s.collectGarbage()
		}
	}
}

// collectGarbage rewrites value-log files until Badger reports there is
// nothing left worth rewriting, or Close asks it to stop.
func (s *Store) collectGarbage() {
	for {
		select {
		case <-s.stopGC:
			return
		default:
		}
		err := s.db.RunValueLogGC(gcDiscardRatio)
		if s.hooks.afterGC != nil {
			s.hooks.afterGC(err)
		}
		if err == nil {
			continue
		}
		if !errors.Is(err, badger.ErrNoRewrite) && !errors.Is(err, badger.ErrRejected) {
			s.logger.Warn("value log GC failed", "component", "badger", "error", err)
		}
		return
	}
}

// enter admits one call, or reports why it cannot run. The returned
// function must be called when the call is done.
func (s *Store) enter(ctx context.Context) (func(), error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return nil, fmt.Errorf("%w: store is closed", store.ErrUnavailable)
	}
	return s.mu.RUnlock, nil
}

// update runs body in a read-write transaction and commits it, running
// body again from scratch when the commit conflicts with another
// transaction. body returns errors that are already classified, and they
// are returned unchanged.
func (s *Store) update(ctx context.Context, body func(*badger.Txn) error) error {
	for attempt := 1; ; attempt++ {
		conflict, err := s.tryUpdate(body)
		if !conflict {
			return err
		}
		if attempt >= maxTxnAttempts {
			return unavailable("commit", err)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		runtime.Gosched()
	}
}

func (s *Store) tryUpdate(body func(*badger.Txn) error) (conflict bool, err error) {
	// Badger writes into memory-mapped files that take disk space only when
	// written: on a full disk that write is a fatal SIGBUS, not an error.
	// Refusing writes while the reserve is short keeps the process alive,
	// reads working and acknowledged writes intact.
	if s.dir != "" {
		if err := checkSpace(s.dir, spaceReserve); err != nil {
			return false, err
		}
	}
	txn := s.db.NewTransaction(true)
	defer txn.Discard()
	if err := body(txn); err != nil {
		return false, err
	}
	err = txn.Commit()
	switch {
	case err == nil:
		return false, nil
	case errors.Is(err, badger.ErrConflict):
		return true, err
	default:
		return false, unavailable("commit", err)
	}
}

func (s *Store) view(body func(*badger.Txn) error) error {
	return s.db.View(body)
}

func unavailable(op string, err error) error {
	return fmt.Errorf("%w: %s: %w", store.ErrUnavailable, op, err)
}

// get reads the value at key; found is false when there is none.
func get(txn *badger.Txn, key []byte) (value []byte, found bool, err error) {
	item, err := txn.Get(key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, unavailable("read", err)
	}
	value, err = item.ValueCopy(nil)
	if err != nil {
		return nil, false, unavailable("read", err)
	}
	return value, true, nil
}
