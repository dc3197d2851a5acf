// Package testenv is the shared integration-test harness: one moto_server per
// test binary, and for each test an isolated set of tables, queues, buckets
// and secrets provisioned from the repository's template.yaml, or the whole
// local stack on a free port. Tests talk to a real emulator, never to a fake.
//
//	func TestMain(m *testing.M) { testenv.Main(m) }
//
//	func TestSomething(t *testing.T) {
//		env := testenv.New(t)
//		table := env.Getenv("KeysFunction")("KEYS_TABLE")
//		…
//	}
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/framegate/framegate/pkg/apikey"
	"github.com/framegate/framegate/pkg/audit"
	"github.com/framegate/framegate/pkg/awsconf"
	"github.com/framegate/framegate/pkg/devstack"
	"github.com/framegate/framegate/pkg/keysapi"
	"github.com/framegate/framegate/pkg/keystore"
	"github.com/framegate/framegate/pkg/lambdas"
	"github.com/framegate/framegate/pkg/ratelimit"
	"github.com/framegate/framegate/pkg/samtemplate"
)

// EndpointEnv names the emulator the tests use. Main sets it to the moto it
// starts; set it yourself to reuse a running emulator.
const EndpointEnv = "FRAMEGATE_TEST_ENDPOINT"

// Main runs the tests of one package against one emulator. If moto is
// missing it says what to install and fails: integration tests are never
// skipped, on CI or anywhere else. The one exception is the pure tier,
// `go test -short`, which starts no emulator: every test that needs one
// (through Endpoint) is skipped there, and the pure tests run alone.
func Main(m *testing.M) {
	flag.Parse()
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if testing.Short() && os.Getenv(EndpointEnv) == "" {
		return m.Run()
	}
	// awsconf hands the SDK a plain *http.Client, which LoadDefaultConfig
	// refuses when AWS_CA_BUNDLE is set; the emulator is plain HTTP on
	// loopback, so the bundle is irrelevant to every test of this binary.
	os.Unsetenv("AWS_CA_BUNDLE")
	if os.Getenv(EndpointEnv) != "" {
		return m.Run()
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	root, _ := devstack.FindRepoRoot(".")
	moto, err := devstack.StartMoto(ctx, devstack.MotoOptions{
		RepoRoot: root,
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "testenv: cannot start the AWS emulator: %v\n", err)
		fmt.Fprintf(os.Stderr, "testenv: %s\n", devstack.MotoInstallHint)
		if os.Getenv("CI") == "true" {
			fmt.Fprintln(os.Stderr, "testenv: CI=true: a missing emulator is a failure")
		}
		return 2
	}
	defer moto.Stop()
	os.Setenv(EndpointEnv, moto.URL)
	return m.Run()
}

// emulatorAttemptTimeout bounds one AWS call attempt in tests: moto on a
// busy machine is far slower than the attempt timeouts a Lambda sets for
// DynamoDB, and an attempt that timed out after it landed is retried (a
// counting write then counts twice, a transaction finds its own writes).
const emulatorAttemptTimeout = 10 * time.Second

// Env is one test's isolated, provisioned environment.
type Env struct {
	AWS       aws.Config
	Resources *devstack.Resources
	Template  *samtemplate.Template
	Prefix    string
	// Scanning signs secret-scanning reports with the key the
	// environment's secret-scanning function trusts.
	Scanning *keysapi.Signer

	t testing.TB
}

// scanningSigner makes a signer and the file of trusted keys naming it, so
// that no test ever fetches GitHub's keys.
func scanningSigner(t testing.TB) (*keysapi.Signer, string) {
	t.Helper()
	s, err := keysapi.NewSigner()
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	path := filepath.Join(t.TempDir(), "secret-scanning-keys.json")
	if err := os.WriteFile(path, s.KeyList(), 0o600); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return s, path
}

// ScanningKeysParameter is the template parameter naming the file of
// trusted secret-scanning keys.
const ScanningKeysParameter = "SecretScanningKeysFile"

// New provisions everything template.yaml declares under a prefix unique to
// this test and deletes it when the test ends.
func New(t testing.TB) *Env {
	t.Helper()
	cfg := AWSConfig(t)
	tpl := RepoTemplate(t)
	prefix := UniquePrefix(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := devstack.Provision(ctx, cfg, tpl, prefix)
	if err != nil {
		t.Fatalf("testenv: provision: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := res.Destroy(ctx); err != nil {
			t.Errorf("testenv: destroy: %v", err)
		}
	})
	signer, keys := scanningSigner(t)
	res.Parameters[ScanningKeysParameter] = keys
	return &Env{AWS: cfg, Resources: res, Template: tpl, Prefix: prefix, Scanning: signer, t: t}
}

// Getenv returns the resolved environment of a function, named by logical
// ID ("KeysFunction") or by directory ("keys"), as lambdas.Deps.Getenv
// expects. It fails the test for an unknown function.
func (e *Env) Getenv(function string) func(string) string {
	e.t.Helper()
	return getenv(e.t, e.Template, e.Resources, function)
}

func getenv(t testing.TB, tpl *samtemplate.Template, res *devstack.Resources, function string) func(string) string {
	t.Helper()
	for _, f := range tpl.Functions {
		if f.LogicalID != function && f.Name != function {
			continue
		}
		env, err := res.Env(f)
		if err != nil {
			t.Fatalf("testenv: %v", err)
		}
		env["AWS_REGION"] = devstack.Region
		return func(k string) string { return env[k] }
	}
	t.Fatalf("testenv: template.yaml has no function %q", function)
	return nil
}

// Deps are the dependencies a function constructor gets in this
// environment, with the given clock (nil: time.Now).
func (e *Env) Deps(function string, now func() time.Time) lambdas.Deps {
	e.t.Helper()
	return lambdas.Deps{AWS: e.AWS, Getenv: e.Getenv(function), Logger: Logger(e.t), Now: now}.WithDefaults()
}

// AWSConfig is a config for the test binary's emulator.
func AWSConfig(t testing.TB) aws.Config {
	t.Helper()
	endpoint := Endpoint(t)
	cfg, err := awsconf.Load(context.Background(), awsconf.Options{Endpoint: endpoint, Region: devstack.Region, StaticCredentials: true,
		AttemptTimeout: emulatorAttemptTimeout})
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return cfg
}

// Integration marks a test that needs the emulator or starts one itself:
// it is skipped in the -short tier.
func Integration(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("needs the AWS emulator: not in the -short tier")
	}
}

