package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/framegate/framegate/pkg/client"
)

func newPublicationsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "publications",
		Short: "Publish succeeded videos to connections, now or later, and follow or cancel them",
		Long: `publications sends videos to connections (docs/publishing.md). Publishing and
cancelling need videos:write, listing videos:read.` + apiEnvHelp,
	}
	cmd.AddCommand(newPublicationsCreateCmd(), newPublicationsListCmd(), newPublicationsCancelCmd())
	return cmd
}

func newPublicationsCreateCmd() *cobra.Command {
	var in client.PublishRequest
	var idemKey string
	cmd := apiCmd(&cobra.Command{
		Use:   "create VIDEO_ID --connection CONNECTION_ID [--at TIME]",
		Short: "Publish a succeeded video to a connection, now or at --at (up to 30 days ahead)",
		Args:  exactArgs(1),
	}, "publishVideo", func(cmd *cobra.Command, c *client.Client, args []string) error {
		var opts []client.CallOption
		if idemKey != "" {
			opts = append(opts, client.WithIdempotencyKey(idemKey))
		}
		p, err := c.PublishVideo(cmd.Context(), args[0], in, opts...)
		if err != nil {
			return fmt.Errorf("publish %s: %w", args[0], err)
		}
		return printPublication(cmd, p)
	})
	f := cmd.Flags()
	f.StringVar(&in.ConnectionID, "connection", "", "the connection to publish to (required)")
	f.StringVar(&in.PublishAt, "at", "", "RFC 3339 time to publish at (default: now)")
	f.StringVar(&idemKey, "idempotency-key", "", "Idempotency-Key to send (default: a random one)")
	_ = cmd.MarkFlagRequired("connection")
	return cmd
}

func newPublicationsListCmd() *cobra.Command {
	return apiCmd(&cobra.Command{
		Use:   "list VIDEO_ID",
		Short: "List a video's publications, newest first, every page",
		Args:  exactArgs(1),
	}, "listPublications", func(cmd *cobra.Command, c *client.Client, args []string) error {
		ps, err := collect(0, func(p client.ListParams) ([]client.Publication, client.Pagination, error) {
			page, err := c.ListPublications(cmd.Context(), args[0], p)
			if err != nil {
				return nil, client.Pagination{}, fmt.Errorf("list publications of %s: %w", args[0], err)
			}
			return page.Data, page.Pagination, nil
		})
		if err != nil {
			return err
		}
		return table(cmd, ps, "ID\tCONNECTION\tSTATUS\tPUBLISH AT\tATTEMPTS\tDESTINATION", func(row func(string, ...any)) {
			for _, p := range ps {
				row("%s\t%s\t%s\t%s\t%d\t%s", p.ID, p.ConnectionID, p.Status, p.PublishAt, p.Attempts, deref(p.Destination, "-"))
			}
		})
	})
}

func newPublicationsCancelCmd() *cobra.Command {
	return apiCmd(&cobra.Command{
		Use:   "cancel VIDEO_ID PUBLICATION_ID",
		Short: "Cancel a scheduled publication",
		Args:  exactArgs(2),
	}, "cancelPublication", func(cmd *cobra.Command, c *client.Client, args []string) error {
		p, err := c.CancelPublication(cmd.Context(), args[0], args[1])
		if err != nil {
			return fmt.Errorf("cancel publication %s: %w", args[1], err)
		}
		return printPublication(cmd, p)
	})
}

func printPublication(cmd *cobra.Command, p *client.Publication) error {
	return emit(cmd, p, func(w io.Writer) {
		fmt.Fprintf(w, "%s of %s to %s (%s): %s, publish at %s\n", p.ID, p.VideoID, p.ConnectionID, p.ConnectionType, p.Status, p.PublishAt)
		if p.Error != nil {
			fmt.Fprintf(w, "error %s: %s\n", p.Error.Code, p.Error.Message)
		}
	})
}
