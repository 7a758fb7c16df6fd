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
	return models.Sweep(ctx, h.db.Write, h.now(), h.outbox, letters{h: h, names: names}, owners)
}

// RunRetention runs the retention job once (see models.RunRetention):
// deletion requests past their date expire, and due notices are sent.
// It never deletes anything itself.
// Deletions that started and never finished are settled first.
func (h *Handler) RunRetention(ctx context.Context) (models.RetentionRun, error) {
	if n, err := models.SettleDeletions(ctx, h.db, h.productDB, h.tenantsDir, h.now()); err != nil {
		h.log.Error("retention: settle deletions", "error", err)
	} else if n > 0 {
		h.log.Warn("retention: settled deletions that had not finished", "settled", n)
	}
	return models.RunRetention(ctx, h.db.Write, h.product, h.now(), h.retention, h.outbox, letters{h: h})
}

// RetentionLetters writes the mails of retention and deletion requests,
// for code outside the handlers that enqueues them (the demo data).
func (h *Handler) RetentionLetters() models.RetentionLetters { return letters{h: h} }

// RunSweeper sweeps every interval, and runs the retention job at the
// start and then every retentionEvery, until ctx ends. Several replicas
// may run it at once: every step is done once.
func (h *Handler) RunSweeper(ctx context.Context, interval, retentionEvery time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	var lastRetention time.Time
	for {
		if res, err := h.Sweep(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			h.log.Error("sweep", "error", err)
		} else if res != (models.SweepResult{}) {
			h.log.Info("sweep", "expired", res.Expired, "warned", res.Warned, "ended", res.Ended)
		}
		if now := h.now(); lastRetention.IsZero() || now.Sub(lastRetention) >= retentionEvery {
			lastRetention = now
			if run, err := h.RunRetention(ctx); err != nil {
				if ctx.Err() != nil {
					return
				}
				h.log.Error("retention", "error", err)
			} else if run.Noticed+run.Marked+run.Expired > 0 || run.DeletionDue > 0 {
				h.log.Info("retention", "evaluated", run.Evaluated, "noticed", run.Noticed, "marked", run.Marked,
					"expired", run.Expired, "deletion_due", run.DeletionDue)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
