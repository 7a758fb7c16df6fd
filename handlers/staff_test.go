package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/models/dbtest"
	"gatehouse/policy"

	"gorm.io/gorm"
)

// staff loads a staff member by email.
func (p *testPortal) staff(email string) models.Staff {
	p.t.Helper()
	s, err := models.FindStaffByEmail(context.Background(), p.db.Read, email)
	if err != nil {
		p.t.Fatal(err)
	}
	return s
}

// staffEvents returns the audit events about target, oldest first.
func (p *testPortal) staffEvents(target string) []models.AuditEvent {
	p.t.Helper()
	var evs []models.AuditEvent
	if err := p.db.Read.Where("target = ?", target).Order("seq").Find(&evs).Error; err != nil {
		p.t.Fatal(err)
	}
	return evs
}

// auditDetail is the before/after detail of a staff change.
type auditDetail struct {
	Before map[string]any `json:"before"`
	After  map[string]any `json:"after"`
}

func parseDetail(t *testing.T, ev models.AuditEvent) auditDetail {
	t.Helper()
	var d auditDetail
	if err := json.Unmarshal([]byte(ev.Detail), &d); err != nil {
		t.Fatalf("audit detail %q: %v", ev.Detail, err)
	}
	return d
}

func staffURL(id int64, action string) string {
	if action == "" {
		return fmt.Sprintf("/staff/%d", id)
	}
	return fmt.Sprintf("/staff/%d/%s", id, action)
}

func TestStaffListAndSearch(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		p := newPortal(t, db)
		ada := p.login("ada.sysadmin@example.com")
		tests := []struct {
			query   string
			want    []string
			notWant []string
		}{
			{"", []string{"sam.support@example.com", "sara.senior@example.com", "sean.senior@example.com", "ada.sysadmin@example.com",
				"otto.sysadmin@example.com", "aud.auditor@example.com", "eve.engineer@example.com", "nina.newhire@example.com", "lee.leaver@example.com"}, nil},
			{"senior", []string{"sara.senior@example.com", "sean.senior@example.com"}, []string{"sam.support@example.com", "nina.newhire@example.com"}},
			{"SEAN", []string{"sean.senior@example.com"}, []string{"sara.senior@example.com"}},
			{"Otto Sys", []string{"otto.sysadmin@example.com"}, []string{"ada.sysadmin@example.com"}},
			{"%", nil, []string{"sam.support@example.com"}},
			{"_", nil, []string{"sam.support@example.com"}},
		}
		for _, tt := range tests {
			res, body := p.get(ada, "/staff?q="+url.QueryEscape(tt.query))
			if res.StatusCode != http.StatusOK {
				t.Fatalf("GET /staff?q=%q = %d, want 200", tt.query, res.StatusCode)
			}
			for _, w := range tt.want {
				if !strings.Contains(body, ">"+w+"<") {
					t.Errorf("/staff?q=%q does not list %s", tt.query, w)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(body, ">"+w+"<") {
					t.Errorf("/staff?q=%q lists %s, want it left out", tt.query, w)
				}
			}
			if len(tt.want) == 0 && !strings.Contains(body, `data-testid="staff-empty"`) {
				t.Errorf("/staff?q=%q: no empty-state message", tt.query)
			}
		}
		// A query is shown back escaped, never as markup.
		_, body := p.get(ada, "/staff?q="+url.QueryEscape(`<b>x</b>`))
		if strings.Contains(body, "<b>x</b>") {
			t.Error("search query rendered unescaped")
		}
	})
}

