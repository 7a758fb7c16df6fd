package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"gatehouse/models"
	"gatehouse/policy"
	"gatehouse/views"

	"github.com/labstack/echo/v4"
)

const staffPageSize = 50

// staffStatuses are the values of the list's status filter.
var staffStatuses = []string{string(models.StatusActive), string(models.StatusSuspended), string(models.StatusOffboarded)}

func (h *Handler) staffList(c echo.Context) error {
	return h.renderStaffList(c, http.StatusOK, views.StaffForm{Tier: string(policy.TierSupport)}, nil)
}

func (h *Handler) renderStaffList(c echo.Context, status int, form views.StaffForm, errs views.Errors) error {
	f := models.StaffFilter{
		Query:  strings.TrimSpace(c.QueryParam("q")),
		Tier:   policy.Tier(strings.TrimSpace(c.QueryParam("tier"))),
		Status: models.Status(strings.TrimSpace(c.QueryParam("status"))),
	}
	filters := url.Values{"q": {f.Query}, "tier": {string(f.Tier)}, "status": {string(f.Status)}}
	k, ferrs := listKeyset(c, models.StaffSorts, staffPageSize)
	roles := viewerOf(c).Roles
	if f.Tier != "" && !roles.Known(f.Tier) {
		ferrs["tier"] = "Choose a tier from the list."
	}
	if f.Status != "" && !slices.Contains(staffStatuses, string(f.Status)) {
		ferrs["status"] = "Choose a status from the list."
	}
	if len(f.Query) > 200 {
		ferrs[""] = "Search for at most 200 characters."
	}
	view := views.StaffListView{
		Query: f.Query, Tier: string(f.Tier), Status: string(f.Status), Statuses: staffStatuses,
		Filter: ferrs, Form: form, Errors: errs, Agreement: h.agreement,
	}
	view.Tiers = roleNames(roles)
	page, nav, code, err := readList(ferrs, "/staff", filters, models.StaffSorts, k, func() (models.Page[models.Staff], models.Count, error) {
		return models.PageStaff(c.Request().Context(), h.db.Read, f, k)
	})
	if err != nil {
		return err
	}
	if view.Nav = nav; status == http.StatusOK {
		status = code
	}
	for _, s := range page.Rows {
		view.Rows = append(view.Rows, h.staffRow(s))
	}
	due, err := models.TrainingDue(c.Request().Context(), h.db.Read, h.clearance, h.now(), models.TrainingDueWithin)
	if err != nil {
		return err
	}
	for _, s := range due {
		view.TrainingDue = append(view.TrainingDue, h.staffRow(s))
	}
	return h.render(c, status, views.StaffList(h.chrome(c, formTitle("Staff", errs)), view))
}

func (h *Handler) staffRow(s models.Staff) views.StaffRow {
	return views.StaffRow{
		ID:              s.ID,
		Email:           s.Email,
		Name:            s.Name,
		Tier:            string(s.Tier),
		Status:          string(s.Status),
		Agreement:       s.AgreementVersion,
		AgreementSigned: s.AgreementSignedAt,
		Training:        h.trainingStatus(s),
		Scope:           s.Scope,
	}
}

// trainingStatus is where s's security training stands now.
func (h *Handler) trainingStatus(s models.Staff) views.TrainingStatus {
	now := h.now()
	t := views.TrainingStatus{Done: s.TrainingAt, Lapsed: !h.clearance.TrainingCurrent(s, now)}
	if until, ok := h.clearance.TrainingExpires(s); ok {
		t.Until = &until
		t.DueSoon = !t.Lapsed && until.Sub(now) <= models.TrainingDueWithin
	}
	return t
}

func (h *Handler) staffCreate(c echo.Context) error {
	form := views.StaffForm{Email: c.FormValue("email"), Name: strings.TrimSpace(c.FormValue("name")), Tier: c.FormValue("tier")}
	errs := views.Errors{}
	email, err := models.NormalizeEmail(form.Email)
	switch {
	case err != nil:
		errs["email"] = "Enter an email address."
	case !h.allowedDomain(email):
		errs["email"] = "Staff must have an address at " + strings.Join(h.allowedDomains, " or ") + "."
	}
	if form.Name == "" || len(form.Name) > 200 {
		errs["name"] = "Enter the person's name."
	}
	switch v := viewerOf(c); {
	case !v.Roles.Known(policy.Tier(form.Tier)):
		errs["tier"] = "Choose a role from the list."
	case !v.Roles.Covers(v.Staff.Tier, policy.Tier(form.Tier)):
		// Someone managing staff in a custom role cannot add a person
		// who may do more than they may (a new sysadmin, say).
		errs["tier"] = "You may not give a role that can do more than your own."
	}
	if len(errs) > 0 {
		return h.renderStaffList(c, http.StatusUnprocessableEntity, form, errs)
	}
	s, err := models.CreateStaff(c.Request().Context(), h.db.Write, h.now(), h.actor(c),
		models.Staff{Email: email, Name: form.Name, Tier: policy.Tier(form.Tier)})
	var fe models.FieldErrors
	switch {
	case errors.As(err, &fe): // the role was not there any more
		return h.renderStaffList(c, http.StatusUnprocessableEntity, form, views.Errors(fe))
	case errors.Is(err, models.ErrConflict):
		return h.renderStaffList(c, http.StatusUnprocessableEntity, form, views.Errors{"email": "A staff member with this address exists already."})
	}
	if err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, fmt.Sprintf("/staff/%d?done=created", s.ID))
}

