package server

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkeyhq/latchkey/issuer"
	"github.com/latchkeyhq/latchkey/pki"
)

const (
	httpTestIssuerURL = "https://latchkey.test"
	httpTestBaseURL   = "https://127.0.0.1:7444"
)

// newHTTPTestIssuer builds an issuer with keys fresh Ed25519 keys, the first
// one active.
func newHTTPTestIssuer(t *testing.T, keys int) *issuer.Issuer {
	t.Helper()
	signing := make([]*issuer.SigningKey, keys)
	for n := range signing {
		k, err := issuer.GenerateSigningKey()
		if err != nil {
			t.Fatal(err)
		}
		signing[n] = k
	}
	iss, err := issuer.New(issuer.Config{Issuer: httpTestIssuerURL, MaxTTL: time.Hour}, signing[0], signing[1:]...)
	if err != nil {
		t.Fatal(err)
	}
	return iss
}

func newHTTPTestHandler(t *testing.T, cfg HTTPConfig) http.Handler {
	t.Helper()
	h, err := NewHTTPHandler(cfg)
	if err != nil {
		t.Fatalf("NewHTTPHandler: %v", err)
	}
	return h
}

func staticIssuer(iss *issuer.Issuer) func() *issuer.Issuer {
	return func() *issuer.Issuer { return iss }
}

func httpDo(h http.Handler, method, path string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	return rec
}

func TestHTTPRoutes(t *testing.T) {
	iss := newHTTPTestIssuer(t, 1)
	h := newHTTPTestHandler(t, HTTPConfig{
		Issuer: staticIssuer(iss), IssuerURL: httpTestIssuerURL, BaseURL: httpTestBaseURL, MaxAge: 5 * time.Minute,
	})
	jwks, err := json.Marshal(map[string]any{"keys": iss.JWKS()})
	if err != nil {
		t.Fatal(err)
	}
	const public = "public, max-age=300"
	tests := []struct {
		name, method, path string
		wantCode           int
		wantType           string
		wantCache          string
		wantAllow          string
		// wantBody is checked exactly unless empty, in which case the
		// route's own test checks the body.
		wantBody string
	}{
		{"jwks GET", http.MethodGet, JWKSPath, 200, contentTypeJWKSet, public, "", string(jwks)},
		{"jwks HEAD", http.MethodHead, JWKSPath, 200, contentTypeJWKSet, public, "", ""},
		{"discovery GET", http.MethodGet, DiscoveryPath, 200, contentTypeJSON, public, "", ""},
		{"discovery HEAD", http.MethodHead, DiscoveryPath, 200, contentTypeJSON, public, "", ""},
		{"healthz GET", http.MethodGet, HealthPath, 200, contentTypeText, "no-store", "", "ok\n"},
		{"healthz HEAD", http.MethodHead, HealthPath, 200, contentTypeText, "no-store", "", ""},
		{"readyz GET", http.MethodGet, ReadyPath, 200, contentTypeText, "no-store", "", "ready\n"},
		{"jwks POST", http.MethodPost, JWKSPath, 405, contentTypeText, "no-store", "GET, HEAD", "method not allowed\n"},
		{"jwks PUT", http.MethodPut, JWKSPath, 405, contentTypeText, "no-store", "GET, HEAD", "method not allowed\n"},
		{"discovery DELETE", http.MethodDelete, DiscoveryPath, 405, contentTypeText, "no-store", "GET, HEAD", "method not allowed\n"},
		{"healthz OPTIONS", http.MethodOptions, HealthPath, 405, contentTypeText, "no-store", "GET, HEAD", "method not allowed\n"},
		{"readyz PATCH", http.MethodPatch, ReadyPath, 405, contentTypeText, "no-store", "GET, HEAD", "method not allowed\n"},
		{"readyz TRACE", http.MethodTrace, ReadyPath, 405, contentTypeText, "no-store", "GET, HEAD", "method not allowed\n"},
		{"root", http.MethodGet, "/", 404, contentTypeText, "no-store", "", "not found\n"},
		{"unknown", http.MethodGet, "/metrics", 404, contentTypeText, "no-store", "", "not found\n"},
		{"unknown POST", http.MethodPost, "/token", 404, contentTypeText, "no-store", "", "not found\n"},
		{"trailing slash", http.MethodGet, JWKSPath + "/", 404, contentTypeText, "no-store", "", "not found\n"},
		{"doubled slash", http.MethodGet, "/.well-known//jwks.json", 404, contentTypeText, "no-store", "", "not found\n"},
		{"dot segment", http.MethodGet, "/.well-known/x/../jwks.json", 404, contentTypeText, "no-store", "", "not found\n"},
		{"well-known prefix", http.MethodGet, "/.well-known/", 404, contentTypeText, "no-store", "", "not found\n"},
		{"case differs", http.MethodGet, "/HEALTHZ", 404, contentTypeText, "no-store", "", "not found\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := httpDo(h, tc.method, tc.path)
			if rec.Code != tc.wantCode {
				t.Fatalf("status = %d, want %d", rec.Code, tc.wantCode)
			}
			hdr := rec.Header()
			if got := hdr.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options = %q, want nosniff", got)
			}
			if got := hdr.Get("Content-Type"); got != tc.wantType {
				t.Errorf("Content-Type = %q, want %q", got, tc.wantType)
			}
			if got := hdr.Get("Cache-Control"); got != tc.wantCache {
				t.Errorf("Cache-Control = %q, want %q", got, tc.wantCache)
			}
			if got := hdr.Get("Allow"); got != tc.wantAllow {
				t.Errorf("Allow = %q, want %q", got, tc.wantAllow)
			}
			if tc.method == http.MethodHead {
				if rec.Body.Len() != 0 {
					t.Errorf("HEAD body = %q, want empty", rec.Body.String())
				}
				get := httpDo(h, http.MethodGet, tc.path)
				if got, want := hdr.Get("Content-Length"), get.Header().Get("Content-Length"); got != want || got == "" || got == "0" {
					t.Errorf("HEAD Content-Length = %q, GET has %q", got, want)
				}
				return
			}
			if tc.wantBody != "" && rec.Body.String() != tc.wantBody {
				t.Errorf("body = %q, want %q", rec.Body.String(), tc.wantBody)
			}
		})
	}
}