func TestStaffAdd(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		p := newPortal(t, db)
		ada := noRedirect(p.login("ada.sysadmin@example.com"))

		res, body := p.post(ada, "/staff", url.Values{"email": {" New.Person@Example.COM "}, "name": {"  New Person "}, "tier": {"support"}})
		if res.StatusCode != http.StatusSeeOther {
			t.Fatalf("POST /staff = %d, want 303:\n%s", res.StatusCode, body)
		}
		s := p.staff("new.person@example.com")
		if want := staffURL(s.ID, "") + "?done=created"; res.Header.Get("Location") != want {
			t.Errorf("Location = %q, want %q", res.Header.Get("Location"), want)
		}
		got := []any{s.Email, s.Name, s.Tier, s.Status, s.AgreementVersion, s.AgreementSignedAt, s.OIDCSubject}
		want := []any{"new.person@example.com", "New Person", policy.TierSupport, models.StatusActive, "", (*time.Time)(nil), (*string)(nil)}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("new staff (email, name, tier, status, agreement, signed, subject) = %v, want %v", got, want)
		}
		evs := p.staffEvents(s.Email)
		if len(evs) != 1 || evs[0].Action != models.ActionStaffCreated || evs[0].Actor != "ada.sysadmin@example.com" || evs[0].ActorTier != "sysadmin" {
			t.Fatalf("audit events for the new staff member = %+v, want one staff.created by ada", evs)
		}
		if d := parseDetail(t, evs[0]); d.After["tier"] != "support" || d.After["status"] != "active" || d.After["name"] != "New Person" {
			t.Errorf("staff.created detail = %s, want after with name, tier and status", evs[0].Detail)
		}
		// The new page shows the confirmation.
		if _, body := p.get(ada, res.Header.Get("Location")); !strings.Contains(body, `data-testid="done"`) {
			t.Error("staff page after creation shows no confirmation")
		}

		tests := []struct {
			name            string
			email, nm, tier string
			field, message  string
			echoedName      string
		}{
			{"bad email", "not-an-email", "Bad Email", "support", "email", "Enter an email address.", "Bad Email"},
			{"display-name email", "Eve <eve2@example.com>", "Eve Two", "support", "email", "Enter an email address.", "Eve Two"},
			{"foreign domain", "mallory@evil.example", "Mallory", "sysadmin", "email", "Staff must have an address at example.com.", "Mallory"},
			{"lookalike domain", "mallory@example.com.evil.example", "Mallory", "sysadmin", "email", "Staff must have an address at example.com.", "Mallory"},
			{"subdomain", "mallory@evil.example.com", "Mallory", "sysadmin", "email", "Staff must have an address at example.com.", "Mallory"},
			{"empty name", "nameless@example.com", "   ", "support", "name", "Enter the person&#39;s name.", ""},
			{"name too long", "long@example.com", strings.Repeat("n", 201), "support", "name", "Enter the person&#39;s name.", ""},
			{"unknown tier", "tierless@example.com", "Tierless", "root", "tier", "Choose a role from the list.", "Tierless"},
			{"empty tier", "tierless@example.com", "Tierless", "", "tier", "Choose a role from the list.", "Tierless"},
			{"duplicate", "sam.support@example.com", "Sam Again", "support", "email", "A staff member with this address exists already.", "Sam Again"},
			{"duplicate other case", "SAM.Support@Example.com", "Sam Again", "sysadmin", "email", "A staff member with this address exists already.", "Sam Again"},
			{"duplicate offboarded", "lee.leaver@example.com", "Lee Back", "support", "email", "A staff member with this address exists already.", "Lee Back"},
		}
		staffBefore, auditBefore := p.count("staff", ""), p.count("audit_events", "")
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				res, body := p.post(ada, "/staff", url.Values{"email": {tt.email}, "name": {tt.nm}, "tier": {tt.tier}})
				if res.StatusCode != http.StatusUnprocessableEntity {
					t.Fatalf("POST /staff = %d, want 422", res.StatusCode)
				}
				if !strings.Contains(body, `action="/staff"`) {
					t.Error("422 answer does not show the form again")
				}
				if want := `data-testid="error-` + tt.field + `">` + tt.message + `<`; !strings.Contains(body, want) {
					t.Errorf("422 answer lacks %s", want)
				}
				if tt.echoedName != "" && !strings.Contains(body, `value="`+tt.echoedName+`"`) {
					t.Errorf("422 answer does not keep the name %q in the form", tt.echoedName)
				}
			})
		}
		if n := p.count("staff", ""); n != staffBefore {
			t.Errorf("staff after refused adds = %d, want %d", n, staffBefore)
		}
		if n := p.count("audit_events", ""); n != auditBefore {
			t.Errorf("audit events after refused adds = %d, want %d", n, auditBefore)
		}
		if n := p.count("staff", "email = ? AND name = ?", "lee.leaver@example.com", "Lee Leaver"); n != 1 {
			t.Error("the offboarded record was changed by a refused add")
		}
	})
}

// A name is shown as text on every page, never as markup.
func TestStaffNameEscaped(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		p := newPortal(t, db)
		ada := noRedirect(p.login("ada.sysadmin@example.com"))
		const name = `<script>alert(1)</script><b onmouseover="x">`
		res, _ := p.post(ada, "/staff", url.Values{"email": {"mark.up@example.com"}, "name": {name}, "tier": {"support"}})
		if res.StatusCode != http.StatusSeeOther {
			t.Fatalf("POST /staff = %d, want 303", res.StatusCode)
		}
		s := p.staff("mark.up@example.com")
		for _, path := range []string{"/staff", "/staff?q=mark", staffURL(s.ID, "")} {
			_, body := p.get(ada, path)
			if strings.Contains(body, "<script>alert") || strings.Contains(body, "<b onmouseover") {
				t.Errorf("%s renders the name as markup", path)
			}
			if !strings.Contains(body, "&lt;script&gt;alert(1)&lt;/script&gt;") {
				t.Errorf("%s does not show the name as escaped text", path)
			}
		}
	})
}

// step is one POST of the staff changes test and what it must do.
type step struct {
	name   string
	action string // tier, agreement, training, suspend, reactivate, offboard
	form   url.Values
	// A change answers 303 to ?done=<done> and writes one audit event
	// with this action; a refusal answers 422 showing message.
	done      string
	audit     models.Action
	message   string
	errorKey  string // the form the message belongs to; "" for the top of the page
	check     func(s models.Staff) error
	before    map[string]any // expected before/after fields of the audit detail
	after     map[string]any
	reasonLog string // the audit reason
	// proposal: the POST proposes the change (303 to the proposal, one
	// proposal.created event, nothing changed); a second sysadmin's
	// approval then makes it, and the checks above apply to that.
	proposal bool
}

