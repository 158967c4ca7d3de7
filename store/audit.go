package store

import "context"

// AuditRecord is one audit event as the store keeps it: an opaque body (the
// audit package encodes, chains and checks it) under a sequence number, and
// the index terms the event can be found by.
type AuditRecord struct {
	Seq  uint64
	Body []byte
	// Terms are short strings ("k:<key id>", "a:<actor>", "t:<kind>")
	// the record is indexed under; at most MaxAuditTerms, each at most
	// MaxAuditTermLen bytes.
	Terms []string
}

// Audit index limits.
const (
	MaxAuditTerms   = 8
	MaxAuditTermLen = 512
	// MaxAuditBatch bounds the records of one AppendAudit, so a batch
	// stays well inside one transaction.
	MaxAuditBatch = 1024
)

// AuditLog is an append-only, durable sequence of audit records.
type AuditLog interface {
	// AppendAudit stores recs and sets each meta value in one durable
	// transaction: when it returns nil, all of them survive a crash.
	AppendAudit(ctx context.Context, recs []AuditRecord, meta map[string][]byte) error
	// AuditMeta returns a value AppendAudit or PruneAudit stored, or
	// ErrNotFound.
	AuditMeta(ctx context.Context, name string) ([]byte, error)
	// ScanAudit calls fn for each record with Seq >= from in ascending
	// order, only those indexed under term unless term is empty, until fn
	// returns false or an error (returned unchanged). Terms are not
	// filled in on records given to fn.
	ScanAudit(ctx context.Context, term string, from uint64, fn func(AuditRecord) (bool, error)) error
	// GetAudit returns the record with seq, or ErrNotFound.
	GetAudit(ctx context.Context, seq uint64) (AuditRecord, error)
	// PruneAudit deletes records with Seq <= through, and index entries
	// left covering none, oldest first, in durable transactions of a bounded size. A
	// backend that stores each AppendAudit call as one unit may keep the
	// records of a unit that also holds a record after through. Each
	// transaction also stores the meta values anchor returns for the last
	// record it deletes, so what the meta says is gone always matches what
	// is gone, even across a crash. It returns how many records it deleted.
	PruneAudit(ctx context.Context, through uint64, anchor func(last AuditRecord) map[string][]byte) (int, error)
}
