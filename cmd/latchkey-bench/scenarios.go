package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync/atomic"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	latchkeyv1 "github.com/latchkeyhq/latchkey/gen/latchkey/v1"
)

var (
	errNoToken  = errors.New("ExchangeToken returned no access token")
	errInactive = errors.New("IntrospectToken reported a valid token inactive")
	errNotServe = errors.New("health check status is not SERVING")
)

// phaseEnv is what a running server offers the scenarios of one phase.
type phaseEnv struct {
	conns *conns
	// keys are the root keys seeded in the store; exchange draws from them.
	keys []string
	// pool are distinct valid tokens; introspection cycles through them.
	pool []mintedToken
	// next is the shared position in pool of the distinct scenario.
	next atomic.Uint64
}

// scenario is one kind of call. newCaller builds worker i's caller, with its
// own request message and random source, so that calls share nothing.
type scenario struct {
	name      string
	newCaller func(env *phaseEnv, worker int) caller
}

func healthScenario() scenario {
	return scenario{name: "health", newCaller: func(env *phaseEnv, w int) caller {
		c := healthpb.NewHealthClient(env.conns.workload[w%len(env.conns.workload)])
		req := &healthpb.HealthCheckRequest{}
		return func(ctx context.Context) error {
			resp, err := c.Check(ctx, req)
			if err == nil && resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
				err = errNotServe
			}
			return err
		}
	}}
}

// exchangeScenario draws uniformly from the first keys of the seeded set.
func exchangeScenario(alg string, keys int) scenario {
	return scenario{name: fmt.Sprintf("exchange/%s/keys=%d", alg, keys), newCaller: func(env *phaseEnv, w int) caller {
		c := latchkeyv1.NewTokenServiceClient(env.conns.workload[w%len(env.conns.workload)])
		set := env.keys[:keys]
		rng := rand.New(rand.NewPCG(uint64(w), uint64(keys)))
		req := &latchkeyv1.ExchangeTokenRequest{}
		return func(ctx context.Context) error {
			req.RootKey = set[rng.IntN(len(set))]
			resp, err := c.ExchangeToken(ctx, req)
			if err == nil && resp.GetAccessToken() == "" {
				err = errNoToken
			}
			return err
		}
	}}
}

// introspectScenario takes the token pool's tokens in turn, all callers
// sharing one round (distinct), or asks about its first token only
// (repeated).
func introspectScenario(distinct bool, revocations int) scenario {
	kind := "repeated"
	if distinct {
		kind = "distinct"
	}
	return scenario{name: fmt.Sprintf("introspect/%s/revocations=%d", kind, revocations), newCaller: func(env *phaseEnv, w int) caller {
		c := latchkeyv1.NewTokenServiceClient(env.conns.admin[w%len(env.conns.admin)])
		req := &latchkeyv1.IntrospectTokenRequest{Token: env.pool[0].token}
		return func(ctx context.Context) error {
			if distinct {
				req.Token = env.pool[env.next.Add(1)%uint64(len(env.pool))].token
			}
			resp, err := c.IntrospectToken(ctx, req)
			if err == nil && !resp.GetActive() {
				err = errInactive
			}
			return err
		}
	}}
}