func (h *Handler) allowedDomain(email string) bool {
	for _, d := range h.allowedDomains {
		if domainOf(email) == d {
			return true
		}
	}
	return false
}

func staffID(c echo.Context) (int64, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("staff id %q: %w", c.Param("id"), models.ErrNotFound)
	}
	return id, nil
}

func (h *Handler) staffShow(c echo.Context) error {
	id, err := staffID(c)
	if err != nil {
		return err
	}
	return h.renderStaff(c, http.StatusOK, id, nil)
}

func (h *Handler) renderStaff(c echo.Context, status int, id int64, errs views.Errors) error {
	return h.renderStaffWith(c, status, id, errs, views.StaffInput{})
}

// renderStaffWith is renderStaff with what a form sent, shown again.
func (h *Handler) renderStaffWith(c echo.Context, status int, id int64, errs views.Errors, in views.StaffInput) error {
	ctx := c.Request().Context()
	s, err := models.FindStaff(ctx, h.db.Read, id)
	if err != nil {
		return err
	}
	live, err := models.CountLiveSessions(ctx, h.db.Read, s.ID)
	if err != nil {
		return err
	}
	events, err := models.ListAudit(ctx, h.db.Read, models.AuditFilter{Target: s.Email, Limit: 20})
	if err != nil {
		return err
	}
	v := viewerOf(c)
	self := v.Staff.ID == s.ID
	for form, msg := range errs {
		// A message for a form the page does not show (the record changed
		// state meanwhile, or the POST did not come from this page) goes
		// on top of the page, so no refusal is silent.
		if form != "" && (self || !formShown(form, s.Status)) {
			delete(errs, form)
			errs[""] = msg
		}
	}
	view := views.StaffView{
		Staff: h.staffRow(s), LiveSessions: live, Errors: errs, Done: c.QueryParam("done"),
		Self: self, Fresh: v.Session.SignedInWithin(h.now(), h.stepUpWindow),
		Agreement: h.agreement, Today: h.now(), Input: in, Roles: roleNames(v.Roles),
	}
	for _, e := range events {
		view.Events = append(view.Events, views.EventRow{
			At: e.At, Actor: e.Actor, Action: string(e.Action), Reason: e.Reason, Detail: e.Detail,
		})
	}
	return h.render(c, status, views.StaffPage(h.chrome(c, formTitle(s.Name, errs)), view))
}

// staffChange runs one change to a staff member from a form: it refuses
// changes to one's own record, maps validation and state conflicts to a
// 422 with the message, and answers 303 back to the staff page.
func (h *Handler) staffChange(c echo.Context, done string, change func(id int64, by models.Actor) (field string, err error)) error {
	return h.staffChangeTo(c, func(id int64, by models.Actor) (string, string, error) {
		field, err := change(id, by)
		return field, fmt.Sprintf("/staff/%d?done=%s", id, done), err
	})
}

// staffChangeTo is staffChange for a change that answers 303 to a page
// of its own (to).
func (h *Handler) staffChangeTo(c echo.Context, change func(id int64, by models.Actor) (field, to string, err error)) error {
	id, err := staffID(c)
	if err != nil {
		return err
	}
	if viewerOf(c).Staff.ID == id {
		return h.renderStaff(c, http.StatusUnprocessableEntity, id, views.Errors{"": "You cannot change your own access. Ask another sysadmin."})
	}
	field, to, err := change(id, h.actor(c))
	var fe models.FieldErrors
	switch {
	case errors.As(err, &fe):
		return h.renderStaffWith(c, http.StatusUnprocessableEntity, id, formErrors(fe, field), staffInput(c, field))
	case errors.Is(err, models.ErrConflict):
		return h.renderStaffWith(c, http.StatusUnprocessableEntity, id, views.Errors{field: conflictText(err)}, staffInput(c, field))
	case err != nil:
		return err
	}
	return c.Redirect(http.StatusSeeOther, to)
}

// staffInput is what the staff page's form keyed form sent, to show it
// again with its messages.
func staffInput(c echo.Context, form string) views.StaffInput {
	return views.StaffInput{
		Form:      form,
		Tier:      c.FormValue("tier"),
		Version:   c.FormValue("version"),
		Signed:    c.FormValue("signed"),
		Completed: c.FormValue("completed"),
		Reason:    c.FormValue("reason"),
		Confirm:   c.FormValue("confirm"),
		Scope:     c.FormValue("scope"),
	}
}

