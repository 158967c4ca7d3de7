package server

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

func TestCallLogUnary(t *testing.T) {
	info := &grpc.UnaryServerInfo{FullMethod: "/latchkey.v1.TokenService/ExchangeToken"}
	peerCtx := peer.NewContext(context.Background(), &peer.Peer{Addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 4242}})
	cases := []struct {
		name     string
		level    slog.Level
		err      error
		wantLine bool
		wantLvl  string
		wantCode string
	}{
		{"success is not logged at info", slog.LevelInfo, nil, false, "", ""},
		{"success is logged at debug", slog.LevelDebug, nil, true, "DEBUG", "OK"},
		{"client error is logged at info", slog.LevelInfo, status.Error(codes.InvalidArgument, "too many scopes"), true, "INFO", "InvalidArgument"},
		{"server error is logged at warn", slog.LevelWarn, status.Error(codes.Unavailable, "store unavailable"), true, "WARN", "Unavailable"},
		{"client error is not logged at warn", slog.LevelWarn, status.Error(codes.NotFound, "no such key"), false, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var buf bytes.Buffer
			l := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: c.level}))
			resp, err := callLogUnary(l)(peerCtx, "req", info, func(context.Context, any) (any, error) {
				if c.err != nil {
					return nil, c.err
				}
				return "resp", nil
			})
			if err != c.err {
				t.Fatalf("error %v, want %v", err, c.err)
			}
			if c.err == nil && resp != "resp" {
				t.Fatalf("response %v, want the handler's", resp)
			}
			if !c.wantLine {
				if buf.Len() != 0 {
					t.Fatalf("logged %q, want nothing", buf.String())
				}
				return
			}
			var line map[string]any
			if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
				t.Fatalf("log line %q: %v", buf.String(), err)
			}
			want := map[string]string{
				"level": c.wantLvl, "msg": "finished call", "grpc.code": c.wantCode,
				"grpc.service": "latchkey.v1.TokenService", "grpc.method": "ExchangeToken",
				"grpc.method_type": "unary", "peer.address": "127.0.0.1:4242",
			}
			for k, v := range want {
				if line[k] != v {
					t.Errorf("%s = %v, want %q", k, line[k], v)
				}
			}
			if _, ok := line["grpc.time_ms"]; !ok {
				t.Error("no grpc.time_ms")
			}
			if _, ok := line["grpc.error"]; ok != (c.err != nil) {
				t.Errorf("grpc.error present = %v, want %v", ok, c.err != nil)
			}
		})
	}
}
