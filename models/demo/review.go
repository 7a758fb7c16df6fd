package demo

import (
	"context"
	"fmt"
	"time"

	"gatehouse/models"
)

// SeedAccessReview opens the current quarter's access review, as the
// review job would, and has Ada and Otto certify a few rows, so the demo
// shows a review in progress. It raises no alert: the review is due in
// 14 days. Where the quarter's review exists it does nothing.
func SeedAccessReview(ctx context.Context, db *models.DB, now time.Time) error {
	r, opened, err := models.OpenReview(ctx, db, now, models.ReviewQuarterly, AgreementVersion)
	if err != nil || !opened {
		return err
	}
	rows, err := models.ReviewRows(ctx, db.Read, r.ID)
	if err != nil {
		return err
	}
	decisions := []struct{ by, email, decision, note string }{
		{"ada.sysadmin@example.com", "sam.support@example.com", models.DecisionKeep, "Sam works the support queue daily; support access is what the job needs."},
		{"otto.sysadmin@example.com", "ada.sysadmin@example.com", models.DecisionKeep, "Ada runs the platform team and the on-call rota."},
		{"ada.sysadmin@example.com", "aud.auditor@example.com", models.DecisionChange, "The external audit ends this quarter: Aud's access should end with it."},
	}
	for _, d := range decisions {
		for _, row := range rows {
			if row.Email != d.email {
				continue
			}
			act := models.Act{Now: now, By: models.Actor{Email: d.by, Tier: "sysadmin", IP: "192.0.2.10"}}
			if _, err := models.CertifyRow(ctx, db.Write, act, models.Certification{ReviewID: r.ID, RowID: row.ID, Decision: d.decision, Note: d.note}); err != nil {
				return fmt.Errorf("demo access review: %s: %w", d.email, err)
			}
		}
	}
	return nil
}
