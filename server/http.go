package server

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/latchkeyhq/latchkey/issuer"
)

// Paths served by the HTTPS side.
const (
	JWKSPath      = "/.well-known/jwks.json"
	DiscoveryPath = "/.well-known/openid-configuration"
	HealthPath    = "/healthz"
	ReadyPath     = "/readyz"
	MetricsPath   = "/metrics"
)

// readyTimeout bounds one readiness check, so a hung store makes /readyz
// answer 503 rather than hold the prober's connection.
const readyTimeout = 2 * time.Second

// HTTP server limits set by NewHTTPServer. The documents served are small and
// no route reads a request body, so tight limits cost nothing.
const (
	httpReadHeaderTimeout = 5 * time.Second
	httpReadTimeout       = 10 * time.Second
	httpWriteTimeout      = 10 * time.Second
	httpIdleTimeout       = 60 * time.Second
	httpMaxHeaderBytes    = 16 << 10
)

const (
	contentTypeJWKSet = "application/jwk-set+json"
	contentTypeJSON   = "application/json"
	contentTypeText   = "text/plain; charset=utf-8"
)

// HTTPConfig configures the HTTPS side: the public keys, OpenID discovery
// metadata and health probes. It serves nothing secret and reads no request
// body.
type HTTPConfig struct {
	// Issuer returns the issuer whose keys are published. It is called on
	// every request, so a rotated keyring is served as soon as it is swapped
	// in. Required.
	Issuer func() *issuer.Issuer
	// IssuerURL is the iss of minted tokens. Required.
	IssuerURL string
	// BaseURL is where clients reach this HTTPS side, e.g.
	// https://127.0.0.1:7444; jwks_uri is built from it. Required, https.
	BaseURL string
	// MaxAge is how long clients may cache the JWKS and discovery document.
	// It must not exceed the lead with which a new key is published before it
	// signs, or a client could miss a key that is already in use. Sub-second
	// parts are dropped, never rounded up.
	MaxAge time.Duration
	// Ready reports whether the service can answer (e.g. the store is
	// reachable). Nil means always ready.
	Ready func(context.Context) error
	// Logger receives readiness failures. Nil discards them.
	Logger *slog.Logger
	// Metrics, when set, is served at MetricsPath (Prometheus text format).
	Metrics http.Handler
	// MetricsToken, when set, is the bearer token MetricsPath requires:
	// "Authorization: Bearer <token>", as Prometheus sends with
	// authorization.credentials_file. At least MinMetricsTokenLen visible
	// ASCII characters. Empty leaves the metrics open to any client.
	MetricsToken []byte
}

// MinMetricsTokenLen is the shortest metrics bearer token accepted.
const MinMetricsTokenLen = 16

type httpHandler struct {
	issuer       func() *issuer.Issuer
	issuerURL    string
	jwksURI      string
	cacheControl string
	ready        func(context.Context) error
	log          *slog.Logger
	routes       map[string]http.HandlerFunc
	// docs holds the rendered documents for the last issuer seen; the
	// documents only change when the issuer does.
	docs atomic.Pointer[publishedDocs]
}

type publishedDocs struct {
	from      *issuer.Issuer
	jwks      []byte
	discovery []byte
}

