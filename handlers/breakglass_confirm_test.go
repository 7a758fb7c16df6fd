package handlers

import (
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/models/dbtest"

	"github.com/PuerkitoBio/goquery"
)

// Opening break-glass takes two POSTs: the form's shows what is about to
// be opened (the workspace, the incident, the justification) with one
// danger-styled "Open break-glass" button carrying confirm=yes, and
// writes nothing; only that button's POST opens it. "Change something"
// brings the form back with its values. Neither page has a script.
func TestBreakglassConfirmStep(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		p := newPortal(t, db)
		ada := noRedirect(p.login("ada.sysadmin@example.com"))
		form := bgForm("acme")
		form.Del("confirm")

		before := p.bgWrites()
		res, body := p.post(ada, "/breakglass", form)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("first POST /breakglass = %d, want 200 with the confirmation page:\n%s", res.StatusCode, body)
		}
		if after := p.bgWrites(); after != before {
			t.Errorf("the first POST wrote (breakglass, grants, mail, events): %v → %v", before, after)
		}
		doc, err := goquery.NewDocumentFromReader(strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		card := doc.Find(`[data-testid="breakglass-confirm-card"]`)
		if !card.HasClass("danger") || !strings.Contains(card.Find("h1").Text(), "Acme Corporation") {
			t.Errorf("confirmation card: class %q, heading %q; want a danger card naming Acme Corporation", card.AttrOr("class", ""), card.Find("h1").Text())
		}
		for testid, want := range map[string]string{
			"confirm-workspace": "Acme Corporation acme", "confirm-incident": form.Get("incident"), "confirm-justification": form.Get("justification"),
		} {
			if got := strings.Join(strings.Fields(card.Find(`[data-testid="`+testid+`"]`).Text()), " "); got != want {
				t.Errorf("%s = %q, want %q", testid, got, want)
			}
		}
		confirm := doc.Find(`[data-testid="breakglass-confirm-form"]`)
		button := confirm.Find(`button[data-testid="breakglass-confirm"]`)
		if !button.HasClass("danger") || strings.TrimSpace(button.Text()) != "Open break-glass" || confirm.AttrOr("action", "") != "/breakglass" {
			t.Errorf("confirm button %q (class %q) in a form to %q; want a danger “Open break-glass” posting to /breakglass", button.Text(), button.AttrOr("class", ""), confirm.AttrOr("action", ""))
		}
		sent := url.Values{}
		confirm.Find(`input[type="hidden"]`).Each(func(_ int, s *goquery.Selection) {
			sent.Add(s.AttrOr("name", ""), s.AttrOr("value", ""))
		})
		if want := bgForm("acme"); sent.Encode() != want.Encode() {
			t.Errorf("the confirm form sends %v, want %v", sent, want)
		}
		if doc.Find("script").Length() != 0 {
			t.Error("the confirmation page has a script")
		}

		edit := url.Values{}
		doc.Find(`[data-testid="breakglass-edit-form"] input[type="hidden"]`).Each(func(_ int, s *goquery.Selection) {
			edit.Add(s.AttrOr("name", ""), s.AttrOr("value", ""))
		})
		res, body = p.post(ada, "/breakglass", edit)
		if res.StatusCode != http.StatusOK || !strings.Contains(body, `data-testid="breakglass-form"`) || !strings.Contains(body, html.EscapeString(form.Get("justification"))) || strings.Contains(body, `data-testid="breakglass-confirm"`) {
			t.Errorf("“Change something” = %d, want the form again with its values", res.StatusCode)
		}
		if after := p.bgWrites(); after != before {
			t.Errorf("going back wrote: %v → %v", before, after)
		}

		res, body = p.post(ada, "/breakglass", sent)
		if res.StatusCode != http.StatusSeeOther || !strings.HasSuffix(res.Header.Get("Location"), "?done=opened") {
			t.Fatalf("POST with confirm=yes = %d to %q, want 303 to the opened break-glass:\n%s", res.StatusCode, res.Header.Get("Location"), body)
		}
		if n := p.count("breakglass", "workspace = ?", "acme"); n != 1 {
			t.Errorf("%d break-glass on acme after confirming, want 1", n)
		}

		// A sysadmin whose training lapsed is refused at the first step,
		// not after confirming.
		p.trainedOn("otto.sysadmin@example.com", p.clock.Now().Add(-2*365*24*time.Hour))
		otto := noRedirect(p.login("otto.sysadmin@example.com"))
		before = p.bgWrites()
		if res, body := p.post(otto, "/breakglass", form); res.StatusCode != http.StatusForbidden || !strings.Contains(body, "security training") {
			t.Errorf("first step by a sysadmin with lapsed training = %d, want 403 saying why", res.StatusCode)
		}
		if after := p.bgWrites(); after != before {
			t.Errorf("the refusal wrote: %v → %v", before, after)
		}
	})
}
