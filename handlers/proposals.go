package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"gatehouse/models"
	"gatehouse/views"

	"github.com/labstack/echo/v4"
	"gorm.io/gorm"
)

// How many proposals /proposals and the dashboard show.
const (
	proposalListed    = 100
	proposalsDecided  = 50
	dashboardProposal = 5
)

func proposalID(c echo.Context) (int64, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("proposal id %q: %w", c.Param("id"), models.ErrNotFound)
	}
	return id, nil
}

// proposalRow is p as lists show it, in the words of its kind.
func proposalRow(p models.Proposal) (views.ProposalRow, error) {
	w, err := p.Words()
	if err != nil {
		return views.ProposalRow{}, fmt.Errorf("proposal %d: %w", p.ID, err)
	}
	return views.ProposalRow{
		ID:         p.ID,
		Kind:       string(p.Kind),
		Subject:    p.Subject,
		Change:     w.Change,
		Before:     w.Before,
		After:      w.After,
		Reason:     p.Reason,
		Proposer:   p.ProposerEmail,
		ProposedAt: p.ProposedAt,
		Status:     string(p.Status),
		Decider:    p.DeciderEmail,
		DecidedAt:  p.DecidedAt,
		Note:       p.DecisionNote,
	}, nil
}

func proposalRows(ps []models.Proposal) ([]views.ProposalRow, error) {
	rows := make([]views.ProposalRow, 0, len(ps))
	for _, p := range ps {
		r, err := proposalRow(p)
		if err != nil {
			return nil, err
		}
		rows = append(rows, r)
	}
	return rows, nil
}

// pendingProposals is the oldest limit pending proposals as rows, and how
// many are pending.
func (h *Handler) pendingProposals(ctx context.Context, limit int) ([]views.ProposalRow, int64, error) {
	ps, n, err := models.PendingProposals(ctx, h.db.Read, limit)
	if err != nil {
		return nil, 0, err
	}
	rows, err := proposalRows(ps)
	return rows, n, err
}

func (h *Handler) proposalList(c echo.Context) error {
	ctx := c.Request().Context()
	var v views.ProposalListView
	var err error
	if v.Pending, v.PendingCount, err = h.pendingProposals(ctx, proposalListed); err != nil {
		return err
	}
	decided, err := models.DecidedProposals(ctx, h.db.Read, proposalsDecided)
	if err != nil {
		return err
	}
	if v.Decided, err = proposalRows(decided); err != nil {
		return err
	}
	return h.render(c, http.StatusOK, views.ProposalList(h.chrome(c, "Proposals"), v))
}

func (h *Handler) proposalShow(c echo.Context) error {
	id, err := proposalID(c)
	if err != nil {
		return err
	}
	return h.renderProposal(c, http.StatusOK, id, views.ProposalView{Done: c.QueryParam("done")})
}

// renderProposal shows proposal id with the steps the viewer may take.
// The proposer is offered no approval; the models refuse a forged one.
func (h *Handler) renderProposal(c echo.Context, status int, id int64, v views.ProposalView) error {
	p, err := models.FindProposal(c.Request().Context(), h.db.Read, id)
	if err != nil {
		return err
	}
	if v.Row, err = proposalRow(p); err != nil {
		return err
	}
	viewer := viewerOf(c)
	pending := p.Status == models.ProposalPending
	v.Own = viewer.Staff.ID == p.ProposedBy
	v.CanDecide = pending && !v.Own && viewer.Staff.Tier.MayBreakGlass()
	v.CanWithdraw = pending && v.Own
	v.Fresh = viewer.Session.SignedInWithin(h.now(), h.stepUpWindow)
	return h.render(c, status, views.ProposalPage(h.chrome(c, formTitle(fmt.Sprintf("Proposal %d", id), v.Errors)), v))
}

// proposalStep is one step on a proposal, made by the viewer.
type proposalStep func(ctx context.Context, db *gorm.DB, act models.Act, id int64, note string) (models.Proposal, error)

// proposalApprove applies the proposal (a fresh sign-in, as the route
// table says): 303 to its page saying whether it was applied or found
// stale.
func (h *Handler) proposalApprove(c echo.Context) error {
	return h.proposalDecide(c, func(ctx context.Context, db *gorm.DB, act models.Act, id int64, note string) (models.Proposal, error) {
		return models.ApproveProposal(ctx, db, h.product, act, id, note)
	})
}

func (h *Handler) proposalReject(c echo.Context) error {
	return h.proposalDecide(c, models.RejectProposal)
}

func (h *Handler) proposalWithdraw(c echo.Context) error {
	return h.proposalDecide(c, func(ctx context.Context, db *gorm.DB, act models.Act, id int64, _ string) (models.Proposal, error) {
		return models.WithdrawProposal(ctx, db, act, id)
	})
}

// proposalDecide runs a step: 303 back to the page with what happened;
// 422 with the message for a bad note; 403 for a person who may not take
// the step (the proposer approving, someone else withdrawing); 409 for a
// proposal already decided. A refused step changes nothing.
func (h *Handler) proposalDecide(c echo.Context, step proposalStep) error {
	id, err := proposalID(c)
	if err != nil {
		return err
	}
	note := c.FormValue("note")
	p, err := step(c.Request().Context(), h.db.Write, h.act(c), id, note)
	var fe models.FieldErrors
	switch {
	case errors.As(err, &fe):
		return h.renderProposal(c, http.StatusUnprocessableEntity, id, views.ProposalView{Errors: views.Errors(fe), Note: note})
	case errors.Is(err, models.ErrProposalRefused):
		return echo.NewHTTPError(http.StatusForbidden, "A proposal is approved or rejected by an active sysadmin other than the one who proposed it, and withdrawn only by its proposer. Nothing was changed.").SetInternal(err)
	case errors.Is(err, models.ErrConflict):
		return echo.NewHTTPError(http.StatusConflict, conflictText(err)).SetInternal(err)
	case err != nil:
		return err
	}
	return c.Redirect(http.StatusSeeOther, fmt.Sprintf("/proposals/%d?done=%s", id, p.Status))
}
