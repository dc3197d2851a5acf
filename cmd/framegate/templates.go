package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/framegate/framegate/pkg/client"
)

func newTemplatesCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "templates",
		Short: "List the movie templates of your workspace",
		Long:  "templates reads the workspace's templates; the key needs templates:read." + apiEnvHelp,
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "List templates, every page",
		Long:  "list prints every template of the workspace and environment." + apiEnvHelp,
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := apiClient()
			if err != nil {
				return err
			}
			var all []client.Template
			p := client.ListTemplatesParams{ListParams: client.ListParams{Limit: 100}}
			for {
				page, err := c.ListTemplates(cmd.Context(), p)
				if err != nil {
					return fmt.Errorf("list templates: %w", err)
				}
				all = append(all, page.Data...)
				if p.Cursor = page.Pagination.NextCursor(); p.Cursor == "" {
					break
				}
			}
			if jsonOutput(cmd) {
				return printJSON(cmd.OutOrStdout(), all)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNAME\tCATEGORY\tORIENTATION\tBUILT-IN")
			for _, t := range all {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%t\n", t.ID, t.Name, t.Category, t.Orientation, t.BuiltIn)
			}
			return tw.Flush()
		},
	})
	return cmd
}