func TestStaffChanges(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		p := newPortal(t, db)
		ada := noRedirect(p.login("ada.sysadmin@example.com"))
		second := p.secondSysadmin()
		eveBrowser := p.login("eve.engineer@example.com")
		eve := p.staff("eve.engineer@example.com")
		today := p.clock.Now().UTC().Format(time.DateOnly)
		tomorrow := p.clock.Now().UTC().AddDate(0, 0, 1).Format(time.DateOnly)
		lastWeek := p.clock.Now().UTC().AddDate(0, 0, -7).Format(time.DateOnly)
		is := func(tier policy.Tier, status models.Status) func(models.Staff) error {
			return func(s models.Staff) error {
				if s.Tier != tier || s.Status != status {
					return fmt.Errorf("tier %s status %s, want %s %s", s.Tier, s.Status, tier, status)
				}
				return nil
			}
		}
		steps := []step{
			{name: "tier unknown", action: "tier", form: url.Values{"tier": {"root"}}, errorKey: "tier", message: "Choose a role from the list."},
			{name: "tier same", action: "tier", form: url.Values{"tier": {"engineer"}, "reason": {tierReason}}, errorKey: "tier", message: "is already engineer"},
			{name: "tier without reason", action: "tier", form: url.Values{"tier": {"senior"}}, errorKey: "tier", message: "why this change is needed"},
			// A tier change is proposed by ada and applied by a second sysadmin.
			{name: "tier", action: "tier", form: url.Values{"tier": {"senior"}, "reason": {tierReason}}, proposal: true, audit: models.ActionStaffTierChanged,
				check:  is(policy.TierSenior, models.StatusActive),
				before: map[string]any{"tier": "engineer", "status": "active"}, after: map[string]any{"tier": "senior", "status": "active"}},
			{name: "agreement in the future", action: "agreement", form: url.Values{"version": {"2026-2"}, "signed": {tomorrow}}, errorKey: "agreement", message: "The date cannot be in the future."},
			{name: "agreement bad date", action: "agreement", form: url.Values{"version": {"2026-2"}, "signed": {"31/12/2025"}}, errorKey: "agreement", message: "Enter a date as YYYY-MM-DD."},
			{name: "agreement no version", action: "agreement", form: url.Values{"version": {" "}, "signed": {today}}, errorKey: "agreement", message: "Enter the agreement version."},
			{name: "agreement", action: "agreement", form: url.Values{"version": {"2026-2"}, "signed": {lastWeek}}, done: "agreement", audit: models.ActionStaffAgreementRecorded,
				check: func(s models.Staff) error {
					if s.AgreementVersion != "2026-2" || s.AgreementSignedAt == nil || s.AgreementSignedAt.UTC().Format(time.DateOnly) != lastWeek {
						return fmt.Errorf("agreement %q signed %v, want 2026-2 on %s", s.AgreementVersion, s.AgreementSignedAt, lastWeek)
					}
					return nil
				},
				before: map[string]any{"agreement_version": "2026-1"}, after: map[string]any{"agreement_version": "2026-2", "agreement_signed": lastWeek}},
			{name: "training in the future", action: "training", form: url.Values{"completed": {tomorrow}}, errorKey: "training", message: "The date cannot be in the future."},
			{name: "training bad date", action: "training", form: url.Values{"completed": {"yesterday"}}, errorKey: "training", message: "Enter a date as YYYY-MM-DD."},
			{name: "training", action: "training", form: url.Values{"completed": {today}}, done: "training", audit: models.ActionStaffTrainingRecorded,
				check: func(s models.Staff) error {
					if s.TrainingAt == nil || s.TrainingAt.UTC().Format(time.DateOnly) != today {
						return fmt.Errorf("training %v, want %s", s.TrainingAt, today)
					}
					return nil
				},
				after: map[string]any{"training": today}},
			{name: "reactivate while active", action: "reactivate", form: url.Values{"reason": {"back from leave"}}, errorKey: "", message: "is active, not suspended"},
			{name: "suspend without reason", action: "suspend", form: url.Values{}, errorKey: "suspend", message: "Give a reason (5 to 500 characters)."},
			{name: "suspend with a too short reason", action: "suspend", form: url.Values{"reason": {" x "}}, errorKey: "suspend", message: "Give a reason (5 to 500 characters)."},
			{name: "suspend", action: "suspend", form: url.Values{"reason": {"laptop stolen"}}, done: "suspended", audit: models.ActionStaffSuspended,
				check: is(policy.TierSenior, models.StatusSuspended), reasonLog: "laptop stolen",
				before: map[string]any{"status": "active"}, after: map[string]any{"status": "suspended"}},
			{name: "suspend again", action: "suspend", form: url.Values{"reason": {"laptop stolen"}}, errorKey: "", message: "is suspended, not active"},
			{name: "reactivate without reason", action: "reactivate", form: url.Values{"reason": {""}}, errorKey: "reactivate", message: "Give a reason (5 to 500 characters)."},
			{name: "reactivate", action: "reactivate", form: url.Values{"reason": {"laptop recovered"}}, done: "reactivated", audit: models.ActionStaffReactivated,
				check: is(policy.TierSenior, models.StatusActive), reasonLog: "laptop recovered",
				before: map[string]any{"status": "suspended"}, after: map[string]any{"status": "active"}},
			{name: "offboard without reason", action: "offboard", form: url.Values{"confirm": {"eve.engineer@example.com"}}, errorKey: "offboard", message: "Give a reason (5 to 500 characters)."},
			{name: "offboard without confirmation", action: "offboard", form: url.Values{"reason": {"left the company"}}, errorKey: "offboard", message: "Type the person&#39;s email address to confirm."},
			{name: "offboard confirming someone else", action: "offboard", form: url.Values{"reason": {"left the company"}, "confirm": {"sam.support@example.com"}}, errorKey: "offboard", message: "Type the person&#39;s email address to confirm."},
			{name: "offboard", action: "offboard", form: url.Values{"reason": {"left the company"}, "confirm": {" Eve.Engineer@example.com "}}, done: "offboarded", audit: models.ActionStaffOffboarded,
				check: func(s models.Staff) error {
					if s.Status != models.StatusOffboarded || s.OffboardedAt == nil {
						return fmt.Errorf("status %s offboarded_at %v, want offboarded with a time", s.Status, s.OffboardedAt)
					}
					return nil
				},
				reasonLog: "left the company", before: map[string]any{"status": "active"}, after: map[string]any{"status": "offboarded"}},
			// An offboarded person's record is final.
			{name: "tier after offboarding", action: "tier", form: url.Values{"tier": {"sysadmin"}, "reason": {tierReason}}, errorKey: "", message: "is offboarded"},
			{name: "agreement after offboarding", action: "agreement", form: url.Values{"version": {"2026-3"}, "signed": {today}}, errorKey: "", message: "is offboarded"},
			{name: "training after offboarding", action: "training", form: url.Values{"completed": {today}}, errorKey: "", message: "is offboarded"},
			{name: "suspend after offboarding", action: "suspend", form: url.Values{"reason": {"just in case"}}, errorKey: "", message: "is offboarded, not active"},
			{name: "reactivate after offboarding", action: "reactivate", form: url.Values{"reason": {"came back"}}, errorKey: "", message: "is offboarded, not suspended"},
			{name: "offboard again", action: "offboard", form: url.Values{"reason": {"left the company"}, "confirm": {"eve.engineer@example.com"}}, errorKey: "", message: "is already offboarded"},
		}
		for _, st := range steps {
			before := p.staff(eve.Email)
			eventsBefore := p.staffEvents(eve.Email)
			auditBefore := p.count("audit_events", "")
			res, body := p.post(ada, staffURL(eve.ID, st.action), st.form)
			actor := "ada.sysadmin@example.com"
			if st.proposal {
				page := proposalLocation.FindStringSubmatch(res.Header.Get("Location"))
				if res.StatusCode != http.StatusSeeOther || page == nil {
					t.Errorf("%s: POST = %d to %q, want 303 to a proposal", st.name, res.StatusCode, res.Header.Get("Location"))
					continue
				}
				if got := p.staff(eve.Email); !reflect.DeepEqual(got, before) || p.count("audit_events", "") != auditBefore+1 {
					t.Errorf("%s: the proposal changed the record or wrote more than its event", st.name)
				}
				p.approveProposal(second, page[1])
				// The approval writes proposal.approved too (not on eve).
				auditBefore++
				auditBefore++
				actor = "stranger@example.com"
				st.done = "-"
			}
			after := p.staff(eve.Email)
			events := p.staffEvents(eve.Email)
			if st.done == "" {
				if res.StatusCode != http.StatusUnprocessableEntity {
					t.Errorf("%s: POST = %d, want 422", st.name, res.StatusCode)
					continue
				}
				if !strings.Contains(body, `data-testid="error-`+st.errorKey+`"`) || !strings.Contains(body, st.message) {
					t.Errorf("%s: 422 page lacks error-%s with %q", st.name, st.errorKey, st.message)
				}
				if !strings.Contains(body, `data-testid="status"`) {
					t.Errorf("%s: 422 answer is not the staff page", st.name)
				}
				if !reflect.DeepEqual(after, before) {
					t.Errorf("%s: a refused change changed the record:\n got %+v\nwant %+v", st.name, after, before)
				}
				if n := p.count("audit_events", ""); n != auditBefore {
					t.Errorf("%s: audit events %d after a refusal, want %d", st.name, n, auditBefore)
				}
				continue
			}
			if want := staffURL(eve.ID, "") + "?done=" + st.done; !st.proposal && (res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != want) {
				t.Errorf("%s: POST = %d to %q, want 303 to %q:\n%s", st.name, res.StatusCode, res.Header.Get("Location"), want, body)
				continue
			}
			if err := st.check(after); err != nil {
				t.Errorf("%s: %v", st.name, err)
			}
			if n := p.count("audit_events", ""); n != auditBefore+1 || len(events) != len(eventsBefore)+1 {
				t.Errorf("%s: %d new audit events, want exactly 1", st.name, n-auditBefore)
				continue
			}
			ev := events[len(events)-1]
			if ev.Action != st.audit || ev.Actor != actor || ev.ActorTier != "sysadmin" || ev.Target != eve.Email ||
				ev.Reason != st.reasonLog || ev.RequestID == "" || ev.IP == "" {
				t.Errorf("%s: audit event %+v, want %s by %s (sysadmin) on %s, reason %q, with request id and IP", st.name, ev, st.audit, actor, eve.Email, st.reasonLog)
			}
			d := parseDetail(t, ev)
			if d.Before == nil || d.After == nil {
				t.Errorf("%s: audit detail %s lacks before or after", st.name, ev.Detail)
			}
			for k, v := range st.before {
				if d.Before[k] != v {
					t.Errorf("%s: audit before[%s] = %v, want %v", st.name, k, d.Before[k], v)
				}
			}
			for k, v := range st.after {
				if d.After[k] != v {
					t.Errorf("%s: audit after[%s] = %v, want %v", st.name, k, d.After[k], v)
				}
			}
		}
		// Eve's browser was signed out by the suspension and stays out.
		if res, _ := p.get(eveBrowser, "/"); res.Request.URL.Path != "/login" {
			t.Errorf("eve's session after suspension ended at %s, want /login", res.Request.URL)
		}
		if n := p.count("sessions", "staff_id = ? AND ended_at IS NULL", eve.ID); n != 0 {
			t.Errorf("eve's open sessions = %d, want 0", n)
		}
		// The page of an offboarded person offers no changes.
		if _, body := p.get(ada, staffURL(eve.ID, "")); strings.Contains(body, `action="`+staffURL(eve.ID, "tier")+`"`) {
			t.Error("an offboarded person's page still offers a tier change")
		}
	})
}

