// Command framegate is the framegate CLI: the local stack (dev) and the
// operators' workspace commands.
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
	root := newRoot()
	err := root.ExecuteContext(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, "framegate:", err)
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
	root.PersistentFlags().StringP("output", "o", "text", "output format: text or json")
	root.AddCommand(newDevCmd(DevHooks{OnReady: demoWorkspace}), newWorkspaceCmd(), newKeysCmd(), newVideosCmd(), newTemplatesCmd(), newWebhooksCmd(), newAssetsCmd(), newConsoleCmd(), newAuditCmd(), newUsageCmd())
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageError{err} })
	return root
}

type usageError struct{ error }

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
