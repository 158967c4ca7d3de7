package policy

import (
	"errors"
	"math"
	"strconv"
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	maxDaysStr := strconv.FormatInt(maxDays, 10)
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"10m", 10 * time.Minute, true},
		{"1h30m", 90 * time.Minute, true},
		{"0s", 0, true},
		{"0", 0, true}, // as time.ParseDuration; the schema refuses an unquoted 0
		{"1.5h", 90 * time.Minute, true},
		{"-5m", -5 * time.Minute, true},
		{"30d", 30 * day, true},
		{"0d", 0, true},
		{"1d12h", 36 * time.Hour, true},
		{"1d1h1m1s", day + time.Hour + time.Minute + time.Second, true},
		{"1d0.5h", day + 30*time.Minute, true},
		{"+2d", 2 * day, true},
		{"-2d", -2 * day, true},
		{"-1d12h", -36 * time.Hour, true},
		{"007d", 7 * day, true},
		{maxDaysStr + "d", time.Duration(maxDays) * day, true},
		{maxDaysStr + "d1s", time.Duration(maxDays)*day + time.Second, true},
		{"", 0, false},
		{"d", 0, false},
		{"-d", 0, false},
		{"30", 0, false},
		{"1D", 0, false},
		{"1.5d", 0, false},
		{".5d", 0, false},
		{"1d1d", 0, false},
		{"12h1d", 0, false},
		{"1d-2h", 0, false},
		{"1d+2h", 0, false},
		{"1d0", 0, false},
		{"1d.5h", 0, false},
		{"1d ", 0, false},
		{" 1d", 0, false},
		{"1 d", 0, false},
		{"1dx", 0, false},
		{"--1d", 0, false},
		{strconv.FormatInt(maxDays+1, 10) + "d", 0, false},
		{maxDaysStr + "d24h", 0, false},
		{"99999999999999999999d", 0, false},
		{"1d" + strconv.FormatInt(math.MaxInt64, 10) + "ns", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseDuration(tt.in)
			if !tt.ok {
				if !errors.Is(err, errDuration) {
					t.Fatalf("parseDuration(%q) = %v, %v; want errDuration", tt.in, got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("parseDuration(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}
