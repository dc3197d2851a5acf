package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/framegate/framegate/pkg/client"
)

func newAuthCmd() *cobra.Command {
	return apiCmd(&cobra.Command{
		Use:   "auth",
		Short: "Show who the key is: workspace, environment, role, scopes and rate limits",
		Args:  noArgs,
	}, "getAuth", func(cmd *cobra.Command, c *client.Client, _ []string) error {
		id, err := c.Auth(cmd.Context())
		if err != nil {
			return fmt.Errorf("auth: %w", err)
		}
		return emit(cmd, id, func(w io.Writer) {
			fmt.Fprintf(w, "key %s (%s, role %s) of workspace %s, %s\n", id.Key.ID, id.Key.Kind, id.Key.Role, id.Workspace.ID, id.Environment)
			fmt.Fprintf(w, "scopes: %s\n", strings.Join(id.Key.Scopes, " "))
			for _, l := range []struct {
				name string
				rl   client.RateLimit
			}{{"key", id.RateLimits.Key}, {"workspace", id.RateLimits.Workspace}} {
				fmt.Fprintf(w, "%s: %d of %d requests left in %d s (next in %d s)\n", l.name, l.rl.Remaining, l.rl.Limit, l.rl.Window, l.rl.Reset)
			}
		})
	})
}

func newKeysCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "Create, list, rotate and revoke the API keys of your workspace",
		Long: `keys manages the API keys of the calling key's workspace and environment
(a fg_test_ key sees the sandbox's keys, a fg_live_ key the live ones). The
calling key needs the keys:manage scope (role manager, or a primary key).` + apiEnvHelp,
	}
	cmd.AddCommand(newKeysCreateCmd(), newKeysListCmd(), newKeysGetCmd(), newKeysRotateCmd(), newKeysRevokeCmd(), newKeysResetPrimaryCmd(), newKeysScanCmd())
	return cmd
}

func newKeysCreateCmd() *cobra.Command {
	var name, role, expiresAt string
	cmd := apiCmd(&cobra.Command{
		Use:   "create --name NAME --role ROLE [--expires-at TIME]",
		Short: "Create a secondary key; its plaintext is shown once",
		Long: `create makes a secondary key with a role: read_only, render, editor or manager.
A key can only create keys with scopes it has itself and that expire no later
than it does. The plaintext is printed once; store it in a secret manager.`,
		Args: noArgs,
	}, "createKey", func(cmd *cobra.Command, c *client.Client, _ []string) error {
		in := client.CreateKeyRequest{Name: name, Role: role}
		if expiresAt != "" {
			in.ExpiresAt = &expiresAt
		}
		k, err := c.CreateKey(cmd.Context(), in)
		if err != nil {
			return fmt.Errorf("create key: %w", err)
		}
		return printKey(cmd, k)
	})
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
	cmd := apiCmd(&cobra.Command{
		Use:   "list [--status STATUS | --all]",
		Short: "List keys (previews only; plaintexts are never shown again)",
		Long:  "list prints the keys of the workspace and environment, newest first, every page.",
		Args:  noArgs,
	}, "listKeys", func(cmd *cobra.Command, c *client.Client, _ []string) error {
		if all {
			status = "all"
		}
		keys, err := collect(limit, func(p client.ListParams) ([]client.Key, client.Pagination, error) {
			page, err := c.ListKeys(cmd.Context(), client.ListKeysParams{ListParams: p, Status: status})
			if err != nil {
				return nil, client.Pagination{}, fmt.Errorf("list keys: %w", err)
			}
			return page.Data, page.Pagination, nil
		})
		if err != nil {
			return err
		}
		return table(cmd, keys, "ID\tNAME\tKIND\tROLE\tPREVIEW\tSTATUS\tEXPIRES\tLAST USED", func(row func(string, ...any)) {
			for _, k := range keys {
				row("%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s", k.ID, k.Name, k.Kind, k.Role, k.Preview, k.Status,
					deref(k.ExpiresAt, "never"), deref(k.LastUsedAt, "-"))
			}
		})
	})
	cmd.Flags().StringVar(&status, "status", "active", "active, rotating, rotated, expired, revoked or all")
	cmd.Flags().BoolVar(&all, "all", false, "keys of every status (--status all)")
	cmd.Flags().IntVar(&limit, "limit", 0, "at most this many keys (0: all)")
	return cmd
}

