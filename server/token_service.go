package server

import (
	"context"
	"errors"
	"log/slog"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	latchkeyv1 "github.com/latchkeyhq/latchkey/gen/latchkey/v1"
	"github.com/latchkeyhq/latchkey/issuer"
	"github.com/latchkeyhq/latchkey/revocation"
)

// tokenService implements latchkey.v1.TokenService.
type tokenService struct {
	latchkeyv1.UnimplementedTokenServiceServer

	log       *slog.Logger
	exchanger *exchanger
	checker   *introspector
	revoker   *tokenRevoker
	view      *revocation.View
	issuer    func() *issuer.Issuer
}

func (s *tokenService) ExchangeToken(ctx context.Context, req *latchkeyv1.ExchangeTokenRequest) (*latchkeyv1.ExchangeTokenResponse, error) {
	caller, _ := CallerFromContext(ctx)
	in := exchangeRequest{
		rootKey:   req.GetRootKey(),
		scopes:    req.GetScopes(),
		audiences: req.GetAudiences(),
		caller:    caller,
		size:      proto.Size(req),
	}
	if d := req.GetTtl(); d != nil {
		if err := d.CheckValid(); err != nil {
			return nil, toStatus(ctx, s.log, invalidArg("ttl is not a valid duration"))
		}
		in.ttl = d.AsDuration()
	}
	res, err := s.exchanger.exchange(ctx, in, auditNote(ctx))
	if err != nil {
		return nil, toStatus(ctx, s.log, err)
	}
	if s.log.Enabled(ctx, slog.LevelDebug) {
		s.log.DebugContext(ctx, "token issued", "key_id", res.keyID, "jti", res.token.JTI,
			"scope", strings.Join(res.grant.Scopes, " "), "expires_at", res.token.ExpiresAt)
	}
	return &latchkeyv1.ExchangeTokenResponse{
		AccessToken: res.token.Raw,
		TokenType:   "Bearer",
		ExpiresAt:   timestamppb.New(res.token.ExpiresAt),
		Jti:         res.token.JTI,
		KeyId:       res.keyID,
		Scopes:      res.grant.Scopes,
		Audiences:   res.grant.Audiences,
	}, nil
}

func (s *tokenService) IntrospectToken(ctx context.Context, req *latchkeyv1.IntrospectTokenRequest) (*latchkeyv1.IntrospectTokenResponse, error) {
	claims, err := s.checker.introspect(ctx, req.GetToken())
	if errors.Is(err, errInactive) {
		return &latchkeyv1.IntrospectTokenResponse{Active: false}, nil
	}
	if err != nil {
		return nil, toStatus(ctx, s.log, err)
	}
	return &latchkeyv1.IntrospectTokenResponse{
		Active:     true,
		Sub:        claims.Subject,
		ClientId:   claims.ClientID,
		Scope:      claims.Scope,
		Aud:        claims.Audience,
		Iss:        claims.Issuer,
		Exp:        claims.ExpiresAt.Unix(),
		Iat:        claims.IssuedAt.Unix(),
		Nbf:        claims.NotBefore.Unix(),
		Jti:        claims.JTI,
		TokenType:  "Bearer",
		CnfX5TS256: claims.CertThumbprint,
	}, nil
}

func (s *tokenService) GetJWKS(ctx context.Context, _ *latchkeyv1.GetJWKSRequest) (*latchkeyv1.GetJWKSResponse, error) {
	keys := s.issuer().JWKS()
	out := make([]*latchkeyv1.JSONWebKey, 0, len(keys))
	for _, k := range keys {
		out = append(out, &latchkeyv1.JSONWebKey{
			Kty: k.Kty, Kid: k.Kid, Alg: k.Alg, Use: k.Use,
			Crv: k.Crv, X: k.X, Y: k.Y, N: k.N, E: k.E,
		})
	}
	return &latchkeyv1.GetJWKSResponse{Keys: out}, nil
}
