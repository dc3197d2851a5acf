// Command coldstart measures a Lambda function binary's cold init — from exec
// to its first poll of the Lambda Runtime API — as a ratio to a hello-world
// aws-lambda-go binary built with the same flags, and reports its stripped
// size. Issue 3 sets the targets: ratio ≤ 1.5×, size ≤ 15 MB.
//
// Both binaries run against a fake Runtime API and a loopback AWS stub
// (bench/awsstub) answering the calls the authorizer makes at init, and are
// started alternately so machine noise hits both alike. A ratio is reported
// rather than milliseconds because the absolute numbers depend on the machine
// and on Lambda's CPU share at a given memory size; the ratio mostly does not.
//
//	go run ./bench/coldstart -fn ./functions/authorizer -n 30
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

type envFlags []string

func (e *envFlags) String() string { return strings.Join(*e, ",") }
func (e *envFlags) Set(v string) error {
	if !strings.Contains(v, "=") {
		return fmt.Errorf("want KEY=VALUE, got %q", v)
	}
	*e = append(*e, v)
	return nil
}

func main() {
	var (
		c      Config
		env    envFlags
		asJSON = flag.Bool("json", false, "print the report as JSON")
		strict = flag.Bool("strict", false, "exit 1 when a target is missed")
		quiet  = flag.Bool("q", false, "no progress on stderr")
	)
	flag.StringVar(&c.Fn, "fn", "./functions/authorizer", "package of the function to measure")
	flag.StringVar(&c.Baseline, "baseline", helloPkg, "package of the baseline function")
	flag.StringVar(&c.Floor, "floor", "./bench/coldstart/linkonly", "package linking the function's packages with no init work (empty: not measured)")
	flag.IntVar(&c.N, "n", 30, "measured runs of each binary")
	flag.IntVar(&c.Warmup, "warmup", 1, "discarded runs of each binary first")
	flag.DurationVar(&c.Timeout, "timeout", 10*time.Second, "how long a binary may take to poll")
	flag.BoolVar(&c.Arm64, "arm64", true, "also cross-compile for linux/arm64 and report its size")
	flag.BoolVar(&c.InitTrace, "inittrace", true, "run each binary once more with GODEBUG=inittrace=1 and show package init costs")
	flag.Var(&env, "env", "extra KEY=VALUE for the binaries (repeatable)")
	flag.Parse()
	c.Env = env
	if !*quiet {
		c.Log = os.Stderr
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	r, err := Run(ctx, c)
	if err != nil {
		fmt.Fprintln(os.Stderr, "coldstart:", err)
		os.Exit(1)
	}
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(r)
	} else {
		printTable(os.Stdout, r)
	}
	if *strict && !(r.RatioOK() && r.SizeOK()) {
		os.Exit(1)
	}
}

func printTable(w io.Writer, r *Report) {
	fmt.Fprintf(w, "cold init: exec → first GET %s, n=%d each (ABAB, %d warm-up pair(s) discarded), %s\n\n",
		nextPath, r.N, r.Warmup, r.Host)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "binary\tmedian\tp90\tmin\tpkg init\tsize "+r.Host+"\tsize linux/arm64\tprimed before poll")
	rows := []Binary{r.Baseline, r.Function}
	if r.Floor != nil {
		rows = append(rows, *r.Floor)
	}
	for _, b := range rows {
		fmt.Fprintf(tw, "%s\t%.2f ms\t%.2f ms\t%.2f ms\t%s\t%s\t%s\t%d/%d\n", strings.TrimPrefix(b.Package, "github.com/framegate/framegate/"), b.MedianMS, b.P90MS, b.MinMS,
			initMS(b.InitMS), mb(b.SizeHost), mb(b.SizeArm64), b.PrimedRuns, len(b.SamplesMS))
	}
	tw.Flush()
	fmt.Fprintln(w)
	fmt.Fprintf(w, "ratio of medians   %.2f×  (target ≤ %.1f×)  %s\n", r.RatioMedian, r.MaxRatio, verdict(r.RatioOK()))
	if r.Floor != nil {
		fmt.Fprintf(w, "floor              %.2f×  (%s: the same packages linked, no init work; Go initialises every linked package before main)\n",
			r.FloorRatio, strings.TrimPrefix(r.Floor.Package, "./"))
	}
	size, where := r.Function.SizeArm64, "linux/arm64"
	if size == 0 {
		size, where = r.Function.SizeHost, r.Host
	}
	fmt.Fprintf(w, "stripped size      %s %s  (target ≤ %s)  %s\n", mb(size), where, mb(r.MaxSize), verdict(r.SizeOK()))
	fmt.Fprintf(w, "calls before poll  %s\n", calls(r.Function.CallsBeforePoll))
	if len(r.Function.TopInits) > 0 {
		fmt.Fprintln(w, "slowest inits")
		for _, p := range r.Function.TopInits {
			fmt.Fprintf(w, "  %6.2f ms  %6d allocs  %s\n", p.MS, p.Allocs, p.Package)
		}
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
}

func calls(m map[string]int64) string {
	if len(m) == 0 {
		return "none (DynamoDB connection not primed before polling)"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s×%d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

func initMS(v float64) string {
	if v == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f ms", v)
}

func mb(n int64) string {
	if n == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f MB", float64(n)/1e6)
}

func verdict(ok bool) string {
	if ok {
		return "ok"
	}
	return "MISSED"
}
