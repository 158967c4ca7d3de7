package policy

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

const day = 24 * time.Hour

// maxDays is the most days a time.Duration can hold.
const maxDays = math.MaxInt64 / int64(day)

var errDuration = errors.New(`invalid duration: write a number with a unit, such as "10m", "30s", "7d" or "0s"`)

// parseDuration is time.ParseDuration plus a leading whole number of days,
// since key lifetimes and rotation periods are naturally written in days:
// "30d", "1d12h", "-2d". A day is always 24 hours here; policy periods do
// not follow calendar or daylight-saving changes.
func parseDuration(s string) (time.Duration, error) {
	sign, rest := "", s
	if rest != "" && (rest[0] == '-' || rest[0] == '+') {
		sign, rest = rest[:1], rest[1:]
	}
	digits := len(rest) - len(strings.TrimLeft(rest, "0123456789"))
	if digits == 0 || digits == len(rest) || rest[digits] != 'd' {
		d, err := time.ParseDuration(s)
		if err != nil {
			return 0, errDuration
		}
		return d, nil
	}
	n, err := strconv.ParseInt(rest[:digits], 10, 64)
	if err != nil || n > maxDays {
		return 0, errDuration
	}
	total := time.Duration(n) * day
	if tail := rest[digits+1:]; tail != "" {
		// The tail must be a plain positive Go duration: no second sign,
		// and not the unitless "0" that ParseDuration allows.
		if tail[0] < '0' || tail[0] > '9' || tail == "0" {
			return 0, errDuration
		}
		d, err := time.ParseDuration(tail)
		if err != nil || d > math.MaxInt64-total {
			return 0, errDuration
		}
		total += d
	}
	if sign == "-" {
		total = -total
	}
	return total, nil
}

// duration is a time.Duration in the policy file, where it is written as a
// string accepted by parseDuration. A YAML number is refused: "600" could
// mean seconds or minutes.
type duration time.Duration

func (d *duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
		return errDuration
	}
	v, err := parseDuration(n.Value)
	if err != nil {
		return err
	}
	*d = duration(v)
	return nil
}

// get returns *d, or def when the field was absent.
func (d *duration) get(def time.Duration) time.Duration {
	if d == nil {
		return def
	}
	return time.Duration(*d)
}