// Offboarding ends every session of the person at once.
func TestStaffOffboardEndsSessions(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		p := newPortal(t, db)
		ada := noRedirect(p.login("ada.sysadmin@example.com"))
		sam1, sam2 := p.login("sam.support@example.com"), p.login("sam.support@example.com")
		sam := p.staff("sam.support@example.com")
		if _, body := p.get(ada, staffURL(sam.ID, "")); !strings.Contains(body, `data-testid="sessions">2<`) {
			t.Error("staff page does not show Sam's 2 open sessions")
		}
		res, _ := p.post(ada, staffURL(sam.ID, "offboard"), url.Values{"reason": {"left the company"}, "confirm": {sam.Email}})
		if res.StatusCode != http.StatusSeeOther {
			t.Fatalf("offboard = %d, want 303", res.StatusCode)
		}
		if n := p.count("sessions", "staff_id = ? AND ended_at IS NULL", sam.ID); n != 0 {
			t.Errorf("sam's open sessions = %d, want 0", n)
		}
		if n := p.count("sessions", "staff_id = ? AND end_reason = ?", sam.ID, "offboarded"); n != 2 {
			t.Errorf("sessions ended as offboarded = %d, want 2", n)
		}
		for i, c := range []*http.Client{sam1, sam2} {
			if res, _ := p.get(c, "/"); res.Request.URL.Path != "/login" {
				t.Errorf("sam's browser %d ended at %s, want /login", i+1, res.Request.URL)
			}
		}
		// Nobody else was signed out.
		if res, _ := p.get(ada, "/"); res.StatusCode != http.StatusOK {
			t.Errorf("ada's dashboard after offboarding sam = %d, want 200", res.StatusCode)
		}
		// And Sam cannot sign in again.
		res, _ = p.post(p.client(), "/dev/login", url.Values{"email": {sam.Email}})
		if res.StatusCode != http.StatusForbidden || p.count("sessions", "staff_id = ? AND ended_at IS NULL", sam.ID) != 0 {
			t.Errorf("sign-in after offboarding = %d, want 403 and no session", res.StatusCode)
		}
	})
}

