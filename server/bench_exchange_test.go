package server

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	latchkeyv1 "github.com/latchkeyhq/latchkey/gen/latchkey/v1"
)

// exchangeParallelism callers per core keep the server's CPUs busy: the
// measure is capacity, and what the audit trail takes from it, rather
// than the latency of one caller.
const exchangeParallelism = 128

// exchangeConns spreads the callers over connections, as many clients
// would: one connection carries at most MaxConcurrentStreams calls.
const exchangeConns = 4

// BenchmarkExchange measures ExchangeToken from many callers over one
// connection, with the audit trail on (production: every exchange is a
// synced, chained event before the token leaves) and off, in the same run.
func BenchmarkExchange(b *testing.B) {
	for _, withAudit := range []bool{false, true} {
		name := "audit=off"
		if withAudit {
			name = "audit=on"
		}
		b.Run(name, func(b *testing.B) {
			e := newBenchEnvAudit(b, b.TempDir(), nil, withAudit)
			defer e.close()
			root := e.createKey()
			var clients []latchkeyv1.TokenServiceClient
			for range exchangeConns {
				clients = append(clients, e.tokens(idWorkloadA))
			}
			var next atomic.Uint64
			parallelCallsAt(b, exchangeParallelism, func(ctx context.Context) error {
				client := clients[next.Add(1)%exchangeConns]
				resp, err := client.ExchangeToken(ctx, &latchkeyv1.ExchangeTokenRequest{RootKey: root})
				if err == nil && resp.GetAccessToken() == "" {
					err = fmt.Errorf("no token")
				}
				return err
			})
		})
	}
}