// NewHTTPHandler validates cfg and returns the handler for the HTTPS side.
// Only GET and HEAD are served; other methods get 405 with an Allow header,
// unknown paths 404.
func NewHTTPHandler(cfg HTTPConfig) (http.Handler, error) {
	if cfg.Issuer == nil {
		return nil, errors.New("server: HTTP issuer source is required")
	}
	if cfg.IssuerURL == "" {
		return nil, errors.New("server: HTTP issuer URL is required")
	}
	base, err := url.Parse(cfg.BaseURL)
	if err != nil || base.Scheme != "https" || base.Host == "" || base.User != nil ||
		base.RawQuery != "" || base.Fragment != "" {
		return nil, errors.New("server: HTTP base URL must be an absolute https URL without query or fragment")
	}
	if cfg.MaxAge < 0 {
		return nil, errors.New("server: HTTP max age must not be negative")
	}
	if cfg.Ready == nil {
		cfg.Ready = func(context.Context) error { return nil }
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	h := &httpHandler{
		issuer:       cfg.Issuer,
		issuerURL:    cfg.IssuerURL,
		jwksURI:      strings.TrimSuffix(cfg.BaseURL, "/") + JWKSPath,
		cacheControl: "public, max-age=" + strconv.FormatInt(int64(cfg.MaxAge/time.Second), 10),
		ready:        cfg.Ready,
		log:          cfg.Logger,
	}
	h.routes = map[string]http.HandlerFunc{
		JWKSPath:      h.serveJWKS,
		DiscoveryPath: h.serveDiscovery,
		HealthPath:    h.serveHealth,
		ReadyPath:     h.serveReady,
	}
	switch {
	case len(cfg.MetricsToken) > 0 && cfg.Metrics == nil:
		return nil, errors.New("server: a metrics token needs metrics to serve")
	case len(cfg.MetricsToken) > 0:
		if err := CheckMetricsToken(cfg.MetricsToken); err != nil {
			return nil, err
		}
		h.routes[MetricsPath] = bearerOnly(cfg.MetricsToken, cfg.Metrics)
	case cfg.Metrics != nil:
		h.routes[MetricsPath] = cfg.Metrics.ServeHTTP
	}
	return h, nil
}

// CheckMetricsToken reports whether tok can be the metrics bearer token:
// long enough, and only characters a header carries unchanged (visible
// ASCII, no spaces).
func CheckMetricsToken(tok []byte) error {
	if len(tok) < MinMetricsTokenLen {
		return fmt.Errorf("server: metrics token must be at least %d characters", MinMetricsTokenLen)
	}
	for _, c := range tok {
		if c <= ' ' || c > '~' {
			return errors.New("server: metrics token must be visible ASCII without spaces")
		}
	}
	return nil
}

// bearerOnly serves next only to a request whose Authorization header
// carries token. Both are hashed before the constant-time comparison, so
// neither the token's bytes nor its length show in the timing.
func bearerOnly(token []byte, next http.Handler) http.HandlerFunc {
	want := sha256.Sum256(token)
	return func(w http.ResponseWriter, r *http.Request) {
		got, ok := bearerToken(r.Header.Values("Authorization"))
		sum := sha256.Sum256([]byte(got))
		if subtle.ConstantTimeCompare(sum[:], want[:]) != 1 || !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="latchkey metrics"`)
			writeBody(w, r, http.StatusUnauthorized, contentTypeText, "no-store", []byte("unauthorized\n"))
			return
		}
		next.ServeHTTP(w, r)
	}
}

// bearerToken returns the credentials of a single "Bearer" Authorization
// header (the scheme's name is case-insensitive, RFC 9110 section 11.1).
func bearerToken(headers []string) (string, bool) {
	if len(headers) != 1 {
		return "", false
	}
	scheme, tok, ok := strings.Cut(headers[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return "", false
	}
	return tok, true
}

// ServeHTTP matches the path exactly: no prefix matching, no redirects to a
// cleaned path, so the surface is exactly the four routes.
func (h *httpHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	serve, ok := h.routes[r.URL.Path]
	if !ok {
		writeBody(w, r, http.StatusNotFound, contentTypeText, "no-store", []byte("not found\n"))
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeBody(w, r, http.StatusMethodNotAllowed, contentTypeText, "no-store", []byte("method not allowed\n"))
		return
	}
	serve(w, r)
}

func (h *httpHandler) serveJWKS(w http.ResponseWriter, r *http.Request) {
	docs, ok := h.published(r.Context())
	if !ok {
		writeBody(w, r, http.StatusServiceUnavailable, contentTypeText, "no-store", []byte("not ready\n"))
		return
	}
	writeBody(w, r, http.StatusOK, contentTypeJWKSet, h.cacheControl, docs.jwks)
}

func (h *httpHandler) serveDiscovery(w http.ResponseWriter, r *http.Request) {
	docs, ok := h.published(r.Context())
	if !ok {
		writeBody(w, r, http.StatusServiceUnavailable, contentTypeText, "no-store", []byte("not ready\n"))
		return
	}
	writeBody(w, r, http.StatusOK, contentTypeJSON, h.cacheControl, docs.discovery)
}

func (h *httpHandler) serveHealth(w http.ResponseWriter, r *http.Request) {
	writeBody(w, r, http.StatusOK, contentTypeText, "no-store", []byte("ok\n"))
}

func (h *httpHandler) serveReady(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
	defer cancel()
	if err := h.ready(ctx); err != nil {
		// The prober is not necessarily trusted: the reason goes to the log
		// only.
		h.log.WarnContext(ctx, "readiness check failed", "err", err)
		writeBody(w, r, http.StatusServiceUnavailable, contentTypeText, "no-store", []byte("not ready\n"))
		return
	}
	writeBody(w, r, http.StatusOK, contentTypeText, "no-store", []byte("ready\n"))
}

// published returns the documents for the current issuer, rendering them
// only when the issuer has changed since the last request.
func (h *httpHandler) published(ctx context.Context) (*publishedDocs, bool) {
	iss := h.issuer()
	if iss == nil {
		h.log.ErrorContext(ctx, "no issuer to publish keys from")
		return nil, false
	}
	if d := h.docs.Load(); d != nil && d.from == iss {
		return d, true
	}
	d, err := h.render(iss)
	if err != nil {
		h.log.ErrorContext(ctx, "rendering published key documents", "err", err)
		return nil, false
	}
	h.docs.Store(d)
	return d, true
}

type jwkSet struct {
	Keys []issuer.JWK `json:"keys"`
}

type discoveryDoc struct {
	Issuer                    string   `json:"issuer"`
	JWKSURI                   string   `json:"jwks_uri"`
	SigningAlgValuesSupported []string `json:"id_token_signing_alg_values_supported"`
	TokenEndpointAuthMethods  []string `json:"token_endpoint_auth_methods_supported"`
}

func (h *httpHandler) render(iss *issuer.Issuer) (*publishedDocs, error) {
	keys := iss.JWKS()
	if keys == nil {
		keys = []issuer.JWK{}
	}
	algs := make([]string, 0, len(keys))
	for _, k := range keys {
		if k.Alg != "" {
			algs = append(algs, k.Alg)
		}
	}
	slices.Sort(algs)
	jwks, err := json.Marshal(jwkSet{Keys: keys})
	if err != nil {
		return nil, err
	}
	disc, err := json.Marshal(discoveryDoc{
		Issuer:                    h.issuerURL,
		JWKSURI:                   h.jwksURI,
		SigningAlgValuesSupported: slices.Compact(algs),
		TokenEndpointAuthMethods:  []string{"tls_client_auth"},
	})
	if err != nil {
		return nil, err
	}
	return &publishedDocs{from: iss, jwks: jwks, discovery: disc}, nil
}

// writeBody sets the headers every response carries and leaves the body out
// of HEAD responses while keeping its Content-Length.
func writeBody(w http.ResponseWriter, r *http.Request, code int, contentType, cacheControl string, body []byte) {
	hdr := w.Header()
	hdr.Set("Content-Type", contentType)
	hdr.Set("Cache-Control", cacheControl)
	hdr.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(code)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

// NewHTTPServer wraps h in an http.Server for TLS 1.3 with cert and the
// limits above. Clients are not asked for certificates: everything served
// here is public. Serve it with ServeTLS(listener, "", "").
//
// Handshake and protocol errors from scanners and broken clients are
// discarded rather than logged: they are not actionable and would let any
// peer fill the log.
func NewHTTPServer(h http.Handler, cert tls.Certificate) *http.Server {
	return &http.Server{
		Handler: h,
		TLSConfig: &tls.Config{
			MinVersion:   tls.VersionTLS13,
			Certificates: []tls.Certificate{cert},
			ClientAuth:   tls.NoClientCert,
		},
		ReadHeaderTimeout: httpReadHeaderTimeout,
		ReadTimeout:       httpReadTimeout,
		WriteTimeout:      httpWriteTimeout,
		IdleTimeout:       httpIdleTimeout,
		MaxHeaderBytes:    httpMaxHeaderBytes,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
}
