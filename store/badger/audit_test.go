package badger

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/latchkeyhq/latchkey/store"
)

func auditRecs(from, to uint64) []store.AuditRecord {
	var out []store.AuditRecord
	for s := from; s <= to; s++ {
		out = append(out, store.AuditRecord{Seq: s, Body: []byte(fmt.Sprintf("body-%d", s)),
			Terms: []string{fmt.Sprintf("k:%d", s%3), "t:exchange"}})
	}
	return out
}

func scanSeqs(t *testing.T, s *Store, term string, from uint64) []uint64 {
	t.Helper()
	var got []uint64
	err := s.ScanAudit(context.Background(), term, from, func(r store.AuditRecord) (bool, error) {
		if want := fmt.Sprintf("body-%d", r.Seq); string(r.Body) != want {
			t.Errorf("record %d body %q, want %q", r.Seq, r.Body, want)
		}
		got = append(got, r.Seq)
		return true, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestAuditLogAppendScanPruneReopen(t *testing.T) {
	ctx := context.Background()
	dir, key := t.TempDir(), newKey(t)
	s := mustOpen(t, Options{Dir: dir, EncryptionKey: key})
	if err := s.AppendAudit(ctx, auditRecs(1, 500), nil); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendAudit(ctx, auditRecs(501, 800), map[string][]byte{"head": []byte("h800")}); err != nil {
		t.Fatal(err)
	}
	if got := scanSeqs(t, s, "k:1", 790); fmt.Sprint(got) != "[790 793 796 799]" {
		t.Errorf("index scan from 290 = %v", got)
	}
	if got := scanSeqs(t, s, "", 798); fmt.Sprint(got) != "[798 799 800]" {
		t.Errorf("scan from 298 = %v", got)
	}
	r, err := s.GetAudit(ctx, 7)
	if err != nil || string(r.Body) != "body-7" || fmt.Sprint(r.Terms) != "[k:1 t:exchange]" {
		t.Errorf("GetAudit(7) = %+v, %v", r, err)
	}
	var lasts []uint64
	n, err := s.PruneAudit(ctx, 700, func(last store.AuditRecord) map[string][]byte {
		lasts = append(lasts, last.Seq)
		return map[string][]byte{"anchor": []byte(fmt.Sprint(last.Seq))}
	})
	if n != 500 || err != nil {
		t.Fatalf("PruneAudit = %d, %v", n, err)
	}
	// Whole batches only: the second (501..800) holds records after 700.
	if fmt.Sprint(lasts) != "[500]" {
		t.Errorf("anchors written at %v, want [500]", lasts)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = mustOpen(t, Options{Dir: dir, EncryptionKey: key})
	if got := scanSeqs(t, s, "t:exchange", 0); len(got) != 300 || got[0] != 501 {
		t.Errorf("index after pruning starts at %v (%d entries), want 501 (300)", got[:1], len(got))
	}
	if v, err := s.AuditMeta(ctx, "anchor"); err != nil || string(v) != "500" {
		t.Errorf("anchor = %q, %v", v, err)
	}
	if v, err := s.AuditMeta(ctx, "head"); err != nil || string(v) != "h800" {
		t.Errorf("head = %q, %v", v, err)
	}
	if _, err := s.AuditMeta(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("missing meta: %v", err)
	}
	if _, err := s.GetAudit(ctx, 5); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("pruned record: %v", err)
	}
}

func TestAuditLogRejectsBadRecords(t *testing.T) {
	s := mustOpen(t, Options{InMemory: true, EncryptionKey: newKey(t)})
	ctx := context.Background()
	for name, recs := range map[string][]store.AuditRecord{
		"seq zero":   {{Seq: 0, Body: []byte("x")}},
		"NUL term":   {{Seq: 1, Body: []byte("x"), Terms: []string{"a\x00b"}}},
		"empty term": {{Seq: 1, Body: []byte("x"), Terms: []string{""}}},
		"many terms": {{Seq: 1, Body: []byte("x"), Terms: []string{"1", "2", "3", "4", "5", "6", "7", "8", "9"}}},
		"big batch":  auditRecs(1, store.MaxAuditBatch+1),
		"gap":        {{Seq: 1, Body: []byte("x")}, {Seq: 3, Body: []byte("y")}},
	} {
		t.Run(name, func(t *testing.T) {
			if err := s.AppendAudit(ctx, recs, nil); !errors.Is(err, store.ErrInvalidArgument) {
				t.Errorf("err = %v, want ErrInvalidArgument", err)
			}
		})
	}
}
