package handlers

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"gatehouse/models"
	"gatehouse/policy"
	"gatehouse/views"

	"github.com/labstack/echo/v4"
)

// reviewListSize is how many reviews /reviews lists: four years of
// quarters, or one of months.
const reviewListSize = 16

// reviewList is /reviews: the reviews, newest first, with their progress.
func (h *Handler) reviewList(c echo.Context) error {
	ctx := c.Request().Context()
	revs, err := models.ListReviews(ctx, h.db.Read, reviewListSize)
	if err != nil {
		return err
	}
	var view views.ReviewListView
	for _, r := range revs {
		row, err := h.reviewRow(c, r)
		if err != nil {
			return err
		}
		view.Reviews = append(view.Reviews, row)
	}
	return h.render(c, http.StatusOK, views.ReviewList(h.chrome(c, "Access reviews"), view))
}

func (h *Handler) reviewRow(c echo.Context, r models.AccessReview) (views.ReviewRow, error) {
	p, err := models.ProgressOf(c.Request().Context(), h.db.Read, r.ID)
	if err != nil {
		return views.ReviewRow{}, err
	}
	return views.ReviewRow{
		ID: r.ID, Period: r.Period, OpenedAt: r.OpenedAt, DueAt: r.DueAt, ClosedAt: r.ClosedAt,
		Rows: p.Rows, Certified: p.Certified, Overdue: r.Overdue(h.now()),
	}, nil
}

func pathID(c echo.Context, name, what string) (int64, error) {
	id, err := strconv.ParseInt(c.Param(name), 10, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("%s %q: %w", what, c.Param(name), models.ErrNotFound)
	}
	return id, nil
}

func (h *Handler) reviewShow(c echo.Context) error {
	id, err := pathID(c, "id", "access review")
	if err != nil {
		return err
	}
	// The row just certified, for the flash (its email, read below).
	done, _ := strconv.ParseInt(c.QueryParam("done"), 10, 64)
	return h.renderReview(c, http.StatusOK, id, done, views.ReviewView{})
}

// renderReview renders review id's page; done is the row just certified.
func (h *Handler) renderReview(c echo.Context, status int, id, done int64, view views.ReviewView) error {
	ctx, v := c.Request().Context(), viewerOf(c)
	rev, err := models.FindReview(ctx, h.db.Read, id)
	if err != nil {
		return err
	}
	rows, err := models.ReviewRows(ctx, h.db.Read, id)
	if err != nil {
		return err
	}
	if view.Review, err = h.reviewRow(c, rev); err != nil {
		return err
	}
	view.StaffLinks = h.allowed(v, policy.StaffManage)
	// Only an active sysadmin certifies (models.CertifyRow checks it
	// again); the form is not offered to anyone else.
	certifier := view.StaffLinks && v.Staff.Tier == policy.TierSysadmin
	for _, r := range rows {
		row := reviewStaffRow(r, view.Review.Overdue)
		row.CanCertify = certifier && r.CertifiedAt == nil && r.StaffID != v.Staff.ID
		if r.ID == done && r.CertifiedAt != nil {
			view.Done = r.Email
		}
		view.Rows = append(view.Rows, row)
		if r.Unused {
			view.Unused = append(view.Unused, row)
		}
	}
	return h.render(c, status, views.ReviewPage(h.chrome(c, formTitle("Access review "+rev.Period, view.Errors)), view))
}

func reviewStaffRow(r models.AccessReviewRow, overdue bool) views.ReviewStaffRow {
	return views.ReviewStaffRow{
		ID:               r.ID,
		StaffID:          r.StaffID,
		Email:            r.Email,
		Name:             r.Name,
		Role:             r.Role,
		Scope:            r.Scope,
		Status:           string(r.Status),
		AgreementCurrent: r.AgreementCurrent,
		AgreementVersion: r.AgreementVersion,
		TrainingAt:       r.TrainingAt,
		LastSignInAt:     r.LastSignInAt,
		LastDataAccessAt: r.LastDataAccessAt,
		Unused:           r.Unused,
		Decision:         r.Decision,
		Note:             r.Note,
		CertifiedBy:      r.CertifiedBy,
		CertifiedAt:      r.CertifiedAt,
		Overdue:          overdue && r.CertifiedAt == nil,
	}
}

