package main

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// result is one line of benchmark output.
type result struct {
	name       string // without the -GOMAXPROCS suffix
	procs      int
	iterations int64
	// metrics maps each unit ("ns/op", "p99_ms", ...) to its value.
	metrics map[string]float64
	units   []string // in the order printed
}

// output is what one `go test -bench` invocation printed.
type output struct {
	results []result
	cpu     string   // the "cpu:" header, if any
	failed  []string // lines that show the run did not pass
	raw     string
}

// parse reads benchmark output. A benchmark that logs while it runs can
// split its line: the name is printed first and the figures after the log
// lines, so a name on its own waits for the next line of figures.
func parse(r io.Reader) (output, error) {
	var out output
	var raw strings.Builder
	var pending string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		raw.WriteString(line + "\n")
		fields := strings.Fields(line)
		switch {
		case len(fields) == 0:
		case strings.HasPrefix(line, "cpu: "):
			out.cpu = strings.TrimSpace(strings.TrimPrefix(line, "cpu: "))
		case strings.HasPrefix(line, "--- FAIL"), fields[0] == "FAIL", strings.HasPrefix(line, "panic: "):
			out.failed = append(out.failed, line)
		case strings.HasPrefix(fields[0], "Benchmark"):
			pending = ""
			if len(fields) == 1 || !isInt(fields[1]) {
				pending = fields[0]
				continue
			}
			res, err := parseResult(fields[0], fields[1:])
			if err != nil {
				return output{}, err
			}
			out.results = append(out.results, res)
		case pending != "" && isInt(fields[0]):
			res, err := parseResult(pending, fields)
			if err != nil {
				return output{}, err
			}
			out.results = append(out.results, res)
			pending = ""
		}
	}
	if err := sc.Err(); err != nil {
		return output{}, err
	}
	out.raw = raw.String()
	return out, nil
}

// parseResult parses "<iterations> <value> <unit> [<value> <unit>]...".
func parseResult(fullName string, fields []string) (result, error) {
	res := result{metrics: map[string]float64{}}
	res.name, res.procs = splitProcs(fullName)
	n, err := strconv.ParseInt(fields[0], 10, 64)
	if err != nil {
		return result{}, fmt.Errorf("%s: iterations %q: %w", fullName, fields[0], err)
	}
	res.iterations = n
	rest := fields[1:]
	if len(rest)%2 != 0 {
		return result{}, fmt.Errorf("%s: value without a unit in %q", fullName, strings.Join(fields, " "))
	}
	for i := 0; i < len(rest); i += 2 {
		v, err := strconv.ParseFloat(rest[i], 64)
		if err != nil {
			return result{}, fmt.Errorf("%s: value %q: %w", fullName, rest[i], err)
		}
		unit := rest[i+1]
		if _, dup := res.metrics[unit]; !dup {
			res.units = append(res.units, unit)
		}
		res.metrics[unit] = v
	}
	return res, nil
}

// splitProcs splits "BenchmarkX/y-8" into "BenchmarkX/y" and 8. A name
// without the suffix (GOMAXPROCS 1) has procs 1.
func splitProcs(name string) (string, int) {
	i := strings.LastIndexByte(name, '-')
	if i < 0 {
		return name, 1
	}
	p, err := strconv.Atoi(name[i+1:])
	if err != nil || p <= 0 {
		return name, 1
	}
	return name[:i], p
}

func isInt(s string) bool {
	_, err := strconv.ParseInt(s, 10, 64)
	return err == nil
}

// cpuModel returns the first "model name" in /proc/cpuinfo text.
func cpuModel(r io.Reader) string {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(key) == "model name" {
			return strings.TrimSpace(val)
		}
	}
	return ""
}