func TestStaffCannotChangeOwnRecord(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		p := newPortal(t, db)
		adaBrowser := noRedirect(p.login("ada.sysadmin@example.com"))
		ada := p.staff("ada.sysadmin@example.com")
		if _, body := p.get(adaBrowser, staffURL(ada.ID, "")); !strings.Contains(body, "This is your own record") ||
			strings.Contains(body, `action="`+staffURL(ada.ID, "tier")+`"`) {
			t.Error("own staff page offers changes")
		}
		tests := []struct {
			action string
			form   url.Values
		}{
			{"tier", url.Values{"tier": {"auditor"}}},
			{"agreement", url.Values{"version": {"2026-9"}, "signed": {p.clock.Now().Format(time.DateOnly)}}},
			{"training", url.Values{"completed": {p.clock.Now().Format(time.DateOnly)}}},
			{"suspend", url.Values{"reason": {"testing myself"}}},
			{"reactivate", url.Values{"reason": {"testing myself"}}},
			{"offboard", url.Values{"reason": {"testing myself"}, "confirm": {ada.Email}}},
		}
		auditBefore := p.count("audit_events", "")
		for _, tt := range tests {
			res, body := p.post(adaBrowser, staffURL(ada.ID, tt.action), tt.form)
			if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "You cannot change your own access. Ask another sysadmin.") {
				t.Errorf("POST own %s = %d, want 422 saying another sysadmin must do it", tt.action, res.StatusCode)
			}
		}
		if got := p.staff(ada.Email); !reflect.DeepEqual(got, ada) {
			t.Errorf("own record changed:\n got %+v\nwant %+v", got, ada)
		}
		if n := p.count("audit_events", ""); n != auditBefore {
			t.Errorf("audit events = %d, want %d", n, auditBefore)
		}
	})
}

