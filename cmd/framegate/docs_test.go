package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/framegate/framegate/pkg/devstack"
	"github.com/framegate/framegate/pkg/ratelimit"
	"github.com/framegate/framegate/pkg/testenv"
)

// Docs that run: every shell block of README.md and docs/*.md runs against
// the local stack, in a bash session per file (set -euo pipefail) with the
// export line that `framegate dev` prints (a fresh demo workspace's test
// key), the CLI on PATH and the repository as the working directory. A
// curl that gets an HTTP error fails its block (curl runs with
// --fail-with-body) unless the block prints the status itself with -w, as
// the docs do where an error is the point. A block that cannot run here
// says why, right above its fence, with one of skipKinds:
//
//	<!-- docs-test: skip aws -->
var skipKinds = map[string]string{
	"aws":        "needs an AWS account and credentials (sam, aws, a deployed stack); the tests have neither",
	"internet":   "reaches a host on the internet (a Zapier hook, a download); the tests run offline",
	"foreground": "runs until Ctrl-C (make dev); the test runs the same stack in-process instead",
	"recursive":  "runs the test suite that runs this test (make test)",
}

var (
	fenceRe  = regexp.MustCompile("^( {0,3})(```+)\\s*([A-Za-z0-9_-]*)")
	markerRe = regexp.MustCompile(`^<!--\s*docs-test:\s*(.*?)\s*-->$`)
	shells   = []string{"sh", "bash", "shell", "console"}
)

// curlFails makes an HTTP error fail curl (exit 22), except in a call that
// writes the status out itself (-w); --show-error puts why in the output
// even under -s.
const curlFails = `curl() {
  case " $* " in *" -w "*|*" --write-out "*) command curl --show-error "$@" ;; *) command curl --fail-with-body --show-error "$@" ;; esac
}`

// docBlock is one fenced shell block.
type docBlock struct {
	file string
	line int // of the opening fence
	code string
	skip string // a skipKinds key, or ""
}

func (b docBlock) String() string { return fmt.Sprintf("%s:%d", b.file, b.line) }

// shellBlocks extracts the shell blocks of a Markdown file and checks
// their markers: a marker must name a known kind and sit right above a
// shell block.
func shellBlocks(file string, md []byte) ([]docBlock, error) {
	var out []docBlock
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(md))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	pending, pendingLine := "", 0
	for i := 0; i < len(lines); i++ {
		l := strings.TrimSpace(lines[i])
		if m := markerRe.FindStringSubmatch(l); m != nil {
			kind, ok := strings.CutPrefix(m[1], "skip ")
			if _, known := skipKinds[strings.TrimSpace(kind)]; !ok || !known {
				return nil, fmt.Errorf("%s:%d: marker %q: want <!-- docs-test: skip KIND --> with KIND one of %v", file, i+1, l, kinds())
			}
			pending, pendingLine = strings.TrimSpace(kind), i+1
			continue
		}
		m := fenceRe.FindStringSubmatch(lines[i])
		if m == nil {
			if l != "" && pending != "" {
				return nil, fmt.Errorf("%s:%d: a docs-test marker must sit right above a shell block", file, pendingLine)
			}
			continue
		}
		start, fence, lang := i, m[2], m[3]
		var code []string
		for i++; i < len(lines) && !strings.HasPrefix(strings.TrimSpace(lines[i]), fence); i++ {
			code = append(code, strings.TrimPrefix(lines[i], m[1]))
		}
		if !slices.Contains(shells, lang) {
			if pending != "" {
				return nil, fmt.Errorf("%s:%d: a docs-test marker must sit right above a shell block, not %q", file, pendingLine, lang)
			}
			continue
		}
		out = append(out, docBlock{file: file, line: start + 1, code: strings.Join(code, "\n"), skip: pending})
		pending = ""
	}
	return out, nil
}

func kinds() []string {
	var k []string
	for n := range skipKinds {
		k = append(k, n)
	}
	slices.Sort(k)
	return k
}

