package alert

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// SignatureHeader carries the webhook signature:
//
//	Latchkey-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>
//
// Signing the time with the body lets a receiver refuse replays older than
// its tolerance. A receiver accepts any of several v1 values, which lets a
// sender sign with an old and a new secret while the secret is rotated.
const SignatureHeader = "Latchkey-Signature"

// Signature verification errors.
var (
	ErrSignatureMalformed = errors.New("alert: malformed signature header")
	ErrSignatureStale     = errors.New("alert: signature timestamp outside tolerance")
	ErrSignatureMismatch  = errors.New("alert: signature does not match")
)

// MinSecretLen is the shortest HMAC key accepted for signing or verifying.
const MinSecretLen = 16

const (
	// maxSignatureHeader bounds the work an untrusted header can cause;
	// a dozen v1 values fit.
	maxSignatureHeader = 1024
	// maxTimestampDigits keeps t within int64 and well past any real clock.
	maxTimestampDigits = 12
)

// sign returns the SignatureHeader value for body at now.
func sign(key secret, now time.Time, body []byte) string {
	t := strconv.FormatInt(now.Unix(), 10)
	return "t=" + t + ",v1=" + hex.EncodeToString(mac(key.b, t, body))
}

func mac(key []byte, t string, body []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(t))
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(nil)
}

// VerifySignature checks a SignatureHeader value against body: the
// timestamp must be within tolerance of now, either side, and one v1 value
// must be the HMAC-SHA256 under secret. Unknown parameters are ignored so
// that a later scheme can be added beside v1. The header is untrusted input.
func VerifySignature(secret []byte, header string, body []byte, now time.Time, tolerance time.Duration) error {
	if len(secret) < MinSecretLen {
		return fmt.Errorf("%w: secret must be at least %d bytes", ErrInvalidConfig, MinSecretLen)
	}
	if tolerance <= 0 {
		return fmt.Errorf("%w: tolerance must be positive", ErrInvalidConfig)
	}
	t, sigs, err := parseSignature(header)
	if err != nil {
		return err
	}
	ts, err := strconv.ParseInt(t, 10, 64)
	if err != nil {
		return ErrSignatureMalformed
	}
	if now.Sub(time.Unix(ts, 0)).Abs() > tolerance {
		return ErrSignatureStale
	}
	want := mac(secret, t, body)
	ok := false
	for _, s := range sigs {
		// Every candidate is compared so the time taken does not depend on
		// which one matched.
		if hmac.Equal(s, want) {
			ok = true
		}
	}
	if !ok {
		return ErrSignatureMismatch
	}
	return nil
}

// parseSignature splits a header into its timestamp digits and decoded v1
// values.
func parseSignature(header string) (t string, sigs [][]byte, err error) {
	if len(header) > maxSignatureHeader {
		return "", nil, ErrSignatureMalformed
	}
	for part := range strings.SplitSeq(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return "", nil, ErrSignatureMalformed
		}
		switch k {
		case "t":
			if t != "" || !isDigits(v) || len(v) > maxTimestampDigits {
				return "", nil, ErrSignatureMalformed
			}
			t = v
		case "v1":
			s, err := hex.DecodeString(v)
			if err != nil || len(s) != sha256.Size {
				return "", nil, ErrSignatureMalformed
			}
			sigs = append(sigs, s)
		}
	}
	if t == "" || len(sigs) == 0 {
		return "", nil, ErrSignatureMalformed
	}
	return t, sigs, nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
