package alert

import (
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

var (
	testSecret  = []byte("webhook-secret-0123456789abcdef")
	otherSecret = []byte("another-secret-0123456789abcdef")
	sigNow      = time.Unix(1_772_445_600, 0) // 2026-03-02T10:00:00Z
)

// header builds a SignatureHeader value by hand, independently of sign.
func header(t int64, body []byte, secrets ...[]byte) string {
	ts := strconv.FormatInt(t, 10)
	h := "t=" + ts
	for _, s := range secrets {
		h += ",v1=" + hex.EncodeToString(mac(s, ts, body))
	}
	return h
}

func TestSignRoundTrip(t *testing.T) {
	body := []byte(`{"id":"x"}`)
	got := sign(newSecret(testSecret), sigNow, body)
	if want := header(sigNow.Unix(), body, testSecret); got != want {
		t.Fatalf("sign = %q, want %q", got, want)
	}
	if err := VerifySignature(testSecret, got, body, sigNow, time.Minute); err != nil {
		t.Fatalf("VerifySignature: %v", err)
	}
}

func TestVerifySignature(t *testing.T) {
	body := []byte(`{"kind":"rate_spike"}`)
	now := sigNow.Unix()
	good := header(now, body, testSecret)
	sig := good[strings.Index(good, "v1="):]
	cases := []struct {
		name      string
		secret    []byte
		header    string
		body      []byte
		tolerance time.Duration
		want      error
	}{
		{"valid", testSecret, good, body, time.Minute, nil},
		{"spaces around parameters", testSecret, "t=" + strconv.FormatInt(now, 10) + " , " + sig, body, time.Minute, nil},
		{"unknown parameter ignored", testSecret, good + ",v2=zz", body, time.Minute, nil},
		{"second v1 for a rotated secret", testSecret, header(now, body, otherSecret, testSecret), body, time.Minute, nil},
		{"edge of tolerance in the past", testSecret, header(now-60, body, testSecret), body, time.Minute, nil},
		{"edge of tolerance in the future", testSecret, header(now+60, body, testSecret), body, time.Minute, nil},
		{"changed body", testSecret, good, []byte(`{"kind":"rate_spikE"}`), time.Minute, ErrSignatureMismatch},
		{"empty body", testSecret, good, nil, time.Minute, ErrSignatureMismatch},
		{"wrong secret", otherSecret, good, body, time.Minute, ErrSignatureMismatch},
		{"timestamp swapped", testSecret, "t=" + strconv.FormatInt(now+1, 10) + "," + sig, body, time.Minute, ErrSignatureMismatch},
		{"stale", testSecret, header(now-61, body, testSecret), body, time.Minute, ErrSignatureStale},
		{"from the future", testSecret, header(now+61, body, testSecret), body, time.Minute, ErrSignatureStale},
		{"epoch", testSecret, header(0, body, testSecret), body, time.Minute, ErrSignatureStale},
		{"empty", testSecret, "", body, time.Minute, ErrSignatureMalformed},
		{"no timestamp", testSecret, sig, body, time.Minute, ErrSignatureMalformed},
		{"no v1", testSecret, "t=" + strconv.FormatInt(now, 10), body, time.Minute, ErrSignatureMalformed},
		{"two timestamps", testSecret, good + ",t=1", body, time.Minute, ErrSignatureMalformed},
		{"negative timestamp", testSecret, "t=-1," + sig, body, time.Minute, ErrSignatureMalformed},
		{"signed timestamp", testSecret, "t=+" + strconv.FormatInt(now, 10) + "," + sig, body, time.Minute, ErrSignatureMalformed},
		{"huge timestamp", testSecret, "t=99999999999999999999," + sig, body, time.Minute, ErrSignatureMalformed},
		{"v1 not hex", testSecret, "t=1,v1=" + strings.Repeat("g", 64), body, time.Minute, ErrSignatureMalformed},
		{"v1 too short", testSecret, good[:len(good)-2], body, time.Minute, ErrSignatureMalformed},
		{"parameter without value", testSecret, good + ",v1", body, time.Minute, ErrSignatureMalformed},
		{"too long", testSecret, good + strings.Repeat(",x=y", 300), body, time.Minute, ErrSignatureMalformed},
		{"short secret", testSecret[:15], good, body, time.Minute, ErrInvalidConfig},
		{"zero tolerance", testSecret, good, body, 0, ErrInvalidConfig},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := VerifySignature(tc.secret, tc.header, tc.body, sigNow, tc.tolerance)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("VerifySignature = %v, want %v", err, tc.want)
			}
		})
	}
}

// FuzzVerifySignature feeds untrusted headers and bodies. Whatever it is
// given, VerifySignature must not panic, must answer with one of its
// errors, and may accept only a header that carries the true HMAC.
func FuzzVerifySignature(f *testing.F) {
	body := []byte(`{"id":"00112233445566778899aabbccddeeff","kind":"scope_probe"}`)
	f.Add(header(sigNow.Unix(), body, testSecret), body)
	f.Add(header(sigNow.Unix(), body, otherSecret, testSecret), body)
	f.Add("t=1,v1=00", []byte("x"))
	f.Add("", []byte(nil))
	f.Fuzz(func(t *testing.T, h string, body []byte) {
		err := VerifySignature(testSecret, h, body, sigNow, 5*time.Minute)
		switch {
		case err == nil:
			want := hex.EncodeToString(mac(testSecret, signedTime(t, h), body))
			if !strings.Contains(strings.ToLower(h), want) {
				t.Fatalf("accepted %q without the true signature %s", h, want)
			}
		case errors.Is(err, ErrSignatureMalformed), errors.Is(err, ErrSignatureStale), errors.Is(err, ErrSignatureMismatch):
		default:
			t.Fatalf("unexpected error %v", err)
		}
		// Whatever the body, a freshly signed header verifies.
		if err := VerifySignature(testSecret, sign(newSecret(testSecret), sigNow, body), body, sigNow, time.Second); err != nil {
			t.Fatalf("own signature rejected: %v", err)
		}
	})
}

// signedTime returns the timestamp text of a header VerifySignature
// accepted, exactly as it was signed.
func signedTime(t *testing.T, h string) string {
	ts, _, err := parseSignature(h)
	if err != nil {
		t.Fatalf("accepted header does not parse: %v", err)
	}
	return ts
}
