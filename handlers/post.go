package handlers

import (
	"context"

	"gatehouse/models"

	"github.com/labstack/echo/v4"
)

// act is the request's author, now: who makes a change and when.
func (h *Handler) act(c echo.Context) models.Act { return models.Act{Now: h.now(), By: h.actor(c)} }

// post is how a change made on the workspaces slugs tells people: the
// outbox, the letters, and the workspaces' names, read now because the
// change's transaction never reads the product database.
func (h *Handler) post(ctx context.Context, slugs ...string) (models.Post, error) {
	p := models.Post{Outbox: h.outbox, Letters: h.letters, Names: map[string]string{}}
	for _, slug := range slugs {
		ws, err := models.FindWorkspace(ctx, h.product, slug)
		if err != nil {
			return p, err
		}
		p.Names[slug] = ws.Name
	}
	return p, nil
}
