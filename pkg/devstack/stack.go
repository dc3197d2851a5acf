package devstack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/framegate/framegate/pkg/awsconf"
	"github.com/framegate/framegate/pkg/lambdas"
	"github.com/framegate/framegate/pkg/samtemplate"
)

// Region is the region the local stack plays.
const Region = "us-east-1"

// Config tunes a Stack. The zero value runs template.yaml of the working
// directory on 127.0.0.1:3000 with a moto it starts itself.
type Config struct {
	// TemplatePath defaults to template.yaml.
	TemplatePath string
	// Template, when set, is used instead of reading TemplatePath.
	Template *samtemplate.Template
	// Addr defaults to 127.0.0.1:3000; tests use 127.0.0.1:0.
	Addr string
	// Endpoint is an emulator that is already running. Empty: use
	// AWS_ENDPOINT_URL if set, else start moto.
	Endpoint string
	// Prefix names the resources: <prefix>-<LogicalID>. Default framegate-dev.
	Prefix string
	// Registry builds the functions; default Registry().
	Registry map[string]lambdas.Function
	Logger   *slog.Logger
	// Now is the clock every function gets; default time.Now.
	Now func() time.Time
	// AllowInstall lets a missing moto be pip-installed into <repo>/.venv.
	AllowInstall bool
	// DestroyOnClose deletes the provisioned resources in Close (tests
	// sharing one emulator); dev keeps them for the next run.
	DestroyOnClose bool
	// Parameters override template parameter defaults.
	Parameters map[string]string
	// ValidateResponse and ResponseInvalid go to the gateway (GatewayConfig).
	ValidateResponse func(method, path string, status int, header http.Header, body []byte) error
	ResponseInvalid  func(method, path string, err error)
	// Meter puts a Meter between the functions and the emulator, which
	// counts every request's DynamoDB calls and round trips (the gateway
	// logs them); DynamoDBDelay, which implies it, holds each DynamoDB
	// call that long, as a distant table would.
	Meter         bool
	DynamoDBDelay time.Duration
	// MinAttemptTimeout raises every function's per-attempt AWS timeout to
	// at least this. Tests on a loaded machine set it: the emulator can then
	// take longer than a Lambda's tight attempt timeout, and an attempt that
	// timed out after it landed is retried, counting a request twice.
	MinAttemptTimeout time.Duration
}

// Stack is the whole application on one machine.
type Stack struct {
	cfg       Config
	log       *slog.Logger
	tpl       *samtemplate.Template
	moto      *Moto
	aws       aws.Config
	endpoint  string
	meter     *Meter
	res       *Resources
	gateway   *Gateway
	loops     []*SQSLoop
	schedules []*ScheduleLoop
	listener  net.Listener
	server    *http.Server

	runMu  sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
	closed bool
}

