package devstate

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey/pki"
)

// TestDevCertificatesHandshake runs real TLS 1.3 connections over 127.0.0.1
// with the files Ensure wrote, as `latchkey dev` and its CLI would.
func TestDevCertificatesHandshake(t *testing.T) {
	s := freshState(t)
	roots, err := pki.LoadPool(mustRead(t, s.CAFile))
	if err != nil {
		t.Fatal(err)
	}
	server := loadLeaf(t, s.ServerCertFile, s.ServerKeyFile)
	at := func() time.Time { return t0.Add(time.Hour) }
	serverCfg := &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{server.TLS},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    roots,
		Time:         at,
	}

	tests := []struct {
		name         string
		certFile     string
		keyFile      string
		serverName   string
		wantIdentity string // empty: the server must reject the client
	}{
		{"workload by IP", s.WorkloadCertFile, s.WorkloadKeyFile, "", WorkloadIdentity},
		{"workload by name", s.WorkloadCertFile, s.WorkloadKeyFile, "localhost", WorkloadIdentity},
		{"admin by name", s.AdminCertFile, s.AdminKeyFile, "localhost", AdminIdentity},
		{"server certificate as client", s.ServerCertFile, s.ServerKeyFile, "localhost", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			client := loadLeaf(t, tc.certFile, tc.keyFile)
			clientCfg := &tls.Config{
				MinVersion: tls.VersionTLS13,
				RootCAs:    roots,
				ServerName: tc.serverName,
				Time:       at,
				GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
					return &client.TLS, nil
				},
			}
			peer, serverErr, clientErr := dial(t, serverCfg, clientCfg)
			if tc.wantIdentity == "" {
				var inv x509.CertificateInvalidError
				if !errors.As(serverErr, &inv) || inv.Reason != x509.IncompatibleUsage {
					t.Fatalf("server error = %v, want incompatible usage", serverErr)
				}
				if clientErr == nil {
					t.Fatal("client did not learn of the rejection")
				}
				return
			}
			if serverErr != nil || clientErr != nil {
				t.Fatalf("handshake failed: server %v, client %v", serverErr, clientErr)
			}
			if peer == nil || len(peer.URIs) != 1 || peer.URIs[0].String() != tc.wantIdentity {
				t.Fatalf("server saw peer %v, want %s", peer, tc.wantIdentity)
			}
		})
	}
}

// dial makes one connection to a loopback TLS server. The client reads one
// byte the server sends after its handshake, because under TLS 1.3 a
// rejected client certificate only surfaces on the client's first read.
func dial(t *testing.T, serverCfg, clientCfg *tls.Config) (peer *x509.Certificate, serverErr, clientErr error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	type result struct {
		peer *x509.Certificate
		err  error
	}
	done := make(chan result, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			done <- result{err: err}
			return
		}
		defer conn.Close()
		tc := tls.Server(conn, serverCfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			done <- result{err: err}
			return
		}
		_, err = tc.Write([]byte{1})
		done <- result{peer: tc.ConnectionState().PeerCertificates[0], err: err}
	}()

	d := tls.Dialer{Config: clientCfg}
	conn, clientErr := d.DialContext(ctx, "tcp", ln.Addr().String())
	if clientErr == nil {
		if clientErr = conn.SetDeadline(time.Now().Add(10 * time.Second)); clientErr == nil {
			_, clientErr = io.ReadFull(conn, make([]byte, 1))
		}
		_ = conn.Close()
	}
	_ = ln.Close()
	r := <-done
	return r.peer, r.err, clientErr
}
