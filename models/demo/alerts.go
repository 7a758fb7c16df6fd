package demo

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"gatehouse/models"
	"gatehouse/policy"
)

// SeedAlerts gives the demo two alerts raised by the real detector from
// real audit events: an open one (a burst of refused sign-ins from one
// address) and one a sysadmin acknowledged (a senior revealing many
// personal fields in an hour). It first evaluates the demo's ordinary
// activity, which raises nothing. Where alerts exist it does nothing.
func SeedAlerts(ctx context.Context, db *models.DB, rules []policy.Rule, post models.Post, now time.Time) error {
	var n int64
	if err := db.Read.WithContext(ctx).Model(&models.Alert{}).Count(&n).Error; err != nil || n > 0 {
		return err
	}
	d := &models.Detector{DB: db, Rules: rules, Post: post, Now: func() time.Time { return now }}
	if _, err := d.RunOnce(ctx); err != nil {
		return fmt.Errorf("demo alerts: the ordinary activity: %w", err)
	}
	var es []models.AuditEntry
	start := now.Add(-3 * time.Hour)
	for i := range 31 {
		es = append(es, models.AuditEntry{
			At: start.Add(time.Duration(i) * time.Minute), Actor: models.Actor{Email: "sean.senior@example.com", Tier: "senior", IP: "192.0.2.44"},
			Action: models.ActionFieldRevealed, Workspace: "acme", Table: "members", RecordIDs: []string{strconv.Itoa(i + 1)},
			Target: "members/" + strconv.Itoa(i+1) + "/email", Reason: "SUP-1042: checking the contact list the customer asked about",
		})
	}
	for i := range 12 {
		es = append(es, models.AuditEntry{
			At: now.Add(-40*time.Minute + time.Duration(i)*20*time.Second), Actor: models.Actor{Email: fmt.Sprintf("user%d@example.net", i), IP: "203.0.113.66"},
			Action: models.ActionLoginRefused, Reason: "not a staff member",
		})
	}
	for _, e := range es {
		if _, err := models.AppendAudit(ctx, db.Write, e); err != nil {
			return fmt.Errorf("demo alerts: %w", err)
		}
	}
	if _, err := d.RunOnce(ctx); err != nil {
		return fmt.Errorf("demo alerts: %w", err)
	}
	as, err := models.OpenAlerts(ctx, db.Read, 10)
	if err != nil {
		return err
	}
	for _, a := range as {
		if a.Kind == string(policy.KindReveals) {
			ada := models.Actor{Email: "ada.sysadmin@example.com", Tier: "sysadmin", IP: "192.0.2.10"}
			if _, err := models.AcknowledgeAlert(ctx, db.Write, models.Act{Now: now, By: ada}, a.ID,
				"Asked Sean: a contact-list check for SUP-1042. Confirming with the customer before resolving."); err != nil {
				return fmt.Errorf("demo alerts: %w", err)
			}
		}
	}
	return nil
}
