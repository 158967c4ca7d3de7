package server

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionv1 "google.golang.org/grpc/reflection/grpc_reflection_v1"
	reflectionv1alpha "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"
	"google.golang.org/grpc/status"

	adminv1 "github.com/latchkeyhq/latchkey/gen/latchkey/admin/v1"
	latchkeyv1 "github.com/latchkeyhq/latchkey/gen/latchkey/v1"
	"github.com/latchkeyhq/latchkey/policy"
)

// anyCaller marks methods open to every caller that completed the mTLS
// handshake with a certificate from the client CA bundle.
const anyCaller policy.Role = "*"

// methodRoles is the one authorization table: a method is allowed for a
// caller holding any listed role. A method missing here is denied, so a new
// RPC stays closed until someone decides who may call it.
var methodRoles = map[string][]policy.Role{
	latchkeyv1.TokenService_ExchangeToken_FullMethodName:    {policy.RoleExchange},
	latchkeyv1.TokenService_IntrospectToken_FullMethodName:  {policy.RoleIntrospect},
	latchkeyv1.TokenService_GetJWKS_FullMethodName:          {policy.RoleIntrospect, policy.RoleExchange},
	latchkeyv1.TokenService_RevokeToken_FullMethodName:      {policy.RoleExchange},
	latchkeyv1.TokenService_WatchRevocations_FullMethodName: {policy.RoleIntrospect},

	adminv1.KeyService_CreateKey_FullMethodName:      {policy.RoleAdmin},
	adminv1.KeyService_GetKey_FullMethodName:         {policy.RoleAdmin},
	adminv1.KeyService_ListKeys_FullMethodName:       {policy.RoleAdmin},
	adminv1.KeyService_RevokeKey_FullMethodName:      {policy.RoleAdmin},
	adminv1.KeyService_UpdateKey_FullMethodName:      {policy.RoleAdmin},
	adminv1.KeyService_RotateKey_FullMethodName:      {policy.RoleAdmin},
	adminv1.KeyService_DisableKey_FullMethodName:     {policy.RoleAdmin},
	adminv1.KeyService_EnableKey_FullMethodName:      {policy.RoleAdmin},
	adminv1.KeyService_AttestKey_FullMethodName:      {policy.RoleAdmin},
	adminv1.KeyService_ListKeyHistory_FullMethodName: {policy.RoleAdmin},
	adminv1.KeyService_RevokeTokens_FullMethodName:   {policy.RoleAdmin},

	adminv1.SigningKeyService_ListSigningKeys_FullMethodName:  {policy.RoleAdmin},
	adminv1.SigningKeyService_RotateSigningKey_FullMethodName: {policy.RoleAdmin},
	adminv1.SigningKeyService_RevokeSigningKey_FullMethodName: {policy.RoleAdmin},

	adminv1.AuditService_QueryAuditEvents_FullMethodName: {policy.RoleAdmin},
	adminv1.AuditService_TailAuditEvents_FullMethodName:  {policy.RoleAdmin},
	adminv1.AuditService_VerifyAuditChain_FullMethodName: {policy.RoleAdmin},

	healthpb.Health_Check_FullMethodName: {anyCaller},
	healthpb.Health_Watch_FullMethodName: {anyCaller},
	healthpb.Health_List_FullMethodName:  {anyCaller},

	reflectionv1.ServerReflection_ServerReflectionInfo_FullMethodName:      {anyCaller},
	reflectionv1alpha.ServerReflection_ServerReflectionInfo_FullMethodName: {anyCaller},
}

// RoleChecker answers whether an identity holds a role.
type RoleChecker interface {
	HasRole(identity string, r policy.Role) bool
}

func authorize(ctx context.Context, method string, roles RoleChecker) error {
	c, ok := CallerFromContext(ctx)
	if !ok {
		return status.Error(codes.Unauthenticated, "client identity could not be established")
	}
	for _, r := range methodRoles[method] {
		if r == anyCaller || roles.HasRole(c.Identity, r) {
			return nil
		}
	}
	return status.Error(codes.PermissionDenied, "caller is not allowed to call this method")
}

func authzUnary(roles RoleChecker) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if err := authorize(ctx, info.FullMethod, roles); err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
}

func authzStream(roles RoleChecker) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if err := authorize(ss.Context(), info.FullMethod, roles); err != nil {
			return err
		}
		return handler(srv, ss)
	}
}
