package handlers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"gatehouse/models"

	"github.com/labstack/echo/v4"
	"gorm.io/gorm"
)

// The per-address budgets. Their counts live in the portal database, so
// one replica or ten give an address the same budget.
var (
	// linkFailureLimit counts failures on the customer links (consent, deletion,
	// emergency): unknown, altered or expired tokens and bad forms.
	linkFailureLimit = models.Limit{Name: "link.failed", Max: 20, Window: 10 * time.Minute}
	// loginFailureLimit counts refused sign-ins (/auth/callback).
	loginFailureLimit = models.Limit{Name: "login.failed", Max: 20, Window: 10 * time.Minute}
	// linkViewLimit counts the consent.shown, deletion.shown and
	// breakglass.link_shown events one address records: a valid link must
	// not let its holder append rows without end by reloading. Past it the
	// page still shows.
	linkViewLimit = models.Limit{Name: "link.shown", Max: 20, Window: 10 * time.Minute}
	// loginStartLimit counts the sign-ins an address starts (POST /login,
	// and /dev/login in development): each stores a login flow, so without
	// it anyone could fill that table. Generous enough for an office
	// behind one address signing in at nine.
	loginStartLimit = models.Limit{Name: "login.started", Max: 200, Window: 10 * time.Minute}
)

// limiter is one budget, counted in db.
type limiter struct {
	models.Limit
	db  *gorm.DB
	log *slog.Logger
}

// errUncounted is a request refused because its budget could not be read
// or written: a limit that cannot count allows nothing (503).
var errUncounted = errors.New("the attempt could not be counted")

// take spends one hit of the client address's budget before the action it
// guards, which may then turn out not to count (fail keeps the hit; settle
// returns it otherwise). models.ErrLimited (429) when nothing is left;
// errUncounted (503) when the count is unknown.
func (l *limiter) take(c echo.Context, now time.Time) (*charge, error) {
	ip := c.RealIP()
	ctx := c.Request().Context()
	hits, err := models.TakeLimit(ctx, l.db, now, l.Limit, ip)
	switch {
	case errors.Is(err, models.ErrLimited):
		return nil, err
	case err != nil:
		return nil, fmt.Errorf("%w: %w", errUncounted, err)
	}
	if hits == 1 {
		// A new window: the ended ones go, so the table holds at most the
		// addresses seen within one window.
		if _, err := models.PruneLimit(ctx, l.db, now, l.Limit); err != nil {
			l.log.Warn("pruning ended rate-limit windows", "limiter", l.Name, "error", err)
		}
	}
	return &charge{l: l, ip: ip, at: now, hits: hits}, nil
}

// allow spends one hit of the client address's budget for good, and
// reports whether there was one left.
func (l *limiter) allow(c echo.Context, now time.Time) (bool, error) {
	ch, err := l.take(c, now)
	if errors.Is(err, models.ErrLimited) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	ch.fail()
	return true, nil
}

// charge is one hit taken from a budget for a request still running.
type charge struct {
	l    *limiter
	ip   string
	at   time.Time
	hits int // in the window, this one included
	kept bool
}

// fail keeps the hit: the request failed. It reports whether this is the
// failure that used up the budget, for a caller that records that moment.
func (ch *charge) fail() (reached bool) {
	ch.kept = true
	return ch.hits == ch.l.Max
}

// settle returns the hit unless the request failed. Should that not
// reach the database, the hit stays spent: the error is only logged.
func (ch *charge) settle(ctx context.Context) {
	if ch.kept {
		return
	}
	if err := models.ReturnLimit(context.WithoutCancel(ctx), ch.l.db, ch.at, ch.l.Limit, ch.ip); err != nil {
		ch.l.log.Warn("returning a rate-limit hit", "limiter", ch.l.Name, "error", err)
	}
}

// recordLinkShown records, through record, that a GET showed a customer
// link's page, within the address's linkViewLimit; past it the page
// shows unrecorded.
func (h *Handler) recordLinkShown(c echo.Context, now time.Time, record func() error) error {
	if c.Request().Method != http.MethodGet {
		return nil
	}
	ok, err := h.linkViews.allow(c, now)
	if err != nil || !ok {
		return err
	}
	return record()
}
