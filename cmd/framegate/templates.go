package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/framegate/framegate/pkg/client"
)

func newTemplatesCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "templates",
		Short: "List, show, create, replace and delete movie templates",
		Long: `templates manages the workspace's templates (docs/renders.md#templates has the
format); the built-in ones are read-only. Reading needs templates:read,
changing templates:write.` + apiEnvHelp,
	}
	cmd.AddCommand(newTemplatesListCmd(), newTemplatesGetCmd(), newTemplatesCreateCmd(), newTemplatesReplaceCmd(), newTemplatesDeleteCmd())
	return cmd
}

func newTemplatesListCmd() *cobra.Command {
	var category, orientation, q string
	cmd := apiCmd(&cobra.Command{
		Use:   "list [--category C] [--orientation O] [--q WORDS]",
		Short: "List templates, the built-ins first, every page",
		Args:  noArgs,
	}, "listTemplates", func(cmd *cobra.Command, c *client.Client, _ []string) error {
		all, err := collect(0, func(p client.ListParams) ([]client.Template, client.Pagination, error) {
			page, err := c.ListTemplates(cmd.Context(), client.ListTemplatesParams{ListParams: p, Category: category, Orientation: orientation, Q: q})
			if err != nil {
				return nil, client.Pagination{}, fmt.Errorf("list templates: %w", err)
			}
			return page.Data, page.Pagination, nil
		})
		if err != nil {
			return err
		}
		return table(cmd, all, "ID\tNAME\tCATEGORY\tORIENTATION\tBUILT-IN", func(row func(string, ...any)) {
			for _, t := range all {
				row("%s\t%s\t%s\t%s\t%t", t.ID, t.Name, t.Category, t.Orientation, t.BuiltIn)
			}
		})
	})
	f := cmd.Flags()
	f.StringVar(&category, "category", "", "only this category")
	f.StringVar(&orientation, "orientation", "", "only landscape, portrait or square")
	f.StringVar(&q, "q", "", "words in the name or description")
	return cmd
}

func newTemplatesGetCmd() *cobra.Command {
	return apiCmd(&cobra.Command{
		Use:   "get TEMPLATE_ID",
		Short: "Show a template: its variables, and with -o json the whole of it",
		Args:  exactArgs(1),
	}, "getTemplate", func(cmd *cobra.Command, c *client.Client, args []string) error {
		t, err := c.GetTemplate(cmd.Context(), args[0])
		if err != nil {
			return fmt.Errorf("get template %s: %w", args[0], err)
		}
		return printTemplate(cmd, t)
	})
}

// templateBody reads a --file holding a POST/PUT /v1/templates body.
func templateBody(cmd *cobra.Command, file string) (json.RawMessage, error) {
	b, err := readInput(cmd, file)
	if err != nil {
		return nil, err
	}
	if !json.Valid(b) {
		return nil, usageError{fmt.Errorf("--file %s: not JSON", file)}
	}
	return json.RawMessage(bytes.TrimSpace(b)), nil
}

func newTemplatesCreateCmd() *cobra.Command {
	var file string
	cmd := apiCmd(&cobra.Command{
		Use:   "create --file template.json",
		Short: "Create a template from a file (docs/renders.md#templates)",
		Args:  noArgs,
	}, "createTemplate", func(cmd *cobra.Command, c *client.Client, _ []string) error {
		body, err := templateBody(cmd, file)
		if err != nil {
			return err
		}
		t, err := c.CreateTemplate(cmd.Context(), body)
		if err != nil {
			return fmt.Errorf("create template: %w", err)
		}
		return printTemplate(cmd, t)
	})
	cmd.Flags().StringVarP(&file, "file", "f", "", "the template, JSON (- for stdin) (required)")
	_ = cmd.MarkFlagRequired("file")
	return cmd
}

func newTemplatesReplaceCmd() *cobra.Command {
	var file string
	cmd := apiCmd(&cobra.Command{
		Use:   "replace TEMPLATE_ID --file template.json",
		Short: "Replace one of the workspace's templates (PUT)",
		Args:  exactArgs(1),
	}, "replaceTemplate", func(cmd *cobra.Command, c *client.Client, args []string) error {
		body, err := templateBody(cmd, file)
		if err != nil {
			return err
		}
		t, err := c.UpdateTemplate(cmd.Context(), args[0], body)
		if err != nil {
			return fmt.Errorf("replace template %s: %w", args[0], err)
		}
		return printTemplate(cmd, t)
	})
	cmd.Flags().StringVarP(&file, "file", "f", "", "the template, JSON (- for stdin) (required)")
	_ = cmd.MarkFlagRequired("file")
	return cmd
}

func newTemplatesDeleteCmd() *cobra.Command {
	return apiCmd(&cobra.Command{
		Use:   "delete TEMPLATE_ID",
		Short: "Delete one of the workspace's templates (built-ins cannot be)",
		Args:  exactArgs(1),
	}, "deleteTemplate", func(cmd *cobra.Command, c *client.Client, args []string) error {
		if err := c.DeleteTemplate(cmd.Context(), args[0]); err != nil {
			return fmt.Errorf("delete template %s: %w", args[0], err)
		}
		return printDeleted(cmd, "template", args[0])
	})
}

func printTemplate(cmd *cobra.Command, t *client.Template) error {
	return emit(cmd, t, func(w io.Writer) {
		fmt.Fprintf(w, "%s %q (%s, %s, built-in %t)\n", t.ID, t.Name, t.Category, t.Orientation, t.BuiltIn)
		var vars bytes.Buffer
		if json.Compact(&vars, t.Variables) == nil && vars.Len() > 0 {
			fmt.Fprintf(w, "variables: %s\n", vars.String())
		}
	})
}