func TestStaffUnknownID(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		p := newPortal(t, db)
		ada := noRedirect(p.login("ada.sysadmin@example.com"))
		for _, path := range []string{"/staff/999999", "/staff/0", "/staff/-1", "/staff/abc"} {
			if res, _ := p.get(ada, path); res.StatusCode != http.StatusNotFound {
				t.Errorf("GET %s = %d, want 404", path, res.StatusCode)
			}
		}
		forms := map[string]url.Values{
			"tier": {"tier": {"senior"}}, "suspend": {"reason": {"a good reason"}},
			"offboard": {"reason": {"a good reason"}, "confirm": {"x@example.com"}},
		}
		for action, form := range forms {
			if res, _ := p.post(ada, "/staff/999999/"+action, form); res.StatusCode != http.StatusNotFound {
				t.Errorf("POST /staff/999999/%s = %d, want 404", action, res.StatusCode)
			}
		}
	})
}

// stepUpActions are the changes that need a recent sign-in, each made
// on a person in the state the change applies to.
var stepUpActions = []struct {
	action, email string
	form          url.Values
}{
	{"tier", "eve.engineer@example.com", url.Values{"tier": {"sysadmin"}, "reason": {tierReason}}},
	{"offboard", "sam.support@example.com", url.Values{"reason": {"left the company"}, "confirm": {"sam.support@example.com"}}},
	{"reactivate", "sean.senior@example.com", url.Values{"reason": {"back from leave"}}},
}

// suspendSean puts sean.senior in the suspended state reactivate needs.
func suspendSean(t *testing.T, p *testPortal) {
	t.Helper()
	if err := models.Suspend(context.Background(), p.db.Write, models.Act{Now: p.clock.Now(), By: models.Actor{Email: "test"}}, p.staff("sean.senior@example.com").ID, "on leave"); err != nil {
		t.Fatal(err)
	}
}

func TestStaffStepUpRequired(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		p := newPortal(t, db)
		suspendSean(t, p)
		ada := noRedirect(p.login("ada.sysadmin@example.com"))
		eve := p.staff("eve.engineer@example.com")
		// Within the window the page says nothing about signing in again.
		if _, body := p.get(ada, staffURL(eve.ID, "")); strings.Contains(body, "within the last 15 minutes") {
			t.Error("a fresh sign-in is told it will need to sign in again")
		}
		// 16 minutes on, with the session kept alive (idle timeout is 30m).
		p.clock.Advance(8 * time.Minute)
		if res, _ := p.get(ada, "/"); res.StatusCode != http.StatusOK {
			t.Fatalf("dashboard after 8 minutes = %d, want 200", res.StatusCode)
		}
		p.clock.Advance(8 * time.Minute)
		if _, body := p.get(ada, staffURL(eve.ID, "")); !strings.Contains(body, "within the last 15 minutes") {
			t.Error("staff page after 16 minutes does not warn that changes need a new sign-in")
		}
		for _, a := range stepUpActions {
			target := p.staff(a.email)
			auditBefore := p.count("audit_events", "")
			res, body := p.post(ada, staffURL(target.ID, a.action), a.form)
			if res.StatusCode != http.StatusUnauthorized || !strings.Contains(body, `data-testid="step-up"`) || !strings.Contains(body, "Confirm it is you") {
				t.Errorf("stale POST %s = %d, want 401 with the step-up page", a.action, res.StatusCode)
			}
			if !strings.Contains(body, `name="step_up" value="1"`) {
				t.Errorf("stale POST %s: step-up page has no step-up form", a.action)
			}
			if got := p.staff(a.email); !reflect.DeepEqual(got, target) {
				t.Errorf("stale POST %s changed the record:\n got %+v\nwant %+v", a.action, got, target)
			}
			if n := p.count("audit_events", ""); n != auditBefore {
				t.Errorf("stale POST %s: audit events %d, want %d", a.action, n, auditBefore)
			}
		}
		// The session itself is still good for what needs no step-up.
		res, _ := p.post(ada, staffURL(eve.ID, "training"), url.Values{"completed": {p.clock.Now().Format(time.DateOnly)}})
		if res.StatusCode != http.StatusSeeOther {
			t.Errorf("stale POST training = %d, want 303 (no step-up needed)", res.StatusCode)
		}
	})
}

