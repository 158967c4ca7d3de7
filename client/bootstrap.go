package client

import (
	"context"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Bootstrap dials the server and performs the first exchange, so that a
// workload fails at start-up with a clear reason rather than on its first
// call. A rejected root key or certificate fails at once, with
// ErrRootKeyRejected or ErrCertificateNotAllowed; other refusals (a scope the
// key does not allow, say) fail at once with the server's text; a server that
// cannot be reached is retried with backoff until ctx is done, and the error
// then wraps ctx.Err().
func Bootstrap(ctx context.Context, cfg Config) (*Client, error) {
	c, err := Dial(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if err := c.firstToken(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func (c *Client) firstToken(ctx context.Context) error {
	for {
		_, err := c.Token(ctx)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return c.unreachable(ctx, err)
		}
		switch code := status.Code(err); {
		case code == codes.Unauthenticated:
			return fmt.Errorf("latchkey: %w: %w", ErrRootKeyRejected, err)
		case code == codes.PermissionDenied:
			return fmt.Errorf("latchkey: %w: %w", ErrCertificateNotAllowed, err)
		case !transient(code):
			return fmt.Errorf("latchkey: token exchange refused: %w", err)
		}
		fire, stop := c.clk.Timer(c.retryIn())
		select {
		case <-fire:
			stop()
		case <-ctx.Done():
			stop()
			return c.unreachable(ctx, err)
		}
	}
}

// unreachable reports the deadline as the cause, with the last transport
// error beside it as the detail worth reading.
func (c *Client) unreachable(ctx context.Context, err error) error {
	c.mu.Lock()
	last := c.lastErr
	c.mu.Unlock()
	if last == nil {
		last = err
	}
	return fmt.Errorf("latchkey: server %s not reachable: %w (last error: %v)", c.addr, ctx.Err(), last)
}

// transient reports whether a failed exchange may succeed if tried again
// unchanged.
func transient(code codes.Code) bool {
	switch code {
	case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted,
		codes.Aborted, codes.Internal, codes.Unknown, codes.Canceled:
		return true
	}
	return false
}
