package handlers

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/models/dbtest"

	"github.com/PuerkitoBio/goquery"
)

func parseHTML(t *testing.T, body string) *goquery.Document {
	t.Helper()
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// wantFormError checks a 422 page as someone who cannot see it would
// meet it: the title starts with "Error:", the summary at the top links
// to the field with the message, and the field names its message in
// aria-describedby and is marked invalid.
func wantFormError(t *testing.T, body, key, fieldID string) {
	t.Helper()
	doc := parseHTML(t, body)
	summary := doc.Find(`[data-testid="error-summary"]`)
	if summary.Length() != 1 {
		t.Fatalf("error summaries = %d, want 1", summary.Length())
	}
	link := summary.Find(`a[href="#` + fieldID + `"]`)
	msg := doc.Find("#" + key + "-error")
	if link.Length() != 1 || msg.Length() != 1 || strings.TrimSpace(link.Text()) != strings.TrimSpace(msg.Text()) {
		t.Errorf("summary link to #%s = %q, message #%s-error = %q; want one each, the same text", fieldID, link.Text(), key, msg.Text())
	}
	wantFieldError(t, body, key, fieldID)
}

// wantFieldError is wantFormError for a form without a summary: the
// title, and the field naming its message.
func wantFieldError(t *testing.T, body, key, fieldID string) {
	t.Helper()
	doc := parseHTML(t, body)
	if title := doc.Find("title").Text(); !strings.HasPrefix(title, "Error: ") {
		t.Errorf("title = %q, want it to start with \"Error: \"", title)
	}
	if doc.Find("#"+key+"-error").Length() != 1 {
		t.Errorf("message #%s-error: %d, want 1", key, doc.Find("#"+key+"-error").Length())
	}
	field := doc.Find("#" + fieldID)
	if field.Length() != 1 {
		t.Fatalf("no field #%s", fieldID)
	}
	if d := field.AttrOr("aria-describedby", ""); !strings.Contains(" "+d+" ", " "+key+"-error ") {
		t.Errorf("#%s aria-describedby = %q, want it to name %s-error", fieldID, d, key)
	}
	if field.AttrOr("aria-invalid", "") != "true" {
		t.Errorf("#%s aria-invalid = %q, want true", fieldID, field.AttrOr("aria-invalid", ""))
	}
}

// TestStaffFormsKeepValues: every staff form sent with a mistake comes
// back with what was typed, the summary and the message by the field.
func TestStaffFormsKeepValues(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		p := newPortal(t, db)
		ada := p.login(ada)
		eve := p.staff("eve.engineer@example.com")
		suspendSean(t, p)
		sean := p.staff("sean.senior@example.com")
		tests := []struct {
			name, action string
			id           int64
			form         url.Values
			key, fieldID string
			kept         map[string]string // input id → value shown again
		}{
			{"offboard with a wrong confirmation", "offboard", eve.ID,
				url.Values{"reason": {"Left the company on Friday."}, "confirm": {"eve@wrong.example"}}, "offboard", "offboard-reason",
				map[string]string{"offboard-reason": "Left the company on Friday.", "confirm": "eve@wrong.example"}},
			{"offboard without a reason", "offboard", eve.ID,
				url.Values{"reason": {"no"}, "confirm": {"eve.engineer@example.com"}}, "offboard", "offboard-reason",
				map[string]string{"offboard-reason": "no", "confirm": "eve.engineer@example.com"}},
			{"suspend with a short reason", "suspend", eve.ID,
				url.Values{"reason": {"x"}}, "suspend", "suspend-reason", map[string]string{"suspend-reason": "x"}},
			{"reactivate with a short reason", "reactivate", sean.ID,
				url.Values{"reason": {"ok"}}, "reactivate", "reactivate-reason", map[string]string{"reactivate-reason": "ok"}},
			{"agreement with a bad date", "agreement", eve.ID,
				url.Values{"version": {"2026-X"}, "signed": {"2026-13-45"}}, "agreement", "version",
				map[string]string{"version": "2026-X", "signed": "2026-13-45"}},
			{"training with a future date", "training", eve.ID,
				url.Values{"completed": {"2999-01-01"}}, "training", "completed", map[string]string{"completed": "2999-01-01"}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				before := p.count("audit_events", "")
				res, body := p.post(ada, staffURL(tt.id, tt.action), tt.form)
				if res.StatusCode != http.StatusUnprocessableEntity {
					t.Fatalf("POST %s = %d, want 422:\n%s", tt.action, res.StatusCode, body)
				}
				if n := p.count("audit_events", ""); n != before {
					t.Errorf("audit events %d → %d: a refused form changed something", before, n)
				}
				wantFormError(t, body, tt.key, tt.fieldID)
				doc := parseHTML(t, body)
				for id, want := range tt.kept {
					if got := doc.Find("#"+id).AttrOr("value", "<none>"); got != want {
						t.Errorf("#%s = %q after the 422, want %q kept", id, got, want)
					}
				}
			})
		}
	})
}