func TestShellBlocks(t *testing.T) {
	md := "# x\n\n```sh\necho one\n```\n\n<!-- docs-test: skip aws -->\n```bash\nsam deploy\n```\n\n```json\n{}\n```\n\n  ```sh\n  echo indented\n  ```\n"
	bs, err := shellBlocks("x.md", []byte(md))
	if err != nil {
		t.Fatal(err)
	}
	if len(bs) != 3 || bs[0].code != "echo one" || bs[1].skip != "aws" || bs[1].line != 8 || bs[2].code != "echo indented" {
		t.Errorf("blocks %+v", bs)
	}
	for _, bad := range []string{
		"<!-- docs-test: skip -->\n```sh\nx\n```\n",
		"<!-- docs-test: skip lazy -->\n```sh\nx\n```\n",
		"<!-- docs-test: skip aws -->\n```json\n{}\n```\n",
		"<!-- docs-test: skip aws -->\ntext\n```sh\nx\n```\n",
	} {
		if _, err := shellBlocks("x.md", []byte(bad)); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

// TestDocsAndClients runs, against one local stack (the one `make dev`
// runs, with loopback webhooks allowed), every shell block of README.md
// and docs/*.md, then the TypeScript client's tests.
func TestDocsAndClients(t *testing.T) {
	root := testenv.RepoRoot(t)
	files, _ := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	files = append([]string{filepath.Join(root, "README.md")}, files...)
	var all []docBlock
	for _, f := range files {
		md, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, f)
		bs, err := shellBlocks(rel, md)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, bs...)
	}
	testenv.Integration(t)

	s := testenv.NewStack(t, testenv.WithRegistry(devstack.Registry()), func(c *devstack.Config) {
		c.Parameters = map[string]string{"WebhookAllowLoopback": "true"}
	})
	// The stack's record goes to a config directory of the test's own; Go
	// keeps reading the machine's settings.
	goenv, _ := exec.Command("go", "env", "GOENV").Output()
	t.Setenv("GOENV", strings.TrimSpace(string(goenv)))
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", filepath.Join(bin, "framegate"), "./cmd/framegate")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the CLI: %v\n%s", err, out)
	}

	// demo is what a reader has done before the first block: run
	// `framegate dev` (here: its demo workspace on this stack) and paste
	// the export line it printed.
	demo := func(t *testing.T) (export, workspace string) {
		var out bytes.Buffer
		stop, err := demoWorkspace(context.Background(), s.Stack, &out, false)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(stop)
		for _, l := range strings.Split(out.String(), "\n") {
			l = strings.TrimSpace(l)
			if strings.HasPrefix(l, "export "+apiURLEnv+"=") {
				export = l
			}
			if w, ok := strings.CutPrefix(l, "Demo workspace "); ok {
				workspace, _, _ = strings.Cut(w, " ")
			}
		}
		if export == "" || workspace == "" {
			t.Fatalf("framegate dev printed no export line or workspace:\n%s", out.String())
		}
		return export, workspace
	}
	// One workspace for every file, as for a reader who goes through the
	// docs in one sitting; the test reads faster than a person, so its key
	// may make more requests a minute than the plan's (an operator's
	// override, as docs/rate-limits.md describes).
	prelude, ws := demo(t)
	if out, err := run(t, "workspace", "set-plan", ws, "--plan", ratelimit.DefaultPlan, "--key-rpm", "1000"); err != nil {
		t.Fatalf("raise the docs workspace's key limit: %v\n%s", err, out)
	}

	byFile := map[string][]docBlock{}
	var order []string
	for _, b := range all {
		if byFile[b.file] == nil {
			order = append(order, b.file)
		}
		byFile[b.file] = append(byFile[b.file], b)
	}
	ran, skipped := 0, 0
	for _, file := range order {
		t.Run(file, func(t *testing.T) {
			var script strings.Builder
			fmt.Fprintf(&script, "set -euo pipefail\n%s\nexport GOBIN=%q PATH=%q:\"$PATH\"\n%s\n", prelude, bin, bin, curlFails)
			var runnable []docBlock
			for _, b := range byFile[file] {
				if b.skip != "" {
					skipped++
					t.Logf("%s not run (%s): %s", b, b.skip, skipKinds[b.skip])
					continue
				}
				fmt.Fprintf(&script, "echo %q >&3\n%s\n", fmt.Sprintf("start %d", len(runnable)), b.code)
				runnable = append(runnable, b)
			}
			fmt.Fprintf(&script, "echo done >&3\n")
			if len(runnable) == 0 {
				return
			}
			ran += len(runnable)
			progress, output := runDocScript(t, root, script.String())
			last := -1
			for _, l := range strings.Split(progress, "\n") {
				if n, ok := strings.CutPrefix(l, "start "); ok {
					last, _ = strconv.Atoi(n)
				}
				if l == "done" {
					return
				}
			}
			if last < 0 {
				t.Fatalf("%s: the prelude failed:\n%s", file, output)
			}
			b := runnable[last]
			t.Errorf("%s: this block failed:\n%s\n--- output of the file's blocks:\n%s", b, b.code, output)
		})
	}
	t.Logf("ran %d shell blocks, %d marked not to run", ran, skipped)

	t.Run("clients/typescript", func(t *testing.T) {
		dir := filepath.Join(root, "clients", "typescript")
		if _, err := os.Stat(filepath.Join(dir, "node_modules", "openapi-fetch")); err != nil {
			t.Fatalf("clients/typescript has no node_modules: run `make ts-deps` (npm ci there) first")
		}
		cmd := exec.Command("npm", "test")
		cmd.Dir = dir
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		export, _ := demo(t) // a workspace of its own, at the plan's limits
		cmd.Env = os.Environ()
		for _, kv := range strings.Fields(strings.TrimPrefix(export, "export ")) {
			cmd.Env = append(cmd.Env, kv)
		}
		if err := cmd.Run(); err != nil {
			t.Fatalf("npm test: %v\n%s", err, out.String())
		}
		t.Logf("npm test:\n%s", lastLines(out.String(), 12))
	})
}

