package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// userHZ is the unit of utime and stime in /proc/<pid>/stat: Linux reports
// 1/100 s (USER_HZ) on every architecture Go runs on.
const userHZ = 100

var errProcFormat = errors.New("unexpected /proc format")

// parseStatCPU returns utime+stime from the contents of /proc/<pid>/stat.
// The command name is in parentheses and may itself hold spaces and
// parentheses, so the fields are counted from the last ')'.
func parseStatCPU(raw []byte) (time.Duration, error) {
	end := bytes.LastIndexByte(raw, ')')
	if end < 0 {
		return 0, fmt.Errorf("%w: no command name in stat", errProcFormat)
	}
	// After the name: state (field 3), ..., utime (14), stime (15).
	f := strings.Fields(string(raw[end+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("%w: %d fields after the command name", errProcFormat, len(f))
	}
	utime, err1 := strconv.ParseUint(f[11], 10, 64)
	stime, err2 := strconv.ParseUint(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("%w: %v", errProcFormat, err)
	}
	return time.Duration(utime+stime) * time.Second / userHZ, nil
}

// parseStatusHWM returns VmHWM, the peak resident set, in bytes from the
// contents of /proc/<pid>/status.
func parseStatusHWM(raw []byte) (uint64, error) { return parseStatusKB(raw, "VmHWM") }

// parseStatusKB returns the field named name (a "<n> kB" line) of
// /proc/<pid>/status in bytes.
func parseStatusKB(raw []byte, name string) (uint64, error) {
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), name+":")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("%w: %s line %q", errProcFormat, name, sc.Text())
		}
		kb, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%w: %s line %q", errProcFormat, name, sc.Text())
		}
		return kb << 10, nil
	}
	return 0, fmt.Errorf("%w: no %s in status", errProcFormat, name)
}

// rssSample is the server's resident memory at one moment, split into
// anonymous memory (the Go heap, stacks, Badger's caches) and file-backed
// pages (the store's memory-mapped files, which the kernel can drop).
type rssSample struct{ total, anon, file uint64 }

func parseRSSSample(raw []byte) (rssSample, error) {
	total, err1 := parseStatusKB(raw, "VmRSS")
	anon, err2 := parseStatusKB(raw, "RssAnon")
	file, err3 := parseStatusKB(raw, "RssFile")
	return rssSample{total, anon, file}, errors.Join(err1, err2, err3)
}

func processRSS(pid int) (rssSample, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return rssSample{}, err
	}
	return parseRSSSample(raw)
}

// rssSampleEvery is how often the server's memory is read under load.
const rssSampleEvery = 50 * time.Millisecond

// sampleRSS reads the server's resident memory every rssSampleEvery until
// stop is closed, and returns the largest sample.
func sampleRSS(pid int, stop <-chan struct{}) rssSample {
	var peak rssSample
	t := time.NewTicker(rssSampleEvery)
	defer t.Stop()
	for {
		if s, err := processRSS(pid); err == nil && s.total > peak.total {
			peak = s
		}
		select {
		case <-stop:
			return peak
		case <-t.C:
		}
	}
}

func processCPU(pid int) (time.Duration, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseStatCPU(raw)
}

func processPeakRSS(pid int) (uint64, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	return parseStatusHWM(raw)
}