// TestStaffAddFormHelps: the add form marks its required fields and,
// refused, keeps what was typed with the summary linking to the field.
func TestStaffAddFormHelps(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		p := newPortal(t, db)
		ada := p.login(ada)
		_, body := p.get(ada, "/staff")
		doc := parseHTML(t, body)
		for _, id := range []string{"email", "name", "tier"} {
			f := doc.Find("#add #" + id)
			if _, ok := f.Attr("required"); !ok || f.AttrOr("aria-required", "") != "true" {
				t.Errorf("#%s is not marked required (required, aria-required)", id)
			}
			if doc.Find(`#add label[for="`+id+`"] [data-testid="required-mark"]`).Length() != 1 {
				t.Errorf("the label of #%s shows no required mark", id)
			}
		}
		if strings.HasPrefix(doc.Find("title").Text(), "Error") {
			t.Errorf("title %q before any error", doc.Find("title").Text())
		}
		res, body := p.post(ada, "/staff", url.Values{"email": {"new.person@evil.example"}, "name": {"New Person"}, "tier": {"senior"}})
		if res.StatusCode != http.StatusUnprocessableEntity {
			t.Fatalf("POST /staff = %d, want 422", res.StatusCode)
		}
		wantFormError(t, body, "email", "email")
		doc = parseHTML(t, body)
		if got := doc.Find("#email").AttrOr("value", ""); got != "new.person@evil.example" {
			t.Errorf("email = %q after the 422", got)
		}
		if got := doc.Find(`#add #tier option[selected]`).AttrOr("value", ""); got != "senior" {
			t.Errorf("tier = %q after the 422, want senior kept", got)
		}
	})
}

var returnToRE = regexp.MustCompile(`name="return_to" value="([^"]*)"`)

