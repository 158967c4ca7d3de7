package server

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	latchkeyv1 "github.com/latchkeyhq/latchkey/gen/latchkey/v1"
)

// The bare server is the yardstick of BenchmarkBareServer: these tests hold
// it to doing what it stands for.

func TestBareLogWritesEveryRecordBeforeReturning(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	l, err := openBareLog(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.f.Close()
	const callers, each = 16, 50
	var wg sync.WaitGroup
	errs := make(chan error, callers*each)
	for c := range callers {
		wg.Go(func() {
			for i := range each {
				if err := l.append(fmt.Sprintf("c%02d-%03d", c, i)); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) != bareLogSize {
		t.Fatalf("log is %d bytes, want the preallocated %d", len(data), bareLogSize)
	}
	seen := map[string]bool{}
	for off := 0; off+bareRecordSize <= callers*each*bareRecordSize; off += bareRecordSize {
		seen[string(bytes.TrimRight(data[off:off+bareRecordSize], "\x00"))] = true
	}
	for c := range callers {
		for i := range each {
			if id := fmt.Sprintf("c%02d-%03d", c, i); !seen[id] {
				t.Fatalf("record %s is not in the log", id)
			}
		}
	}
}

func TestBareLogWrapsAround(t *testing.T) {
	l, err := openBareLog(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.f.Close()
	l.off = bareLogSize - bareRecordSize/2 // the next record does not fit
	if err := l.append("wrapped"); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len("wrapped"))
	if _, err := l.f.ReadAt(got, 0); err != nil || string(got) != "wrapped" {
		t.Fatalf("record at offset 0: %q, %v", got, err)
	}
	if l.off != bareRecordSize {
		t.Fatalf("next offset %d, want %d", l.off, bareRecordSize)
	}
}

func TestBareTokensExchangeThenIntrospect(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	bt := &bareTokens{priv: priv, pub: pub}
	ctx := context.Background()
	if _, err := bt.ExchangeToken(ctx, &latchkeyv1.ExchangeTokenRequest{}); err == nil {
		t.Fatal("an exchange without a root key succeeded")
	}
	first, err := bt.ExchangeToken(ctx, &latchkeyv1.ExchangeTokenRequest{RootKey: bareRootKey})
	if err != nil {
		t.Fatal(err)
	}
	second, err := bt.ExchangeToken(ctx, &latchkeyv1.ExchangeTokenRequest{RootKey: bareRootKey})
	if err != nil {
		t.Fatal(err)
	}
	if first.GetAccessToken() == second.GetAccessToken() || first.GetJti() == second.GetJti() {
		t.Fatal("two exchanges gave the same token")
	}
	tok := first.GetAccessToken()
	if len(tok) < 300 {
		t.Fatalf("token of %d bytes, want one of a real token's size", len(tok))
	}
	resp, err := bt.IntrospectToken(ctx, &latchkeyv1.IntrospectTokenRequest{Token: tok})
	if err != nil || !resp.GetActive() {
		t.Fatalf("own token: active %v, %v", resp.GetActive(), err)
	}
	// One changed character of the payload: the signature no longer holds.
	dot := strings.IndexByte(tok, '.')
	forged := []byte(tok)
	if forged[dot+5] == 'A' {
		forged[dot+5] = 'B'
	} else {
		forged[dot+5] = 'A'
	}
	for _, bad := range []string{string(forged), "no-dots", tok[:len(tok)-2]} {
		resp, err := bt.IntrospectToken(ctx, &latchkeyv1.IntrospectTokenRequest{Token: bad})
		if err != nil || resp.GetActive() {
			t.Fatalf("altered token: active %v, %v", resp.GetActive(), err)
		}
	}
}
