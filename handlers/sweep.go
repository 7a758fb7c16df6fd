package handlers

import (
	"context"
	"time"

	"gatehouse/models"
)

// Sweep moves the request workflow forward in time once (see
// models.Sweep): expiries, warnings, and what happens when a grant ends.
func (h *Handler) Sweep(ctx context.Context) (models.SweepResult, error) {
	names, err := models.WorkspaceNames(ctx, h.product)
	if err != nil {
		return models.SweepResult{}, err
	}
	owners := func(ctx context.Context, ws string) ([]string, error) { return models.Owners(ctx, h.product, ws) }
	return models.Sweep(ctx, h.db.Write, h.now(), h.opts.Outbox, letters{h: h, names: names}, owners)
}

// RunSweeper sweeps every interval until ctx ends. Several replicas may
// run it at once: every step is done once.
func (h *Handler) RunSweeper(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if res, err := h.Sweep(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			h.log.Error("sweep", "error", err)
		} else if res != (models.SweepResult{}) {
			h.log.Info("sweep", "expired", res.Expired, "warned", res.Warned, "ended", res.Ended)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
