package client

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	latchkeyv1 "github.com/latchkeyhq/latchkey/gen/latchkey/v1"
	"github.com/latchkeyhq/latchkey/pki"
)

// tlsTokenServer serves fake over mutual TLS on 127.0.0.1 and returns the
// address and a client TLS config.
func tlsTokenServer(t *testing.T, fake *fakeTokens) (addr string, clientTLS *tls.Config, stop func()) {
	t.Helper()
	now := time.Now()
	ca, err := pki.NewCA("client test CA", now.Add(-time.Hour), now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	srvLeaf, err := ca.IssueServer(pki.LeafOptions{IPs: []net.IP{net.ParseIP("127.0.0.1")}})
	if err != nil {
		t.Fatal(err)
	}
	cliLeaf, err := ca.IssueClient(pki.LeafOptions{URIs: []string{"spiffe://test.local/workload/a"}})
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.Creds(credentials.NewTLS(&tls.Config{
		MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{srvLeaf.TLS},
		ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: ca.Pool(),
	})))
	latchkeyv1.RegisterTokenServiceServer(srv, fake)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(lis)
	return lis.Addr().String(), &tls.Config{RootCAs: ca.Pool(), Certificates: []tls.Certificate{cliLeaf.TLS}}, srv.Stop
}

func TestCloseStopsEverything(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())

	clk := newFakeClock()
	clk.now = time.Now()
	fake := newFakeTokens(clk)
	addr, clientTLS, stop := tlsTokenServer(t, fake)
	defer stop()

	c, err := Dial(context.Background(), Config{Addr: addr, TLS: clientTLS, RootKey: testRootKey})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	first, err := c.Token(ctx)
	if err != nil {
		t.Fatalf("Token over mTLS: %v", err)
	}

	// Leave an exchange hanging on the server with a caller waiting on it.
	gate := make(chan struct{})
	defer close(gate)
	fake.set(func(f *fakeTokens) { f.gate = gate })
	c.Invalidate(first.Value)
	waiting := make(chan error, 1)
	go func() {
		_, err := c.Token(ctx)
		waiting <- err
	}()
	fake.waitCall(t, 2)

	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case err := <-waiting:
		if err == nil {
			t.Fatal("a caller waiting on the abandoned exchange got a token")
		}
	case <-time.After(waitLimit):
		t.Fatal("a caller still waits after Close")
	}
	if _, err := c.Token(ctx); !errors.Is(err, ErrClosed) {
		t.Fatalf("Token after Close: err = %v, want ErrClosed", err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestCloseBeforeUse(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	conn, err := grpc.NewClient("passthrough:///unused", grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c, err := New(conn, Config{RootKey: testRootKey})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
}

// Every test must leave no goroutine behind (the refresher, exchanges).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