// TestApprovalNoteSurvivesStepUp: an approver whose sign-in is too old
// types a note and presses Approve; after the real step-up round trip
// they land on the request's decision form with the note filled in, and
// nothing was decided until they press Approve again.
func TestApprovalNoteSurvivesStepUp(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		p := newPortal(t, db)
		sam := p.login("sam.support@example.com")
		id := p.openRequest(sam, requestForm("acme", "sara.senior@example.com"))
		p.login(ada) // links Ada's identity
		c := staleSession(t, p, ada, 16*time.Minute)
		page := fmt.Sprintf("/requests/%d", id)
		note := "Ticket SUP-1234 checked with the customer: <b>go ahead</b> & thanks."

		res, body := p.post(noRedirect(c), page+"/approve", url.Values{"note": {note}})
		if res.StatusCode != http.StatusUnauthorized || !strings.Contains(body, `data-testid="step-up-kept"`) {
			t.Fatalf("approve with a 16-minute-old sign-in = %d, want 401 saying the note is kept:\n%s", res.StatusCode, body)
		}
		for _, ck := range res.Cookies() {
			// "SUP-1234", not "SUP": a sealed value is base64url, which
			// holds "SUP" by chance about once in 700 and never "-1234"
			// after it.
			if ck.Name == "gatehouse_kept" && (strings.Contains(ck.Value, "SUP-1234") || ck.MaxAge != 0 || !ck.HttpOnly) {
				t.Errorf("kept cookie %+v: want it sealed, HttpOnly and for the browser session only", ck)
			}
		}
		m := returnToRE.FindStringSubmatch(body)
		if m == nil || m[1] != page+"/decide" {
			t.Fatalf("step-up returns to %v, want %s/decide", m, page)
		}
		approvals := func() int64 { return p.count("audit_events", "action = ?", models.ActionRequestApproved) }
		res, body = p.post(c, "/login", url.Values{"step_up": {"1"}, "return_to": {m[1]}})
		if res.StatusCode != http.StatusOK || res.Request.URL.Path != page+"/decide" {
			t.Fatalf("step-up ended at %s with %d, want %s/decide:\n%s", res.Request.URL, res.StatusCode, page, body)
		}
		doc := parseHTML(t, body)
		if got := doc.Find(`#approve-note`).Text(); got != note {
			t.Errorf("decision note after the step-up = %q, want %q", got, note)
		}
		if doc.Find(`[data-testid="kept"]`).Length() != 1 || doc.Find(`[data-testid="approve"]`).Length() != 1 {
			t.Errorf("the page does not explain the kept note or offers no Approve button:\n%s", body)
		}
		if n := approvals(); n != 0 {
			t.Fatalf("approvals after the step-up and GET %s/decide = %d, want 0: a GET decided", page, n)
		}
		if got := p.requestStatus(id); got != models.RequestPending {
			t.Fatalf("request status after the GET = %s, want pending", got)
		}
		// Shown once: the note is not kept beyond that page.
		res, body = p.get(noRedirect(c), page+"/decide")
		if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != page || strings.Contains(body, "go ahead") {
			t.Errorf("GET %s/decide again = %d to %q, want 303 to the request without the note", page, res.StatusCode, res.Header.Get("Location"))
		}
		if n := approvals(); n != 0 {
			t.Fatalf("approvals = %d after the second GET, want 0", n)
		}
		res, body = p.post(c, page+"/approve", url.Values{"note": {note}})
		if res.StatusCode != http.StatusOK || res.Request.URL.Path != page {
			t.Fatalf("approve after the step-up ended at %s with %d:\n%s", res.Request.URL, res.StatusCode, body)
		}
		if got := p.requestStatus(id); got != models.RequestApproved {
			t.Errorf("status = %s, want approved", got)
		}
		if n := p.count("access_requests", "id = ? AND decision_note = ?", id, note); n != 1 {
			t.Errorf("the decision note is not the one typed before the step-up")
		}
		if !strings.Contains(body, `data-testid="flash"`) || !strings.Contains(body, "Approved.") {
			t.Errorf("no confirmation after approving")
		}
	})
}

// TestKeptNoteOnlyForItsAuthor: the kept note opens only for the person
// who typed it, for that request, before it expires, and not if altered.
func TestKeptNoteOnlyForItsAuthor(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		p := newPortal(t, db)
		sam := p.login("sam.support@example.com")
		id := p.openRequest(sam, requestForm("acme", "sara.senior@example.com"))
		other := p.openRequest(sam, requestForm("globex", "sara.senior@example.com"))
		p.login(ada)
		page := fmt.Sprintf("/requests/%d", id)
		// kept has Ada send the deny form from a stale session, and returns
		// that browser and the kept cookie.
		kept := func() (*http.Client, string) {
			c := staleSession(t, p, ada, 16*time.Minute)
			res, _ := p.post(noRedirect(c), page+"/deny", url.Values{"note": {"Not enough detail in the ticket."}})
			for _, ck := range res.Cookies() {
				if ck.Name == "gatehouse_kept" {
					return c, ck.Value
				}
			}
			t.Fatal("no kept cookie on the step-up page")
			return nil, ""
		}
		u, _ := url.Parse(p.srv.URL)
		shows := func(c *http.Client, value, path string) bool {
			c.Jar.SetCookies(u, []*http.Cookie{{Name: "gatehouse_kept", Value: value, Path: "/"}})
			res, body := p.get(noRedirect(c), path)
			return res.StatusCode == http.StatusOK && strings.Contains(body, "Not enough detail")
		}
		if c, v := kept(); !shows(c, v, page+"/decide") {
			t.Fatal("the kept note is not shown to its author at all; the checks below would prove nothing")
		}
		sean := p.login("sean.senior@example.com")
		if _, v := kept(); shows(sean, v, page+"/decide") {
			t.Error("another approver sees Ada's kept note")
		}
		if _, v := kept(); shows(p.login(ada), v, page+"/decide") {
			t.Error("Ada's note kept in one session shows in another session of hers")
		}
		if c, v := kept(); shows(c, v, fmt.Sprintf("/requests/%d/decide", other)) {
			t.Error("the note kept for one request shows on another")
		}
		c, v := kept()
		tampered := v[:len(v)-2] + map[bool]string{true: "AA", false: "AB"}[strings.HasSuffix(v, "AB")]
		if shows(c, tampered, page+"/decide") {
			t.Error("an altered kept cookie is accepted")
		}
		c, v = kept()
		p.clock.Advance(11 * time.Minute)
		if shows(c, v, page+"/decide") {
			t.Error("a kept note older than ten minutes is shown")
		}
		if n := p.count("audit_events", "action IN ?", []models.Action{models.ActionRequestApproved, models.ActionRequestDenied}); n != 0 {
			t.Errorf("decisions = %d, want 0", n)
		}
	})
}

