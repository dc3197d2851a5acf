// Command framegate is the framegate CLI: the local stack (dev), the
// operators' workspace commands, and a command for every user-facing
// operation of the API.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/framegate/framegate/pkg/apierr"
)

// Exit codes scripts can rely on.
const (
	exitOK        = 0
	exitError     = 1 // anything unexpected
	exitUsage     = 2 // bad flags or arguments
	exitNotFound  = 3
	exitRejected  = 4 // the request was understood and refused (limits, conflicts)
	exitKeysFound = 5 // keys scan found a key
)

func main() {
	err := execute(context.Background(), newRoot(), os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "framegate:", err)
		if exitCode(err) == exitUsage {
			fmt.Fprintln(os.Stderr, "Run 'framegate <command> --help' for usage.")
		}
	}
	os.Exit(exitCode(err))
}

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "framegate",
		Short:         "framegate: a video-rendering API on AWS SAM",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	format := outputFormat("text")
	root.PersistentFlags().VarP(&format, "output", "o", "output format: text or json")
	root.AddCommand(newDevCmd(DevHooks{OnReady: demoWorkspace}), newWorkspaceCmd(), newAuthCmd(), newKeysCmd(),
		newVideosCmd(), newTemplatesCmd(), newWebhooksCmd(), newConnectionsCmd(), newPublicationsCmd(), newAssetsCmd(), newConsoleCmd(),
		newAuditCmd(), newUsageCmd())
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageError{err} })
	groupsRefuseUnknown(root)
	return root
}

// groupsRefuseUnknown makes `framegate videos nope` a usage error: cobra
// shows a group's help, exit 0, for an unknown subcommand.
func groupsRefuseUnknown(c *cobra.Command) {
	if c.HasSubCommands() && c.Parent() != nil && !c.Runnable() {
		c.Args = cobra.ArbitraryArgs
		c.RunE = func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return cmd.Help()
			}
			return usageError{fmt.Errorf("unknown command %q for %q", args[0], cmd.CommandPath())}
		}
	}
	for _, sub := range c.Commands() {
		groupsRefuseUnknown(sub)
	}
}

// execute runs root with args. An error before a command's own work
// started is a usage error (exit 2): an unknown command or flag, a flag
// value that does not parse, missing or extra arguments, a required flag
// not given. Commands added later are covered without doing anything.
func execute(ctx context.Context, root *cobra.Command, args []string) error {
	started := false
	var wrap func(c *cobra.Command)
	wrap = func(c *cobra.Command) {
		if run := c.RunE; run != nil {
			c.RunE = func(cmd *cobra.Command, args []string) error {
				started = true
				return run(cmd, args)
			}
		}
		for _, sub := range c.Commands() {
			wrap(sub)
		}
	}
	wrap(root)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	var u usageError
	if err != nil && !started && !errors.As(err, &u) {
		err = usageError{err}
	}
	return err
}

type usageError struct{ error }

func (u usageError) Unwrap() error { return u.error }

func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	var u usageError
	if errors.As(err, &u) {
		return exitUsage
	}
	if errors.As(err, new(keysFound)) {
		return exitKeysFound
	}
	var e *apierr.Error
	if errors.As(err, &e) {
		switch e.Code {
		case apierr.NotFound:
			return exitNotFound
		case apierr.InvalidRequest:
			return exitUsage
		default:
			if e.Code != apierr.Internal {
				return exitRejected
			}
		}
	}
	return exitError
}
