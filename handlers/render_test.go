package handlers

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"gatehouse/models"
	"gatehouse/models/dbtest"
	"gatehouse/policy"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/labstack/echo/v4"
)

// TestHandleErrorMapsModelErrors checks the one error handler: each kind
// of error gets its status, a conflict and a form refusal their own
// words, and anything else a generic page without the detail.
func TestHandleErrorMapsModelErrors(t *testing.T) {
	p := newPortal(t, dbtest.SQLite(t))
	tests := []struct {
		name       string
		err        error
		wantStatus int
		want       string // in the page
		notWant    string // never in the page
	}{
		{"not found", fmt.Errorf("request 9: %w", models.ErrNotFound), http.StatusNotFound, "There is nothing at this address.", ""},
		{"denied", fmt.Errorf("%w: not the grantee", policy.ErrDenied), http.StatusForbidden, "Not allowed", ""},
		{"conflict with words", fmt.Errorf("decide: %w", &models.ConflictError{Message: "Request 5 is denied."}), http.StatusConflict, "Request 5 is denied.", "decide:"},
		{"bare conflict", fmt.Errorf("grant 3: %w", models.ErrConflict), http.StatusConflict, "conflicts with the record", "grant 3"},
		{"form values", fmt.Errorf("open: %w", models.Invalid("", "Say why in a sentence.")), http.StatusUnprocessableEntity, "Say why in a sentence.", "open:"},
		{"database gone", fmt.Errorf("load session: %w", &pgconn.PgError{Code: "57P01", Message: "terminating connection due to administrator command"}), http.StatusServiceUnavailable, "Nothing was shown or changed.", "administrator"},
		{"database cut mid-answer", fmt.Errorf("audit head: %w", io.ErrUnexpectedEOF), http.StatusServiceUnavailable, "Nothing was shown or changed.", "audit head"},
		{"a statement refused", fmt.Errorf("create: %w", &pgconn.PgError{Code: "23505", Message: "duplicate key"}), http.StatusInternalServerError, "The error has been logged.", "duplicate key"},
		{"anything else", errors.New("disk on fire"), http.StatusInternalServerError, "The error has been logged.", "disk on fire"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := "/test-error/" + strings.ReplaceAll(tt.name, " ", "-")
			fail := func(echo.Context) error { return tt.err }
			e, err := p.h.echoFor(append(p.h.routes(), route{http.MethodGet, path, policy.Public, false, fail}))
			if err != nil {
				t.Fatal(err)
			}
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
			body := rec.Body.String()
			if rec.Code != tt.wantStatus || !strings.Contains(body, tt.want) {
				t.Errorf("status %d, body contains %q: %v; want %d and true", rec.Code, tt.want, strings.Contains(body, tt.want), tt.wantStatus)
			}
			if tt.notWant != "" && strings.Contains(body, tt.notWant) {
				t.Errorf("page shows %q, the error's detail", tt.notWant)
			}
		})
	}
}