func (p *testPortal) requestStatus(id int64) models.RequestStatus {
	p.t.Helper()
	var st []string
	if err := p.db.Read.Table("access_requests").Where("id = ?", id).Pluck("status", &st).Error; err != nil || len(st) != 1 {
		p.t.Fatalf("status of request %d: %v %v", id, st, err)
	}
	return models.RequestStatus(st[0])
}

// TestRequestFormHelps: the new-request form suggests workspaces (a
// bounded datalist), chooses no grantee for anyone (seniors listed
// first), marks its required fields, and a refused form comes back with
// everything typed, a summary linking to each field and "Error:" in the
// title.
func TestRequestFormHelps(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		p := newPortal(t, db)
		now := p.clock.Now()
		for i := range 150 {
			w := models.Workspace{Slug: fmt.Sprintf("zz-%03d", i), Name: fmt.Sprintf("Filler %d", i), Plan: "free", Status: "free", CreatedAt: now}
			if err := p.opts.ProductDB.Write.Create(&w).Error; err != nil {
				t.Fatal(err)
			}
		}
		for _, who := range []string{"sam.support@example.com", "sara.senior@example.com"} {
			_, body := p.get(p.login(who), "/requests/new")
			doc := parseHTML(t, body)
			list := doc.Find(`#workspace`).AttrOr("list", "")
			opts := doc.Find(`datalist#` + list + ` option`)
			if list == "" || opts.Length() != suggestionsMax {
				t.Errorf("%s: workspace suggestions = %d (list %q), want %d: bounded, however many workspaces", who, opts.Length(), list, suggestionsMax)
			}
			if doc.Find(`datalist option[value="acme"]`).Text() != "Acme Corporation" {
				t.Errorf("%s: acme is not suggested with its name: %q", who, doc.Find(`datalist option[value="acme"]`).Text())
			}
			grantees := doc.Find(`#grantee option`)
			first := grantees.First()
			if first.AttrOr("value", "x") != "" || first.Text() != "Choose a senior…" {
				t.Errorf("%s: first grantee option = %q %q, want the placeholder", who, first.AttrOr("value", "x"), first.Text())
			}
			if sel := doc.Find(`#grantee option[selected]`); sel.Length() != 1 || sel.AttrOr("value", "x") != "" {
				t.Errorf("%s: a grantee is chosen by default (%q)", who, sel.AttrOr("value", ""))
			}
			var tiers []string
			grantees.Slice(1, grantees.Length()).Each(func(_ int, s *goquery.Selection) {
				tiers = append(tiers, strings.TrimSuffix(s.Text()[strings.LastIndex(s.Text(), "(")+1:], ")"))
			})
			if len(tiers) < 2 || tiers[0] != "senior" || tiers[len(tiers)-1] != "sysadmin" || !seniorsFirst(tiers) {
				t.Errorf("%s: grantee tiers in order %v, want seniors first", who, tiers)
			}
			for _, id := range []string{"workspace", "reason", "ticket", "duration", "grantee"} {
				f := doc.Find("#" + id)
				if _, ok := f.Attr("required"); !ok || f.AttrOr("aria-required", "") != "true" {
					t.Errorf("%s: #%s is not marked required", who, id)
				}
				if doc.Find(`label[for="`+id+`"] [data-testid="required-mark"]`).Length() != 1 {
					t.Errorf("%s: the label of #%s shows no required mark", who, id)
				}
			}
			if doc.Find(`#records`).AttrOr("aria-required", "") != "" {
				t.Errorf("%s: the optional records field is marked required", who)
			}
		}

		sam := p.login("sam.support@example.com")
		sent := url.Values{
			"workspace": {"acm"}, "reason": {"too short"}, "ticket": {"SUP-77"}, "duration": {"8h"},
			"grantee": {"sara.senior@example.com"}, "scope": {"members", "documents"}, "records": {"3, 9"}, "mode": {"reveal"},
		}
		before := p.count("access_requests", "")
		res, body := p.post(sam, "/requests", sent)
		if res.StatusCode != http.StatusUnprocessableEntity {
			t.Fatalf("POST /requests = %d, want 422", res.StatusCode)
		}
		if n := p.count("access_requests", ""); n != before {
			t.Errorf("requests %d → %d after a refused form", before, n)
		}
		wantFormError(t, body, "workspace", "workspace")
		wantFormError(t, body, "reason", "reason")
		doc := parseHTML(t, body)
		if title := doc.Find("title").Text(); !strings.HasPrefix(title, "Error: New access request") {
			t.Errorf("title = %q", title)
		}
		if got := doc.Find(`[data-testid="error-summary"] a`).First().AttrOr("href", ""); got != "#workspace" {
			t.Errorf("first summary link = %q, want #workspace (page order)", got)
		}
		kept := map[string]string{
			"#workspace":                   doc.Find("#workspace").AttrOr("value", ""),
			"#reason":                      doc.Find("#reason").Text(),
			"#ticket":                      doc.Find("#ticket").AttrOr("value", ""),
			"#duration option[selected]":   doc.Find("#duration option[selected]").AttrOr("value", ""),
			"#grantee option[selected]":    doc.Find("#grantee option[selected]").AttrOr("value", ""),
			"#records":                     doc.Find("#records").AttrOr("value", ""),
			`input[name="mode"][checked]`:  doc.Find(`input[name="mode"][checked]`).AttrOr("value", ""),
			`input[name="scope"][checked]`: strings.Join(doc.Find(`input[name="scope"][checked]`).Map(func(_ int, s *goquery.Selection) string { return s.AttrOr("value", "") }), ","),
		}
		want := map[string]string{
			"#workspace": "acm", "#reason": "too short", "#ticket": "SUP-77", "#duration option[selected]": "8h",
			"#grantee option[selected]": "sara.senior@example.com", "#records": "3, 9",
			`input[name="mode"][checked]`: "reveal", `input[name="scope"][checked]`: "members,documents",
		}
		for k, w := range want {
			if kept[k] != w {
				t.Errorf("%s = %q after the 422, want %q kept", k, kept[k], w)
			}
		}
	})
}

