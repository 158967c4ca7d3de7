package demo

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Issuer is the issuer the dev policy writes into every token.
const Issuer = "https://localhost:7443"

// DefaultStateDir is where `latchkey dev` keeps its state unless told
// otherwise.
const DefaultStateDir = ".latchkey"

// ErrNoAddr means the state folder has no address file, which `latchkey dev`
// writes once it listens.
var ErrNoAddr = errors.New("demo: state folder has no addr file; is `latchkey dev` running?")

// State is a `latchkey dev` state folder.
type State struct{ Dir string }

// LatchkeyAddr is the gRPC address the running dev server wrote.
func (s State) LatchkeyAddr() (string, error) {
	b, err := os.ReadFile(filepath.Join(s.Dir, "addr"))
	if errors.Is(err, os.ErrNotExist) {
		return "", ErrNoAddr
	}
	if err != nil {
		return "", err
	}
	addr := strings.TrimSpace(string(b))
	if addr == "" {
		return "", ErrNoAddr
	}
	return addr, nil
}

// DemoRootKey reads the demo root key. The caller must treat it as a secret.
func (s State) DemoRootKey() (string, error) {
	b, err := os.ReadFile(filepath.Join(s.Dir, "demo-root-key"))
	if err != nil {
		return "", fmt.Errorf("demo: read root key: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// ServerTLS is the resource server's side of mutual TLS: the dev server
// certificate, and client certificates required and checked against the dev
// CA, because tokens are bound to the client certificate that fetched them.
func (s State) ServerTLS() (*tls.Config, error) {
	cert, pool, err := s.load("server")
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS13,
	}, nil
}

// ClientTLS is the client side for the identity `who` ("admin" or
// "workload"), trusting only the dev CA.
func (s State) ClientTLS(who string) (*tls.Config, error) {
	cert, pool, err := s.load(who)
	if err != nil {
		return nil, err
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, MinVersion: tls.VersionTLS13}, nil
}

func (s State) load(who string) (tls.Certificate, *x509.CertPool, error) {
	cert, err := tls.LoadX509KeyPair(filepath.Join(s.Dir, who+".pem"), filepath.Join(s.Dir, who+"-key.pem"))
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("demo: load %s certificate: %w", who, err)
	}
	caPEM, err := os.ReadFile(filepath.Join(s.Dir, "ca.pem"))
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("demo: read CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return tls.Certificate{}, nil, errors.New("demo: ca.pem holds no certificate")
	}
	return cert, pool, nil
}