// New loads the template, starts or connects to the emulator, provisions
// every resource, builds every function through the registry and listens
// on Addr. Run serves; Close undoes all of it.
func New(ctx context.Context, c Config) (_ *Stack, err error) {
	if c.TemplatePath == "" {
		c.TemplatePath = "template.yaml"
	}
	if c.Addr == "" {
		c.Addr = "127.0.0.1:3000"
	}
	if c.Prefix == "" {
		c.Prefix = "framegate-dev"
	}
	if c.Registry == nil {
		c.Registry = Registry()
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	s := &Stack{cfg: c, log: c.Logger}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	s.tpl = c.Template
	if s.tpl == nil {
		if s.tpl, err = samtemplate.Load(c.TemplatePath); err != nil {
			return nil, err
		}
	}
	endpoint := c.Endpoint
	if endpoint == "" {
		endpoint = os.Getenv("AWS_ENDPOINT_URL")
	}
	if endpoint == "" {
		if s.moto, err = StartMoto(ctx, MotoOptions{AllowInstall: c.AllowInstall, Logger: c.Logger}); err != nil {
			return nil, err
		}
		endpoint = s.moto.URL
	}
	s.endpoint = endpoint
	if s.aws, err = awsconf.Load(ctx, awsconf.Options{Endpoint: endpoint, Region: Region, StaticCredentials: true, AttemptTimeout: c.MinAttemptTimeout}); err != nil {
		return nil, err
	}
	if s.res, err = Provision(ctx, s.aws, s.tpl, c.Prefix); err != nil {
		return nil, err
	}
	if c.Meter || c.DynamoDBDelay > 0 {
		if s.meter, err = StartMeter(endpoint, c.DynamoDBDelay); err != nil {
			return nil, err
		}
	}
	for k, v := range c.Parameters {
		s.res.Parameters[k] = v
	}
	if err := s.build(ctx); err != nil {
		return nil, err
	}
	if s.listener, err = net.Listen("tcp", c.Addr); err != nil {
		return nil, fmt.Errorf("listen on %s: %w", c.Addr, err)
	}
	s.server = &http.Server{Handler: s.handler(), ReadHeaderTimeout: 10 * time.Second}
	return s, nil
}

// build constructs every function of the template and checks that its
// handler shape fits its events.
func (s *Stack) build(ctx context.Context) error {
	httpHandlers := map[string]lambdas.HTTPFunc{}
	var authorizer lambdas.AuthorizerFunc
	sqsClient := sqs.NewFromConfig(s.aws)
	for _, f := range s.tpl.Functions {
		fn, ok := s.cfg.Registry[f.Name]
		if !ok {
			return fmt.Errorf("template declares function %s (CodeUri %s) but the registry (pkg/devstack/registry.go) has no %q entry", f.LogicalID, f.CodeURI, f.Name)
		}
		env, err := s.res.Env(f)
		if err != nil {
			return err
		}
		// What the Lambda runtime adds to every function's environment.
		env["AWS_REGION"] = Region
		env["AWS_DEFAULT_REGION"] = Region
		env["AWS_LAMBDA_FUNCTION_NAME"] = s.res.ByID[f.LogicalID].Name
		env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] = strconv.Itoa(f.MemorySize)
		// The function's own client options (timeouts, retries), as on
		// Lambda, pointed at the emulator.
		o := fn.AWS
		o.Endpoint, o.Region, o.StaticCredentials = s.endpoint, Region, true
		o.AttemptTimeout = max(o.AttemptTimeout, s.cfg.MinAttemptTimeout)
		if s.meter != nil {
			o.Endpoint = s.meter.URL
		}
		cfg, err := awsconf.Load(ctx, o)
		if err != nil {
			return err
		}
		if s.meter != nil {
			cfg.HTTPClient = Traced(cfg.HTTPClient)
		}
		getenv, undeclared := declaredEnv(fn.Env, env)
		deps := lambdas.Deps{
			AWS:    cfg,
			Getenv: getenv,
			Logger: s.log.With("function", f.LogicalID),
			Now:    s.cfg.Now,
		}
		isAuthz := f.LogicalID == s.tpl.Api.AuthorizerFunction
		switch {
		case isAuthz && (len(f.Routes) > 0 || len(f.SQSEvents) > 0):
			return fmt.Errorf("function %s is the authorizer and must have no events", f.LogicalID)
		case (len(f.Routes) > 0) && (len(f.SQSEvents) > 0) || (len(f.Routes) > 0 || len(f.SQSEvents) > 0) && len(f.Schedules) > 0:
			return fmt.Errorf("function %s has events of more than one kind (Api, SQS, Schedule): one handler cannot serve them", f.LogicalID)
		}
		switch {
		case isAuthz:
			if fn.Authorizer == nil {
				return fmt.Errorf("function %s is the API's authorizer but its registry entry has no Authorizer constructor", f.LogicalID)
			}
			if authorizer, err = fn.Authorizer(ctx, deps); err != nil {
				return fmt.Errorf("build function %s: %w", f.LogicalID, err)
			}
		case len(f.Routes) > 0:
			if fn.HTTP == nil {
				return fmt.Errorf("function %s has Api events but its registry entry has no HTTP constructor", f.LogicalID)
			}
			if httpHandlers[f.LogicalID], err = fn.HTTP(ctx, deps); err != nil {
				return fmt.Errorf("build function %s: %w", f.LogicalID, err)
			}
		case len(f.SQSEvents) > 0:
			if fn.SQS == nil {
				return fmt.Errorf("function %s has SQS events but its registry entry has no SQS constructor", f.LogicalID)
			}
			sh, err := fn.SQS(ctx, deps)
			if err != nil {
				return fmt.Errorf("build function %s: %w", f.LogicalID, err)
			}
			for _, ev := range f.SQSEvents {
				q := s.res.ByID[ev.Queue]
				s.loops = append(s.loops, &SQSLoop{
					Function: f.LogicalID, Event: ev, QueueURL: q.URL, QueueARN: q.ARN, Region: Region,
					Handler: sh, Timeout: time.Duration(f.Timeout) * time.Second, SQS: sqsClient, Logger: s.log,
				})
			}
		case len(f.Schedules) > 0:
			if fn.Schedule == nil {
				return fmt.Errorf("function %s has Schedule events but its registry entry has no Schedule constructor", f.LogicalID)
			}
			h, err := fn.Schedule(ctx, deps)
			if err != nil {
				return fmt.Errorf("build function %s: %w", f.LogicalID, err)
			}
			for _, ev := range f.Schedules {
				s.schedules = append(s.schedules, &ScheduleLoop{Function: f.LogicalID, Event: ev, Handler: h,
					Timeout: time.Duration(f.Timeout) * time.Second, Now: s.cfg.Now, Logger: s.log})
			}
		default:
			s.log.Warn("function has no event the local stack can drive", "function", f.LogicalID)
		}
		if names := undeclared(); len(names) > 0 {
			return fmt.Errorf("function %s reads %v, which its registry entry does not declare in Env", f.LogicalID, names)
		}
	}
	var err error
	s.gateway, err = NewGateway(GatewayConfig{
		Template:   s.tpl,
		APIID:      s.res.ByID[s.tpl.Api.LogicalID].Name,
		Region:     Region,
		AccountID:  s.res.AccountID,
		Authorizer: authorizer,
		Handlers:   httpHandlers,
		Logger:     s.log,
		Now:        s.cfg.Now,
		Meter:      s.meter,

		ValidateResponse: s.cfg.ValidateResponse,
		ResponseInvalid:  s.cfg.ResponseInvalid,
	})
	return err
}