func seniorsFirst(tiers []string) bool {
	seen := false
	for _, t := range tiers {
		if t != "senior" {
			seen = true
		} else if seen {
			return false
		}
	}
	return true
}

// flashOf is the confirmation line of a page, "" when it has none.
func flashOf(t *testing.T, body string) string {
	t.Helper()
	return strings.TrimSpace(parseHTML(t, body).Find(`[data-testid="flash"]`).Text())
}

// TestFlashAfterEachAction: create, approve, deny, cancel, I'm done,
// revoke and sign-out each end on a page that confirms it, once.
func TestFlashAfterEachAction(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		p := newPortal(t, db)
		sam, sean, adaC := p.login("sam.support@example.com"), p.login("sean.senior@example.com"), p.login(ada)
		res, body := p.post(sam, "/requests", requestForm("acme", "sara.senior@example.com"))
		var id int64
		fmt.Sscanf(res.Request.URL.Path, "/requests/%d", &id)
		if want := fmt.Sprintf("Request #%d created.", id); id == 0 || flashOf(t, body) != want {
			t.Errorf("after creating: %s shows %q, want %q", res.Request.URL.Path, flashOf(t, body), want)
		}
		if _, body := p.get(sam, res.Request.URL.Path); flashOf(t, body) != "" {
			t.Errorf("the confirmation shows again on reload: %q", flashOf(t, body))
		}
		act := func(c *http.Client, path string, form url.Values, want string) {
			t.Helper()
			res, body := p.post(c, path, form)
			if res.StatusCode != http.StatusOK || !strings.HasPrefix(flashOf(t, body), want) {
				t.Errorf("POST %s ended at %s (%d) with %q, want %q", path, res.Request.URL.Path, res.StatusCode, flashOf(t, body), want)
			}
			if _, body := p.get(c, res.Request.URL.Path); flashOf(t, body) != "" {
				t.Errorf("after POST %s the confirmation shows again on reload", path)
			}
		}
		act(sean, fmt.Sprintf("/requests/%d/approve", id), url.Values{"note": {"Ticket checked."}}, "Approved.")
		deny := p.openRequest(sam, requestForm("globex", "sara.senior@example.com"))
		act(sean, fmt.Sprintf("/requests/%d/deny", deny), url.Values{"note": {"Not enough detail."}}, "Denied.")
		cancel := p.openRequest(sam, requestForm("globex", "sara.senior@example.com"))
		act(sam, fmt.Sprintf("/requests/%d/cancel", cancel), url.Values{"note": {"Solved without access."}}, "Cancelled.")

		done, _ := p.grantedRequest()
		sara := p.login("sara.senior@example.com")
		act(sara, fmt.Sprintf("/requests/%d/done", done), url.Values{"note": {"Fixed the export."}}, "You ended your access.")
		revoke, _ := p.grantedRequest()
		// A refused revoke keeps its note by the revoke form.
		res, body = p.post(adaC, fmt.Sprintf("/requests/%d/revoke", revoke), url.Values{"note": {"no"}})
		if res.StatusCode != http.StatusUnprocessableEntity {
			t.Fatalf("revoke with a short note = %d, want 422", res.StatusCode)
		}
		wantFormError(t, body, "revoke", "revoke-note")
		if got := parseHTML(t, body).Find("#revoke-note").Text(); got != "no" {
			t.Errorf("revoke note after the 422 = %q, want kept", got)
		}
		act(adaC, fmt.Sprintf("/requests/%d/revoke", revoke), url.Values{"note": {"Access no longer needed."}}, "Access revoked.")

		res, body = p.post(sam, "/logout", url.Values{})
		if res.Request.URL.Path != "/login" || flashOf(t, body) != "You are signed out." {
			t.Errorf("sign-out ended at %s with %q", res.Request.URL, flashOf(t, body))
		}
		if _, body := p.get(sam, "/login"); flashOf(t, body) != "" {
			t.Error("\"signed out\" shows again on reload")
		}
	})
}

