package main

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/framegate/framegate/pkg/client"
)

func newKeysCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "Create, list, rotate and revoke the API keys of your workspace",
		Long: `keys manages the API keys of the calling key's workspace and environment
(a fg_test_ key sees the sandbox's keys, a fg_live_ key the live ones). The
calling key needs the keys:manage scope (role manager, or a primary key).` + apiEnvHelp,
	}
	cmd.AddCommand(newKeysCreateCmd(), newKeysListCmd(), newKeysRotateCmd(), newKeysRevokeCmd(), newKeysScanCmd())
	return cmd
}

func newKeysCreateCmd() *cobra.Command {
	var name, role, expiresAt string
	cmd := &cobra.Command{
		Use:   "create --name NAME --role ROLE [--expires-at TIME]",
		Short: "Create a secondary key; its plaintext is shown once",
		Long: `create makes a secondary key with a role: read_only, render, editor or manager.
A key can only create keys with scopes it has itself and that expire no later
than it does. The plaintext is printed once; store it in a secret manager.` + apiEnvHelp,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := apiClient()
			if err != nil {
				return err
			}
			in := client.CreateKeyRequest{Name: name, Role: role}
			if expiresAt != "" {
				in.ExpiresAt = &expiresAt
			}
			k, err := c.CreateKey(cmd.Context(), in)
			if err != nil {
				return fmt.Errorf("create key: %w", err)
			}
			return printKey(cmd, k)
		},
	}
	f := cmd.Flags()
	f.StringVar(&name, "name", "", "a name to recognise the key by (required)")
	f.StringVar(&role, "role", "render", "read_only, render, editor or manager")
	f.StringVar(&expiresAt, "expires-at", "", "RFC 3339 time the key stops working (default: never)")
	_ = cmd.MarkFlagRequired("name")
	return cmd
}

func newKeysListCmd() *cobra.Command {
	var all bool
	var status string
	var limit int
	cmd := &cobra.Command{
		Use:   "list [--status STATUS | --all]",
		Short: "List keys (previews only; plaintexts are never shown again)",
		Long:  "list prints the keys of the workspace and environment, newest first, every page." + apiEnvHelp,
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := apiClient()
			if err != nil {
				return err
			}
			var keys []client.Key
			if all {
				status = "all"
			}
			p := client.ListKeysParams{ListParams: client.ListParams{Limit: limit}, Status: status}
			for {
				page, err := c.ListKeys(cmd.Context(), p)
				if err != nil {
					return fmt.Errorf("list keys: %w", err)
				}
				keys = append(keys, page.Data...)
				if p.Cursor = page.Pagination.NextCursor(); p.Cursor == "" {
					break
				}
			}
			if jsonOutput(cmd) {
				return printJSON(cmd.OutOrStdout(), keys)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNAME\tKIND\tROLE\tPREVIEW\tSTATUS\tEXPIRES\tLAST USED")
			for _, k := range keys {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Name, k.Kind, k.Role, k.Preview, k.Status,
					deref(k.ExpiresAt, "never"), deref(k.LastUsedAt, "-"))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&status, "status", "active", "active, rotating, rotated, expired, revoked or all")
	cmd.Flags().BoolVar(&all, "all", false, "keys of every status (--status all)")
	cmd.Flags().IntVar(&limit, "page-size", 100, "keys per request (1-100)")
	return cmd
}

func newKeysRotateCmd() *cobra.Command {
	var grace time.Duration
	cmd := &cobra.Command{
		Use:   "rotate KEY_ID [--grace 1h]",
		Short: "Replace a key with a new one of the same role; the old one works for --grace",
		Long: `rotate issues a new key with the same role, limits and counters, printed once.
The old key keeps working for the grace period (0 to 24h) so that you can
deploy the new one first, then stops.` + apiEnvHelp,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if grace < 0 || grace > 24*time.Hour || grace%time.Second != 0 {
				return usageError{fmt.Errorf("--grace must be whole seconds from 0 to 24h, got %s", grace)}
			}
			c, err := apiClient()
			if err != nil {
				return err
			}
			k, err := c.RotateKey(cmd.Context(), args[0], int(grace/time.Second))
			if err != nil {
				return fmt.Errorf("rotate key %s: %w", args[0], err)
			}
			return printKey(cmd, k)
		},
	}
	cmd.Flags().DurationVar(&grace, "grace", 0, "how long the old key keeps working (e.g. 30m; max 24h)")
	return cmd
}

func newKeysRevokeCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "revoke KEY_ID",
		Short: "Revoke a key; it is refused from the next request on",
		Long:  "revoke stops a key at once. Renders it already started keep going." + apiEnvHelp,
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := apiClient()
			if err != nil {
				return err
			}
			k, err := c.RevokeKey(cmd.Context(), args[0])
			if err != nil {
				return fmt.Errorf("revoke key %s: %w", args[0], err)
			}
			return printKey(cmd, k)
		},
	}
}

func printKey(cmd *cobra.Command, k *client.Key) error {
	if jsonOutput(cmd) {
		return printJSON(cmd.OutOrStdout(), k)
	}
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "%s %q: %s, role %s, %s\n", k.ID, k.Name, k.Status, k.Role, k.Environment)
	if k.Key != "" {
		fmt.Fprintf(out, "key (shown once, store it now): %s\n", k.Key)
	}
	return nil
}
