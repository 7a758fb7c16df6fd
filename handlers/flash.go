package handlers

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"gatehouse/models"

	"github.com/labstack/echo/v4"
)

// flashTTL bounds how long a confirmation waits for the page after the
// redirect; the page that shows it clears it.
const flashTTL = 60

// flashes are the confirmations a page may show after a redirect. The
// cookie carries only a key of this table (and, for "created", a request
// number), so nothing a browser sends is ever echoed as text.
var flashes = map[string]string{
	"approved":   "Approved. The workspace's owners have been asked for consent.",
	"denied":     "Denied.",
	"cancelled":  "Cancelled.",
	"done":       "You ended your access.",
	"revoked":    "Access revoked.",
	"signed-out": "You are signed out.",
}

func (h *Handler) flashCookieName() string { return h.cookiePrefix() + "gatehouse_flash" }

// setFlash asks the next page to confirm what was just done: kind is a
// key of flashes, or "created.N" for request N.
func (h *Handler) setFlash(c echo.Context, kind string) {
	c.SetCookie(h.cookie(h.flashCookieName(), kind, flashTTL))
}

// takeFlash returns the confirmation waiting for this page, if any, and
// clears it so it is shown once.
func (h *Handler) takeFlash(c echo.Context) string {
	ck, err := c.Cookie(h.flashCookieName())
	if err != nil || ck.Value == "" {
		return ""
	}
	c.SetCookie(h.cookie(h.flashCookieName(), "", -1))
	return flashText(ck.Value)
}

// flashText is the sentence for a flash cookie's value; "" for anything
// not in the table.
func flashText(v string) string {
	if kind, n, ok := strings.Cut(v, "."); ok {
		id, err := strconv.ParseInt(n, 10, 64)
		if kind != "created" || err != nil || id <= 0 || strconv.FormatInt(id, 10) != n {
			return ""
		}
		return fmt.Sprintf("Request #%d created.", id)
	}
	return flashes[v]
}

// sessionEndWhy is why a session cookie no longer signs anyone in: a key
// of loginReasons.
func (h *Handler) sessionEndWhy(s models.Session, staff models.Staff, now time.Time) string {
	switch {
	case staff.Status == models.StatusSuspended:
		return "suspended"
	case staff.Status == models.StatusOffboarded:
		return "offboarded"
	case s.EndReason == "logout":
		return "signed-out"
	case s.EndedAt != nil:
		return "ended"
	case !now.Before(s.CreatedAt.Add(h.sessions.Absolute)):
		return "expired"
	}
	return "idle"
}

// loginReason says why someone landed on the sign-in page: a key of a
// fixed set (from the ?why= of the redirect), or, with a page to go back
// to and no known reason, that the page needs a sign-in.
func (h *Handler) loginReason(why, returnTo string) string {
	switch why {
	case "signed-out":
		return "You signed out. Sign in again to continue."
	case "idle":
		return fmt.Sprintf("You were signed out after %s without activity. Sign in again to continue.", minutesText(h.sessions.Idle))
	case "expired":
		return fmt.Sprintf("Your session reached its limit of %s and ended. Sign in again to continue.", hoursText(h.sessions.Absolute))
	case "ended":
		return "Your session was ended, by a sign-in elsewhere in this browser or by a sysadmin. Sign in again to continue."
	case "suspended":
		return "Your access to Gatehouse is suspended: your sessions were ended. Ask a sysadmin if you think this is wrong."
	case "offboarded":
		return "Your access to Gatehouse has ended (offboarded): your sessions were ended."
	}
	if returnTo != "/" {
		return "That page needs you to be signed in."
	}
	return ""
}

func minutesText(d time.Duration) string { return fmt.Sprintf("%d minutes", int(d.Minutes())) }

func hoursText(d time.Duration) string {
	if d%time.Hour == 0 {
		return fmt.Sprintf("%d hours", int(d.Hours()))
	}
	return minutesText(d)
}
