package handlers

import (
	"errors"
	"net/http"
	"net/url"

	"gatehouse/models"
	"gatehouse/views"

	"github.com/labstack/echo/v4"
)

// Lists (/workspaces, /requests, /staff) are sorted by one of their
// whitelisted keys (sort, dir) and paged by keyset (after, before). A
// value that is not one of these is an error the page names, and the
// list is not read with it.

// listKeyset reads the sort and page of a list from the query string.
func listKeyset(c echo.Context, sorts []models.SortKey, limit int) (models.Keyset, views.Errors) {
	errs := views.Errors{}
	k := models.Keyset{Sort: sorts[0], Desc: sorts[0].Desc, Limit: limit}
	if name := c.QueryParam("sort"); name != "" {
		found := false
		for _, s := range sorts {
			if s.Name == name {
				k.Sort, k.Desc, found = s, s.Desc, true
			}
		}
		if !found {
			errs[""] = "This list cannot be sorted that way."
		}
	}
	switch c.QueryParam("dir") {
	case "":
	case "asc":
		k.Desc = false
	case "desc":
		k.Desc = true
	default:
		errs[""] = "This list cannot be sorted that way."
	}
	var err1, err2 error
	k.After, err1 = models.ParseCursor(c.QueryParam("after"))
	k.Before, err2 = models.ParseCursor(c.QueryParam("before"))
	if err1 != nil || err2 != nil || (k.After != nil && k.Before != nil) {
		errs[""] = "The page link is not valid; start again from the first page."
	}
	return k, errs
}

// listNav is the view's ListNav for a page of a list read by k.
func listNav[T any](path string, filters url.Values, sorts []models.SortKey, k models.Keyset, page models.Page[T], n models.Count) views.ListNav {
	nav := views.ListNav{
		Path: path, Filters: filters, Sort: k.Sort.Name, Desc: k.Desc, Sorts: map[string]bool{},
		Count: n.N, Capped: n.Capped, AtLeast: n.AtLeast, About: n.About, Paged: k.After != nil || k.Before != nil,
	}
	for _, s := range sorts {
		nav.Sorts[s.Name] = s.Desc
	}
	if page.Next != nil {
		nav.Next = page.Next.Encode()
	}
	if page.Prev != nil {
		nav.Prev = page.Prev.Encode()
	}
	return nav
}

// readList reads a page of a list with read unless its parameters were
// refused (errs); it returns the page, its ListNav and the status to
// answer with: 400 for refused parameters, which read nothing.
func readList[T any](errs views.Errors, path string, filters url.Values, sorts []models.SortKey, k models.Keyset, read func() (models.Page[T], models.Count, error)) (models.Page[T], views.ListNav, int, error) {
	if len(errs) == 0 {
		page, n, err := read()
		if err == nil {
			return page, listNav(path, filters, sorts, k, page, n), http.StatusOK, nil
		}
		if !errors.Is(err, models.ErrBadCursor) {
			return page, views.ListNav{}, 0, err
		}
		errs[""] = "The page link is not valid; start again from the first page."
	}
	return models.Page[T]{}, badListNav(path, filters, sorts), http.StatusBadRequest, nil
}

// badListNav is the ListNav of a list whose parameters were refused: no
// count, no pages, the default sort.
func badListNav(path string, filters url.Values, sorts []models.SortKey) views.ListNav {
	return listNav(path, filters, sorts, models.Keyset{Sort: sorts[0], Desc: sorts[0].Desc}, models.Page[struct{}]{}, models.Count{})
}
