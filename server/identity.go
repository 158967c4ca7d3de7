package server

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"net"
	"strings"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/logging"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// Caller is the authenticated peer of one RPC.
type Caller struct {
	// Identity is the SPIFFE ID from the URI SAN, else the first DNS SAN, else
	// the subject CN.
	Identity string
	// CertThumbprint is base64url(SHA-256(leaf DER)), the RFC 8705 x5t#S256.
	CertThumbprint string
}

type callerKey struct{}

// CallerFromContext returns the caller set by the identity interceptor.
func CallerFromContext(ctx context.Context) (Caller, bool) {
	c, ok := ctx.Value(callerKey{}).(Caller)
	return c, ok
}

func withCaller(ctx context.Context, c Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

var errNoIdentity = errors.New("client certificate carries no usable identity")

// IdentityFromCert derives the caller identity from a verified leaf.
func IdentityFromCert(cert *x509.Certificate) (string, error) {
	var spiffe []string
	for _, u := range cert.URIs {
		if strings.EqualFold(u.Scheme, "spiffe") {
			spiffe = append(spiffe, u.String())
		}
	}
	switch {
	case len(spiffe) > 1:
		// An X509-SVID has exactly one SPIFFE ID; two would make the identity ambiguous.
		return "", errors.New("client certificate has more than one SPIFFE ID")
	case len(spiffe) == 1:
		return spiffe[0], nil
	case len(cert.DNSNames) > 0 && cert.DNSNames[0] != "":
		return cert.DNSNames[0], nil
	case cert.Subject.CommonName != "":
		return cert.Subject.CommonName, nil
	}
	return "", errNoIdentity
}

// CertThumbprint is base64url without padding of SHA-256 over the DER bytes.
func CertThumbprint(der []byte) string {
	sum := sha256.Sum256(der)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func callerFromPeer(ctx context.Context) (Caller, error) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return Caller{}, errors.New("no peer")
	}
	switch info := p.AuthInfo.(type) {
	case connIdentity:
		return info.caller, info.err
	case credentials.TLSInfo:
		return callerFromTLS(info)
	}
	return Caller{}, errors.New("connection is not TLS")
}

func callerFromTLS(info credentials.TLSInfo) (Caller, error) {
	// VerifiedChains is set only when the chain was verified against our CA
	// bundle; PeerCertificates alone would trust whatever the client sent.
	if len(info.State.VerifiedChains) == 0 || len(info.State.VerifiedChains[0]) == 0 {
		return Caller{}, errors.New("client certificate not verified")
	}
	leaf := info.State.VerifiedChains[0][0]
	id, err := IdentityFromCert(leaf)
	if err != nil {
		return Caller{}, err
	}
	return Caller{Identity: id, CertThumbprint: CertThumbprint(leaf.Raw)}, nil
}

// identityCreds derives the caller once per connection, at the handshake,
// rather than hashing the certificate and parsing its names on every call.
type identityCreds struct {
	credentials.TransportCredentials
}

// connIdentity is a TLS connection's AuthInfo with its caller, or the
// reason it has none (reported on each call, which fails Unauthenticated).
type connIdentity struct {
	credentials.TLSInfo
	caller Caller
	err    error
}

func (c identityCreds) ServerHandshake(conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	nc, ai, err := c.TransportCredentials.ServerHandshake(conn)
	if err != nil {
		return nc, ai, err
	}
	info, ok := ai.(credentials.TLSInfo)
	if !ok {
		return nc, ai, nil
	}
	caller, err := callerFromTLS(info)
	return nc, connIdentity{TLSInfo: info, caller: caller, err: err}, nil
}

func (c identityCreds) Clone() credentials.TransportCredentials {
	return identityCreds{c.TransportCredentials.Clone()}
}

func identityUnary() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		ctx, err := identify(ctx)
		if err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
}

func identityStream() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		ctx, err := identify(ss.Context())
		if err != nil {
			return err
		}
		return handler(srv, &contextStream{ServerStream: ss, ctx: ctx})
	}
}

func identify(ctx context.Context) (context.Context, error) {
	c, err := callerFromPeer(ctx)
	if err != nil {
		return nil, status.Error(codes.Unauthenticated, "client identity could not be established")
	}
	// Streams are logged by go-grpc-middleware; callLogUnary adds the
	// caller to unary calls' lines itself.
	logging.AddFields(ctx, logging.Fields{"caller", c.Identity})
	return withCaller(ctx, c), nil
}

type contextStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *contextStream) Context() context.Context { return s.ctx }
