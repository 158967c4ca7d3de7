package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/latchkeyhq/latchkey/audit"
	"github.com/latchkeyhq/latchkey/cmd/latchkey/devstate"
	adminv1 "github.com/latchkeyhq/latchkey/gen/latchkey/admin/v1"
	latchkeyv1 "github.com/latchkeyhq/latchkey/gen/latchkey/v1"
	"github.com/latchkeyhq/latchkey/rootkey"
)

// crashIterationsEnv sets how many kill-and-restart rounds
// TestCrashDurability runs; a nightly run raises it.
const crashIterationsEnv = "LATCHKEY_CRASH_ITERATIONS"

const (
	defaultCrashIterations = 3
	// Per-iteration bounds, so a server that stops failing cannot keep the
	// load running: each goroutine stops after this many calls, and every
	// call has its own deadline.
	maxCallsPerWorker = 5000
	callTimeout       = 5 * time.Second
	exchangeWorkers   = 4
	revokeWorkers     = 2
	// Earlier iterations' tokens are re-checked after every restart, a
	// random sample of this size, so that long runs stay linear.
	recheckSample = 400
)

// Every revocation acknowledged before a SIGKILL stays in force after the
// restart, and no token that was never revoked is lost to the crash
// (SECURITY-CASES D1, D3, I5). Every token handed out before the kill has
// its exchange event in the audit trail after the restart, and the chain
// still verifies. The kill lands while exchanges and revocations are
// running; the data directory lock must be released by the kill, so the
// restart succeeds.
func TestCrashDurability(t *testing.T) {
	iterations := crashIterations(t)
	seed := time.Now().UnixNano()
	rng := rand.New(rand.NewPCG(uint64(seed), 0))
	t.Logf("seed %d", seed)

	state := filepath.Join(t.TempDir(), "state")
	dataDir := devstate.Paths(state).DataDir
	dev := startDev(t, state)
	rootKey := strings.TrimSpace(readFile(t, filepath.Join(state, "demo-root-key")))
	parsed, err := rootkey.Parse(rootKey)
	if err != nil {
		t.Fatal(err)
	}

	var all []*mintedToken
	var total crashCounts
	done := 0
	for i := range iterations {
		// A second of slack: the server stamps events with its own
		// reading of the same clock.
		started := time.Now().Add(-time.Second)
		load := runCrashLoad(t, state, rootKey, rng, i)
		killDuringLoad(t, dev, load, time.Duration(200+rng.IntN(601))*time.Millisecond)
		if _, err := os.Stat(filepath.Join(dataDir, "LOCK")); err != nil {
			t.Fatalf("iteration %d: LOCK file after SIGKILL: %v", i, err)
		}
		if held, err := dirLocked(dataDir); err != nil || held {
			t.Fatalf("iteration %d: data directory lock after SIGKILL: held=%t err=%v", i, held, err)
		}
		dev = startDev(t, state)
		if held, err := dirLocked(dataDir); err != nil || !held {
			t.Fatalf("iteration %d: restarted server does not hold the data directory lock: held=%t err=%v", i, held, err)
		}

		check := append([]*mintedToken(nil), load.tokens...)
		check = append(check, sample(rng, all, recheckSample)...)
		all = append(all, load.tokens...)
		c := load.counts()
		c.violations = len(load.unexpected)
		for _, e := range load.unexpected {
			t.Errorf("iteration %d: %s", i, e)
		}
		violations := checkTokens(t, state, check)
		var auditViolations []string
		c.audited, c.chained, auditViolations = checkAudit(t, state, parsed.ID(), started, load.tokens)
		violations = append(violations, auditViolations...)
		c.violations += len(violations)
		for j, v := range violations {
			if j == 10 {
				t.Errorf("iteration %d: ... and %d more", i, len(violations)-j)
				break
			}
			t.Errorf("iteration %d: %s", i, v)
		}
		t.Logf("iteration %d: tokens %d, acked revocations %d, in flight %d (in force after restart %d), audited %d, chain %d events, violations %d",
			i, c.tokens, c.acked, c.inFlight, load.inFlightInForce(), c.audited, c.chained, c.violations)
		total.add(c)
		done++
		if t.Failed() {
			break
		}
	}
	t.Logf("totals: iterations %d, tokens %d, acked revocations %d, in flight %d, audited exchanges %d, chain verified to %d events, violations %d",
		done, total.tokens, total.acked, total.inFlight, total.audited, total.chained, total.violations)
	// A run in which nothing was revoked would prove nothing.
	if total.tokens == 0 || total.acked == 0 || total.chained == 0 {
		t.Fatalf("the load minted %d tokens and acknowledged %d revocations; want both non-zero", total.tokens, total.acked)
	}
}

