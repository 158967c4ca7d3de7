package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
)

// stat is the spread of one metric over the runs of one benchmark.
type stat struct {
	min, median, max float64
	runs             int
}

// bench gathers every run of one benchmark.
type bench struct {
	name  string
	procs int
	units []string
	stats map[string]stat
}

// summarize groups results by benchmark, in the order they first appear.
func summarize(results []result) []bench {
	var order []string
	values := map[string]map[string][]float64{}
	units := map[string][]string{}
	procs := map[string]int{}
	for _, r := range results {
		if values[r.name] == nil {
			order = append(order, r.name)
			values[r.name] = map[string][]float64{}
			procs[r.name] = r.procs
		}
		for _, u := range r.units {
			if values[r.name][u] == nil {
				units[r.name] = append(units[r.name], u)
			}
			values[r.name][u] = append(values[r.name][u], r.metrics[u])
		}
	}
	out := make([]bench, 0, len(order))
	for _, name := range order {
		b := bench{name: name, procs: procs[name], units: units[name], stats: map[string]stat{}}
		for u, vs := range values[name] {
			b.stats[u] = spread(vs)
		}
		out = append(out, b)
	}
	return out
}

func spread(vs []float64) stat {
	s := slices.Clone(vs)
	slices.Sort(s)
	n := len(s)
	med := s[n/2]
	if n%2 == 0 {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	return stat{min: s[0], median: med, max: s[n-1], runs: n}
}

// ratio divides one benchmark's medians by another's.
type ratio struct{ num, den string }

// parseRatio reads "BenchmarkA:BenchmarkB".
func parseRatio(s string) (ratio, error) {
	num, den, ok := strings.Cut(s, ":")
	if !ok || num == "" || den == "" {
		return ratio{}, fmt.Errorf("ratio %q: want NUMERATOR:DENOMINATOR", s)
	}
	return ratio{num, den}, nil
}

// environment describes where and how the figures were produced.
type environment struct {
	command, date, goVersion, cpu string
	nproc                         int
}

// writeReport renders the markdown section. Ratios are taken for every
// unit the two benchmarks share; every benchmark is also set against
// baseline, when that benchmark ran.
func writeReport(w io.Writer, env environment, benches []bench, ratios []ratio, baseline string, raw string) error {
	p := &printer{w: w}
	p.printf("## Results\n\n")
	p.printf("- Command: `%s`\n", env.command)
	p.printf("- Date: %s\n", env.date)
	p.printf("- Go: %s\n", env.goVersion)
	p.printf("- nproc: %d\n", env.nproc)
	p.printf("- CPU: %s\n\n", env.cpu)

	p.printf("| Benchmark | Metric | Min | Median | Max | Runs |\n|---|---|---:|---:|---:|---:|\n")
	byName := map[string]bench{}
	for _, b := range benches {
		byName[b.name] = b
		for _, u := range b.units {
			s := b.stats[u]
			p.printf("| %s | %s | %s | %s | %s | %d |\n", b.name, u, num(s.min), num(s.median), num(s.max), s.runs)
		}
	}

	all := slices.Clone(ratios)
	if _, ok := byName[baseline]; ok {
		for _, b := range benches {
			if b.name != baseline {
				all = append(all, ratio{b.name, baseline})
			}
		}
	}
	if len(all) > 0 {
		p.printf("\n### Ratios of medians\n\n| Numerator | Denominator | Metric | Ratio |\n|---|---|---|---:|\n")
	}
	for _, r := range all {
		n, okN := byName[r.num]
		d, okD := byName[r.den]
		if !okN || !okD {
			p.printf("| %s | %s | — | not measured |\n", r.num, r.den)
			continue
		}
		for _, u := range n.units {
			if ds, ok := d.stats[u]; ok && ds.median != 0 {
				p.printf("| %s | %s | %s | %.3f |\n", r.num, r.den, u, n.stats[u].median/ds.median)
			}
		}
	}
	if raw != "" {
		p.printf("\n<details><summary>Raw output</summary>\n\n```\n%s```\n\n</details>\n", raw)
	}
	return p.err
}

// num prints large values whole and small ones to four significant digits.
func num(v float64) string {
	if math.Abs(v) >= 1000 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}

// printer keeps the first write error so the report code stays linear.
type printer struct {
	w   io.Writer
	err error
}

func (p *printer) printf(format string, args ...any) {
	if p.err == nil {
		_, p.err = fmt.Fprintf(p.w, format, args...)
	}
}