// Run serves the API and runs the SQS loops until ctx is cancelled or Close
// is called. It returns early with an error if the emulator dies.
func (s *Stack) Run(ctx context.Context) error {
	s.runMu.Lock()
	if s.closed || s.done != nil {
		s.runMu.Unlock()
		return errors.New("stack: Run called twice or after Close")
	}
	ctx, cancel := context.WithCancel(ctx)
	s.cancel = cancel
	s.done = make(chan struct{})
	s.runMu.Unlock()
	defer close(s.done)
	defer cancel()

	var wg sync.WaitGroup
	for _, l := range s.loops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = l.Run(ctx)
		}()
	}
	for _, l := range s.schedules {
		wg.Go(func() { l.Run(ctx) })
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- s.server.Serve(s.listener) }()
	var motoDone <-chan struct{}
	if s.moto != nil {
		motoDone = s.moto.Done()
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-serveErr:
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
	case <-motoDone:
		err = errors.New("moto_server exited")
	}
	cancel()
	shutdownCtx, stop := context.WithTimeout(context.Background(), 5*time.Second)
	defer stop()
	_ = s.server.Shutdown(shutdownCtx)
	wg.Wait()
	return err
}

// Close stops serving, the loops and the emulator it started; with
// DestroyOnClose it first deletes the provisioned resources.
func (s *Stack) Close() {
	s.runMu.Lock()
	if s.closed {
		s.runMu.Unlock()
		return
	}
	s.closed = true
	cancel, done := s.cancel, s.done
	s.runMu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	} else if s.listener != nil {
		s.listener.Close()
	}
	if s.cfg.DestroyOnClose && s.res != nil && s.moto == nil {
		ctx, stop := context.WithTimeout(context.Background(), 30*time.Second)
		if err := s.res.Destroy(ctx); err != nil {
			s.log.Warn("destroy resources", "err", err)
		}
		stop()
	}
	if s.meter != nil {
		s.meter.Close()
	}
	if s.moto != nil {
		_ = s.moto.Stop()
	}
}

// handler is the gateway, and /console as a short way to the console
// (/<stage>/console, where the API serves it: on AWS too, under the stage).
func (s *Stack) handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", s.gateway)
	mux.HandleFunc("GET /console", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/"+s.tpl.Api.StageName+"/console", http.StatusFound)
	})
	return mux
}

// URL is the base URL of the API, e.g. http://127.0.0.1:3000/v1.
func (s *Stack) URL() string {
	return "http://" + s.listener.Addr().String() + "/" + s.tpl.Api.StageName
}

// Addr is the address the gateway listens on.
func (s *Stack) Addr() string { return s.listener.Addr().String() }

// Meter counts the functions' DynamoDB calls per request; nil unless
// Config.Meter or DynamoDBDelay asked for it.
func (s *Stack) Meter() *Meter { return s.meter }

// Resources is what was provisioned.
func (s *Stack) Resources() *Resources { return s.res }

// AWS is the config every function and test client should use.
func (s *Stack) AWS() aws.Config { return s.aws }

// Template is the parsed template.
func (s *Stack) Template() *samtemplate.Template { return s.tpl }

// Endpoint is the emulator's URL.
func (s *Stack) Endpoint() string { return aws.ToString(s.aws.BaseEndpoint) }

// Handler is the local API Gateway, to serve it without a listener.
func (s *Stack) Handler() http.Handler { return s.gateway }