// privateJWKMembers are the RFC 7518 private key members; none may appear
// anywhere in a published document.
var privateJWKMembers = []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"}

func findPrivateMembers(v any, path string) []string {
	var found []string
	switch v := v.(type) {
	case map[string]any:
		for k, child := range v {
			if slices.Contains(privateJWKMembers, k) {
				found = append(found, path+"."+k)
			}
			found = append(found, findPrivateMembers(child, path+"."+k)...)
		}
	case []any:
		for _, child := range v {
			found = append(found, findPrivateMembers(child, path+"[]")...)
		}
	}
	return found
}

func TestHTTPJWKSPublishesExactlyThePublicKeys(t *testing.T) {
	tests := []struct {
		name string
		keys int
	}{
		{"active only", 1},
		{"active and verify-only", 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			iss := newHTTPTestIssuer(t, tc.keys)
			h := newHTTPTestHandler(t, HTTPConfig{Issuer: staticIssuer(iss), IssuerURL: httpTestIssuerURL, BaseURL: httpTestBaseURL})
			rec := httpDo(h, http.MethodGet, JWKSPath)
			if rec.Code != http.StatusOK {
				t.Fatalf("status = %d", rec.Code)
			}
			var generic map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &generic); err != nil {
				t.Fatal(err)
			}
			if bad := findPrivateMembers(generic, "$"); len(bad) != 0 {
				t.Fatalf("private members published: %v", bad)
			}
			if len(generic) != 1 {
				t.Fatalf("top-level members = %v, want only keys", generic)
			}
			var set struct {
				Keys []map[string]any `json:"keys"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &set); err != nil {
				t.Fatal(err)
			}
			if len(set.Keys) != tc.keys {
				t.Fatalf("published %d keys, want %d", len(set.Keys), tc.keys)
			}
			kids := map[string]bool{}
			for _, k := range set.Keys {
				kid, _ := k["kid"].(string)
				alg, _ := k["alg"].(string)
				if kid == "" || alg == "" || k["use"] != "sig" {
					t.Errorf("key %v lacks kid, alg or use=sig", k)
				}
				if kids[kid] {
					t.Errorf("kid %q published twice", kid)
				}
				kids[kid] = true
			}
			var typed struct {
				Keys []issuer.JWK `json:"keys"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &typed); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(typed.Keys, iss.JWKS()) {
				t.Fatalf("published %+v, issuer has %+v", typed.Keys, iss.JWKS())
			}
		})
	}
}

