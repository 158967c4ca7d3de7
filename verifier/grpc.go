package verifier

import (
	"context"
	"crypto/x509"
	"errors"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

type claimsKey struct{}

// ClaimsFromContext returns the claims the interceptors or the middleware
// verified for this request.
func ClaimsFromContext(ctx context.Context) (Claims, bool) {
	c, ok := ctx.Value(claimsKey{}).(Claims)
	return c, ok
}

func withClaims(ctx context.Context, c Claims) context.Context {
	return context.WithValue(ctx, claimsKey{}, c)
}

var (
	errNoToken    = errors.New("no bearer token")
	errNoPeerCert = errors.New("no client certificate")
	errNotAllowed = errors.New("method not in the scope table")
)

// UnaryServerInterceptor authenticates every call with the bearer token in
// the "authorization" metadata, bound to the client certificate of the mTLS
// connection, and requires the scopes listed for the full method name. A
// method missing from scopes is denied, so a new RPC stays closed until
// someone lists it (with no scopes, if a valid token is enough).
func (v *Verifier) UnaryServerInterceptor(scopes map[string][]string) grpc.UnaryServerInterceptor {
	table := cloneTable(scopes)
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		c, err := v.authorizeRPC(ctx, info.FullMethod, table)
		if err != nil {
			return nil, err
		}
		return handler(withClaims(ctx, c), req)
	}
}

// StreamServerInterceptor is UnaryServerInterceptor for streaming methods.
// The token is checked once, when the stream opens.
func (v *Verifier) StreamServerInterceptor(scopes map[string][]string) grpc.StreamServerInterceptor {
	table := cloneTable(scopes)
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		c, err := v.authorizeRPC(ss.Context(), info.FullMethod, table)
		if err != nil {
			return err
		}
		return handler(srv, &claimsStream{ServerStream: ss, ctx: withClaims(ss.Context(), c)})
	}
}

// cloneTable copies the table so that later changes by the caller do not
// change what is enforced.
func cloneTable(scopes map[string][]string) map[string][]string {
	out := make(map[string][]string, len(scopes))
	for m, s := range scopes {
		out[m] = append([]string(nil), s...)
	}
	return out
}

type claimsStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *claimsStream) Context() context.Context { return s.ctx }

func (v *Verifier) authorizeRPC(ctx context.Context, method string, table map[string][]string) (Claims, error) {
	required, listed := table[method]
	if !listed {
		return Claims{}, rpcStatus(errNotAllowed)
	}
	token, err := tokenFromMetadata(ctx)
	if err != nil {
		return Claims{}, rpcStatus(err)
	}
	cert, err := peerCertificate(ctx)
	if err != nil {
		return Claims{}, rpcStatus(err)
	}
	c, err := v.Verify(ctx, token, cert)
	if err != nil {
		return Claims{}, rpcStatus(err)
	}
	if !c.hasScopes(required) {
		return Claims{}, rpcStatus(ErrInsufficientScope)
	}
	return c, nil
}

// rpcStatus is the one place verification errors become gRPC codes. The text
// is the same for every reason a token fails, so callers learn nothing they
// could use to probe.
func rpcStatus(err error) error {
	switch {
	case errors.Is(err, ErrInsufficientScope), errors.Is(err, errNotAllowed):
		return status.Error(codes.PermissionDenied, "the access token does not allow this call")
	case errors.Is(err, ErrStale):
		return status.Error(codes.Unavailable, "token revocation status is unknown; retry later")
	default:
		return status.Error(codes.Unauthenticated, "a valid access token bound to the client certificate is required")
	}
}

func tokenFromMetadata(ctx context.Context) (string, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	vals := md.Get("authorization")
	if len(vals) != 1 {
		return "", errNoToken
	}
	return bearerToken(vals[0])
}

// bearerToken reads an RFC 6750 "Bearer <token>" credential; the scheme is
// case-insensitive.
func bearerToken(h string) (string, error) {
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !foldASCII(scheme, "Bearer") || token == "" || strings.ContainsAny(token, " \t") {
		return "", errNoToken
	}
	return token, nil
}

func peerCertificate(ctx context.Context) (*x509.Certificate, error) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return nil, errNoPeerCert
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(info.State.PeerCertificates) == 0 {
		return nil, errNoPeerCert
	}
	return info.State.PeerCertificates[0], nil
}
