package audit

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/latchkeyhq/latchkey/store"
)

// Query limits.
const (
	DefaultPageSize = 100
	MaxPageSize     = 1000
	// maxScanned bounds the records one Query call reads, so a filter
	// that matches little cannot turn one call into a full scan; the page
	// comes back short with a token to go on from.
	maxScanned = 20_000
)

// ErrInvalidQuery is wrapped by errors about a malformed query.
var ErrInvalidQuery = errors.New("audit: invalid query")

// Query selects events. Empty fields match everything; Until is exclusive.
type Query struct {
	Filter
	Since, Until time.Time
	// FromSeq, when set, skips events before that sequence number; Since
	// still applies. A page token overrides it.
	FromSeq   uint64
	PageSize  int
	PageToken string
}

// Page is one page of events in sequence order. NextPageToken is empty on
// the last page.
type Page struct {
	Events        []Event
	NextPageToken string
}

const pageTokenPrefix = "a1."

func encodePageToken(seq uint64) string {
	return pageTokenPrefix + base64.RawURLEncoding.EncodeToString(binary.BigEndian.AppendUint64(nil, seq))
}

func decodePageToken(s string) (uint64, error) {
	if len(s) < len(pageTokenPrefix) || s[:len(pageTokenPrefix)] != pageTokenPrefix {
		return 0, fmt.Errorf("%w: page token", ErrInvalidQuery)
	}
	b, err := base64.RawURLEncoding.DecodeString(s[len(pageTokenPrefix):])
	if err != nil || len(b) != 8 {
		return 0, fmt.Errorf("%w: page token", ErrInvalidQuery)
	}
	return binary.BigEndian.Uint64(b), nil
}

func (q *Query) check() error {
	if q.Kind != "" && !q.Kind.Valid() {
		return fmt.Errorf("%w: unknown kind %q", ErrInvalidQuery, q.Kind)
	}
	if !q.Since.IsZero() && !q.Until.IsZero() && !q.Until.After(q.Since) {
		return fmt.Errorf("%w: until must be after since", ErrInvalidQuery)
	}
	if q.PageSize < 0 {
		return fmt.Errorf("%w: page size must not be negative", ErrInvalidQuery)
	}
	if q.PageSize == 0 {
		q.PageSize = DefaultPageSize
	}
	q.PageSize = min(q.PageSize, MaxPageSize)
	return nil
}

// term picks the index that narrows the scan most.
func (f Filter) term() string {
	switch {
	case f.KeyID != "":
		return "k:" + f.KeyID
	case f.Actor != "":
		return "a:" + f.Actor
	case f.Kind != "":
		return "t:" + string(f.Kind)
	}
	return ""
}

// Query returns one page of matching events, oldest first.
func (t *Trail) Query(ctx context.Context, q Query) (Page, error) {
	if err := q.check(); err != nil {
		return Page{}, err
	}
	if err := t.waitIndexed(ctx, t.Head()); err != nil {
		return Page{}, err
	}
	from := uint64(1)
	if q.PageToken != "" {
		var err error
		if from, err = decodePageToken(q.PageToken); err != nil {
			return Page{}, err
		}
	} else {
		if !q.Since.IsZero() {
			var err error
			if from, err = t.firstAtOrAfter(ctx, q.Since); err != nil {
				return Page{}, err
			}
		}
		from = max(from, q.FromSeq)
	}
	var (
		page    Page
		scanned int
	)
	err := t.log.ScanAudit(ctx, q.term(), from, func(r store.AuditRecord) (bool, error) {
		if scanned++; scanned > maxScanned {
			page.NextPageToken = encodePageToken(r.Seq)
			return false, nil
		}
		e, err := open(r)
		if err != nil {
			return false, err
		}
		if !q.Until.IsZero() && !e.Time.Before(q.Until) {
			return false, nil // times follow sequence order
		}
		if !q.Filter.Match(&e) || (!q.Since.IsZero() && e.Time.Before(q.Since)) {
			return true, nil
		}
		if len(page.Events) == q.PageSize {
			page.NextPageToken = encodePageToken(r.Seq)
			return false, nil
		}
		page.Events = append(page.Events, e)
		return true, nil
	})
	return page, err
}

