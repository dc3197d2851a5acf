package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"text/tabwriter"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/framegate/framegate/pkg/apikey"
	"github.com/framegate/framegate/pkg/audit"
	"github.com/framegate/framegate/pkg/awsconf"
	"github.com/framegate/framegate/pkg/devstack"
	"github.com/framegate/framegate/pkg/keysapi"
	"github.com/framegate/framegate/pkg/keystore"
	"github.com/framegate/framegate/pkg/lambdas"
	"github.com/framegate/framegate/pkg/ratelimit"
)

// target says where the operator's commands act: the local stack that
// `framegate dev` recorded, or a deployed stack read from CloudFormation.
type target struct {
	Endpoint        string `json:"endpoint,omitempty"`
	KeysTable       string `json:"keysTable"`
	PepperSecretArn string `json:"pepperSecretArn"`
	AuditTable      string `json:"auditTable,omitempty"`
	EventsQueueURL  string `json:"eventsQueueUrl,omitempty"`
	APIURL          string `json:"apiUrl,omitempty"`
}

type storeFlags struct {
	stack, table, secret, auditTable, endpoint, region string
}

func (f *storeFlags) register(fl *pflag.FlagSet) {
	fl.StringVar(&f.stack, "stack", "", "deployed CloudFormation stack to act on (reads its outputs)")
	fl.StringVar(&f.table, "table", os.Getenv("KEYS_TABLE"), "keys table name (instead of --stack)")
	fl.StringVar(&f.secret, "pepper-secret", os.Getenv("PEPPER_SECRET_ARN"), "pepper secret ARN (instead of --stack)")
	fl.StringVar(&f.auditTable, "audit-table", os.Getenv("AUDIT_TABLE"), "audit table name (instead of --stack), for changes")
	fl.StringVar(&f.endpoint, "endpoint", os.Getenv("AWS_ENDPOINT_URL"), "AWS endpoint override (an emulator)")
	fl.StringVar(&f.region, "region", "", "AWS region (default from the environment or profile)")
}

// operatorStore is the key store as an operator reaches it, with the audit
// log their changes are recorded in, as their AWS identity.
type operatorStore struct {
	*keystore.Store
	audit *audit.Log
	actor audit.Actor
}

// change is the audit context of an operator's change to workspace ws.
func (o operatorStore) change(ws string) (*audit.Change, error) {
	if o.audit == nil {
		return nil, usageError{errors.New("changes are recorded in the audit log: pass --audit-table (or --stack)")}
	}
	return o.audit.For(audit.Context{Workspace: ws, Env: string(apikey.Live), Actor: o.actor, UserAgent: "framegate-cli"}), nil
}

// open resolves the target: explicit flags, then --stack, then the running
// local stack.
func (f *storeFlags) open(ctx context.Context) (operatorStore, error) {
	st, _, err := f.openTarget(ctx)
	return st, err
}

// openTarget is open, also returning the target (its API URL, when known).
func (f *storeFlags) openTarget(ctx context.Context) (operatorStore, target, error) {
	t := target{Endpoint: f.endpoint, KeysTable: f.table, PepperSecretArn: f.secret, AuditTable: f.auditTable}
	if t.KeysTable == "" && f.stack == "" {
		s, found, err := localStack()
		if err != nil {
			return operatorStore{}, t, err
		}
		if !found {
			return operatorStore{}, t, usageError{errors.New("no target: pass --stack NAME (deployed) or --table and --pepper-secret, or run `framegate dev` (make dev) first")}
		}
		t = s.target
	}
	o := awsconf.Options{Endpoint: t.Endpoint, Region: f.region, StaticCredentials: t.Endpoint != ""}
	if t.Endpoint != "" {
		os.Unsetenv("AWS_CA_BUNDLE") // the emulator is plain HTTP
		o.Region = devstack.Region
	}
	cfg, err := Load(ctx, o)
	if err != nil {
		return operatorStore{}, t, err
	}
	if f.stack != "" {
		if t, err = stackTarget(ctx, cfg, f.stack); err != nil {
			return operatorStore{}, t, err
		}
	}
	if t.KeysTable == "" || t.PepperSecretArn == "" {
		return operatorStore{}, t, usageError{errors.New("both the keys table and the pepper secret are needed")}
	}
	env := map[string]string{"KEYS_TABLE": t.KeysTable, "PEPPER_SECRET_ARN": t.PepperSecretArn}
	st, err := keystore.Open(ctx, lambdas.Deps{AWS: cfg, Getenv: func(k string) string { return env[k] }})
	if err != nil {
		return operatorStore{}, t, err
	}
	out := operatorStore{Store: st}
	if t.AuditTable != "" {
		// The operator is who AWS says the credentials belong to.
		id, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		if err != nil {
			return operatorStore{}, t, fmt.Errorf("who am I (sts get-caller-identity): %w", err)
		}
		var q audit.Sender
		if t.EventsQueueURL != "" {
			q = sqs.NewFromConfig(cfg)
		}
		if out.audit, err = audit.NewLog(t.AuditTable, audit.Options{SQS: q, EventsQueueURL: t.EventsQueueURL}); err != nil {
			return operatorStore{}, t, err
		}
		out.actor = audit.Actor{Type: audit.ActorOperator, ID: aws.ToString(id.Arn)}
	}
	return out, t, nil
}

