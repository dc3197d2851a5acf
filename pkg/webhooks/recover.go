package webhooks

import (
	"context"
	"time"

	"github.com/framegate/framegate/pkg/apierr"
)

// RecoveryBudget is how long one invocation spends on a recovery before it
// queues the rest: an attempt takes at most Timeout, so the worker always
// finishes within its 60 s.
const RecoveryBudget = 30 * time.Second

// recoveryPage is how many failed deliveries a recovery reads at a time.
const recoveryPage = 10

// runRecovery sends the unsuccessful deliveries of a recovery again (failed,
// or waiting to retry a failed attempt), one at a time in the order of
// their events, each once: the claim marks a delivery
// with the recovery's id, so a duplicate message, or the rest of the run
// queued after a crash, skips what was done. A 410 (the endpoint is gone
// and now disabled) ends the run.
func (w *Worker) runRecovery(ctx context.Context, r Recovery) error {
	ep, err := w.Store.GetEndpoint(ctx, r.Workspace, r.Env, r.Endpoint)
	if apierr.From(err).Code == apierr.NotFound {
		return nil // deleted since
	}
	if err != nil {
		return err
	}
	if !ep.Enabled {
		w.Log.WarnContext(ctx, "webhook recovery stopped: the endpoint is disabled", "recovery_id", r.ID, "endpoint_id", ep.ID)
		return nil
	}
	deadline := w.Now().Add(RecoveryBudget)
	since, until := time.UnixMilli(r.Since), time.UnixMilli(r.Until)
	sent := 0
	for {
		ds, next, err := w.Store.FailedSince(ctx, r.Workspace, r.Env, r.Endpoint, since, until, r.After, recoveryPage)
		if err != nil {
			return err
		}
		for _, d := range ds {
			if w.Now().After(deadline) {
				return w.Queue.Recover(ctx, r) // the rest, after the last one done
			}
			c, ok, err := w.Store.ClaimRecovery(ctx, d, r.ID, w.Now().Add(Lease))
			if err != nil {
				return err
			}
			if ok {
				// A delivery waiting to retry keeps its schedule if this
				// attempt fails too; a failed one stays failed.
				out, err := w.attempt(ctx, c, ep, true, c.Status != Pending)
				if err != nil {
					return err
				}
				sent++
				if out == Gone {
					w.Log.WarnContext(ctx, "webhook recovery stopped: the endpoint answered 410", "recovery_id", r.ID, "endpoint_id", ep.ID)
					return nil
				}
			}
			r.After = d.ID
		}
		if next == "" {
			w.Log.InfoContext(ctx, "webhook recovery done", "recovery_id", r.ID, "endpoint_id", ep.ID, "sent", sent)
			return nil
		}
		r.After = next
	}
}
