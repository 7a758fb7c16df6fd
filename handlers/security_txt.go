package handlers

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
)

// SecurityTxt is what /.well-known/security.txt says (RFC 9116): where to
// report a vulnerability, until when the file holds, the disclosure
// policy and the languages reports may be written in. The zero value
// (no Contact) serves no file.
type SecurityTxt struct {
	Contact   []string // mailto: or https: URIs, most preferred first
	Expires   time.Time
	Policy    string   // an https: URL, optional
	Languages []string // language tags, e.g. en, de; optional
}

// Enabled reports whether the file is served.
func (s SecurityTxt) Enabled() bool { return len(s.Contact) > 0 }

// Body is the file's text; canonical is the URL it is served at.
func (s SecurityTxt) Body(canonical string) string {
	var b strings.Builder
	for _, c := range s.Contact {
		fmt.Fprintf(&b, "Contact: %s\n", c)
	}
	fmt.Fprintf(&b, "Expires: %s\n", s.Expires.UTC().Format(time.RFC3339))
	if s.Policy != "" {
		fmt.Fprintf(&b, "Policy: %s\n", s.Policy)
	}
	if len(s.Languages) > 0 {
		fmt.Fprintf(&b, "Preferred-Languages: %s\n", strings.Join(s.Languages, ", "))
	}
	fmt.Fprintf(&b, "Canonical: %s\n", canonical)
	return b.String()
}

// securityTxt serves the file, or 404 when none is configured. A file
// whose Expires passed while the portal ran is still served: RFC 9116
// has readers treat it as stale, and the next start refuses it.
func (h *Handler) securityTxt(c echo.Context) error {
	if !h.securityTxtFile.Enabled() {
		return echo.ErrNotFound
	}
	c.Response().Header().Set("Cache-Control", "max-age=3600")
	return c.Blob(http.StatusOK, "text/plain; charset=utf-8", []byte(h.securityTxtFile.Body(h.baseURL.JoinPath("/.well-known/security.txt").String())))
}
