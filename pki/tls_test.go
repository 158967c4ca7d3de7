package pki

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// handshakeResult is what each end of one loopback connection saw.
type handshakeResult struct {
	serverErr, clientErr     error
	serverState, clientState tls.ConnectionState
}

// handshake runs one TLS connection over 127.0.0.1. The server writes "ok"
// after its handshake and the client reads it, because under TLS 1.3 the
// client finishes its handshake before the server has judged the client
// certificate: a rejection only reaches the client on its first read.
func handshake(t *testing.T, serverCfg, clientCfg *tls.Config) handshakeResult {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	type serverSide struct {
		err   error
		state tls.ConnectionState
	}
	done := make(chan serverSide, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			done <- serverSide{err: err}
			return
		}
		defer conn.Close()
		tc := tls.Server(conn, serverCfg)
		err = tc.HandshakeContext(ctx)
		if err == nil {
			_, err = tc.Write([]byte("ok"))
		}
		done <- serverSide{err: err, state: tc.ConnectionState()}
	}()

	var res handshakeResult
	d := tls.Dialer{Config: clientCfg}
	conn, err := d.DialContext(ctx, "tcp", ln.Addr().String())
	if err == nil {
		tc := conn.(*tls.Conn)
		if err = tc.SetDeadline(time.Now().Add(10 * time.Second)); err == nil {
			buf := make([]byte, 2)
			if _, err = io.ReadFull(tc, buf); err == nil && string(buf) != "ok" {
				err = fmt.Errorf("read %q, want ok", buf)
			}
		}
		res.clientState = tc.ConnectionState()
		_ = tc.Close()
	}
	res.clientErr = err
	// Unblocks Accept if the client never reached it.
	_ = ln.Close()
	s := <-done
	res.serverErr, res.serverState = s.err, s.state
	return res
}

func clock() time.Time { return t0 }

func serverConfig(l *Leaf, clientCAs *x509.CertPool) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{l.TLS},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    clientCAs,
		Time:         clock,
	}
}

// clientConfig always presents l: with plain Certificates, Go's client
// withholds a leaf whose issuer is not among the server's acceptable CAs, and
// the server would never get to reject it.
func clientConfig(l *Leaf, roots *x509.CertPool) *tls.Config {
	cfg := &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: roots, Time: clock}
	if l != nil {
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return &l.TLS, nil
		}
	}
	return cfg
}

func TestMutualTLSHandshake(t *testing.T) {
	ca := newTestCA(t, "ca")
	other := newTestCA(t, "other")
	loopback := LeafOptions{DNSNames: []string{"localhost"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}}
	workload := LeafOptions{CommonName: "workload", URIs: []string{"spiffe://dev.latchkey.local/workload/demo"}}
	expiredWorkload := workload
	expiredWorkload.NotBefore, expiredWorkload.NotAfter = t0.Add(-time.Hour), t0.Add(-time.Second)
	serverOnly := fixedWindow(workload)
	serverOnly.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}

	server := issueServer(t, ca, fixedWindow(loopback))
	tests := []struct {
		name       string
		server     *Leaf
		client     *Leaf
		serverWant verifyOutcome // how the server judges the client certificate
		clientWant verifyOutcome // how the client judges the server certificate
		noClient   bool
	}{
		{name: "client leaf", server: server, client: issueClient(t, ca, fixedWindow(workload))},
		{name: "serverAuth-only client leaf", server: server, client: issueServer(t, ca, serverOnly), serverWant: wrongUsage},
		{name: "client leaf from another CA", server: server, client: issueClient(t, other, fixedWindow(workload)), serverWant: unknownAuthority},
		{name: "expired client leaf", server: server, client: issueClient(t, ca, expiredWorkload), serverWant: expired},
		{name: "no client certificate", server: server, noClient: true},
		{name: "server leaf from another CA", server: issueServer(t, other, fixedWindow(loopback)), client: issueClient(t, ca, fixedWindow(workload)), clientWant: unknownAuthority},
		{name: "clientAuth leaf as server", server: issueClient(t, ca, fixedWindow(loopback)), client: issueClient(t, ca, fixedWindow(workload)), clientWant: wrongUsage},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := handshake(t, serverConfig(tc.server, ca.Pool()), clientConfig(tc.client, ca.Pool()))
			switch {
			case tc.noClient:
				if res.serverErr == nil || !strings.Contains(res.serverErr.Error(), "didn't provide a certificate") {
					t.Fatalf("server error = %v, want a missing client certificate", res.serverErr)
				}
				assertRemoteRejection(t, res.clientErr)
			case tc.clientWant != verifies:
				assertOutcome(t, res.clientErr, tc.clientWant)
				if res.serverErr == nil {
					t.Fatal("server handshake succeeded against a rejecting client")
				}
			case tc.serverWant != verifies:
				assertOutcome(t, res.serverErr, tc.serverWant)
				assertRemoteRejection(t, res.clientErr)
			default:
				if res.serverErr != nil || res.clientErr != nil {
					t.Fatalf("handshake failed: server %v, client %v", res.serverErr, res.clientErr)
				}
				if res.serverState.Version != tls.VersionTLS13 || res.clientState.Version != tls.VersionTLS13 {
					t.Fatalf("versions %x/%x, want TLS 1.3", res.serverState.Version, res.clientState.Version)
				}
				if p := res.serverState.PeerCertificates; len(p) != 1 || !bytes.Equal(p[0].Raw, tc.client.Cert.Raw) {
					t.Fatal("server did not see the client leaf")
				}
				if p := res.clientState.PeerCertificates; len(p) != 1 || !bytes.Equal(p[0].Raw, tc.server.Cert.Raw) {
					t.Fatal("client did not see the server leaf")
				}
			}
		})
	}
}

// assertRemoteRejection checks that the client learnt of the server's
// rejection through a TLS alert rather than, say, a timeout.
func assertRemoteRejection(t *testing.T, err error) {
	t.Helper()
	var op *net.OpError
	if !errors.As(err, &op) || op.Op != "remote error" {
		t.Fatalf("client error = %v, want a TLS alert from the server", err)
	}
}
