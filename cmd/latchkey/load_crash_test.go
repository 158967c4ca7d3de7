package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

	adminv1 "github.com/latchkeyhq/latchkey/gen/latchkey/admin/v1"
	latchkeyv1 "github.com/latchkeyhq/latchkey/gen/latchkey/v1"
)

func killedBySIGKILL(e *exec.ExitError) bool {
	ws, ok := e.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
}

// revState is what the test knows about a token's revocation.
type revState int

const (
	notRevoked revState = iota
	// inFlight: the revocation was sent and no answer came back, so it
	// may or may not be in force.
	inFlight
	acked
)

// expiryMargin keeps tokens about to expire out of the "must be active"
// rule, so that the clock cannot turn a correct answer into a violation.
const expiryMargin = 30 * time.Second

// mintedToken is one token the load obtained, and what became of it.
type mintedToken struct {
	token     string
	jti       string
	exp       time.Time
	iteration int

	mu    sync.Mutex
	state revState
	via   string
	// settled and inForce record the first answer given for an inFlight
	// revocation after a restart.
	settled, inForce bool
}

// describe names a token in failure messages by its jti only: the token
// itself is a secret.
func (m *mintedToken) describe() string {
	return fmt.Sprintf("token jti=%s (iteration %d)", m.jti, m.iteration)
}

func (m *mintedToken) set(s revState, via string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.state, m.via = s, via
}

