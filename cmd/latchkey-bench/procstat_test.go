package main

import (
	"errors"
	"os"
	"testing"
	"time"
)

func TestParseStatCPU(t *testing.T) {
	// Fields 14 (utime) and 15 (stime) are 250 and 50 ticks.
	tail := " S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 9 0 100 2000000 500 18446744073709551615"
	cases := []struct {
		name    string
		raw     string
		want    time.Duration
		wantErr error
	}{
		{"plain name", "1234 (latchkey)" + tail, 3 * time.Second, nil},
		{"name with spaces and parentheses", "1234 (lk (x) y) z)" + tail, 3 * time.Second, nil},
		{"name of only a parenthesis", "1234 ())" + tail, 3 * time.Second, nil},
		{"no command name", "1234 latchkey S 1 2", 0, errProcFormat},
		{"truncated", "1234 (latchkey) S 1 2 3", 0, errProcFormat},
		{"non-numeric utime", "1234 (latchkey) S 1 2 3 4 5 6 7 8 9 10 x 50 0", 0, errProcFormat},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseStatCPU([]byte(tc.raw))
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("error = %v, want %v", err, tc.wantErr)
			}
			if got != tc.want {
				t.Fatalf("cpu = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestParseStatusHWM(t *testing.T) {
	cases := []struct {
		name    string
		raw     string
		want    uint64
		wantErr error
	}{
		{"present", "Name:\tlatchkey\nVmPeak:\t  900000 kB\nVmHWM:\t   65536 kB\nVmRSS:\t 60000 kB\n", 64 << 20, nil},
		{"missing", "Name:\tlatchkey\nVmRSS:\t 60000 kB\n", 0, errProcFormat},
		{"bad unit", "VmHWM:\t 65536 MB\n", 0, errProcFormat},
		{"bad number", "VmHWM:\t 6x kB\n", 0, errProcFormat},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseStatusHWM([]byte(tc.raw))
			if !errors.Is(err, tc.wantErr) || got != tc.want {
				t.Fatalf("= %d, %v; want %d, %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestParseStatusKBFields(t *testing.T) {
	raw := []byte("Name:\tlatchkey\nVmHWM:\t  300000 kB\nVmRSS:\t  250000 kB\nRssAnon:\t  102400 kB\nRssFile:\t  147456 kB\nRssShmem:\t       0 kB\n")
	for name, want := range map[string]uint64{"RssAnon": 100 << 20, "RssFile": 144 << 20, "VmRSS": 250000 << 10} {
		if got, err := parseStatusKB(raw, name); err != nil || got != want {
			t.Errorf("%s = %d, %v; want %d", name, got, err, want)
		}
	}
	// A field name that is a prefix of another is not confused with it.
	if _, err := parseStatusKB(raw, "Rss"); !errors.Is(err, errProcFormat) {
		t.Errorf("Rss = %v, want errProcFormat", err)
	}
	if got, err := parseRSSSample(raw); err != nil || got != (rssSample{250000 << 10, 100 << 20, 144 << 20}) {
		t.Errorf("parseRSSSample = %+v, %v", got, err)
	}
	if _, err := parseRSSSample([]byte("VmRSS:\t  250000 kB\n")); !errors.Is(err, errProcFormat) {
		t.Errorf("parseRSSSample without RssAnon = %v, want errProcFormat", err)
	}
}

// sampleRSS reads this process's own memory until told to stop, and
// keeps the largest sample.
func TestSampleRSS(t *testing.T) {
	stop := make(chan struct{})
	done := make(chan rssSample)
	go func() { done <- sampleRSS(os.Getpid(), stop) }()
	time.Sleep(3 * rssSampleEvery)
	close(stop)
	got := <-done
	own, err := processRSS(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if got.total == 0 || got.anon == 0 || got.total < own.total/2 {
		t.Fatalf("sampled %+v, own RSS now %+v", got, own)
	}
}
