package handlers

import (
	"context"
	"errors"
	"slices"
	"time"

	"gatehouse/models"
	"gatehouse/policy"
	"gatehouse/views"

	"github.com/labstack/echo/v4"
)

// chartDays is the dashboards' chart window: today and the 29 days before.
const chartDays = 30

// dashboardAudit fills in, for those who read the audit log, when the
// chain was last verified, the last signed checkpoint, the newest events
// and the chart of data views per day (per tier for sysadmins).
func (h *Handler) dashboardAudit(c echo.Context, page *views.DashboardView) error {
	ctx, v := c.Request().Context(), viewerOf(c)
	if !h.allowed(v, policy.AuditRead) {
		return nil
	}
	a := views.AuditSummary{}
	switch ver, err := models.LastVerification(ctx, h.db.Read); {
	case err == nil:
		a.Verified = &views.ChainCheck{At: ver.At, By: ver.By, Seq: ver.Head, OK: ver.OK, Broken: ver.Broken, Problem: ver.Problem}
	case !errors.Is(err, models.ErrNotFound):
		return err
	}
	switch cp, err := models.LastCheckpoint(ctx, h.db.Read); {
	case err == nil:
		a.Checkpoint = &views.ChainCheck{At: cp.At, By: cp.KeyID, Seq: cp.Seq, OK: true}
	case !errors.Is(err, models.ErrNotFound):
		return err
	}
	recent, err := models.SearchAudit(ctx, h.db.Read, models.AuditQuery{Limit: 8})
	if err != nil {
		return err
	}
	for _, e := range recent {
		a.Recent = append(a.Recent, views.EventRow{At: e.At, Actor: e.Actor, Action: string(e.Action), Reason: e.Reason, Detail: e.Detail})
	}
	page.Audit = &a
	page.Views, err = h.viewCharts(ctx, page.Now, h.allowed(v, policy.StaffManage), v.Roles)
	return err
}

// viewCharts counts data views per day over the chart window: one chart
// for all staff, or with perTier one per role (of roles) that may view data or did,
// on a shared scale.
func (h *Handler) viewCharts(ctx context.Context, now time.Time, perTier bool, roles *policy.Roles) ([]views.DayChart, error) {
	y, m, d := now.UTC().Date()
	first := time.Date(y, m, d-(chartDays-1), 0, 0, 0, 0, time.UTC)
	counts, err := models.DataViewsPerDay(ctx, h.db.Read, first)
	if err != nil {
		return nil, err
	}
	days := make([]time.Time, chartDays)
	index := map[string]int{}
	for i := range days {
		days[i] = first.AddDate(0, 0, i)
		index[days[i].Format(time.DateOnly)] = i
	}
	chart := func(title, key string) views.DayChart {
		return views.DayChart{Title: title, Key: key, Days: days, Counts: make([]int64, chartDays)}
	}
	if !perTier {
		all := chart("Data views by all staff", "all")
		for _, c := range counts {
			if i, ok := index[c.Day]; ok {
				all.Counts[i] += c.N
			}
		}
		return []views.DayChart{all}, nil
	}
	tiers := roles.Holding(policy.TenantDataRead)
	for _, c := range counts {
		if t := policy.Tier(c.Tier); !slices.Contains(tiers, t) {
			tiers = append(tiers, t)
		}
	}
	charts := make([]views.DayChart, len(tiers))
	var top int64
	for k, t := range tiers {
		charts[k] = chart("Data views by "+tierPlural(t), string(t))
		for _, c := range counts {
			if i, ok := index[c.Day]; ok && c.Tier == string(t) {
				charts[k].Counts[i] += c.N
				top = max(top, charts[k].Counts[i])
			}
		}
	}
	for k := range charts {
		charts[k].Max = top
	}
	return charts, nil
}

// tierPlural names a tier's members: "seniors", "sysadmins".
func tierPlural(t policy.Tier) string {
	if t == "" {
		return "unknown tier"
	}
	return string(t) + "s"
}
