package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// dayDuration is a flag value that accepts Go durations plus a leading day
// count: "30d", "1d12h", "90m".
type dayDuration struct{ d *time.Duration }

func (v dayDuration) String() string {
	if v.d == nil || *v.d == 0 {
		return "0"
	}
	return v.d.String()
}

func (v dayDuration) Type() string { return "duration" }

func (v dayDuration) Set(s string) error {
	d, err := parseDays(s)
	if err != nil {
		return err
	}
	*v.d = d
	return nil
}

func parseDays(s string) (time.Duration, error) {
	days, rest, found := strings.Cut(s, "d")
	if !found {
		return time.ParseDuration(s)
	}
	n, err := strconv.ParseUint(days, 10, 16)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q: want e.g. 30d, 1d12h or 90m", s)
	}
	d := time.Duration(n) * 24 * time.Hour
	if rest != "" {
		r, err := time.ParseDuration(rest)
		if err != nil || r < 0 {
			return 0, fmt.Errorf("invalid duration %q: want e.g. 30d, 1d12h or 90m", s)
		}
		d += r
	}
	return d, nil
}
