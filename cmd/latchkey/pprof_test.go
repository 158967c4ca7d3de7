package main

import (
	"io"
	"log/slog"
	"net/http"
	"testing"
)

func TestCheckPprofListen(t *testing.T) {
	cases := map[string]bool{
		"127.0.0.1:6061": true, "[::1]:0": true, "localhost:6061": true,
		"0.0.0.0:6061": false, ":6061": false, "10.0.0.1:6061": false, "[::]:6061": false,
		"example.com:6061": false, "127.0.0.1": false,
	}
	for addr, ok := range cases {
		t.Run(addr, func(t *testing.T) {
			if err := checkPprofListen(addr); (err == nil) != ok {
				t.Fatalf("checkPprofListen(%q) = %v, want accepted=%v", addr, err, ok)
			}
		})
	}
}

func TestStartPprofServesOnlyProfiles(t *testing.T) {
	srv, lisAddr, err := startPprof("127.0.0.1:0", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	addr := lisAddr.String()
	for path, want := range map[string]int{"/debug/pprof/cmdline": 200, "/debug/pprof/goroutine?debug=1": 200, "/": 404, "/metrics": 404} {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s = %d, want %d", path, resp.StatusCode, want)
		}
	}
}