// Endpoint is the emulator's URL.
func Endpoint(t testing.TB) string {
	t.Helper()
	e := os.Getenv(EndpointEnv)
	if e == "" {
		Integration(t)
	}
	if e == "" {
		t.Fatalf("testenv: no emulator: call testenv.Main(m) from TestMain, or set %s", EndpointEnv)
	}
	return e
}

// RepoRoot is the directory holding go.mod.
func RepoRoot(t testing.TB) string {
	t.Helper()
	root, err := devstack.FindRepoRoot(".")
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return root
}

// RepoTemplate parses the repository's template.yaml.
func RepoTemplate(t testing.TB) *samtemplate.Template {
	t.Helper()
	tpl, err := samtemplate.Load(filepath.Join(RepoRoot(t), "template.yaml"))
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return tpl
}

var unsafe = regexp.MustCompile(`[^a-z0-9]+`)

// UniquePrefix is a resource-name prefix no other test shares: a readable
// slice of the test name plus randomness.
func UniquePrefix(t testing.TB) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	name := strings.Trim(unsafe.ReplaceAllString(strings.ToLower(t.Name()), "-"), "-")
	if len(name) > 20 {
		name = name[:20]
	}
	return "t-" + name + "-" + hex.EncodeToString(b[:])
}

// StackOption tunes NewStack.
type StackOption func(*devstack.Config)

// WithClock gives every function the clock now.
func WithClock(now func() time.Time) StackOption {
	return func(c *devstack.Config) { c.Now = now }
}

// WithParameter overrides a template parameter of the stack.
func WithParameter(name, value string) StackOption {
	return func(c *devstack.Config) {
		if c.Parameters == nil {
			c.Parameters = map[string]string{}
		}
		c.Parameters[name] = value
	}
}

// WithRegistry runs other constructors than registry.Registry().
func WithRegistry(r map[string]lambdas.Function) StackOption {
	return func(c *devstack.Config) { c.Registry = r }
}

// WithTemplate runs another template than the repository's.
func WithTemplate(path string) StackOption {
	return func(c *devstack.Config) { c.TemplatePath = path }
}

// WithLogger replaces the test logger.
func WithLogger(l *slog.Logger) StackOption {
	return func(c *devstack.Config) { c.Logger = l }
}

// WithoutResponseValidation turns off the check of every response against
// openapi.yaml, for stacks whose routes are not the API's.
func WithoutResponseValidation() StackOption {
	return func(c *devstack.Config) { c.ValidateResponse, c.ResponseInvalid = nil, nil }
}