// staleSession starts a session for a staff member whose last sign-in at
// the identity provider was age ago, as if the portal's clock had moved on
// since, and returns a browser holding it. (The development provider
// stamps tokens with real time, so advancing the fake clock past a real
// login would make the step-up's fresh token look implausibly old.)
func staleSession(t *testing.T, p *testPortal, email string, age time.Duration) *http.Client {
	t.Helper()
	s := p.staff(email)
	if s.OIDCSubject == nil {
		t.Fatalf("%s has never signed in; log in once first so the identity is linked", email)
	}
	token := models.NewToken()
	in := models.LoginInput{Staff: s, Issuer: *s.OIDCIssuer, Subject: *s.OIDCSubject,
		SessionHash: models.TokenHash(p.opts.SessionKey, token), AuthAt: p.clock.Now().Add(-age)}
	if err := models.Login(context.Background(), p.db.Write, p.clock.Now(), models.Actor{Email: email, Tier: string(s.Tier)}, in); err != nil {
		t.Fatal(err)
	}
	c := p.client()
	u, _ := url.Parse(p.srv.URL)
	c.Jar.SetCookies(u, []*http.Cookie{{Name: "gatehouse_session", Value: token, Path: "/"}})
	return c
}

func TestStaffStepUpFlow(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		p := newPortal(t, db)
		suspendSean(t, p)
		p.login("ada.sysadmin@example.com") // links Ada's identity
		for _, a := range stepUpActions {
			t.Run(a.action, func(t *testing.T) {
				browser := staleSession(t, p, "ada.sysadmin@example.com", 16*time.Minute)
				target := p.staff(a.email)
				path := staffURL(target.ID, a.action)
				if res, _ := p.post(noRedirect(browser), path, a.form); res.StatusCode != http.StatusUnauthorized {
					t.Fatalf("POST %s with a 16-minute-old sign-in = %d, want 401", a.action, res.StatusCode)
				}
				if got := p.staff(a.email); !reflect.DeepEqual(got, target) {
					t.Fatalf("POST %s before step-up changed the record", a.action)
				}
				// The step-up page's form: a new OIDC round trip that asks
				// the provider to authenticate again, back to the staff page.
				logins := p.count("audit_events", "action = ? AND actor = ?", models.ActionLoginSucceeded, "ada.sysadmin@example.com")
				stepUps := p.count("audit_events", "action = ? AND actor = ? AND detail LIKE ?", models.ActionLoginSucceeded, "ada.sysadmin@example.com", `%"step_up":true%`)
				res, body := p.post(browser, "/login", url.Values{"step_up": {"1"}, "return_to": {staffURL(target.ID, "")}})
				if res.StatusCode != http.StatusOK || res.Request.URL.Path != staffURL(target.ID, "") {
					t.Fatalf("step-up ended at %s with %d, want the staff page:\n%s", res.Request.URL, res.StatusCode, body)
				}
				if strings.Contains(body, "within the last 15 minutes") {
					t.Error("after step-up the page still says a new sign-in is needed")
				}
				if n := p.count("audit_events", "action = ? AND actor = ? AND detail LIKE ?", models.ActionLoginSucceeded, "ada.sysadmin@example.com", `%"step_up":true%`); n != stepUps+1 {
					t.Errorf("step-up login events = %d, want %d", n, stepUps+1)
				}
				if n := p.count("audit_events", "action = ? AND actor = ?", models.ActionLoginSucceeded, "ada.sysadmin@example.com"); n != logins+1 {
					t.Errorf("login events = %d, want %d", n, logins+1)
				}
				// The stale session was replaced, not left open beside the new one.
				if n := p.count("sessions", "end_reason = ?", "replaced"); n < 1 {
					t.Errorf("replaced sessions = %d, want the stale one ended", n)
				}
				auditBefore := p.count("audit_events", "")
				res, _ = p.post(noRedirect(browser), path, a.form)
				if res.StatusCode != http.StatusSeeOther {
					t.Fatalf("POST %s after step-up = %d, want 303", a.action, res.StatusCode)
				}
				if a.action == "tier" {
					// A tier change is proposed: one event, nothing changed yet.
					if !proposalLocation.MatchString(res.Header.Get("Location")) || p.count("audit_events", "") != auditBefore+1 ||
						p.count("audit_events", "action = ?", models.ActionProposalCreated) != 1 || !reflect.DeepEqual(p.staff(a.email), target) {
						t.Errorf("tier proposal after step-up: to %q, want a proposal, one proposal.created event and no change", res.Header.Get("Location"))
					}
					return
				}
				evs := p.staffEvents(a.email)
				if ev := evs[len(evs)-1]; ev.Actor != "ada.sysadmin@example.com" || ev.Target != a.email {
					t.Errorf("last audit event on %s = %+v, want ada's change", a.email, ev)
				} else if d := parseDetail(t, ev); d.Before == nil || d.After == nil || reflect.DeepEqual(d.Before, d.After) {
					t.Errorf("audit detail %s, want differing before and after", ev.Detail)
				}
				if n := p.count("audit_events", ""); n != auditBefore+1 {
					t.Errorf("audit events written = %d, want 1", n-auditBefore)
				}
				if got := p.staff(a.email); reflect.DeepEqual(got, target) {
					t.Errorf("POST %s after step-up changed nothing", a.action)
				}
			})
		}
		// The step-up confirms the signed-in person, not someone else:
		// anonymous browsers cannot start one.
		res, _ := p.post(noRedirect(p.client()), "/login", url.Values{"step_up": {"1"}})
		if res.StatusCode != http.StatusUnauthorized {
			t.Errorf("anonymous step-up = %d, want 401", res.StatusCode)
		}
	})
}