// formErrors keys the models' "reason" message to the form it came from,
// where the page shows it.
func formErrors(fe models.FieldErrors, form string) views.Errors {
	errs := views.Errors{}
	for k, m := range fe {
		if k == "reason" {
			k = form
		}
		errs[k] = m
	}
	return errs
}

// formShown reports whether the staff page (views.StaffPage) shows the
// form whose errors are keyed form, for a record in status.
func formShown(form string, status models.Status) bool {
	switch status {
	case models.StatusActive:
		return form != "reactivate"
	case models.StatusSuspended:
		return form != "suspend"
	}
	return false
}

// formDate reads the date input name of the form whose messages are
// keyed field.
func (h *Handler) formDate(c echo.Context, field, name string) (time.Time, error) {
	d, err := time.Parse(time.DateOnly, strings.TrimSpace(c.FormValue(name)))
	if err != nil {
		return time.Time{}, models.Invalid(field, "Enter a date as YYYY-MM-DD.")
	}
	if d.After(h.now()) {
		return time.Time{}, models.Invalid(field, "The date cannot be in the future.")
	}
	return d, nil
}

// staffTier proposes a tier change (the two-person rule): nothing
// changes until another sysadmin approves it on the proposal's page,
// where this answers 303. The CLI (gatehouse staff add and offboard, the
// operator's path) still acts directly; it has no tier change.
func (h *Handler) staffTier(c echo.Context) error {
	return h.staffChangeTo(c, func(id int64, by models.Actor) (string, string, error) {
		t := policy.Tier(c.FormValue("tier"))
		if !viewerOf(c).Roles.Known(t) {
			return "tier", "", models.Invalid("tier", "Choose a role from the list.")
		}
		p, err := models.Propose(c.Request().Context(), h.db.Write, models.Act{Now: h.now(), By: by}, models.ProposalInput{
			Kind:    models.KindStaffTier,
			Payload: models.StaffTierChange{StaffID: id, Tier: t},
			Reason:  c.FormValue("reason"),
		})
		if errors.Is(err, models.ErrProposalRefused) {
			return "tier", "", fmt.Errorf("%w: %w", policy.ErrDenied, err)
		}
		return "tier", fmt.Sprintf("/proposals/%d?done=proposed", p.ID), err
	})
}

func (h *Handler) staffAgreement(c echo.Context) error {
	return h.staffChange(c, "agreement", func(id int64, by models.Actor) (string, error) {
		version := strings.TrimSpace(c.FormValue("version"))
		if version == "" || len(version) > 64 {
			return "agreement", models.Invalid("agreement", "Enter the agreement version.")
		}
		d, err := h.formDate(c, "agreement", "signed")
		if err != nil {
			return "agreement", err
		}
		return "agreement", models.RecordAgreement(c.Request().Context(), h.db.Write, models.Act{Now: h.now(), By: by}, id, version, d)
	})
}

func (h *Handler) staffTraining(c echo.Context) error {
	return h.staffChange(c, "training", func(id int64, by models.Actor) (string, error) {
		d, err := h.formDate(c, "training", "completed")
		if err != nil {
			return "training", err
		}
		return "training", models.RecordTraining(c.Request().Context(), h.db.Write, models.Act{Now: h.now(), By: by}, id, d)
	})
}

// formReason reads the reason of the form whose messages are keyed field.
func formReason(c echo.Context, field string) (string, error) {
	r := strings.TrimSpace(c.FormValue("reason"))
	if len(r) < 5 || len(r) > 500 {
		return "", models.Invalid(field, "Give a reason (5 to 500 characters).")
	}
	return r, nil
}

func (h *Handler) staffSuspend(c echo.Context) error {
	return h.staffChange(c, "suspended", func(id int64, by models.Actor) (string, error) {
		r, err := formReason(c, "suspend")
		if err != nil {
			return "suspend", err
		}
		return "suspend", models.Suspend(c.Request().Context(), h.db.Write, models.Act{Now: h.now(), By: by}, id, r)
	})
}

func (h *Handler) staffReactivate(c echo.Context) error {
	return h.staffChange(c, "reactivated", func(id int64, by models.Actor) (string, error) {
		r, err := formReason(c, "reactivate")
		if err != nil {
			return "reactivate", err
		}
		return "reactivate", models.Reactivate(c.Request().Context(), h.db.Write, models.Act{Now: h.now(), By: by}, id, r)
	})
}

func (h *Handler) staffOffboard(c echo.Context) error {
	return h.staffChange(c, "offboarded", func(id int64, by models.Actor) (string, error) {
		r, err := formReason(c, "offboard")
		if err != nil {
			return "offboard", err
		}
		s, err := models.FindStaff(c.Request().Context(), h.db.Read, id)
		if err != nil {
			return "offboard", err
		}
		if !strings.EqualFold(strings.TrimSpace(c.FormValue("confirm")), s.Email) {
			return "offboard", models.Invalid("offboard", "Type the person's email address to confirm. Offboarding is final.")
		}
		return "offboard", models.Offboard(c.Request().Context(), h.db.Write, models.Act{Now: h.now(), By: by}, id, r)
	})
}
