package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/framegate/framegate/pkg/apikey"
	"github.com/framegate/framegate/pkg/client"
	"github.com/framegate/framegate/pkg/keysapi"
)

// consoleLinkView is a console link as the CLI prints it.
type consoleLinkView struct {
	ID        string `json:"id"`
	URL       string `json:"url"`
	ExpiresAt string `json:"expiresAt"`
}

func newConsoleCmd() *cobra.Command {
	var sf storeFlags
	var workspace, env, apiURLFlag string
	cmd := &cobra.Command{
		Use:   "console [--workspace ID [--env live|test]]",
		Short: "Print a one-time link that signs in to the console",
		Long: `console prints a one-time link to the console (the browser page at
<API URL>/console): it works once, within 15 minutes, and opens a session of
up to 12 hours bound to one workspace and environment. Give it to one person.

With --workspace, as an operator (AWS credentials, not an API key), for any
workspace: the target is --stack, or --table and --pepper-secret, or the
running ` + "`framegate dev`" + `; --api-url names the API when the target does not.

Without --workspace, for the workspace and environment of FRAMEGATE_API_KEY
(a key with keys:manage that does not expire).` + apiEnvHelp,
		Args:        noArgs,
		Annotations: map[string]string{operationAnnotation: "createConsoleSession"},
		RunE: func(cmd *cobra.Command, _ []string) error {
			var v consoleLinkView
			if workspace == "" {
				c, err := apiClient()
				if err != nil {
					return err
				}
				l, err := c.CreateConsoleSession(cmd.Context())
				if err != nil {
					return fmt.Errorf("console link: %w", err)
				}
				v = consoleLinkView{ID: l.ID, URL: l.URL, ExpiresAt: l.ExpiresAt}
			} else {
				e := apikey.Env(env)
				if !e.Valid() {
					return usageError{errors.New("--env must be live or test")}
				}
				st, t, err := sf.openTarget(cmd.Context())
				if err != nil {
					return err
				}
				base := apiURLFlag
				if base == "" {
					base = t.APIURL
				}
				if base == "" {
					return usageError{errors.New("no API URL: pass --api-url (the stack's ApiUrl output, ending in /v1)")}
				}
				if _, err := st.GetWorkspace(cmd.Context(), workspace); err != nil {
					return err
				}
				ch, err := st.change(workspace)
				if err != nil {
					return err
				}
				l, err := st.OpenConsoleLink(cmd.Context(), workspace, e, "operator", ch)
				if err != nil {
					return err
				}
				v = consoleLinkView{ID: l.ID, URL: keysapi.ConsoleLinkURL(base, l.Token), ExpiresAt: l.LinkExpiresAt.UTC().Format("2006-01-02T15:04:05Z")}
			}
			if jsonOutput(cmd) {
				return printJSON(cmd.OutOrStdout(), v)
			}
			out := cmd.OutOrStdout()
			fmt.Fprintln(out, v.URL)
			fmt.Fprintf(cmd.ErrOrStderr(), "One use, until %s; the session lasts up to 12 hours. Revoke it: DELETE /v1/console/sessions/%s\n", v.ExpiresAt, v.ID)
			return nil
		},
	}
	sf.register(cmd.Flags()) // the operators' path only: not inherited by sessions and revoke
	f := cmd.Flags()
	f.StringVar(&workspace, "workspace", "", "operators: the workspace to sign in to")
	f.StringVar(&env, "env", "live", "operators: live or test")
	f.StringVar(&apiURLFlag, "api-url", "", "operators: the API's base URL, ending in /v1 (default: the target's)")
	cmd.AddCommand(newConsoleSessionsCmd(), newConsoleRevokeCmd())
	return cmd
}

func newConsoleSessionsCmd() *cobra.Command {
	return apiCmd(&cobra.Command{
		Use:   "sessions",
		Short: "List the console links and sessions of the key's workspace and environment, newest first",
		Args:  noArgs,
	}, "listConsoleSessions", func(cmd *cobra.Command, c *client.Client, _ []string) error {
		ss, err := c.ListConsoleSessions(cmd.Context())
		if err != nil {
			return fmt.Errorf("list console sessions: %w", err)
		}
		return table(cmd, ss, "ID\tSTATUS\tCREATED\tBY\tSIGNED IN\tEXPIRES", func(row func(string, ...any)) {
			for _, s := range ss {
				row("%s\t%s\t%s\t%s\t%s\t%s", s.ID, s.Status, s.CreatedAt, s.CreatedBy, deref(s.SignedInAt, "-"), deref(s.ExpiresAt, s.LinkExpiresAt))
			}
		})
	})
}

func newConsoleRevokeCmd() *cobra.Command {
	return apiCmd(&cobra.Command{
		Use:   "revoke SESSION_ID",
		Short: "End a console session, or cancel an unused link, at once",
		Args:  exactArgs(1),
	}, "revokeConsoleSession", func(cmd *cobra.Command, c *client.Client, args []string) error {
		s, err := c.RevokeConsoleSession(cmd.Context(), args[0])
		if err != nil {
			return fmt.Errorf("revoke console session %s: %w", args[0], err)
		}
		return emit(cmd, s, func(w io.Writer) { fmt.Fprintf(w, "%s %s\n", s.ID, s.Status) })
	})
}