// A tier change racing with an offboarding must not bring the leaver
// back: the change reads the record under a row lock. PostgreSQL only (on
// SQLite a single connection writes, so the two cannot interleave).
func TestStaffChangeRacingOffboarding(t *testing.T) {
	db := dbtest.Postgres(t)
	p := newPortal(t, db)
	ada := noRedirect(p.login("ada.sysadmin@example.com"))
	eve := p.staff("eve.engineer@example.com")
	ctx := context.Background()

	// Another replica is in the middle of offboarding Eve.
	tx := db.Write.Begin()
	if err := models.Offboard(ctx, tx, models.Act{Now: p.clock.Now(), By: models.Actor{Email: "otto.sysadmin@example.com"}}, eve.ID, "left the company"); err != nil {
		tx.Rollback()
		t.Fatal(err)
	}
	type answer struct {
		status int
		body   string
	}
	answers := make(chan answer, 1)
	go func() {
		res, body := p.post(ada, staffURL(eve.ID, "tier"), url.Values{"tier": {"sysadmin"}, "reason": {tierReason}})
		answers <- answer{res.StatusCode, body}
	}()
	// Wait until the tier change waits for the offboarding's row lock.
	waitForLockWait(t, db, tx.Rollback)
	if err := tx.Commit().Error; err != nil {
		t.Fatal(err)
	}
	a := <-answers
	if a.status != http.StatusUnprocessableEntity || !strings.Contains(a.body, "is offboarded") {
		t.Errorf("racing tier change = %d, want 422 (offboarded)", a.status)
	}
	got := p.staff(eve.Email)
	if got.Status != models.StatusOffboarded || got.OffboardedAt == nil || got.Tier != policy.TierEngineer {
		t.Errorf("after the race eve is %s/%s (offboarded_at %v), want offboarded engineer", got.Status, got.Tier, got.OffboardedAt)
	}
}

// Two sysadmins adding the same person at once: the second gets the
// duplicate message, not a server error. PostgreSQL only, as above.
func TestStaffAddRacingDuplicate(t *testing.T) {
	db := dbtest.Postgres(t)
	p := newPortal(t, db)
	ada := noRedirect(p.login("ada.sysadmin@example.com"))
	ctx := context.Background()

	tx := db.Write.Begin()
	if _, err := models.CreateStaff(ctx, tx, p.clock.Now(), models.Actor{Email: "otto.sysadmin@example.com"},
		models.Staff{Email: "twin@example.com", Name: "First Twin", Tier: policy.TierSupport}); err != nil {
		tx.Rollback()
		t.Fatal(err)
	}
	type answer struct {
		status int
		body   string
	}
	answers := make(chan answer, 1)
	go func() {
		res, body := p.post(ada, "/staff", url.Values{"email": {"twin@example.com"}, "name": {"Second Twin"}, "tier": {"sysadmin"}})
		answers <- answer{res.StatusCode, body}
	}()
	waitForLockWait(t, db, tx.Rollback)
	if err := tx.Commit().Error; err != nil {
		t.Fatal(err)
	}
	a := <-answers
	if a.status != http.StatusUnprocessableEntity || !strings.Contains(a.body, "A staff member with this address exists already.") {
		t.Errorf("racing duplicate add = %d, want 422 with the duplicate message", a.status)
	}
	if got := p.staff("twin@example.com"); got.Name != "First Twin" || got.Tier != policy.TierSupport {
		t.Errorf("twin = %s (%s), want the first add kept", got.Name, got.Tier)
	}
	if n := p.count("audit_events", "target = ?", "twin@example.com"); n != 1 {
		t.Errorf("audit events for twin = %d, want 1", n)
	}
}

// waitForLockWait returns once some session of db's database waits for a
// lock; on timeout it calls abort and fails the test.
func waitForLockWait(t *testing.T, db *models.DB, abort func() *gorm.DB) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		var waiting int64
		if err := db.Read.Raw("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'").Scan(&waiting).Error; err != nil {
			abort()
			t.Fatal(err)
		}
		if waiting > 0 {
			return
		}
		if time.Now().After(deadline) {
			abort()
			t.Fatal("no session waited for the open transaction's lock within 10s")
		}
	}
}
