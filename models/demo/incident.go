package demo

import (
	"context"
	"time"

	"gatehouse/models"

	"gorm.io/gorm"
)

// SeedIncident records, unless an incident exists, the demo's closed
// incident through the real steps: a leaver's stolen laptop used to view
// acme's members, declared by ada, the affected workspace found from the
// audit log, a notice approved by otto and a follow-up approved by ada
// (both mailed to acme's owners through post, so /dev/mail shows them),
// containment, and a post-mortem.
func SeedIncident(ctx context.Context, db *models.DB, product *gorm.DB, now time.Time, post models.Post) error {
	var n int64
	if err := db.Read.WithContext(ctx).Model(&models.Incident{}).Count(&n).Error; err != nil || n > 0 {
		return err
	}
	staff := map[string]models.Staff{}
	for _, e := range []string{"ada.sysadmin", "otto.sysadmin", "lee.leaver"} {
		s, err := models.FindStaffByEmail(ctx, db.Read, e+"@"+Domain)
		if err != nil {
			return err
		}
		staff[e] = s
	}
	act := func(who string, at time.Time) models.Act {
		return models.Act{Now: at, By: models.Actor{Email: staff[who].Email, Tier: string(staff[who].Tier)}}
	}
	day := time.Date(now.Year(), now.Month(), now.Day(), 10, 0, 0, 0, time.UTC).AddDate(0, 0, -6)
	lee := models.Actor{Email: staff["lee.leaver"].Email, Tier: "senior", IP: "203.0.113.66"}
	for i, ids := range [][]string{{"1", "2", "3"}, {"4"}} {
		_, err := models.AppendAudit(ctx, db.Write, models.AuditEntry{
			At: day.Add(time.Duration(i) * 10 * time.Minute), Actor: lee, Action: models.ActionDataViewed, Workspace: "acme", Table: "members", RecordIDs: ids,
		})
		if err != nil {
			return err
		}
	}
	inc, err := models.DeclareIncident(ctx, db.Write, act("ada.sysadmin", day.Add(3*time.Hour)), models.NewIncident{
		Title:      "Stolen laptop of a departing engineer",
		Summary:    "A laptop stolen from a departing engineer was used, with a session still open, to view member records before his access ended.",
		Severity:   "high",
		StartedAt:  day,
		DetectedAt: day.Add(2 * time.Hour),
		DeclaredBy: staff["ada.sysadmin"].ID,
	})
	if err != nil {
		return err
	}
	found, err := models.FindAffected(ctx, db.Read, models.AffectedQuery{Staff: lee.Email, Since: day.Add(-time.Hour), Until: day.Add(3 * time.Hour)})
	if err != nil {
		return err
	}
	owners := map[string][]string{}
	for i, w := range found {
		if found[i].Name, err = nameOf(ctx, product, w.Slug); err != nil {
			return err
		}
		if owners[w.Slug], err = models.Owners(ctx, product, w.Slug); err != nil {
			return err
		}
	}
	at := day.Add(3*time.Hour + 10*time.Minute)
	if err := models.SetAffected(ctx, db.Write, act("ada.sysadmin", at), inc.ID, found, "views by "+lee.Email); err != nil {
		return err
	}
	if _, err := models.Contain(ctx, db.Write, act("ada.sysadmin", at), models.Containment{
		Incident: inc.ID, ByID: staff["ada.sysadmin"].ID, Emails: []string{lee.Email}, Note: "End every session and grant the stolen laptop could still use.",
	}); err != nil {
		return err
	}
	notices := []struct {
		author, approver string
		body             string
	}{
		{"ada.sysadmin", "otto.sysadmin", "A laptop stolen from one of our engineers was used to view some member records of your workspace, listed below. " +
			"We ended every session and access that laptop held within hours, and no other data was read.\n\nYou need not do anything; we will write again when our review is finished."},
		{"otto.sysadmin", "ada.sysadmin", "Our review is finished: nothing beyond the records listed below was viewed, and the laptop has been wiped remotely. " +
			"We now end a departing engineer's sessions on their last day automatically."},
	}
	for i, nt := range notices {
		at = at.Add(time.Duration(i+1) * 20 * time.Hour)
		n, err := models.DraftNotice(ctx, db.Write, act(nt.author, at), inc.ID, staff[nt.author].ID, nt.body)
		if err != nil {
			return err
		}
		if _, err := models.ApproveNotice(ctx, db.Write, act(nt.approver, at.Add(time.Hour)), post, models.NoticeApproval{
			Incident: inc.ID, Notice: n.ID, ApproverID: staff[nt.approver].ID, Owners: owners,
		}); err != nil {
			return err
		}
	}
	return models.CloseIncident(ctx, db.Write, act("ada.sysadmin", at.Add(2*time.Hour)), inc.ID, staff["ada.sysadmin"].ID,
		"The engineer's sessions outlived his last day because offboarding ran a day late. Offboarding now runs on the last day, and sessions of leavers are ended by the same step.")
}

// nameOf is a workspace's name, or its slug when the registry lacks it.
func nameOf(ctx context.Context, product *gorm.DB, slug string) (string, error) {
	names, err := models.WorkspaceNamesOf(ctx, product, []string{slug})
	if err != nil {
		return "", err
	}
	if n := names[slug]; n != "" {
		return n, nil
	}
	return slug, nil
}