// TestFlashOnlyFromFixedSet: the confirmation cookie selects a sentence;
// whatever else it carries is never shown.
func TestFlashOnlyFromFixedSet(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		p := newPortal(t, db)
		u, _ := url.Parse(p.srv.URL)
		for value, want := range map[string]string{
			"approved":               "Approved. The workspace's owners have been asked for consent.",
			"created.7":              "Request #7 created.",
			"created.07":             "",
			"created.-1":             "",
			"created.7x":             "",
			"approved.7":             "",
			"Your account+is+locked": "",
			"signed-out2":            "",
		} {
			c := p.client()
			c.Jar.SetCookies(u, []*http.Cookie{{Name: "gatehouse_flash", Value: value, Path: "/"}})
			_, body := p.get(c, "/login")
			if got := flashOf(t, body); got != want {
				t.Errorf("flash cookie %q shows %q, want %q", value, got, want)
			}
			if strings.Contains(body, "locked") {
				t.Errorf("flash cookie %q is echoed", value)
			}
		}
	})
}

// loginWhy follows c to the sign-in page from GET / and returns what it
// says about why.
func (p *testPortal) loginWhy(t *testing.T, c *http.Client) string {
	t.Helper()
	res, body := p.get(c, "/")
	if res.Request.URL.Path != "/login" {
		t.Fatalf("GET / ended at %s, want the sign-in page", res.Request.URL)
	}
	return strings.TrimSpace(parseHTML(t, body).Find(`[data-testid="login-why"]`).Text())
}

