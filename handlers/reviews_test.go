package handlers

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"gatehouse/models"
	"gatehouse/models/dbtest"
)

// openReview opens the current quarter's access review of the demo staff.
func (p *testPortal) openReview() models.AccessReview {
	p.t.Helper()
	r, _, err := models.OpenReview(context.Background(), p.db, p.clock.Now(), models.ReviewQuarterly, p.opts.AgreementVersion)
	if err != nil {
		p.t.Fatal(err)
	}
	return r
}

// reviewRowOf returns the id of email's row in review id.
func (p *testPortal) reviewRowOf(id int64, email string) int64 {
	p.t.Helper()
	rows, err := models.ReviewRows(context.Background(), p.db.Read, id)
	if err != nil {
		p.t.Fatal(err)
	}
	for _, r := range rows {
		if r.Email == email {
			return r.ID
		}
	}
	p.t.Fatalf("no row for %s", email)
	return 0
}

// reviewWrites is what a certification changes: rows certified, staff
// offboarded, audit events.
func (p *testPortal) reviewWrites() [3]int64 {
	return [3]int64{
		p.count("access_review_rows", "certified_at IS NOT NULL"),
		p.count("staff", "status = ?", models.StatusOffboarded),
		p.count("audit_events", ""),
	}
}

// TestReviewPagesAndCertify: sysadmins and auditors read the review list
// and page; a sysadmin sees a form for every row but their own; the
// auditor sees none and a POST of theirs is refused; bad decisions and
// notes are 422, the subject's own row 403, a second certification 409,
// each writing nothing; an offboard decision offboards; the dashboard
// shows the open review's progress.
func TestReviewPagesAndCertify(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		p := newPortal(t, db)
		ada, aud, sara := p.login("ada.sysadmin@example.com"), p.login("aud.auditor@example.com"), p.login("sara.senior@example.com")
		r := p.openReview()
		page := fmt.Sprintf("/reviews/%d", r.ID)
		adaRow, samRow, eveRow := p.reviewRowOf(r.ID, "ada.sysadmin@example.com"), p.reviewRowOf(r.ID, "sam.support@example.com"), p.reviewRowOf(r.ID, "eve.engineer@example.com")
		for _, c := range []*http.Client{ada, aud} {
			if res, body := p.get(c, "/reviews"); res.StatusCode != http.StatusOK || !strings.Contains(body, r.Period) {
				t.Errorf("/reviews: %d, no %s", res.StatusCode, r.Period)
			}
			if _, body := p.get(c, "/"); !strings.Contains(body, `data-testid="dashboard-review"`) || !strings.Contains(body, "0 of ") {
				t.Error("the dashboard does not show the open review's progress")
			}
		}
		if res, _ := p.get(sara, page); res.StatusCode != http.StatusForbidden {
			t.Errorf("a senior reads the review: %d", res.StatusCode)
		}
		_, body := p.get(ada, page)
		if !strings.Contains(body, fmt.Sprintf(`data-testid="certify-%d"`, samRow)) || strings.Contains(body, fmt.Sprintf(`data-testid="certify-%d"`, adaRow)) {
			t.Errorf("ada's page: want a form for sam's row, none for her own:\n%s", body)
		}
		if _, body := p.get(aud, page); strings.Contains(body, `data-testid="certify-`) {
			t.Error("the auditor is offered a certification form")
		}
		note := "Checked with the support lead: still on the queue."
		for _, tc := range []struct {
			name string
			c    *http.Client
			row  int64
			form url.Values
			want int
		}{
			{"the auditor", aud, samRow, url.Values{"decision": {"keep"}, "note": {note}}, http.StatusForbidden},
			{"a bad decision", ada, samRow, url.Values{"decision": {"promote"}, "note": {note}}, http.StatusUnprocessableEntity},
			{"no note", ada, samRow, url.Values{"decision": {"keep"}, "note": {" "}}, http.StatusUnprocessableEntity},
			{"her own row", ada, adaRow, url.Values{"decision": {"keep"}, "note": {note}}, http.StatusForbidden},
			{"a row of another review", ada, samRow + 1000, url.Values{"decision": {"keep"}, "note": {note}}, http.StatusNotFound},
		} {
			before := p.reviewWrites()
			res, body := p.post(tc.c, fmt.Sprintf("%s/rows/%d", page, tc.row), tc.form)
			if res.StatusCode != tc.want {
				t.Errorf("%s: %d, want %d:\n%s", tc.name, res.StatusCode, tc.want, body)
			}
			if after := p.reviewWrites(); after != before {
				t.Errorf("%s wrote: %v, then %v", tc.name, before, after)
			}
		}
		res, body := p.post(ada, fmt.Sprintf("%s/rows/%d", page, samRow), url.Values{"decision": {"keep"}, "note": {note}})
		if res.StatusCode != http.StatusOK || !strings.Contains(body, `data-testid="review-done"`) || !strings.Contains(body, note) {
			t.Fatalf("certify: %d, no confirmation:\n%s", res.StatusCode, body)
		}
		otto := p.login("otto.sysadmin@example.com")
		before := p.reviewWrites()
		if res, _ := p.post(otto, fmt.Sprintf("%s/rows/%d", page, samRow), url.Values{"decision": {"change"}, "note": {note}}); res.StatusCode != http.StatusConflict {
			t.Errorf("a second certification: %d, want 409", res.StatusCode)
		}
		if after := p.reviewWrites(); after != before {
			t.Errorf("the second certification wrote: %v, then %v", before, after)
		}
		if res, _ := p.post(ada, fmt.Sprintf("%s/rows/%d", page, eveRow), url.Values{"decision": {"offboard"}, "note": {"Eve left the company last month."}}); res.StatusCode != http.StatusOK {
			t.Fatalf("offboard decision: %d", res.StatusCode)
		}
		if eve, _ := models.FindStaffByEmail(context.Background(), db.Read, "eve.engineer@example.com"); eve.Status != models.StatusOffboarded {
			t.Errorf("eve after an offboard decision: %s", eve.Status)
		}
		ev := p.newestEvent()
		if ev.Action != models.ActionReviewCertified || !strings.Contains(ev.Detail, `"decision":"offboard"`) || ev.Reason != "Eve left the company last month." {
			t.Errorf("last event %+v, want the certification with its decision and note", ev)
		}
		if res, _ := p.get(aud, page+"/export?format=csv"); res.StatusCode != http.StatusConflict {
			t.Errorf("export of an open review: %d, want 409", res.StatusCode)
		}
	})
}