// reviewCertify certifies one row: 303 back to the review; 422 with the
// form's messages for a bad decision or note; 403 for the row's subject
// or anyone but an active sysadmin; 409 for a row certified already.
// A refusal writes nothing.
func (h *Handler) reviewCertify(c echo.Context) error {
	id, err := pathID(c, "id", "access review")
	if err != nil {
		return err
	}
	rowID, err := pathID(c, "row", "access review row")
	if err != nil {
		return err
	}
	cert := models.Certification{ReviewID: id, RowID: rowID, Decision: c.FormValue("decision"), Note: c.FormValue("note")}
	_, err = models.CertifyRow(c.Request().Context(), h.db.Write, h.act(c), cert)
	if errs := breakglassErrors(err); len(errs) > 0 {
		return h.renderReview(c, http.StatusUnprocessableEntity, id, 0, views.ReviewView{
			ErrorRow: rowID, Decision: cert.Decision, Note: cert.Note, Errors: errs,
		})
	}
	if err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, fmt.Sprintf("/reviews/%d?done=%d#review-row-%d", id, rowID, rowID))
}

// reviewExport streams a closed review as CSV or JSON. The export is
// recorded (review.exported, with the SHA-256 of the body) before the
// first byte is sent: the body is written twice, once into the hash and
// once to the client, which a closed review's rows, fixed for good, make
// the same bytes. An open review is a conflict (409): only a finished
// review is evidence.
func (h *Handler) reviewExport(c echo.Context) error {
	id, err := pathID(c, "id", "access review")
	if err != nil {
		return err
	}
	// A page of another site could make a reader's browser fetch this;
	// it would learn nothing, but the audit log would record an export.
	if c.Request().Header.Get("Sec-Fetch-Site") == "cross-site" {
		return echo.NewHTTPError(http.StatusForbidden, "An export is started from the portal's own pages.")
	}
	format := c.QueryParam("format")
	if format != "csv" && format != "json" {
		return models.FieldErrors{"": "Choose the CSV or the JSON export."}
	}
	ctx := c.Request().Context()
	rev, err := models.FindReview(ctx, h.db.Read, id)
	if err != nil {
		return err
	}
	if rev.ClosedAt == nil {
		return &models.ConflictError{Message: "The " + rev.Period + " access review is not finished: it can be exported once every row is certified."}
	}
	sum := sha256.New()
	if err := models.WriteReviewExport(ctx, h.db.Read, sum, rev, format); err != nil {
		return err
	}
	want := hex.EncodeToString(sum.Sum(nil))
	if _, err := models.RecordReviewExport(ctx, h.db.Write, h.act(c), id, format, want); err != nil {
		return err
	}
	hd := c.Response().Header()
	hd.Set("Cache-Control", "no-store")
	hd.Set(echo.HeaderContentDisposition, `attachment; filename="gatehouse-access-review-`+rev.Period+`.`+format+`"`)
	hd.Set("X-Content-SHA256", want)
	if format == "csv" {
		hd.Set(echo.HeaderContentType, "text/csv; charset=utf-8")
	} else {
		hd.Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
	}
	c.Response().WriteHeader(http.StatusOK)
	sent := sha256.New()
	if err := models.WriteReviewExport(ctx, h.db.Read, io.MultiWriter(c.Response(), sent), rev, format); err != nil {
		// Part of the file may be out: abort, so the download fails.
		h.log.Error("access review export cut", "request_id", requestIDOf(c), "review", id, "error", err)
		panic(http.ErrAbortHandler)
	}
	if got := hex.EncodeToString(sent.Sum(nil)); got != want {
		h.log.Error("access review export differs from its recorded hash", "request_id", requestIDOf(c), "review", id, "recorded", want, "sent", got)
	}
	return nil
}

// dashboardReview fills in the latest access review while it is open:
// its progress, the rows overdue and the staff flagged as unused.
func (h *Handler) dashboardReview(c echo.Context, page *views.DashboardView) error {
	if !h.allowed(viewerOf(c), policy.ReviewRead) {
		return nil
	}
	ctx := c.Request().Context()
	revs, err := models.ListReviews(ctx, h.db.Read, 1)
	if err != nil || len(revs) == 0 || revs[0].ClosedAt != nil {
		return err
	}
	row, err := h.reviewRow(c, revs[0])
	if err != nil {
		return err
	}
	rows, err := models.ReviewRows(ctx, h.db.Read, revs[0].ID)
	if err != nil {
		return err
	}
	s := &views.ReviewSummary{Review: row}
	for _, r := range rows {
		v := reviewStaffRow(r, row.Overdue)
		if v.Overdue {
			s.Overdue = append(s.Overdue, v)
		}
		if r.Unused {
			s.Unused = append(s.Unused, v)
		}
	}
	page.Review = s
	return nil
}