func TestHTTPDiscovery(t *testing.T) {
	type doc struct {
		Issuer      string   `json:"issuer"`
		JWKSURI     string   `json:"jwks_uri"`
		Algs        []string `json:"id_token_signing_alg_values_supported"`
		AuthMethods []string `json:"token_endpoint_auth_methods_supported"`
	}
	tests := []struct {
		name    string
		baseURL string
		keys    int
		want    doc
	}{
		{"one key", httpTestBaseURL, 1, doc{httpTestIssuerURL, httpTestBaseURL + JWKSPath, []string{"EdDSA"}, []string{"tls_client_auth"}}},
		{"algs unique across keys", httpTestBaseURL, 3, doc{httpTestIssuerURL, httpTestBaseURL + JWKSPath, []string{"EdDSA"}, []string{"tls_client_auth"}}},
		{"trailing slash on base", httpTestBaseURL + "/", 1, doc{httpTestIssuerURL, httpTestBaseURL + JWKSPath, []string{"EdDSA"}, []string{"tls_client_auth"}}},
		{"base with path", "https://keys.example/latchkey", 1, doc{httpTestIssuerURL, "https://keys.example/latchkey" + JWKSPath, []string{"EdDSA"}, []string{"tls_client_auth"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			iss := newHTTPTestIssuer(t, tc.keys)
			h := newHTTPTestHandler(t, HTTPConfig{Issuer: staticIssuer(iss), IssuerURL: httpTestIssuerURL, BaseURL: tc.baseURL})
			rec := httpDo(h, http.MethodGet, DiscoveryPath)
			if rec.Code != http.StatusOK {
				t.Fatalf("status = %d", rec.Code)
			}
			dec := json.NewDecoder(rec.Body)
			dec.DisallowUnknownFields()
			var got doc
			if err := dec.Decode(&got); err != nil {
				t.Fatal(err)
			}
			if got.Issuer != tc.want.Issuer || got.JWKSURI != tc.want.JWKSURI ||
				!slices.Equal(got.Algs, tc.want.Algs) || !slices.Equal(got.AuthMethods, tc.want.AuthMethods) {
				t.Fatalf("discovery = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestHTTPCacheControlMaxAge(t *testing.T) {
	tests := []struct {
		name   string
		maxAge time.Duration
		want   string
	}{
		{"zero", 0, "public, max-age=0"},
		{"whole seconds", 90 * time.Second, "public, max-age=90"},
		{"fraction is dropped, not rounded up", 1999 * time.Millisecond, "public, max-age=1"},
		{"hours", 2 * time.Hour, "public, max-age=7200"},
	}
	iss := newHTTPTestIssuer(t, 1)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHTTPTestHandler(t, HTTPConfig{Issuer: staticIssuer(iss), IssuerURL: httpTestIssuerURL, BaseURL: httpTestBaseURL, MaxAge: tc.maxAge})
			for _, path := range []string{JWKSPath, DiscoveryPath} {
				if got := httpDo(h, http.MethodGet, path).Header().Get("Cache-Control"); got != tc.want {
					t.Errorf("%s Cache-Control = %q, want %q", path, got, tc.want)
				}
			}
		})
	}
}

func TestHTTPFollowsSwappedIssuer(t *testing.T) {
	var current atomic.Pointer[issuer.Issuer]
	first := newHTTPTestIssuer(t, 1)
	current.Store(first)
	h := newHTTPTestHandler(t, HTTPConfig{Issuer: current.Load, IssuerURL: httpTestIssuerURL, BaseURL: httpTestBaseURL})

	published := func() []issuer.JWK {
		t.Helper()
		var set struct {
			Keys []issuer.JWK `json:"keys"`
		}
		if err := json.Unmarshal(httpDo(h, http.MethodGet, JWKSPath).Body.Bytes(), &set); err != nil {
			t.Fatal(err)
		}
		return set.Keys
	}
	second := newHTTPTestIssuer(t, 2)
	steps := []struct {
		name string
		use  *issuer.Issuer
	}{
		{"first issuer", first},
		{"swapped to second", second},
		{"swapped back", first},
	}
	for _, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			current.Store(step.use)
			if got := published(); !slices.Equal(got, step.use.JWKS()) {
				t.Fatalf("published %+v, want %+v", got, step.use.JWKS())
			}
		})
	}
}