// NewStack runs the whole local stack (gateway, authorizer, handlers, SQS
// loops) on a free loopback port against the test binary's emulator, with
// its own resources; it is stopped and cleaned up when the test ends. Send
// requests to s.URL().
//
// Every response is checked against openapi.yaml (status, headers, body):
// one that does not match fails the test and reaches the client as a 500
// naming the mismatch. Stacks on another template are not checked.
func NewStack(t testing.TB, opts ...StackOption) *Stack {
	t.Helper()
	tpl := filepath.Join(RepoRoot(t), "template.yaml")
	cfg := devstack.Config{
		TemplatePath:      tpl,
		Addr:              "127.0.0.1:0",
		Endpoint:          Endpoint(t),
		Prefix:            UniquePrefix(t),
		Logger:            Logger(t),
		DestroyOnClose:    true,
		MinAttemptTimeout: emulatorAttemptTimeout,
	}
	v, err := DefaultValidator()
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	cfg.ValidateResponse = v.Response
	cfg.ResponseInvalid = func(method, path string, err error) {
		t.Errorf("testenv: the response to %s %s does not match openapi.yaml: %v", method, path, err)
	}
	for _, o := range opts {
		o(&cfg)
	}
	signer, keys := scanningSigner(t)
	if cfg.Parameters == nil {
		cfg.Parameters = map[string]string{}
	}
	if _, set := cfg.Parameters[ScanningKeysParameter]; !set {
		cfg.Parameters[ScanningKeysParameter] = keys
	}
	if cfg.TemplatePath != tpl || cfg.Template != nil {
		cfg.ValidateResponse, cfg.ResponseInvalid = nil, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := devstack.New(ctx, cfg)
	if err != nil {
		t.Fatalf("testenv: start stack: %v", err)
	}
	runErr := make(chan error, 1)
	go func() { runErr <- s.Run(context.Background()) }()
	t.Cleanup(func() {
		s.Close()
		if err := <-runErr; err != nil {
			t.Errorf("testenv: stack: %v", err)
		}
	})
	return &Stack{Stack: s, Scanning: signer, now: cfg.Now, t: t}
}

// Stack is a local stack running for one test.
type Stack struct {
	*devstack.Stack
	// Scanning signs secret-scanning reports the stack trusts.
	Scanning *keysapi.Signer
	now      func() time.Time
	t        testing.TB
}

// Getenv returns the resolved environment of one of the stack's functions,
// named by logical ID ("KeysFunction") or by directory ("keys").
func (s *Stack) Getenv(function string) func(string) string {
	s.t.Helper()
	return getenv(s.t, s.Template(), s.Resources(), function)
}

// Deps are the dependencies the stack gives function, with its clock.
func (s *Stack) Deps(function string) lambdas.Deps {
	s.t.Helper()
	return lambdas.Deps{AWS: s.AWS(), Getenv: s.Getenv(function), Logger: Logger(s.t), Now: s.now}.WithDefaults()
}

// Workspace creates a workspace on the stack and returns it with its
// plaintext primary keys, live and test.
func (s *Stack) Workspace(name string, overrides ratelimit.Plan) (keystore.Workspace, map[apikey.Env]string) {
	s.t.Helper()
	return workspace(s.t, s.Deps("KeysFunction"), name, overrides)
}

// Workspace creates a workspace in the environment and returns it with its
// plaintext primary keys, live and test.
func (e *Env) Workspace(name string, overrides ratelimit.Plan) (keystore.Workspace, map[apikey.Env]string) {
	e.t.Helper()
	return workspace(e.t, e.Deps("KeysFunction", nil), name, overrides)
}

func workspace(t testing.TB, d lambdas.Deps, name string, overrides ratelimit.Plan) (keystore.Workspace, map[apikey.Env]string) {
	t.Helper()
	ctx := context.Background()
	ks, err := keystore.Open(ctx, d)
	if err != nil {
		t.Fatalf("testenv: open key store: %v", err)
	}
	ws, keys, err := ks.CreateWorkspace(ctx, name, ratelimit.DefaultPlan, overrides)
	if err != nil {
		t.Fatalf("testenv: create workspace: %v", err)
	}
	return ws, keys
}

// Operator is an audit context for changes a test makes to workspace ws
// directly through a store, recorded in the environment's audit table as
// an operator's.
func (e *Env) Operator(ws string) *audit.Change {
	e.t.Helper()
	return operator(e.t, e.Getenv("KeysFunction"), ws)
}

// Operator is Env.Operator on the stack's audit table.
func (s *Stack) Operator(ws string) *audit.Change {
	s.t.Helper()
	return operator(s.t, s.Getenv("KeysFunction"), ws)
}

func operator(t testing.TB, getenv func(string) string, ws string) *audit.Change {
	t.Helper()
	log, err := audit.NewLog(getenv(audit.EnvTable), audit.Options{})
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return log.For(audit.Context{Workspace: ws, Env: string(apikey.Live),
		Actor: audit.Actor{Type: audit.ActorOperator, ID: "arn:aws:iam::123456789012:user/" + t.Name()}})
}

// Logger logs through t.Log, so output shows only for failing or -v tests.
func Logger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(&tWriter{t: t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct {
	mu sync.Mutex
	t  testing.TB
}

func (w *tWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// Clock is a settable clock for tests that cross rate-limit windows or
// expiries without sleeping. Safe for concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock starts at t0.
func NewClock(t0 time.Time) *Clock { return &Clock{now: t0} }

// Now is the clock's time; pass c.Now as a func() time.Time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}