func newKeysGetCmd() *cobra.Command {
	return apiCmd(&cobra.Command{
		Use:   "get KEY_ID",
		Short: "Show one key: role, scopes, status, expiry, last use (never its plaintext)",
		Args:  exactArgs(1),
	}, "getKey", func(cmd *cobra.Command, c *client.Client, args []string) error {
		k, err := c.GetKey(cmd.Context(), args[0])
		if err != nil {
			return fmt.Errorf("get key %s: %w", args[0], err)
		}
		return printKey(cmd, k)
	})
}

func newKeysRotateCmd() *cobra.Command {
	var grace time.Duration
	cmd := apiCmd(&cobra.Command{
		Use:   "rotate KEY_ID [--grace 1h]",
		Short: "Replace a key with a new one of the same role; the old one works for --grace",
		Long: `rotate issues a new key with the same role, limits and counters, printed once.
The old key keeps working for the grace period (0 to 24h) so that you can
deploy the new one first, then stops.`,
		Args: exactArgs(1),
	}, "rotateKey", func(cmd *cobra.Command, c *client.Client, args []string) error {
		if grace < 0 || grace > 24*time.Hour || grace%time.Second != 0 {
			return usageError{fmt.Errorf("--grace must be whole seconds from 0 to 24h, got %s", grace)}
		}
		k, err := c.RotateKey(cmd.Context(), args[0], int(grace/time.Second))
		if err != nil {
			return fmt.Errorf("rotate key %s: %w", args[0], err)
		}
		return printKey(cmd, k)
	})
	cmd.Flags().DurationVar(&grace, "grace", 0, "how long the old key keeps working (e.g. 30m; max 24h)")
	return cmd
}

func newKeysRevokeCmd() *cobra.Command {
	return apiCmd(&cobra.Command{
		Use:   "revoke KEY_ID",
		Short: "Revoke a key; it is refused from the next request on",
		Long:  "revoke stops a key at once. Renders it already started keep going.",
		Args:  exactArgs(1),
	}, "revokeKey", func(cmd *cobra.Command, c *client.Client, args []string) error {
		k, err := c.RevokeKey(cmd.Context(), args[0])
		if err != nil {
			return fmt.Errorf("revoke key %s: %w", args[0], err)
		}
		return printKey(cmd, k)
	})
}

func newKeysResetPrimaryCmd() *cobra.Command {
	var yes bool
	cmd := apiCmd(&cobra.Command{
		Use:   "reset-primary --yes",
		Short: "Replace the primary key of this environment; the old one stops at once",
		Long: `reset-primary issues a new primary key, printed once. The old primary key is
refused from the next request on, with no grace period: if it is the key
this command runs with, switch to the new one right away.`,
		Args: noArgs,
	}, "resetPrimaryKey", func(cmd *cobra.Command, c *client.Client, _ []string) error {
		if !yes {
			return usageError{fmt.Errorf("reset-primary stops the current primary key at once: pass --yes")}
		}
		k, err := c.ResetPrimary(cmd.Context())
		if err != nil {
			return fmt.Errorf("reset the primary key: %w", err)
		}
		return printKey(cmd, k)
	})
	cmd.Flags().BoolVar(&yes, "yes", false, "confirm that the old primary key stops at once")
	return cmd
}

func printKey(cmd *cobra.Command, k *client.Key) error {
	return emit(cmd, k, func(w io.Writer) {
		fmt.Fprintf(w, "%s %q: %s %s key, role %s, %s, expires %s\n", k.ID, k.Name, k.Status, k.Kind, k.Role, k.Environment, deref(k.ExpiresAt, "never"))
		if k.Key != "" {
			fmt.Fprintf(w, "key (shown once, store it now): %s\n", k.Key)
		}
	})
}
