package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

const defaultRatio = "BenchmarkIntrospect/revocations=1000000:BenchmarkIntrospect/revocations=0"

func main() {
	if err := run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "benchreport:", err)
		os.Exit(1)
	}
}

func run(args []string, in io.Reader, out, errOut io.Writer) error {
	fs := flag.NewFlagSet("benchreport", flag.ContinueOnError)
	fs.SetOutput(errOut)
	command := fs.String("cmd", "", "the command that produced the input, quoted in the report")
	baseline := fs.String("baseline", "BenchmarkHealthCheck", "benchmark every other one is divided by")
	withRaw := fs.Bool("raw", true, "append the raw input in a collapsed block")
	var ratios []ratio
	fs.Func("ratio", "NUMERATOR:DENOMINATOR benchmark names to divide (repeatable; default "+defaultRatio+")", func(s string) error {
		r, err := parseRatio(s)
		ratios = append(ratios, r)
		return err
	})
	if err := fs.Parse(args); err != nil {
		return err
	}
	if len(ratios) == 0 {
		r, _ := parseRatio(defaultRatio)
		ratios = []ratio{r}
	}
	parsed, err := parse(in)
	if err != nil {
		return err
	}
	if len(parsed.failed) > 0 {
		return fmt.Errorf("the benchmark run failed:\n%s", strings.Join(parsed.failed, "\n"))
	}
	if len(parsed.results) == 0 {
		return errors.New("no benchmark results on standard input")
	}
	raw := ""
	if *withRaw {
		raw = parsed.raw
	}
	return writeReport(out, gatherEnvironment(*command, parsed.cpu), summarize(parsed.results), ratios, *baseline, raw)
}

func gatherEnvironment(command, benchCPU string) environment {
	env := environment{
		command:   command,
		date:      time.Now().UTC().Format("2006-01-02 15:04 MST"),
		goVersion: runtime.Version(),
		nproc:     runtime.NumCPU(),
		cpu:       benchCPU,
	}
	if env.command == "" {
		env.command = "(not given; pass -cmd)"
	}
	if v, err := exec.Command("go", "version").Output(); err == nil {
		env.goVersion = strings.TrimSpace(string(v))
	}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		if m := cpuModel(f); m != "" {
			env.cpu = m
		}
		f.Close()
	}
	return env
}
