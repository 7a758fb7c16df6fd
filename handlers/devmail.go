package handlers

import (
	"fmt"
	"net/http"
	"strconv"

	"gatehouse/models"
	"gatehouse/views"

	"github.com/labstack/echo/v4"
)

// The development mailbox (/dev/mail) shows what the outbox holds, opened,
// so a developer can follow a consent link without a mail server. It is
// routed only with --dev, which listens on loopback alone.

// devMailList shows the newest mails, whatever their state.
func (h *Handler) devMailList(c echo.Context) error {
	mails, err := h.outbox.List(c.Request().Context(), h.db.Read, 200)
	if err != nil {
		return err
	}
	rows := make([]views.DevMailRow, len(mails))
	for i, m := range mails {
		rows[i] = devMailRow(m)
	}
	return h.render(c, http.StatusOK, views.DevMailList(h.chrome(c, "Development mailbox"), rows))
}

// devMailShow shows one mail: headers, text with its links, HTML source.
func (h *Handler) devMailShow(c echo.Context) error {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return fmt.Errorf("mail id %q: %w", c.Param("id"), models.ErrNotFound)
	}
	m, err := h.outbox.Get(c.Request().Context(), h.db.Read, id)
	if err != nil {
		return err
	}
	v := views.DevMailMessage{
		DevMailRow: devMailRow(m), Workspace: m.Workspace, NextAttempt: m.NextAttemptAt, Sent: m.SentAt,
		Text: m.Text, HTML: m.HTML, Unreadable: m.Unreadable,
	}
	if m.RequestID != nil {
		v.RequestID = strconv.FormatInt(*m.RequestID, 10)
	}
	return h.render(c, http.StatusOK, views.DevMailShow(h.chrome(c, m.Subject), v))
}

func devMailRow(m models.OutboxMail) views.DevMailRow {
	return views.DevMailRow{
		ID: m.ID, Kind: m.Kind, To: m.To, Subject: m.Subject, Status: m.Status,
		Attempts: m.Attempts, Created: m.CreatedAt, LastError: m.LastError,
	}
}
