package main

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

// outputFormat is the global -o/--output: text or json, nothing else (a
// flag error, so exit 2).
type outputFormat string

func (o *outputFormat) String() string { return string(*o) }

func (o *outputFormat) Set(s string) error {
	if s != "text" && s != "json" {
		return fmt.Errorf("must be text or json, not %q", s)
	}
	*o = outputFormat(s)
	return nil
}

func (o *outputFormat) Type() string { return "text|json" }

func jsonOutput(cmd *cobra.Command) bool {
	f := cmd.Flag("output")
	return f != nil && f.Value.String() == "json"
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false) // URLs keep their & as they are
	return enc.Encode(v)
}

// emit prints v as JSON with -o json, else what text writes.
func emit(cmd *cobra.Command, v any, text func(w io.Writer)) error {
	if jsonOutput(cmd) {
		return printJSON(cmd.OutOrStdout(), v)
	}
	text(cmd.OutOrStdout())
	return nil
}

// table prints rows under a header as aligned columns, or v as JSON.
func table(cmd *cobra.Command, v any, header string, rows func(row func(format string, a ...any))) error {
	if jsonOutput(cmd) {
		return printJSON(cmd.OutOrStdout(), v)
	}
	tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	rows(func(format string, a ...any) { fmt.Fprintf(tw, format+"\n", a...) })
	return tw.Flush()
}

// deletion is what a delete command prints with -o json.
type deletion struct {
	Object  string `json:"object"`
	ID      string `json:"id"`
	Deleted bool   `json:"deleted"`
}

func printDeleted(cmd *cobra.Command, object, id string) error {
	return emit(cmd, deletion{Object: object, ID: id, Deleted: true}, func(w io.Writer) {
		fmt.Fprintf(w, "deleted %s %s\n", object, id)
	})
}
