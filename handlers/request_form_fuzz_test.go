package handlers

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"gatehouse/models"
	"gatehouse/policy"

	"github.com/labstack/echo/v4"
)

// FuzzRequestForm posts any body as the new-request form and reads it as
// requestCreate does (echo's form parsing, then readRequestForm, then
// the models' validation). Whatever is sent, each message is short plain
// text on a field the form has; a request is whole-workspace only when
// the form names no table; and a request with no message asks exactly
// for what the form says: a whole number of minutes within the policy,
// a valid mode (unmasked only when asked), catalogued tables that are
// not restricted, and the record ids written, for every table named.
func FuzzRequestForm(f *testing.F) {
	for _, s := range []string{
		"workspace=acme&reason=Customer+reports+that+exports+fail+since+Monday.&ticket=SUP-1234&duration=2h&mode=masked",
		"reason=Customer+reports+that+exports+fail+since+Monday.&ticket=SUP-1&duration=90m&mode=reveal&scope=members&scope=documents&records=1,+2+3",
		"reason=Customer+reports+that+exports+fail+since+Monday.&ticket=SUP-1&duration=30m&unmask=on&scope=members",
		"reason=Customer+reports+that+exports+fail+since+Monday.&ticket=SUP-1&duration=1h&mode=masked&unmask=on",
		"mode=masked&mode=unmasked&duration=0h&scope=billing&records=-1",
		"mode=+reveal+&duration=1h0m30s&scope=api_keys&scope=nope&records=1",
		"duration=721h&records=0,x&scope=members",
		"records=" + strings.Repeat("7,", 201) + "&scope=members&duration=1.5h",
		"scope=&records=++,,&duration=-2h&mode=",
		"duration=9223372036854775807ns&mode=UNMASKED&scope=Members",
		"%zz=1&reason=%ff%fe&ticket=%00",
		"reason=" + strings.Repeat("é", 3000),
	} {
		f.Add(s)
	}
	cat, err := policy.LoadCatalog()
	if err != nil {
		f.Fatal(err)
	}
	enf, err := policy.New()
	if err != nil {
		f.Fatal(err)
	}
	roles := policy.NewRoles(enf, nil)
	h := &Handler{catalog: cat, requests: models.DefaultRequestPolicy("2026-1")}
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	signed, trained := now.AddDate(0, -2, 0), now.AddDate(0, -1, 0)
	senior := models.Staff{ID: 7, Email: "sara@example.com", Tier: policy.TierSenior, Status: models.StatusActive,
		AgreementVersion: "2026-1", AgreementSignedAt: &signed, TrainingAt: &trained}
	e := echo.New()
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest(http.MethodPost, "/requests", strings.NewReader(body))
		req.Header.Set(echo.HeaderContentType, echo.MIMEApplicationForm)
		form, err := e.NewContext(req, httptest.NewRecorder()).FormParams()
		if err != nil {
			return // requestCreate answers 400
		}
		fv, n := h.readRequestForm(form)
		for k, msg := range fv.Errors {
			if !slices.Contains([]string{"mode", "duration", "scope", "records"}, k) {
				t.Fatalf("a message on %q, which readRequestForm does not read: %q", k, msg)
			}
			if msg == "" || len(msg) > 300 || !utf8.ValidString(msg) || strings.ContainsAny(msg, "\x00\r\n") {
				t.Fatalf("message on %s is not a short line of text: %q", k, msg)
			}
		}
		if fv.Workspace != strings.TrimSpace(form.Get("workspace")) || fv.Reason != form.Get("reason") || n.Reason != fv.Reason ||
			fv.Ticket != strings.TrimSpace(form.Get("ticket")) || n.Ticket != fv.Ticket || !slices.Equal(fv.Scope, form["scope"]) {
			t.Fatalf("the form shown again is not what was sent: %+v", fv)
		}
		if n.Scope.Whole() != (len(form["scope"]) == 0) {
			t.Fatalf("scope %v for the tables %q: whole workspace only when none is named", n.Scope, form["scope"])
		}
		if _, bad := fv.Errors["duration"]; !bad {
			d, err := time.ParseDuration(strings.TrimSpace(form.Get("duration")))
			if err != nil || n.Duration != d || d <= 0 || d%time.Minute != 0 {
				t.Fatalf("duration %q read as %s", form.Get("duration"), n.Duration)
			}
		}
		if _, bad := fv.Errors["mode"]; !bad {
			modes, unmask := form["mode"], form.Get("unmask") == "on"
			switch {
			case !n.Mode.Valid(), string(n.Mode) != fv.Mode:
				t.Fatalf("mode %q (shown %q) from %q", n.Mode, fv.Mode, modes)
			case len(modes) == 1 && string(n.Mode) != strings.TrimSpace(modes[0]):
				t.Fatalf("mode %q, asked %q", n.Mode, modes[0])
			case len(modes) == 0 && (!unmask || n.Mode != models.ModeUnmasked):
				t.Fatalf("mode %q with no mode asked (unmask %v)", n.Mode, unmask)
			case unmask && !n.Mode.Unmasks():
				t.Fatalf("mode %q, though unmask=on", n.Mode)
			}
		}
		_, badScope := fv.Errors["scope"]
		_, badRecords := fv.Errors["records"]
		if !badScope && !badRecords {
			checkRequestScope(t, cat, form["scope"], strings.TrimSpace(form.Get("records")), n.Scope)
		}

		n.Workspace, n.Requester, n.Grantee = "acme", senior, senior
		if len(fv.Errors) > 0 || models.ValidateRequest(h.requests, roles, now, n) != nil {
			return
		}
		if n.Duration > h.requests.MaxDuration || !h.requests.Ticket.MatchString(strings.TrimSpace(n.Ticket)) ||
			len(strings.TrimSpace(n.Reason)) < 20 {
			t.Fatalf("request accepted: %+v", n)
		}
	})
}

// checkRequestScope holds an accepted scope to the form's tables and
// record ids.
func checkRequestScope(t *testing.T, cat *policy.Catalog, tables []string, records string, scope models.GrantScope) {
	t.Helper()
	for _, name := range tables {
		if _, ok := scope.Tables[name]; !ok {
			t.Fatalf("table %q of the form is not in the scope %v", name, scope.Tables)
		}
	}
	var want []int64
	for _, s := range strings.FieldsFunc(records, func(r rune) bool { return r == ',' || r == ' ' }) {
		id, err := strconv.ParseInt(s, 10, 64)
		if err != nil || id < 1 {
			t.Fatalf("record %q of %q taken", s, records)
		}
		want = append(want, id)
	}
	if records != "" && (len(want) == 0 || len(want) > 200) {
		t.Fatalf("%d record ids taken", len(want))
	}
	for name, ids := range scope.Tables {
		tb, ok := cat.Table(name)
		if !ok || tb.Restricted || !slices.Contains(tables, name) {
			t.Fatalf("table %q in the scope (catalogued %v, restricted %v, named %v)", name, ok, tb.Restricted, slices.Contains(tables, name))
		}
		if fmt.Sprint(ids) != fmt.Sprint(want) || (ids == nil) != (records == "") {
			t.Fatalf("table %s: records %v, want %v from %q", name, ids, want, records)
		}
	}
}
