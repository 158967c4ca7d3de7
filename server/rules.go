package server

import (
	"time"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionv1 "google.golang.org/grpc/reflection/grpc_reflection_v1"
	reflectionv1alpha "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"

	"github.com/latchkeyhq/latchkey/audit"
	adminv1 "github.com/latchkeyhq/latchkey/gen/latchkey/admin/v1"
	latchkeyv1 "github.com/latchkeyhq/latchkey/gen/latchkey/v1"
)

// limitClass says which rate limits apply to a method.
type limitClass uint8

const (
	// limitUnset is the zero value: a method without a rule is refused.
	limitUnset limitClass = iota
	// limitExchange: the global exchange ceiling, the failed-authentication
	// guard per caller and the per-key bucket, all applied by the exchanger.
	limitExchange
	// limitCaller: the per-caller bucket, taken once per call (or stream).
	limitCaller
)

// methodRule is everything besides authorization the server decides per
// method. Like methodRoles it is deny by default: a method missing here
// is refused, so a new RPC stays closed until its limits are decided.
type methodRule struct {
	limit limitClass
	// audit is the kind of event every call records; empty for reads that
	// are not audited.
	audit audit.Kind
	// deadline caps a unary call; zero means Config.MaxDeadline.
	deadline time.Duration
}

const (
	hotDeadline  = 5 * time.Second
	scanDeadline = 5 * time.Minute
)

var methodRules = map[string]methodRule{
	latchkeyv1.TokenService_ExchangeToken_FullMethodName:    {limit: limitExchange, audit: audit.KindExchange, deadline: hotDeadline},
	latchkeyv1.TokenService_IntrospectToken_FullMethodName:  {limit: limitCaller, deadline: hotDeadline},
	latchkeyv1.TokenService_GetJWKS_FullMethodName:          {limit: limitCaller, deadline: hotDeadline},
	latchkeyv1.TokenService_RevokeToken_FullMethodName:      {limit: limitCaller, audit: audit.KindTokenRevoke, deadline: hotDeadline},
	latchkeyv1.TokenService_WatchRevocations_FullMethodName: {limit: limitCaller},

	adminv1.KeyService_CreateKey_FullMethodName:      {limit: limitCaller, audit: audit.KindKeyCreate},
	adminv1.KeyService_GetKey_FullMethodName:         {limit: limitCaller},
	adminv1.KeyService_ListKeys_FullMethodName:       {limit: limitCaller},
	adminv1.KeyService_RevokeKey_FullMethodName:      {limit: limitCaller, audit: audit.KindKeyRevoke},
	adminv1.KeyService_UpdateKey_FullMethodName:      {limit: limitCaller, audit: audit.KindKeyUpdate},
	adminv1.KeyService_RotateKey_FullMethodName:      {limit: limitCaller, audit: audit.KindKeyRotate},
	adminv1.KeyService_DisableKey_FullMethodName:     {limit: limitCaller, audit: audit.KindKeyDisable},
	adminv1.KeyService_EnableKey_FullMethodName:      {limit: limitCaller, audit: audit.KindKeyEnable},
	adminv1.KeyService_AttestKey_FullMethodName:      {limit: limitCaller, audit: audit.KindKeyAttest},
	adminv1.KeyService_ListKeyHistory_FullMethodName: {limit: limitCaller},
	adminv1.KeyService_RevokeTokens_FullMethodName:   {limit: limitCaller, audit: audit.KindTokensRevoke},

	adminv1.SigningKeyService_ListSigningKeys_FullMethodName:  {limit: limitCaller},
	adminv1.SigningKeyService_RotateSigningKey_FullMethodName: {limit: limitCaller, audit: audit.KindSigningRotate},
	adminv1.SigningKeyService_RevokeSigningKey_FullMethodName: {limit: limitCaller, audit: audit.KindSigningRevoke},

	adminv1.AuditService_QueryAuditEvents_FullMethodName: {limit: limitCaller},
	adminv1.AuditService_TailAuditEvents_FullMethodName:  {limit: limitCaller},
	adminv1.AuditService_VerifyAuditChain_FullMethodName: {limit: limitCaller, deadline: scanDeadline},

	healthpb.Health_Check_FullMethodName: {limit: limitCaller, deadline: hotDeadline},
	healthpb.Health_Watch_FullMethodName: {limit: limitCaller},
	healthpb.Health_List_FullMethodName:  {limit: limitCaller, deadline: hotDeadline},

	reflectionv1.ServerReflection_ServerReflectionInfo_FullMethodName:      {limit: limitCaller},
	reflectionv1alpha.ServerReflection_ServerReflectionInfo_FullMethodName: {limit: limitCaller},
}
