package main

import (
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/framegate/framegate/pkg/client"
)

func newAuditCmd() *cobra.Command {
	var p client.ListAuditEventsParams
	var since, until string
	var limit int
	cmd := &cobra.Command{
		Use:   "audit [--action A] [--actor ID] [--target ID] [--since T] [--until T]",
		Short: "Read the audit log: who changed what, from where",
		Long: `audit prints the audit log of the calling key's workspace and environment,
newest first: every change made with a key, by an operator or by a leak
revocation, with its actor, target, request id and source address. The
calling key needs the audit:read scope (role manager, or a primary key).` + apiEnvHelp,
		Args:        noArgs,
		Annotations: map[string]string{operationAnnotation: "listAuditEvents"},
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := parseTimes([]string{since, until}, []*time.Time{&p.Since, &p.Until}); err != nil {
				return err
			}
			c, err := apiClient()
			if err != nil {
				return err
			}
			var all []client.AuditEvent
			p.Limit = min(limit, 100)
			for len(all) < limit {
				page, err := c.ListAuditEvents(cmd.Context(), p)
				if err != nil {
					return fmt.Errorf("audit: %w", err)
				}
				all = append(all, page.Data...)
				if p.Cursor = page.Pagination.NextCursor(); p.Cursor == "" {
					break
				}
			}
			all = all[:min(len(all), limit)]
			if jsonOutput(cmd) {
				return printJSON(cmd.OutOrStdout(), all)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "TIME\tACTION\tACTOR\tTARGET\tSOURCE IP\tDETAILS")
			for _, e := range all {
				var d []string
				for k, v := range e.Details {
					d = append(d, k+"="+v)
				}
				slices.Sort(d)
				fmt.Fprintf(tw, "%s\t%s\t%s:%s\t%s\t%s\t%s\n", e.OccurredAt, e.Action, e.Actor.Type, e.Actor.ID, e.Target.ID, e.SourceIP, strings.Join(d, " "))
			}
			return tw.Flush()
		},
	}
	f := cmd.Flags()
	f.StringVar(&p.Action, "action", "", "only this action, e.g. key.revoked")
	f.StringVar(&p.Actor, "actor", "", "only changes by this actor (a key id, an operator's ARN, github)")
	f.StringVar(&p.Target, "target", "", "only changes to this id")
	f.StringVar(&since, "since", "", "RFC 3339 time: only changes at or after it")
	f.StringVar(&until, "until", "", "RFC 3339 time: only changes at or before it")
	f.IntVar(&limit, "limit", 50, "at most this many events")
	return cmd
}

func newUsageCmd() *cobra.Command {
	var p client.UsageParams
	var from, to string
	cmd := &cobra.Command{
		Use:   "usage [--granularity minute|hour|day] [--from T] [--to T] [--key ID]",
		Short: "Show requests by outcome per key, and render seconds, over time",
		Long: `usage prints the requests of the calling key's environment by outcome
(admitted, rate limited, forbidden), in total and per key with its last use,
and the seconds of video rendered, by minute (last 48 hours), hour (31 days)
or day (400 days). The calling key needs usage:read (read_only keys have it).` + apiEnvHelp,
		Args:        noArgs,
		Annotations: map[string]string{operationAnnotation: "getUsage"},
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := parseTimes([]string{from, to}, []*time.Time{&p.From, &p.To}); err != nil {
				return err
			}
			c, err := apiClient()
			if err != nil {
				return err
			}
			u, err := c.GetUsage(cmd.Context(), p)
			if err != nil {
				return fmt.Errorf("usage: %w", err)
			}
			if jsonOutput(cmd) {
				return printJSON(cmd.OutOrStdout(), u)
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "%s usage by %s, %s to %s\n", u.Environment, u.Granularity, u.From, u.To)
			fmt.Fprintf(out, "requests: %d admitted, %d rate limited, %d forbidden; render seconds: %.1f\n\n",
				u.Requests.Admitted, u.Requests.RateLimited, u.Requests.Forbidden, u.RenderSeconds.Total)
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "KEY\tADMITTED\tRATE LIMITED\tFORBIDDEN\tLAST USED")
			for _, k := range u.Keys {
				fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\n", k.KeyID, k.Requests.Admitted, k.Requests.RateLimited, k.Requests.Forbidden, deref(k.LastUsedAt, "-"))
			}
			return tw.Flush()
		},
	}
	f := cmd.Flags()
	f.StringVar(&p.Granularity, "granularity", "hour", "minute, hour or day")
	f.StringVar(&from, "from", "", "RFC 3339 start (default: an hour, a day or 30 days back)")
	f.StringVar(&to, "to", "", "RFC 3339 end (default: now)")
	f.StringVar(&p.KeyID, "key", "", "only this key's usage")
	return cmd
}

// parseTimes parses each non-empty flag value into its destination.
func parseTimes(values []string, dsts []*time.Time) error {
	for i, s := range values {
		if s == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return usageError{fmt.Errorf("times are RFC 3339, such as 2030-01-31T12:00:00Z; got %q", s)}
		}
		*dsts[i] = t
	}
	return nil
}
