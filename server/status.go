package server

import (
	"context"
	"errors"
	"log/slog"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/latchkeyhq/latchkey/policy"
	"github.com/latchkeyhq/latchkey/store"
)

// Errors of the exchange and key domains. Their text is what the caller sees.
var (
	// errInvalidRootKey covers every way a presented root key can fail before
	// its secret is proven: malformed, unknown, wrong secret, revoked,
	// disabled, expired. One text for all, so the answer is no oracle.
	errInvalidRootKey = errors.New("invalid root key")
	// errNotBound is returned only after the secret was proven, so it reveals
	// nothing to someone who does not hold the key.
	errNotBound = errors.New("root key is not bound to this caller")
)

// invalidArgError is a request the caller must fix; its text is safe to return.
type invalidArgError struct{ msg string }

func (e invalidArgError) Error() string { return e.msg }

func invalidArg(msg string) error { return invalidArgError{msg: msg} }

// preconditionError is a request that cannot apply to the key in its current
// state (rotating a revoked key); its text is safe to return.
type preconditionError struct{ msg string }

func (e preconditionError) Error() string { return e.msg }

func precondition(msg string) error { return preconditionError{msg: msg} }

// notFoundError names what was not found, in words safe to return.
type notFoundError struct{ msg string }

func (e notFoundError) Error() string { return e.msg }

func notFound(msg string) error { return notFoundError{msg: msg} }

// toStatus is the one place where domain errors become gRPC status codes. The
// caller gets a safe text; the detail, if any, is logged once here.
func toStatus(ctx context.Context, log *slog.Logger, err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	var limited *rateLimitedError
	if errors.As(err, &limited) {
		return limited.status()
	}
	var (
		scopeErr *policy.ScopeNotAllowedError
		audErr   *policy.AudienceNotAllowedError
		argErr   invalidArgError
		preErr   preconditionError
		nfErr    notFoundError
	)
	switch {
	case errors.Is(err, errInvalidRootKey):
		return status.Error(codes.Unauthenticated, errInvalidRootKey.Error())
	case errors.Is(err, errNotBound):
		return status.Error(codes.PermissionDenied, errNotBound.Error())
	case errors.As(err, &scopeErr), errors.As(err, &audErr):
		return status.Error(codes.PermissionDenied, err.Error())
	case errors.Is(err, policy.ErrKeyHasNoScopes), errors.Is(err, policy.ErrKeyHasNoAudiences):
		return status.Error(codes.PermissionDenied, "root key grants nothing under the current policy")
	case errors.As(err, &argErr):
		return status.Error(codes.InvalidArgument, argErr.msg)
	case errors.As(err, &nfErr):
		return status.Error(codes.NotFound, nfErr.msg)
	case errors.As(err, &preErr):
		return status.Error(codes.FailedPrecondition, preErr.msg)
	case errors.Is(err, policy.ErrInvalidRequest):
		return status.Error(codes.InvalidArgument, err.Error())
	case errors.Is(err, store.ErrInvalidArgument):
		return status.Error(codes.InvalidArgument, "invalid argument")
	case errors.Is(err, store.ErrInvalidPageToken):
		return status.Error(codes.InvalidArgument, "invalid page token")
	case errors.Is(err, store.ErrNotFound):
		return status.Error(codes.NotFound, "not found")
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, "deadline exceeded")
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, "canceled")
	case errors.Is(err, store.ErrUnavailable):
		log.ErrorContext(ctx, "store unavailable", "error", err)
		return status.Error(codes.Unavailable, "store unavailable")
	}
	log.ErrorContext(ctx, "internal error", "error", err)
	return status.Error(codes.Internal, "internal error")
}
