package server

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// callLogUnary logs each finished unary call with the field names of
// go-grpc-middleware's logging interceptor, never a payload: requests and
// responses carry root keys and tokens. It builds nothing unless the
// line's level is enabled, because most calls succeed and are logged at
// debug (the audit trail holds every exchange and change), and building
// the fields of a line nobody reads cost as much CPU as the trail.
func callLogUnary(l *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		start := time.Now()
		resp, err := handler(ctx, req)
		code := status.Code(err)
		lvl := slog.Level(callLogLevel(code))
		if !l.Enabled(ctx, lvl) {
			return resp, err
		}
		service, method := splitMethod(info.FullMethod)
		attrs := make([]slog.Attr, 0, 11)
		attrs = append(attrs,
			slog.String("protocol", "grpc"),
			slog.String("grpc.component", "server"),
			slog.String("grpc.service", service),
			slog.String("grpc.method", method),
			slog.String("grpc.method_type", "unary"),
		)
		if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
			attrs = append(attrs, slog.String("peer.address", p.Addr.String()))
		}
		if c, err := callerFromPeer(ctx); err == nil {
			attrs = append(attrs, slog.String("caller", c.Identity))
		}
		attrs = append(attrs,
			slog.String("grpc.start_time", start.Format(time.RFC3339)),
			slog.String("grpc.code", code.String()),
			slog.String("grpc.time_ms", durationMillis(time.Since(start))),
		)
		if err != nil {
			// Status messages are written by this server and never hold a
			// secret; see toStatus.
			attrs = append(attrs, slog.String("grpc.error", err.Error()))
		}
		l.LogAttrs(ctx, lvl, "finished call", attrs...)
		return resp, err
	}
}

// splitMethod turns "/pkg.Service/Method" into its two names.
func splitMethod(full string) (service, method string) {
	full = strings.TrimPrefix(full, "/")
	if i := strings.LastIndexByte(full, '/'); i >= 0 {
		return full[:i], full[i+1:]
	}
	return "unknown", full
}

// durationMillis is d in milliseconds with microsecond precision.
func durationMillis(d time.Duration) string {
	return strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', 3, 64)
}
