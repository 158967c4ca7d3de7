// Command resourceserver is a tiny gRPC "demo API" protected by Latchkey: it
// accepts only callers with a client certificate from the dev CA and a
// Latchkey token bound to that certificate, for audience demo-api, with
// demo.read to call Read and demo.write to call Write.
//
//	go run ./examples/resourceserver --state .latchkey
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/latchkeyhq/latchkey/examples/internal/demo"
	"github.com/latchkeyhq/latchkey/verifier"
)

func main() {
	state := flag.String("state", demo.DefaultStateDir, "`latchkey dev` state folder")
	listen := flag.String("listen", "127.0.0.1:7450", "address to serve the demo API on")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, demo.State{Dir: *state}, *listen); err != nil {
		fmt.Fprintln(os.Stderr, "resourceserver:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, st demo.State, listen string) error {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	v, closeV, err := newVerifier(ctx, st, log)
	if err != nil {
		return err
	}
	defer closeV()

	serverTLS, err := st.ServerTLS()
	if err != nil {
		return err
	}
	srv := grpc.NewServer(
		grpc.Creds(credentials.NewTLS(serverTLS)),
		grpc.ChainUnaryInterceptor(v.UnaryServerInterceptor(demo.RequiredScopes())),
		grpc.MaxRecvMsgSize(64<<10),
		grpc.ConnectionTimeout(10*time.Second),
	)
	srv.RegisterService(demo.ServiceDesc(func(ctx context.Context) bool {
		_, ok := verifier.ClaimsFromContext(ctx)
		return ok
	}), struct{}{})

	lis, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	fmt.Printf("resource server listening on %s\n", lis.Addr())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
		srv.GracefulStop()
		if err := <-served; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			return err
		}
		return nil
	}
}

// newVerifier connects to Latchkey as the admin identity, the dev identity
// holding the introspect role a verifier needs for the JWKS and the
// revocation stream.
func newVerifier(ctx context.Context, st demo.State, log *slog.Logger) (*verifier.Verifier, func(), error) {
	addr, err := st.LatchkeyAddr()
	if err != nil {
		return nil, nil, err
	}
	adminTLS, err := st.ClientTLS("admin")
	if err != nil {
		return nil, nil, err
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(adminTLS)))
	if err != nil {
		return nil, nil, err
	}
	startCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	v, err := verifier.New(startCtx, verifier.Config{
		Conn: conn, Issuer: demo.Issuer, Audience: demo.Audience, Logger: log,
	})
	if err != nil {
		conn.Close()
		return nil, nil, fmt.Errorf("start verifier: %w", err)
	}
	return v, func() { v.Close(); conn.Close() }, nil
}