// TestLoginPageSaysWhy: the sign-in page explains why someone landed
// there, from a fixed set of reasons.
func TestLoginPageSaysWhy(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		p := newPortal(t, db)
		adaC := p.login(ada)
		sam, eve, sara := p.login("sam.support@example.com"), p.login("eve.engineer@example.com"), p.login("sara.senior@example.com")
		replay := p.login("aud.auditor@example.com")
		cookie := p.sessionCookie(replay)
		if res, _ := p.post(replay, "/logout", url.Values{}); res.Request.URL.Path != "/login" {
			t.Fatal("sign-out failed")
		}
		p.post(adaC, staffURL(p.staff("sam.support@example.com").ID, "suspend"), url.Values{"reason": {"On leave from today."}})
		p.post(adaC, staffURL(p.staff("eve.engineer@example.com").ID, "offboard"), url.Values{"reason": {"Left the company."}, "confirm": {"eve.engineer@example.com"}})
		old := p.client()
		u, _ := url.Parse(p.srv.URL)
		old.Jar.SetCookies(u, []*http.Cookie{{Name: "gatehouse_session", Value: cookie, Path: "/"}})
		cases := []struct {
			name string
			c    *http.Client
			want string
		}{
			{"suspended", sam, "suspended"},
			{"offboarded", eve, "offboarded"},
			{"signed out in another tab", old, "You signed out."},
		}
		for _, tt := range cases {
			if got := p.loginWhy(t, tt.c); !strings.Contains(got, tt.want) {
				t.Errorf("%s: the sign-in page says %q, want %q", tt.name, got, tt.want)
			}
		}
		p.clock.Advance(31 * time.Minute)
		if got := p.loginWhy(t, sara); !strings.Contains(got, "30 minutes without activity") {
			t.Errorf("idle: the sign-in page says %q", got)
		}
		for path, want := range map[string]string{
			"/login": "",
			"/login?why=%3Cscript%3Ealert(1)%3C/script%3E": "",
			"/login?why=Your+account+is+locked":            "",
			"/login?return_to=%2Faudit":                    "That page needs you to be signed in.",
			"/login?return_to=%2Faudit&why=expired":        "Your session reached its limit of 12 hours and ended. Sign in again to continue.",
		} {
			_, body := p.get(p.client(), path)
			if got := strings.TrimSpace(parseHTML(t, body).Find(`[data-testid="login-why"]`).Text()); got != want {
				t.Errorf("GET %s says %q, want %q", path, got, want)
			}
			if strings.Contains(body, "locked") || strings.Contains(body, "<script>") {
				t.Errorf("GET %s echoes the reason it was given", path)
			}
		}
	})
}

// TestOtherFormsKeepValues: the hold, deletion-request, break-glass and
// reveal forms come back after a mistake with what was typed, and their
// fields name their messages.
func TestOtherFormsKeepValues(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		p := newPortal(t, db)
		adaC, sam := p.login(ada), p.login("sam.support@example.com")
		p.grant(sara, "acme", models.GrantScope{Tables: map[string][]int64{"members": {1}}}, false, time.Hour)
		saraC := p.login(sara)
		tests := []struct {
			name    string
			c       *http.Client
			path    string
			form    url.Values
			key, id string
			summary bool
			kept    map[string]string // CSS selector → value (an input's) or text (a textarea's)
		}{
			{"legal hold", adaC, "/retention/acme/holds", url.Values{"reference": {"LEGAL-9"}, "reason": {"x"}}, "reason", "reason", true,
				map[string]string{"#reference": "LEGAL-9", "textarea#reason": "x"}},
			{"deletion request", sam, "/workspaces/acme/deletion-requests", url.Values{"note": {"short"}}, "note", "note", false,
				map[string]string{"textarea#note": "short"}},
			{"break-glass", adaC, "/breakglass", url.Values{"workspace": {"acme"}, "incident": {"INC-9"}, "justification": {"x"}}, "justification", "justification", false,
				map[string]string{"#workspace": "acme", "#incident": "INC-9", "textarea#justification": "x"}},
			{"reveal", saraC, "/workspaces/acme/data/members/1/reveal", url.Values{"field": {"email"}, "reason": {"because"}}, "reason", "reason-email", false,
				map[string]string{"#reason-email": "because"}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				res, body := p.post(tt.c, tt.path, tt.form)
				if res.StatusCode != http.StatusUnprocessableEntity {
					t.Fatalf("POST %s = %d, want 422:\n%s", tt.path, res.StatusCode, body)
				}
				if tt.summary {
					wantFormError(t, body, tt.key, tt.id)
				} else {
					wantFieldError(t, body, tt.key, tt.id)
				}
				doc := parseHTML(t, body)
				for sel, want := range tt.kept {
					f := doc.Find(sel)
					got := f.AttrOr("value", "")
					if goquery.NodeName(f) == "textarea" {
						got = f.Text()
					}
					if f.Length() != 1 || got != want {
						t.Errorf("%s = %q after the 422, want %q kept", sel, got, want)
					}
				}
			})
		}
	})
}
