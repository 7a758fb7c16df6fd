package demo

import (
	"context"
	"time"

	"gatehouse/models"
)

// demoReported is the demo workspace with a transparency report: globex,
// whose data sara.senior read last month under a request sean.senior
// approved two hours after sam.support made it.
const demoReported = "globex"

// SeedTransparencyReport gives globex last month's access history and
// makes the month's reports (mailed to its owner, shown in /dev/mail),
// unless globex has a report already.
func SeedTransparencyReport(ctx context.Context, db, product *models.DB, now time.Time, post models.Post) error {
	var n int64
	if err := db.Read.WithContext(ctx).Model(&models.TransparencyReport{}).Where("workspace = ?", demoReported).Count(&n).Error; err != nil || n > 0 {
		return err
	}
	from, _ := models.ReportMonthly.Last(now)
	at := func(day, hour int) time.Time { return from.AddDate(0, 0, day).Add(time.Duration(hour) * time.Hour) }
	sam := models.Actor{Email: "sam.support@" + Domain, Tier: "support"}
	sean := models.Actor{Email: "sean.senior@" + Domain, Tier: "senior"}
	sara := models.Actor{Email: "sara.senior@" + Domain, Tier: "senior"}
	owner := models.Actor{Email: "owner@globex.example", Tier: "customer"}
	events := []models.AuditEntry{
		{At: at(2, 9), Actor: sam, Action: models.ActionRequestCreated, Target: "request/demo-globex", Reason: "SUP-4711: the customer reports missing projects after an import"},
		{At: at(2, 11), Actor: sean, Action: models.ActionRequestApproved, Target: "request/demo-globex"},
		{At: at(2, 12), Actor: owner, Action: models.ActionConsentGranted, Target: "request/demo-globex"},
		{At: at(2, 13), Actor: sara, Action: models.ActionDataViewed, Table: "projects", RecordIDs: []string{"1", "2", "3"}},
		{At: at(2, 14), Actor: sara, Action: models.ActionDataViewed, Table: "projects", RecordIDs: []string{"4"}},
		{At: at(2, 15), Actor: sara, Action: models.ActionDataViewed, Table: "members", RecordIDs: []string{"1"}},
		{At: at(2, 15), Actor: sara, Action: models.ActionFieldRevealed, Table: "members", RecordIDs: []string{"1"}, Reason: "confirm the importing member's email"},
	}
	for _, e := range events {
		e.Workspace = demoReported
		if _, err := models.AppendAudit(ctx, db.Write, e); err != nil {
			return err
		}
	}
	job := &models.TransparencyJob{DB: db, Product: product, Post: post, Policy: models.DefaultTransparencyPolicy(), Now: func() time.Time { return now }}
	_, err := job.RunOnce(ctx)
	return err
}