// check introspects m and returns why the answer is wrong, or "".
func (m *mintedToken) check(client latchkeyv1.TokenServiceClient, now time.Time) string {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	resp, err := client.IntrospectToken(ctx, &latchkeyv1.IntrospectTokenRequest{Token: m.token})
	if err != nil {
		return fmt.Sprintf("%s: introspect: %v", m.describe(), err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	switch m.state {
	case acked:
		if resp.GetActive() {
			return fmt.Sprintf("%s: revocation acknowledged (%s) but the token is active after the restart", m.describe(), m.via)
		}
	case inFlight:
		if !m.settled {
			m.settled, m.inForce = true, !resp.GetActive()
			return ""
		}
		if m.inForce == resp.GetActive() {
			return fmt.Sprintf("%s: in-flight revocation (%s) changed from in force=%t to %t across a restart",
				m.describe(), m.via, m.inForce, !resp.GetActive())
		}
	case notRevoked:
		if now.Add(expiryMargin).After(m.exp) {
			return ""
		}
		if !resp.GetActive() || resp.GetJti() != m.jti || resp.GetSub() != "demo-team" {
			return fmt.Sprintf("%s: never revoked and not expired, but introspection says active=%t jti=%q sub=%q",
				m.describe(), resp.GetActive(), resp.GetJti(), resp.GetSub())
		}
	}
	return ""
}

type crashCounts struct {
	tokens, acked, inFlight, violations int
	// audited counts tokens whose granted exchange event was found after
	// the restart; chained is how many events the chain check covered.
	audited int
	chained uint64
}

func (c *crashCounts) add(o crashCounts) {
	c.tokens += o.tokens
	c.acked += o.acked
	c.inFlight += o.inFlight
	c.violations += o.violations
	c.audited += o.audited
	// The chain is checked whole each time, so the last check covers
	// every earlier one.
	c.chained = o.chained
}

// crashLoad is one iteration's exchange and revoke workers and the history
// they record.
type crashLoad struct {
	iteration int
	workload  *grpc.ClientConn
	admin     *grpc.ClientConn
	queue     chan *mintedToken
	stop      chan struct{}
	killed    atomic.Bool
	allDone   chan struct{}

	mu         sync.Mutex
	tokens     []*mintedToken
	unexpected []string
}

// runCrashLoad starts the workers against the server in state and returns
// at once; they run until kill or until their call budget is spent.
func runCrashLoad(t *testing.T, state, rootKey string, rng *rand.Rand, iteration int) *crashLoad {
	t.Helper()
	l := &crashLoad{
		iteration: iteration,
		workload:  dialAs(t, state, "workload"),
		admin:     dialAs(t, state, "admin"),
		queue:     make(chan *mintedToken, exchangeWorkers*maxCallsPerWorker),
		stop:      make(chan struct{}),
		allDone:   make(chan struct{}),
	}
	tokens := latchkeyv1.NewTokenServiceClient(l.workload)
	keys := adminv1.NewKeyServiceClient(l.admin)
	var wg sync.WaitGroup
	for i := range exchangeWorkers {
		r := rand.New(rand.NewPCG(rng.Uint64(), uint64(i)))
		wg.Go(func() { l.exchange(tokens, rootKey, r) })
	}
	for i := range revokeWorkers {
		r := rand.New(rand.NewPCG(rng.Uint64(), uint64(i)))
		wg.Go(func() { l.revoke(tokens, keys, r) })
	}
	go func() {
		wg.Wait()
		close(l.allDone)
	}()
	return l
}

func (l *crashLoad) exchange(client latchkeyv1.TokenServiceClient, rootKey string, r *rand.Rand) {
	for range maxCallsPerWorker {
		if l.killed.Load() {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		resp, err := client.ExchangeToken(ctx, &latchkeyv1.ExchangeTokenRequest{RootKey: rootKey})
		cancel()
		if err != nil {
			l.fail("exchange", err)
			return
		}
		m := &mintedToken{token: resp.GetAccessToken(), jti: resp.GetJti(), exp: resp.GetExpiresAt().AsTime(), iteration: l.iteration}
		l.mu.Lock()
		l.tokens = append(l.tokens, m)
		l.mu.Unlock()
		// Half the tokens are picked for revocation; the queue holds
		// every token a run can mint, so none is dropped.
		if r.IntN(2) == 0 {
			l.queue <- m
		}
	}
}

func (l *crashLoad) revoke(tokens latchkeyv1.TokenServiceClient, keys adminv1.KeyServiceClient, r *rand.Rand) {
	for range maxCallsPerWorker {
		var m *mintedToken
		select {
		case m = <-l.queue:
		case <-l.stop:
			return
		}
		if l.killed.Load() {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		var err error
		if r.IntN(2) == 0 {
			m.set(inFlight, "RevokeToken by its holder")
			_, err = tokens.RevokeToken(ctx, &latchkeyv1.RevokeTokenRequest{Token: m.token})
		} else {
			m.set(inFlight, "admin RevokeTokens by jti")
			_, err = keys.RevokeTokens(ctx, &adminv1.RevokeTokensRequest{
				Target: &adminv1.RevokeTokensRequest_Jti{Jti: m.jti}, Reason: "crash test"})
		}
		cancel()
		if err != nil {
			// The outcome is unknown: the token stays inFlight.
			l.fail("revoke", err)
			return
		}
		m.mu.Lock()
		m.state = acked
		m.mu.Unlock()
	}
}

// fail records err unless the server has been killed, when calls are
// meant to fail.
func (l *crashLoad) fail(what string, err error) {
	if l.killed.Load() {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.unexpected = append(l.unexpected, fmt.Sprintf("%s failed before the kill: %v (code %v)", what, err, status.Code(err)))
}

// kill marks the load as killed before sending the signal, so every error
// seen after it is put down to the kill.
func (l *crashLoad) kill(signal func() error) error {
	l.killed.Store(true)
	err := signal()
	close(l.stop)
	return err
}

func (l *crashLoad) close() {
	l.workload.Close()
	l.admin.Close()
}

// counts may be called once every worker has returned.
func (l *crashLoad) counts() crashCounts {
	c := crashCounts{tokens: len(l.tokens)}
	for _, m := range l.tokens {
		switch m.state {
		case acked:
			c.acked++
		case inFlight:
			c.inFlight++
		}
	}
	return c
}

// inFlightInForce counts the in-flight revocations found in force after
// the restart.
func (l *crashLoad) inFlightInForce() int {
	n := 0
	for _, m := range l.tokens {
		if m.state == inFlight && m.inForce {
			n++
		}
	}
	return n
}