// firstAtOrAfter finds, by bisection over sequence numbers, the first
// event at or after since. The trail stamps events as it orders them, so
// times follow sequence order (unless the wall clock stepped back).
func (t *Trail) firstAtOrAfter(ctx context.Context, since time.Time) (uint64, error) {
	anchor, err := t.anchor(ctx)
	if err != nil {
		return 0, err
	}
	lo, hi := anchor.Seq+1, t.Head()+1
	for lo < hi {
		mid := lo + (hi-lo)/2
		r, err := t.log.GetAudit(ctx, mid)
		if errors.Is(err, store.ErrNotFound) {
			lo = mid + 1 // pruned while searching
			continue
		}
		if err != nil {
			return 0, err
		}
		e, err := open(r)
		if err != nil {
			return 0, err
		}
		if e.Time.Before(since) {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo, nil
}

// VerifyResult reports a chain check. Break is nil when the chain holds.
type VerifyResult struct {
	// First and Last are the sequence numbers checked; Events their count.
	First, Last uint64
	Events      uint64
	// Pruned is the last sequence number removed by retention, if any.
	Pruned uint64
	Break  *BreakError
}

// Verify walks the whole chain from the pruning anchor to the head and
// reports the first event that is missing, altered, reordered or
// inserted, or a head that does not match the last event.
func (t *Trail) Verify(ctx context.Context) (VerifyResult, error) {
	// The head in memory moves only after the stored one, so a stored
	// head behind it was rolled back.
	written := t.Head()
	if err := t.waitIndexed(ctx, written); err != nil {
		return VerifyResult{}, err
	}
	raw, err := t.log.AuditMeta(ctx, metaHead)
	var head point
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return VerifyResult{}, err
	default:
		if head, err = t.key.decodePoint(metaHead, raw); err != nil {
			return VerifyResult{Break: &BreakError{Seq: 0, Reason: err.Error()}}, nil
		}
	}
	if head.Seq < written {
		return VerifyResult{Break: &BreakError{Seq: head.Seq + 1, Reason: "the head record was rolled back"}}, nil
	}
	anchor, err := t.anchor(ctx)
	if err != nil {
		return VerifyResult{Break: &BreakError{Seq: 0, Reason: err.Error()}}, nil
	}
	res := VerifyResult{First: anchor.Seq + 1, Pruned: anchor.Seq}
	prev := anchor
	err = t.log.ScanAudit(ctx, "", anchor.Seq+1, func(r store.AuditRecord) (bool, error) {
		if prev.Seq >= head.Seq {
			return false, nil // later events were written after the head was read
		}
		e, cerr := t.key.check(r, prev)
		var be *BreakError
		if errors.As(cerr, &be) {
			res.Break = be
			return false, nil
		}
		if cerr != nil {
			return false, cerr
		}
		prev = point{Seq: e.Seq, MAC: e.MAC}
		res.Last, res.Events = e.Seq, res.Events+1
		return true, nil
	})
	if err != nil || res.Break != nil {
		return res, err
	}
	switch {
	case prev.Seq < head.Seq:
		res.Break = &BreakError{Seq: prev.Seq + 1, Reason: "event missing (the head names " + strconv.FormatUint(head.Seq, 10) + ")"}
	case prev.Seq == head.Seq && string(prev.MAC) != string(head.MAC):
		res.Break = &BreakError{Seq: head.Seq, Reason: "last event does not match the head record"}
	}
	return res, nil
}

// Prune removes events older than before, leaving an anchor so the chain
// still verifies from the first event kept, and records what it did as
// an event of its own. It never removes the newest event.
func (t *Trail) Prune(ctx context.Context, before time.Time) (int, error) {
	head := t.Head()
	if err := t.waitIndexed(ctx, head); err != nil {
		return 0, err
	}
	var through uint64
	err := t.log.ScanAudit(ctx, "", 0, func(r store.AuditRecord) (bool, error) {
		if r.Seq >= head {
			return false, nil
		}
		e, err := open(r)
		if err != nil {
			return false, err
		}
		if !e.Time.Before(before) {
			return false, nil
		}
		through = r.Seq
		return true, nil
	})
	if err != nil || through == 0 {
		return 0, err
	}
	n, err := t.log.PruneAudit(ctx, through, func(last store.AuditRecord) map[string][]byte {
		mac := last.Body[:min(len(last.Body), MACKeyLen)]
		return map[string][]byte{metaAnchor: t.key.encodePoint(metaAnchor, point{Seq: last.Seq, MAC: mac})}
	})
	if n > 0 {
		_, rerr := t.Record(ctx, Event{
			Kind: KindAuditRetention, Actor: ActorSystem, Result: ResultOK,
			Detail: map[string]string{"pruned": strconv.Itoa(n), "through_seq": strconv.FormatUint(through, 10), "before": before.UTC().Format(time.RFC3339)},
		})
		err = errors.Join(err, rerr)
	}
	return n, err
}