// TestReviewExportHTTP: a closed review exports as CSV and JSON whose
// rows are the staff table's (read directly), each export recorded with
// the SHA-256 of the body sent; the first one's stays on the review.
func TestReviewExportHTTP(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		p := newPortal(t, db)
		aud := p.login("aud.auditor@example.com")
		r := p.openReview()
		rows, err := models.ReviewRows(ctx, db.Read, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, row := range rows {
			by := models.Actor{Email: "ada.sysadmin@example.com", Tier: "sysadmin"}
			if row.Email == by.Email {
				by.Email = "otto.sysadmin@example.com"
			}
			if _, err := models.CertifyRow(ctx, db.Write, models.Act{Now: p.clock.Now(), By: by}, models.Certification{
				ReviewID: r.ID, RowID: row.ID, Decision: "keep", Note: "Reviewed with their manager this quarter.",
			}); err != nil {
				t.Fatal(err)
			}
		}
		var direct []struct {
			ID                        int64
			Email, Name, Tier, Status string
		}
		if err := db.Read.Raw("SELECT id, email, name, tier, status FROM staff WHERE status IN ('active', 'suspended') ORDER BY id").Scan(&direct).Error; err != nil {
			t.Fatal(err)
		}
		var first string
		for _, format := range []string{"csv", "json"} {
			res, body := p.get(aud, fmt.Sprintf("/reviews/%d/export?format=%s", r.ID, format))
			if res.StatusCode != http.StatusOK {
				t.Fatalf("%s export: %d\n%s", format, res.StatusCode, body)
			}
			var got [][]string
			if format == "csv" {
				recs, err := csv.NewReader(strings.NewReader(body)).ReadAll()
				if err != nil || len(recs) == 0 {
					t.Fatalf("CSV: %v", err)
				}
				for _, rec := range recs[1:] {
					got = append(got, []string{rec[1], rec[2], rec[3], rec[4], rec[6]})
				}
			} else {
				var rs []models.ReviewExportRow
				if err := json.Unmarshal([]byte(body), &rs); err != nil {
					t.Fatalf("JSON: %v", err)
				}
				for _, x := range rs {
					got = append(got, []string{fmt.Sprint(x.StaffID), x.Email, x.Name, x.Role, x.Status})
				}
			}
			var want [][]string
			for _, d := range direct {
				want = append(want, []string{fmt.Sprint(d.ID), d.Email, d.Name, d.Tier, d.Status})
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("%s export rows\n%v\nwant the staff table's\n%v", format, got, want)
			}
			sum := sha256.Sum256([]byte(body))
			ev := p.newestEvent()
			var detail struct{ SHA256, Format string }
			if err := json.NewDecoder(bytes.NewReader([]byte(ev.Detail))).Decode(&detail); err != nil {
				t.Fatal(err)
			}
			if ev.Action != models.ActionReviewExported || detail.SHA256 != hex.EncodeToString(sum[:]) || detail.Format != format {
				t.Errorf("%s export recorded as %s %+v; body's sha256 %x", format, ev.Action, detail, sum)
			}
			if first == "" {
				first = hex.EncodeToString(sum[:])
			}
		}
		if rev, _ := models.FindReview(ctx, db.Read, r.ID); rev.ExportSHA256 != first {
			t.Errorf("stored hash %q, want the first export's %q", rev.ExportSHA256, first)
		}
		before := p.count("audit_events", "")
		if res, _ := p.get(aud, fmt.Sprintf("/reviews/%d/export?format=xml", r.ID)); res.StatusCode != http.StatusUnprocessableEntity {
			t.Errorf("format xml: %d, want 422", res.StatusCode)
		}
		if res, _ := p.do(aud, http.MethodGet, fmt.Sprintf("/reviews/%d/export?format=csv", r.ID), nil, http.Header{"Sec-Fetch-Site": {"cross-site"}}); res.StatusCode != http.StatusForbidden {
			t.Errorf("a cross-site export: %d, want 403", res.StatusCode)
		}
		if after := p.count("audit_events", ""); after != before {
			t.Errorf("refused exports wrote %d audit events", after-before)
		}
	})
}