func stackTarget(ctx context.Context, cfg aws.Config, stack string) (target, error) {
	out, err := cloudformation.NewFromConfig(cfg).DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: &stack})
	if err != nil {
		return target{}, fmt.Errorf("describe stack %s: %w", stack, err)
	}
	var t target
	for _, o := range out.Stacks[0].Outputs {
		switch aws.ToString(o.OutputKey) {
		case "KeysTableName":
			t.KeysTable = aws.ToString(o.OutputValue)
		case "PepperSecretArn":
			t.PepperSecretArn = aws.ToString(o.OutputValue)
		case "AuditTableName":
			t.AuditTable = aws.ToString(o.OutputValue)
		case "EventsQueueUrl":
			t.EventsQueueURL = aws.ToString(o.OutputValue)
		case "ApiUrl":
			t.APIURL = aws.ToString(o.OutputValue)
		}
	}
	return t, nil
}

// workspaceView is a workspace as the CLI prints it.
type workspaceView struct {
	ID        string            `json:"id"`
	Name      string            `json:"name"`
	Plan      string            `json:"plan"`
	Limits    ratelimit.Plan    `json:"limits"`
	Overrides ratelimit.Plan    `json:"overrides"`
	CreatedAt string            `json:"createdAt"`
	Keys      map[string]string `json:"keys,omitempty"`
}

func viewOf(w keystore.Workspace) workspaceView {
	return workspaceView{ID: w.ID, Name: w.Name, Plan: w.Plan, Limits: w.Limits(), Overrides: w.Overrides,
		CreatedAt: w.CreatedAt.UTC().Format("2006-01-02T15:04:05Z")}
}

func limitFlags(cmd *cobra.Command, l *ratelimit.Plan) {
	f := cmd.Flags()
	f.IntVar(&l.KeyRequestsPerMinute, "key-rpm", 0, "override: requests per minute per key")
	f.IntVar(&l.WorkspaceRequestsPerMinute, "workspace-rpm", 0, "override: requests per minute per workspace and environment")
	f.IntVar(&l.ConcurrentRenders, "concurrent-renders", 0, "override: renders at once")
	f.IntVar(&l.QueuedRenders, "queued-renders", 0, "override: renders waiting in the queue")
	f.IntVar(&l.MaxActiveKeys, "max-keys", 0, "override: active keys per environment, the primary included")
	f.IntVar(&l.MaxVideoSeconds, "max-video-seconds", 0, "override: longest video")
	f.IntVar(&l.MaxStorageGB, "max-storage-gb", 0, "override: GiB of assets per environment")
}