func TestHTTPNoIssuerIsUnavailable(t *testing.T) {
	logs := &syncBuffer{}
	h := newHTTPTestHandler(t, HTTPConfig{
		Issuer:    func() *issuer.Issuer { return nil },
		IssuerURL: httpTestIssuerURL, BaseURL: httpTestBaseURL,
		Logger: slog.New(slog.NewTextHandler(logs, nil)),
	})
	for _, path := range []string{JWKSPath, DiscoveryPath} {
		t.Run(path, func(t *testing.T) {
			rec := httpDo(h, http.MethodGet, path)
			if rec.Code != http.StatusServiceUnavailable || rec.Body.String() != "not ready\n" {
				t.Fatalf("got %d %q, want 503 not ready", rec.Code, rec.Body.String())
			}
			if got := rec.Header().Get("Cache-Control"); got != "no-store" {
				t.Fatalf("Cache-Control = %q; an outage must not be cached", got)
			}
		})
	}
	if !strings.Contains(logs.String(), "level=ERROR") {
		t.Fatalf("missing issuer not logged: %q", logs.String())
	}
}

func TestHTTPReadiness(t *testing.T) {
	const secretish = "dial badger at /var/lib/latchkey: key=hunter2"
	tests := []struct {
		name     string
		ready    func(context.Context) error
		wantCode int
		wantBody string
		wantLog  string
	}{
		{"no check configured", nil, 200, "ready\n", ""},
		{"check passes", func(context.Context) error { return nil }, 200, "ready\n", ""},
		{"check fails", func(context.Context) error { return errors.New(secretish) }, 503, "not ready\n", secretish},
		{
			"check is bounded by a deadline",
			func(ctx context.Context) error {
				dl, ok := ctx.Deadline()
				if !ok || time.Until(dl) > readyTimeout {
					return errors.New("no deadline within the readiness timeout")
				}
				return nil
			},
			200, "ready\n", "",
		},
		{
			"check reports its deadline passed",
			func(ctx context.Context) error { return context.DeadlineExceeded },
			503, "not ready\n", "context deadline exceeded",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			logs := &syncBuffer{}
			h := newHTTPTestHandler(t, HTTPConfig{
				Issuer: staticIssuer(newHTTPTestIssuer(t, 1)), IssuerURL: httpTestIssuerURL, BaseURL: httpTestBaseURL,
				Ready: tc.ready, Logger: slog.New(slog.NewTextHandler(logs, nil)),
			})
			rec := httpDo(h, http.MethodGet, ReadyPath)
			if rec.Code != tc.wantCode || rec.Body.String() != tc.wantBody {
				t.Fatalf("got %d %q, want %d %q", rec.Code, rec.Body.String(), tc.wantCode, tc.wantBody)
			}
			if tc.wantLog == "" {
				if logs.String() != "" {
					t.Fatalf("unexpected log: %q", logs.String())
				}
				return
			}
			if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), tc.wantLog) {
				t.Fatalf("log = %q, want a warning with %q", logs.String(), tc.wantLog)
			}
		})
	}
}

func TestNewHTTPHandlerRejectsBadConfig(t *testing.T) {
	iss := staticIssuer(newHTTPTestIssuer(t, 1))
	good := HTTPConfig{Issuer: iss, IssuerURL: httpTestIssuerURL, BaseURL: httpTestBaseURL}
	tests := []struct {
		name   string
		mutate func(*HTTPConfig)
	}{
		{"no issuer", func(c *HTTPConfig) { c.Issuer = nil }},
		{"no issuer URL", func(c *HTTPConfig) { c.IssuerURL = "" }},
		{"no base URL", func(c *HTTPConfig) { c.BaseURL = "" }},
		{"plain http base", func(c *HTTPConfig) { c.BaseURL = "http://127.0.0.1:7444" }},
		{"relative base", func(c *HTTPConfig) { c.BaseURL = "/keys" }},
		{"base with query", func(c *HTTPConfig) { c.BaseURL = httpTestBaseURL + "?x=1" }},
		{"base with fragment", func(c *HTTPConfig) { c.BaseURL = httpTestBaseURL + "#x" }},
		{"base with user info", func(c *HTTPConfig) { c.BaseURL = "https://u:p@127.0.0.1:7444" }},
		{"negative max age", func(c *HTTPConfig) { c.MaxAge = -time.Second }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := good
			tc.mutate(&cfg)
			h, err := NewHTTPHandler(cfg)
			if err == nil || h != nil {
				t.Fatalf("got %v, %v; want an error", h, err)
			}
		})
	}
	if _, err := NewHTTPHandler(good); err != nil {
		t.Fatalf("good config rejected: %v", err)
	}
}

