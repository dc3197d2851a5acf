package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/framegate/framegate/pkg/client"
)

func newConnectionsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "connections",
		Short: "Manage the places videos are published to: webhook catch-hooks and S3 buckets",
		Long:  "connections manages publishing destinations (docs/publishing.md); the key needs connections:manage." + apiEnvHelp,
	}
	cmd.AddCommand(newConnectionsListCmd(), newConnectionsGetCmd(), newConnectionsCreateCmd(), newConnectionsDeleteCmd())
	return cmd
}

func newConnectionsListCmd() *cobra.Command {
	return apiCmd(&cobra.Command{
		Use:   "list",
		Short: "List connections, every page",
		Args:  noArgs,
	}, "listConnections", func(cmd *cobra.Command, c *client.Client, _ []string) error {
		cs, err := collect(0, func(p client.ListParams) ([]client.Connection, client.Pagination, error) {
			page, err := c.ListConnections(cmd.Context(), p)
			if err != nil {
				return nil, client.Pagination{}, fmt.Errorf("list connections: %w", err)
			}
			return page.Data, page.Pagination, nil
		})
		if err != nil {
			return err
		}
		return table(cmd, cs, "ID\tTYPE\tNAME\tDESTINATION\tCREATED", func(row func(string, ...any)) {
			for _, c := range cs {
				row("%s\t%s\t%s\t%s\t%s", c.ID, c.Type, c.Name, destination(c), c.CreatedAt)
			}
		})
	})
}

func destination(c client.Connection) string {
	if c.Type == "s3" {
		return "s3://" + c.Bucket + "/" + c.Prefix
	}
	return c.URL
}

func newConnectionsGetCmd() *cobra.Command {
	return apiCmd(&cobra.Command{
		Use:   "get CONNECTION_ID",
		Short: "Show one connection (never its secret)",
		Args:  exactArgs(1),
	}, "getConnection", func(cmd *cobra.Command, c *client.Client, args []string) error {
		conn, err := c.GetConnection(cmd.Context(), args[0])
		if err != nil {
			return fmt.Errorf("get connection %s: %w", args[0], err)
		}
		return printConnection(cmd, conn)
	})
}

func newConnectionsCreateCmd() *cobra.Command {
	var in client.CreateConnectionRequest
	cmd := apiCmd(&cobra.Command{
		Use:   "create --type webhook --url URL | --type s3 --bucket B --role-arn ARN [--prefix P] [--region R]",
		Short: "Create a connection: a webhook's secret is shown once, an S3 role's external id is printed",
		Long: `create registers a destination. A webhook connection's signing secret is
printed once. An S3 connection is checked before it is stored: framegate
assumes the role with the external id it prints (or names in the error) and
writes an empty object under the prefix; docs/publishing.md has the trust
policy to create.`,
		Args: noArgs,
	}, "createConnection", func(cmd *cobra.Command, c *client.Client, _ []string) error {
		conn, err := c.CreateConnection(cmd.Context(), in)
		if err != nil {
			return fmt.Errorf("create connection: %w", err)
		}
		return printConnection(cmd, conn)
	})
	f := cmd.Flags()
	f.StringVar(&in.Type, "type", "", "webhook or s3 (required)")
	f.StringVar(&in.Name, "name", "", "a name to recognise it by")
	f.StringVar(&in.URL, "url", "", "webhook: the https URL to POST to")
	f.StringVar(&in.Bucket, "bucket", "", "s3: the bucket")
	f.StringVar(&in.Prefix, "prefix", "", "s3: the key prefix (default: the bucket's root)")
	f.StringVar(&in.Region, "region", "", "s3: the bucket's region (default: framegate's)")
	f.StringVar(&in.RoleArn, "role-arn", "", "s3: the IAM role framegate assumes to write")
	_ = cmd.MarkFlagRequired("type")
	return cmd
}

func newConnectionsDeleteCmd() *cobra.Command {
	return apiCmd(&cobra.Command{
		Use:   "delete CONNECTION_ID",
		Short: "Delete a connection; its scheduled publications fail when due",
		Args:  exactArgs(1),
	}, "deleteConnection", func(cmd *cobra.Command, c *client.Client, args []string) error {
		if err := c.DeleteConnection(cmd.Context(), args[0]); err != nil {
			return fmt.Errorf("delete connection %s: %w", args[0], err)
		}
		return printDeleted(cmd, "connection", args[0])
	})
}

func printConnection(cmd *cobra.Command, c *client.Connection) error {
	return emit(cmd, c, func(w io.Writer) {
		fmt.Fprintf(w, "%s %s %q: %s (%s)\n", c.ID, c.Type, c.Name, destination(*c), c.Environment)
		if c.Secret != "" {
			fmt.Fprintf(w, "signing secret (shown once, store it now): %s\n", c.Secret)
		}
		if c.ExternalID != "" {
			fmt.Fprintf(w, "role %s, external id %s\n", c.RoleArn, c.ExternalID)
		}
	})
}
