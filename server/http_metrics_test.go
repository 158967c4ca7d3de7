package server

import (
	"crypto/tls"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

const metricsTestToken = "s3cret-metrics-token_0123456789"

// The metrics behind a bearer token, served over real TLS: only a request
// with exactly that token under the Bearer scheme reads them, and the
// other routes stay open.
func TestHTTPMetricsBearerToken(t *testing.T) {
	iss := newHTTPTestIssuer(t, 1)
	metrics := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "latchkey_up 1\n")
	})
	h := newHTTPTestHandler(t, HTTPConfig{
		Issuer: staticIssuer(iss), IssuerURL: httpTestIssuerURL, BaseURL: httpTestBaseURL,
		Metrics: metrics, MetricsToken: []byte(metricsTestToken),
	})
	base, ca, _ := startHTTPS(t, h)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}, ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 5 * time.Second}

	get := func(t *testing.T, path string, auth ...string) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, base+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range auth {
			req.Header.Add("Authorization", a)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, string(body)
	}

	refused := []struct {
		name string
		auth []string
	}{
		{"no header", nil},
		{"wrong token", []string{"Bearer " + metricsTestToken + "x"}},
		{"token prefix", []string{"Bearer " + metricsTestToken[:len(metricsTestToken)-1]}},
		{"empty token", []string{"Bearer "}},
		{"scheme only", []string{"Bearer"}},
		{"basic scheme", []string{"Basic " + metricsTestToken}},
		{"token without scheme", []string{metricsTestToken}},
		{"two headers", []string{"Bearer " + metricsTestToken, "Bearer " + metricsTestToken}},
		{"extra space", []string{"Bearer  " + metricsTestToken}},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := get(t, MetricsPath, tc.auth...)
			if resp.StatusCode != http.StatusUnauthorized || body != "unauthorized\n" ||
				resp.Header.Get("WWW-Authenticate") != `Bearer realm="latchkey metrics"` ||
				resp.Header.Get("Cache-Control") != "no-store" {
				t.Fatalf("got %d %q %v, want 401 with a Bearer challenge", resp.StatusCode, body, resp.Header)
			}
		})
	}
	for _, scheme := range []string{"Bearer", "bearer", "BEARER"} {
		t.Run("scheme "+scheme, func(t *testing.T) {
			resp, body := get(t, MetricsPath, scheme+" "+metricsTestToken)
			if resp.StatusCode != http.StatusOK || body != "latchkey_up 1\n" {
				t.Fatalf("got %d %q, want the metrics", resp.StatusCode, body)
			}
		})
	}
	t.Run("other routes need no token", func(t *testing.T) {
		for _, path := range []string{HealthPath, JWKSPath, DiscoveryPath} {
			if resp, _ := get(t, path); resp.StatusCode != http.StatusOK {
				t.Fatalf("GET %s = %d", path, resp.StatusCode)
			}
		}
	})
}

func TestHTTPMetricsTokenRejected(t *testing.T) {
	iss := newHTTPTestIssuer(t, 1)
	metrics := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	cases := []struct {
		name    string
		metrics http.Handler
		token   string
		want    string
	}{
		{"too short", metrics, strings.Repeat("a", MinMetricsTokenLen-1), "at least 16"},
		{"space inside", metrics, "abcdefgh ijklmnopq", "visible ASCII"},
		{"newline inside", metrics, "abcdefghijklmnop\nq", "visible ASCII"},
		{"non-ASCII", metrics, "abcdefghijklmnopé", "visible ASCII"},
		{"no metrics to guard", nil, metricsTestToken, "needs metrics"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewHTTPHandler(HTTPConfig{
				Issuer: staticIssuer(iss), IssuerURL: httpTestIssuerURL, BaseURL: httpTestBaseURL,
				Metrics: tc.metrics, MetricsToken: []byte(tc.token),
			})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
			if strings.Contains(err.Error(), tc.token) {
				t.Fatalf("error %q shows the token", err)
			}
		})
	}
	if _, err := NewHTTPHandler(HTTPConfig{
		Issuer: staticIssuer(iss), IssuerURL: httpTestIssuerURL, BaseURL: httpTestBaseURL,
		Metrics: metrics, MetricsToken: []byte(strings.Repeat("~", MinMetricsTokenLen)),
	}); err != nil {
		t.Fatalf("a %d-character token: %v", MinMetricsTokenLen, err)
	}
}