// startHTTPS serves h over TLS on a loopback port and returns its base URL
// and the CA that signed its certificate.
func startHTTPS(t *testing.T, h http.Handler) (string, *pki.CA, *http.Server) {
	t.Helper()
	now := time.Now()
	ca, err := pki.NewCA("latchkey http test CA", now.Add(-time.Hour), now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.IssueServer(pki.LeafOptions{DNSNames: []string{"localhost"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := NewHTTPServer(h, leaf.TLS)
	done := make(chan error, 1)
	go func() { done <- srv.ServeTLS(ln, "", "") }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("serve: %v", err)
		}
	})
	return "https://" + ln.Addr().String(), ca, srv
}

func TestHTTPServerSettings(t *testing.T) {
	srv := NewHTTPServer(http.NotFoundHandler(), tls.Certificate{Certificate: [][]byte{{1}}})
	cfg := srv.TLSConfig
	switch {
	case cfg == nil || cfg.MinVersion != tls.VersionTLS13 || cfg.ClientAuth != tls.NoClientCert || len(cfg.Certificates) != 1:
		t.Fatalf("TLS config = %+v", cfg)
	case srv.ReadHeaderTimeout != 5*time.Second, srv.ReadTimeout != 10*time.Second,
		srv.WriteTimeout != 10*time.Second, srv.IdleTimeout != 60*time.Second:
		t.Fatalf("timeouts = %v %v %v %v", srv.ReadHeaderTimeout, srv.ReadTimeout, srv.WriteTimeout, srv.IdleTimeout)
	case srv.MaxHeaderBytes != 16<<10:
		t.Fatalf("MaxHeaderBytes = %d", srv.MaxHeaderBytes)
	case srv.ErrorLog == nil || srv.ErrorLog.Writer() != io.Discard:
		t.Fatalf("ErrorLog must discard, got %v", srv.ErrorLog)
	}
}

func TestHTTPServerOverTLS(t *testing.T) {
	iss := newHTTPTestIssuer(t, 1)
	h := newHTTPTestHandler(t, HTTPConfig{Issuer: staticIssuer(iss), IssuerURL: httpTestIssuerURL, BaseURL: httpTestBaseURL, MaxAge: time.Minute})
	base, ca, _ := startHTTPS(t, h)

	tests := []struct {
		name        string
		tls         *tls.Config
		wantErr     string
		wantVersion uint16
	}{
		{"TLS 1.3 trusting the CA", &tls.Config{RootCAs: ca.Pool()}, "", tls.VersionTLS13},
		{"TLS 1.3 over HTTP/1.1", &tls.Config{RootCAs: ca.Pool(), NextProtos: []string{"http/1.1"}}, "", tls.VersionTLS13},
		{"TLS 1.2 only", &tls.Config{RootCAs: ca.Pool(), MaxVersion: tls.VersionTLS12}, "protocol version", 0},
		{"untrusted server", &tls.Config{}, "certificate signed by unknown authority", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := &http.Transport{TLSClientConfig: tc.tls, ForceAttemptHTTP2: true}
			defer tr.CloseIdleConnections()
			client := &http.Client{Transport: tr, Timeout: 5 * time.Second}
			resp, err := client.Get(base + JWKSPath)
			if tc.wantErr != "" {
				if err == nil {
					resp.Body.Close()
					t.Fatal("request succeeded, want a handshake failure")
				}
				if !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want it to mention %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if resp.TLS == nil || resp.TLS.Version != tc.wantVersion {
				t.Fatalf("TLS state = %+v, want version %x", resp.TLS, tc.wantVersion)
			}
			if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != contentTypeJWKSet ||
				resp.Header.Get("Cache-Control") != "public, max-age=60" {
				t.Fatalf("got %d %v", resp.StatusCode, resp.Header)
			}
			var set struct {
				Keys []issuer.JWK `json:"keys"`
			}
			if err := json.Unmarshal(body, &set); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(set.Keys, iss.JWKS()) {
				t.Fatalf("published %+v, want %+v", set.Keys, iss.JWKS())
			}
		})
	}
}