func crashIterations(t *testing.T) int {
	t.Helper()
	v := os.Getenv(crashIterationsEnv)
	if v == "" {
		return defaultCrashIterations
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a positive integer", crashIterationsEnv, v)
	}
	return n
}

// killDuringLoad lets the load run for d, then SIGKILLs the server while
// the workers are still calling it, and waits for them to stop.
func killDuringLoad(t *testing.T, dev *devServer, load *crashLoad, d time.Duration) {
	t.Helper()
	timer := time.NewTimer(d)
	select {
	case <-timer.C:
	case <-load.allDone:
		// Every worker ended before the kill: the load was not running.
		load.kill(func() error { return nil })
		t.Fatalf("the load ended before the kill at %v; unexpected errors: %v", d, load.unexpected)
	}
	if err := load.kill(func() error { return dev.cmd.Process.Signal(syscall.SIGKILL) }); err != nil {
		t.Fatalf("SIGKILL: %v", err)
	}
	<-load.allDone
	err := dev.cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || !killedBySIGKILL(exit) {
		t.Fatalf("server did not die from SIGKILL (it was meant to be running): %v\nstderr:\n%s", err, dev.stderr.String())
	}
	load.close()
}

// dirLocked reports whether some process holds the flock Badger takes on
// dir. The probe takes a shared lock and releases it at once.
func dirLocked(dir string) (bool, error) {
	f, err := os.Open(dir)
	if err != nil {
		return false, err
	}
	defer f.Close()
	err = syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	return false, syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
}

// dialAs opens a connection to the dev server in state with the dev
// certificate of who ("admin" or "workload"), as the CLI does: TLS 1.3,
// client certificate, the state folder's CA.
func dialAs(t *testing.T, state, who string) *grpc.ClientConn {
	t.Helper()
	cf := clientFlags{state: state, who: who}
	conn, err := cf.dial()
	if err != nil {
		t.Fatalf("dial as %s: %v", who, err)
	}
	return conn
}

func sample(rng *rand.Rand, from []*mintedToken, n int) []*mintedToken {
	if len(from) <= n {
		return from
	}
	out := make([]*mintedToken, 0, n)
	for _, i := range rng.Perm(len(from))[:n] {
		out = append(out, from[i])
	}
	return out
}

// checkTokens introspects every token in tokens against the server in
// state and returns one line per token whose answer breaks the rules.
// A revocation whose outcome was unknown is settled by its first answer,
// and must give the same answer after every later restart.
func checkTokens(t *testing.T, state string, tokens []*mintedToken) []string {
	t.Helper()
	conn := dialAs(t, state, "admin")
	defer conn.Close()
	client := latchkeyv1.NewTokenServiceClient(conn)
	var (
		mu         sync.Mutex
		violations []string
		wg         sync.WaitGroup
	)
	next := make(chan *mintedToken)
	for range 4 {
		wg.Go(func() {
			for tok := range next {
				if v := tok.check(client, time.Now()); v != "" {
					mu.Lock()
					violations = append(violations, v)
					mu.Unlock()
				}
			}
		})
	}
	for _, tok := range tokens {
		next <- tok
	}
	close(next)
	wg.Wait()
	return violations
}

// checkAudit finds the granted exchange event of every token in tokens,
// querying exchanges of keyID since the load started, and has the server
// verify the whole chain. It returns how many tokens were found, how many
// events the chain check covered, and one line per problem. The server
// writes the event before it answers, so a token the load received whose
// event is missing was handed out unaudited.
func checkAudit(t *testing.T, state, keyID string, since time.Time, tokens []*mintedToken) (int, uint64, []string) {
	t.Helper()
	conn := dialAs(t, state, "admin")
	defer conn.Close()
	client := adminv1.NewAuditServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	granted := map[string]bool{}
	req := &adminv1.QueryAuditEventsRequest{KeyId: keyID, Kind: string(audit.KindExchange), Since: timestamppb.New(since)}
	_, err := queryEvents(ctx, client, req, 0, func(e *adminv1.AuditEvent) error {
		if e.GetResult() == string(audit.ResultOK) && e.GetJti() != "" {
			granted[e.GetJti()] = true
		}
		return nil
	})
	if err != nil {
		t.Fatalf("query audit events: %v", err)
	}
	var problems []string
	found := 0
	for _, m := range tokens {
		if granted[m.jti] {
			found++
			continue
		}
		problems = append(problems, m.describe()+": handed out, but no granted exchange event records it")
	}
	v, err := client.VerifyAuditChain(ctx, &adminv1.VerifyAuditChainRequest{})
	if err != nil {
		t.Fatalf("verify audit chain: %v", err)
	}
	if !v.GetOk() {
		problems = append(problems, fmt.Sprintf("audit chain broken at event %d: %s", v.GetBrokenAt(), v.GetReason()))
	}
	return found, v.GetEventsChecked(), problems
}