// runDocScript runs script in bash from dir, in its own process group
// (killed at the end, with whatever a block left in the background), and
// removes what it left in dir's top level. progress is what the script
// wrote to fd 3.
func runDocScript(t *testing.T, dir, script string) (progress, output string) {
	t.Helper()
	before, _ := os.ReadDir(dir)
	defer func() {
		after, _ := os.ReadDir(dir)
		for _, e := range after {
			if !slices.ContainsFunc(before, func(b os.DirEntry) bool { return b.Name() == e.Name() }) {
				os.RemoveAll(filepath.Join(dir, e.Name()))
			}
		}
	}()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", script)
	cmd.Dir = dir
	cmd.ExtraFiles = []*os.File{pw}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = 10 * time.Second
	err = cmd.Start()
	pw.Close()
	if err != nil {
		t.Fatal(err)
	}
	var prog bytes.Buffer
	done := make(chan struct{})
	go func() { prog.ReadFrom(pr); close(done) }()
	_ = cmd.Wait()
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) // background jobs a block left
	<-done
	return prog.String(), out.String()
}

func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(l[max(0, len(l)-n):], "\n")
}

// TestEveryRouteIsDocumented: each operation of openapi.yaml appears in
// README.md or docs/*.md as "METHOD /v1/path" (path parameters by any
// name; "GET/DELETE /v1/…" counts for both).
func TestEveryRouteIsDocumented(t *testing.T) {
	root := testenv.RepoRoot(t)
	files, _ := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	var text strings.Builder
	for _, f := range append(files, filepath.Join(root, "README.md")) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		text.Write(b)
	}
	param := regexp.MustCompile(`\{[^}/]*\}`)
	docs := param.ReplaceAllString(text.String(), "{}")
	v, err := testenv.DefaultValidator()
	if err != nil {
		t.Fatal(err)
	}
	for _, route := range v.Routes() {
		method, path, _ := strings.Cut(route, " ")
		re := regexp.MustCompile(`(?:^|[^A-Z])(?:[A-Z]+/)*` + method + `(?:/[A-Z]+)* /v1` + regexp.QuoteMeta(param.ReplaceAllString(path, "{}")) + `(?:[^A-Za-z0-9_/{.-]|$)`)
		if !re.MatchString(docs) {
			t.Errorf("%s /v1%s is not documented in README.md or docs/", method, path)
		}
	}
}

// FuzzShellBlocks: any Markdown is parsed without panicking, blocks come in
// order of their lines, and a block is never a skip without a known kind.
func FuzzShellBlocks(f *testing.F) {
	for _, s := range []string{"```sh\necho\n```\n", "<!-- docs-test: skip aws -->\n```bash\nsam\n```\n", "````sh\n```\n````\n", "```\n", "  ```sh\nx"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, md string) {
		bs, err := shellBlocks("f.md", []byte(md))
		if err != nil {
			return
		}
		for i, b := range bs {
			if i > 0 && b.line <= bs[i-1].line {
				t.Fatalf("blocks out of order: %+v", bs)
			}
			if _, ok := skipKinds[b.skip]; b.skip != "" && !ok {
				t.Fatalf("unknown skip %q", b.skip)
			}
		}
	})
}
