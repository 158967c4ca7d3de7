package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/latchkeyhq/latchkey/audit"
	"github.com/latchkeyhq/latchkey/issuer"
	"github.com/latchkeyhq/latchkey/policy"
)

// other is the label value every out-of-vocabulary input is folded into, so
// a value from a new code path (or a secret passed by mistake) adds to one
// known series instead of creating a new one.
const other = "other"

// resultGranted is the exchange result for an issued token; denials use the
// audit reasons, so the audit trail and the metrics agree on vocabulary.
const resultGranted = "granted"

var (
	exchangeResults = []string{
		resultGranted,
		audit.ReasonMalformedKey,
		audit.ReasonUnknownKey,
		audit.ReasonBadSecret,
		audit.ReasonKeyRevoked,
		audit.ReasonKeyDisabled,
		audit.ReasonKeyExpired,
		audit.ReasonNotBound,
		audit.ReasonScopeDenied,
		audit.ReasonInvalidRequest,
		audit.ReasonRateLimited,
		audit.ReasonInternal,
	}
	tokenAlgs       = []string{issuer.AlgEdDSA, issuer.AlgES256, issuer.AlgRS256}
	revocationKinds = []string{"token", "key", "subject", "signing_key"}
	limiters        = []string{"key", "identity", "caller", "global"}
	alertKinds      = policy.AlertKinds
	storeOps        = []string{"get", "put", "list", "revoke", "audit", "usage", "signing"}
	keyStates       = []string{"active", "disabled", "revoked", "expired"}
)

// vocabCounter is a counter vector whose label takes values from a fixed
// list. Every series is created up front, so rate() sees a zero before the
// first event and the hot path is a map read with no allocation.
type vocabCounter struct {
	byValue map[string]prometheus.Counter
	other   prometheus.Counter
}

func newVocabCounter(reg prometheus.Registerer, opts prometheus.CounterOpts, label string, values []string) *vocabCounter {
	opts.Namespace = namespace
	vec := prometheus.NewCounterVec(opts, []string{label})
	reg.MustRegister(vec)
	v := &vocabCounter{
		byValue: make(map[string]prometheus.Counter, len(values)),
		other:   vec.WithLabelValues(other),
	}
	for _, value := range values {
		v.byValue[value] = vec.WithLabelValues(value)
	}
	return v
}

// inc counts one event under value, or under "other" when value is not in
// the vocabulary.
func (v *vocabCounter) inc(value string) {
	c, ok := v.byValue[value]
	if !ok {
		c = v.other
	}
	c.Inc()
}

// fold returns value if it is in vocab and "other" otherwise.
func fold(value string, vocab []string) string {
	for _, v := range vocab {
		if v == value {
			return v
		}
	}
	return other
}