func newWorkspaceCmd() *cobra.Command {
	var sf storeFlags
	cmd := &cobra.Command{
		Use:   "workspace",
		Short: "Operators: create and manage workspaces (uses AWS credentials, not an API key)",
	}
	sf.register(cmd.PersistentFlags())

	var name, planName string
	var overrides ratelimit.Plan
	create := &cobra.Command{
		Use:   "create --name NAME [--plan PLAN]",
		Short: "Create a workspace and print its primary live and test keys (shown once)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := sf.open(cmd.Context())
			if err != nil {
				return err
			}
			ws, keys, err := st.CreateWorkspace(cmd.Context(), name, planName, overrides)
			if err != nil {
				return err
			}
			v := viewOf(ws)
			v.Keys = map[string]string{"live": keys[apikey.Live], "test": keys[apikey.Test]}
			if jsonOutput(cmd) {
				return printJSON(cmd.OutOrStdout(), v)
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "workspace %s (%s, plan %s)\n", ws.ID, ws.Name, ws.Plan)
			fmt.Fprintf(out, "primary live key: %s\nprimary test key: %s\n", keys[apikey.Live], keys[apikey.Test])
			fmt.Fprintln(out, "These keys are shown once; store them in a secret manager now.")
			return nil
		},
	}
	create.Flags().StringVar(&name, "name", "", "workspace name (required)")
	create.Flags().StringVar(&planName, "plan", ratelimit.DefaultPlan, fmt.Sprintf("plan: one of %v", ratelimit.PlanNames()))
	limitFlags(create, &overrides)
	_ = create.MarkFlagRequired("name")

	list := &cobra.Command{
		Use: "list", Short: "List workspaces", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := sf.open(cmd.Context())
			if err != nil {
				return err
			}
			wss, err := st.ListWorkspaces(cmd.Context())
			if err != nil {
				return err
			}
			views := make([]workspaceView, len(wss))
			for i, w := range wss {
				views[i] = viewOf(w)
			}
			if jsonOutput(cmd) {
				return printJSON(cmd.OutOrStdout(), views)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNAME\tPLAN\tCREATED")
			for _, v := range views {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", v.ID, v.Name, v.Plan, v.CreatedAt)
			}
			return tw.Flush()
		},
	}

	show := &cobra.Command{
		Use: "show ID", Short: "Show a workspace and its effective limits", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := sf.open(cmd.Context())
			if err != nil {
				return err
			}
			w, err := st.GetWorkspace(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return printWorkspace(cmd, viewOf(w))
		},
	}

	var newPlan string
	var setOverrides ratelimit.Plan
	setPlan := &cobra.Command{
		Use: "set-plan ID --plan PLAN", Short: "Change a workspace's plan and overrides (takes effect on the next request)",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := sf.open(cmd.Context())
			if err != nil {
				return err
			}
			ch, err := st.change(args[0])
			if err != nil {
				return err
			}
			w, err := st.SetPlan(cmd.Context(), args[0], newPlan, setOverrides, ch)
			if err != nil {
				return err
			}
			return printWorkspace(cmd, viewOf(w))
		},
	}
	setPlan.Flags().StringVar(&newPlan, "plan", "", fmt.Sprintf("plan: one of %v", ratelimit.PlanNames()))
	limitFlags(setPlan, &setOverrides)
	_ = setPlan.MarkFlagRequired("plan")

	var resetEnv string
	resetPrimary := &cobra.Command{
		Use:   "reset-primary ID [--env live|test]",
		Short: "Replace a workspace's primary key (the old one stops at once) and print the new one (shown once)",
		Long: `reset-primary is for an owner who lost the primary key: through the API only
the primary key itself can reset the primary key.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			env := apikey.Env(resetEnv)
			if env != apikey.Live && env != apikey.Test {
				return fmt.Errorf("--env must be live or test, not %q", resetEnv)
			}
			st, err := sf.open(cmd.Context())
			if err != nil {
				return err
			}
			ch, err := st.change(args[0])
			if err != nil {
				return err
			}
			k, plain, err := st.ResetPrimary(cmd.Context(), args[0], env, "", ch)
			if err != nil {
				return err
			}
			if jsonOutput(cmd) {
				return printJSON(cmd.OutOrStdout(), map[string]string{"workspace": args[0], "environment": string(env), "id": k.ID, "key": plain})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "new primary %s key of %s: %s (id %s)\nIt is shown once; store it in a secret manager now.\n", env, args[0], plain, k.ID)
			return nil
		},
	}
	resetPrimary.Flags().StringVar(&resetEnv, "env", "live", "environment: live or test")

	cmd.AddCommand(create, list, show, setPlan, resetPrimary)
	return cmd
}

func printWorkspace(cmd *cobra.Command, v workspaceView) error {
	if jsonOutput(cmd) {
		return printJSON(cmd.OutOrStdout(), v)
	}
	out := cmd.OutOrStdout()
	l := v.Limits
	fmt.Fprintf(out, "workspace %s (%s)\nplan %s, created %s\n", v.ID, v.Name, v.Plan, v.CreatedAt)
	fmt.Fprintf(out, "requests/min: %d per key, %d per workspace\nrenders: %d at once, %d queued, up to %d s\nactive keys: %d per environment\nassets: %d GiB per environment\n",
		l.KeyRequestsPerMinute, l.WorkspaceRequestsPerMinute, l.ConcurrentRenders, l.QueuedRenders, l.MaxVideoSeconds, l.MaxActiveKeys, l.MaxStorageGB)
	return nil
}

// demoWorkspace is `framegate dev`'s OnReady: record the stack for the
// other commands, create a demo workspace and print its keys once, with
// the line that exports them for the users' commands.
func demoWorkspace(ctx context.Context, s *devstack.Stack, out io.Writer, asJSON bool) (stop func(), err error) {
	t := target{Endpoint: s.Endpoint(), APIURL: s.URL()}
	for _, r := range s.Resources().ByID {
		switch r.LogicalID {
		case "KeysTable":
			t.KeysTable = r.Name
		case "PepperSecret":
			t.PepperSecretArn = r.ARN
		case "AuditTable":
			t.AuditTable = r.Name
		case "EventsQueue":
			t.EventsQueueURL = r.URL
		}
	}
	stop, err = recordDevStack(devState{target: t, PID: os.Getpid()})
	if err != nil {
		return nil, err
	}
	env := map[string]string{"KEYS_TABLE": t.KeysTable, "PEPPER_SECRET_ARN": t.PepperSecretArn}
	st, err := keystore.Open(ctx, lambdas.Deps{AWS: s.AWS(), Getenv: func(k string) string { return env[k] }})
	if err != nil {
		stop()
		return nil, err
	}
	ws, keys, err := st.CreateWorkspace(ctx, "Demo", ratelimit.DefaultPlan, ratelimit.Plan{})
	if err != nil {
		stop()
		return nil, err
	}
	log, err := audit.NewLog(t.AuditTable, audit.Options{})
	if err != nil {
		stop()
		return nil, err
	}
	dev := log.For(audit.Context{Workspace: ws.ID, Env: string(apikey.Test), Actor: audit.Actor{Type: audit.ActorOperator, ID: "framegate dev"}, UserAgent: "framegate-cli"})
	link, err := st.OpenConsoleLink(ctx, ws.ID, apikey.Test, "operator", dev)
	if err != nil {
		stop()
		return nil, err
	}
	consoleURL := keysapi.ConsoleLinkURL(s.URL(), link.Token)
	if asJSON {
		return stop, printJSON(out, map[string]any{"apiUrl": s.URL(), "endpoint": s.Endpoint(), "workspace": ws.ID, "plan": ws.Plan,
			"keys": map[string]string{"live": keys[apikey.Live], "test": keys[apikey.Test]}, "console": consoleURL})
	}
	fmt.Fprintf(out, "\nDemo workspace %s (plan %s). Its keys, shown once:\n", ws.ID, ws.Plan)
	fmt.Fprintf(out, "  live: %s\n  test: %s\n\n", keys[apikey.Live], keys[apikey.Test])
	fmt.Fprintf(out, "Sample media for examples/, uploaded as assets of both environments:\n")
	if err := seedSamples(ctx, s.URL(), []string{keys[apikey.Test], keys[apikey.Live]}, out); err != nil {
		// The stack is usable without them; only the examples need them.
		fmt.Fprintf(out, "  not uploaded: %v\n", err)
	}
	fmt.Fprintf(out, "\nIn another terminal, the CLI and curl use the test key with:\n")
	fmt.Fprintf(out, "  %s\n\n", exportLine(s.URL(), keys[apikey.Test]))
	fmt.Fprintf(out, "Try it: framegate videos create --file examples/clip-and-image.json --wait\n\n")
	fmt.Fprintf(out, "The console, test environment (a one-time link, for 15 minutes; later: framegate console):\n  %s\n\n", consoleURL)
	fmt.Fprintf(out, "More workspaces: framegate workspace create --name NAME --plan business\n")
	return stop, nil
}

// exportLine is the shell line that points the users' commands at a stack.
func exportLine(apiURL, key string) string {
	return fmt.Sprintf("export %s=%s %s=%s", apiURLEnv, apiURL, apiKeyEnv, key)
}
