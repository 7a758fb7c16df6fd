package models_test

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/models/dbtest"
	"gatehouse/policy"
)

// proposalRig is the demo staff, a third sysadmin (zoe) and a live grant
// of sara's, which a demotion to support would end.
type proposalRig struct {
	db    *models.DB
	now   time.Time
	ids   map[string]int64
	grant int64
}

func newProposalRig(t *testing.T, db *models.DB) *proposalRig {
	t.Helper()
	ctx := context.Background()
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	ids := incidentStaff(t, db, now)
	zoe, err := models.CreateStaff(ctx, db.Write, now, models.Actor{Email: "test"}, models.Staff{Email: "zoe.sysadmin@example.com", Name: "Zoe", Tier: policy.TierSysadmin})
	if err != nil {
		t.Fatal(err)
	}
	ids["zoe.sysadmin"] = zoe.ID
	g := models.Grant{Workspace: "acme", GranteeID: ids["sara.senior"], Mode: models.ModeMasked, StartsAt: now.Add(-time.Hour), EndsAt: now.Add(time.Hour), CreatedAt: now}
	if err := db.Write.Create(&g).Error; err != nil {
		t.Fatal(err)
	}
	return &proposalRig{db: db, now: now, ids: ids, grant: g.ID}
}

func (r *proposalRig) act(who string) models.Act {
	return models.Act{Now: r.now, By: models.Actor{Email: who + "@example.com", Tier: "sysadmin"}}
}

// proposeSara proposes, as ada, to make sara support.
func (r *proposalRig) proposeSara(t *testing.T) models.Proposal {
	t.Helper()
	p, err := models.Propose(context.Background(), r.db.Write, r.act("ada.sysadmin"), models.ProposalInput{
		Kind:    models.KindStaffTier,
		Payload: models.StaffTierChange{StaffID: r.ids["sara.senior"], Tier: policy.TierSupport},
		Reason:  "Sara moves to the first-line support team.",
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// state is sara's tier, whether her grant is live, and the number of
// tier-change and grant-end events.
func (r *proposalRig) state(t *testing.T) (policy.Tier, bool, int64, int64) {
	t.Helper()
	ctx := context.Background()
	s, err := models.FindStaff(ctx, r.db.Read, r.ids["sara.senior"])
	if err != nil {
		t.Fatal(err)
	}
	var g models.Grant
	if err := r.db.Read.Where("id = ?", r.grant).Take(&g).Error; err != nil {
		t.Fatal(err)
	}
	return s.Tier, g.EndedAt == nil, r.count(t, models.ActionStaffTierChanged), r.count(t, models.ActionGrantEnded)
}

func (r *proposalRig) count(t *testing.T, a models.Action) int64 {
	t.Helper()
	var n int64
	if err := r.db.Read.Model(&models.AuditEvent{}).Where("action = ?", a).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

// checkInert fails unless sara is still senior with her grant live and
// no tier change or grant end was recorded.
func (r *proposalRig) checkInert(t *testing.T, when string) {
	t.Helper()
	if tier, live, changes, ends := r.state(t); tier != policy.TierSenior || !live || changes != 0 || ends != 0 {
		t.Errorf("%s: sara is %s, grant live %t, %d tier changes, %d grant ends; want senior, live, 0, 0", when, tier, live, changes, ends)
	}
}

// lastEvent is the newest event of action.
func (r *proposalRig) lastEvent(t *testing.T, a models.Action) (models.AuditEvent, map[string]json.RawMessage) {
	t.Helper()
	var ev models.AuditEvent
	if err := r.db.Read.Where("action = ?", a).Order("seq DESC").Take(&ev).Error; err != nil {
		t.Fatalf("%s event: %v", a, err)
	}
	var d map[string]json.RawMessage
	if err := json.Unmarshal([]byte(ev.Detail), &d); err != nil {
		t.Fatalf("%s detail %q: %v", a, ev.Detail, err)
	}
	return ev, d
}

func TestProposalInertUntilApproved(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		r := newProposalRig(t, db)
		p := r.proposeSara(t)
		if p.Status != models.ProposalPending || p.Subject != "sara.senior@example.com" || p.Before != `{"tier":"senior","status":"active"}` {
			t.Errorf("proposal = %+v, want pending on sara against senior/active", p)
		}
		r.checkInert(t, "after the proposal")
		ev, d := r.lastEvent(t, models.ActionProposalCreated)
		if ev.Actor != "ada.sysadmin@example.com" || ev.Target != models.ProposalTarget(p.ID) || string(d["before"]) != p.Before ||
			string(d["after"]) != `{"staff_id":`+strconv.FormatInt(r.ids["sara.senior"], 10)+`,"tier":"support"}` {
			t.Errorf("proposal.created = %+v detail %s", ev, ev.Detail)
		}
		// A second pending proposal on sara is refused.
		_, err := models.Propose(ctx, db.Write, r.act("otto.sysadmin"), models.ProposalInput{
			Kind: models.KindStaffTier, Payload: models.StaffTierChange{StaffID: r.ids["sara.senior"], Tier: policy.TierAuditor}, Reason: "Sara should audit instead, I think.",
		})
		if !errors.Is(err, models.ErrConflict) {
			t.Errorf("second pending proposal on sara: %v, want ErrConflict", err)
		}
		// Only an active sysadmin proposes, with a reason and a real change.
		bad := []struct {
			name string
			who  string
			in   models.ProposalInput
			want error
		}{
			{"senior proposes", "sean.senior", models.ProposalInput{Kind: models.KindStaffTier, Payload: models.StaffTierChange{StaffID: r.ids["sam.support"], Tier: policy.TierSenior}, Reason: "Sam is ready for more."}, models.ErrProposalRefused},
			{"no reason", "ada.sysadmin", models.ProposalInput{Kind: models.KindStaffTier, Payload: models.StaffTierChange{StaffID: r.ids["sam.support"], Tier: policy.TierSenior}}, models.FieldErrors{}},
			{"same tier", "ada.sysadmin", models.ProposalInput{Kind: models.KindStaffTier, Payload: models.StaffTierChange{StaffID: r.ids["sam.support"], Tier: policy.TierSupport}, Reason: "Sam stays where he is."}, models.ErrConflict},
			{"unknown tier", "ada.sysadmin", models.ProposalInput{Kind: models.KindStaffTier, Payload: models.StaffTierChange{StaffID: r.ids["sam.support"], Tier: "root"}, Reason: "Sam gets everything now."}, models.FieldErrors{}},
			{"unknown staff", "ada.sysadmin", models.ProposalInput{Kind: models.KindStaffTier, Payload: models.StaffTierChange{StaffID: 999999, Tier: policy.TierSenior}, Reason: "Nobody gets promoted."}, models.ErrNotFound},
			{"unknown kind", "ada.sysadmin", models.ProposalInput{Kind: "staff.everything", Payload: map[string]any{}, Reason: "This kind does not exist."}, nil},
		}
		for _, tt := range bad {
			_, err := models.Propose(ctx, db.Write, r.act(tt.who), tt.in)
			var fe models.FieldErrors
			switch {
			case err == nil:
				t.Errorf("%s: accepted", tt.name)
			case tt.want == nil:
			case tt.name == "no reason" || tt.name == "unknown tier":
				if !errors.As(err, &fe) {
					t.Errorf("%s: %v, want FieldErrors", tt.name, err)
				}
			case !errors.Is(err, tt.want):
				t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
			}
		}
		if n := r.count(t, models.ActionProposalCreated); n != 1 {
			t.Errorf("%d proposal.created events, want 1", n)
		}
		r.checkInert(t, "after the refused proposals")
	})
}

func TestProposalApproveRejectWithdraw(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		r := newProposalRig(t, db)
		p := r.proposeSara(t)
		for _, who := range []string{"ada.sysadmin", "sean.senior", "nobody"} {
			if _, err := models.ApproveProposal(ctx, db.Write, nil, r.act(who), p.ID, ""); !errors.Is(err, models.ErrProposalRefused) {
				t.Errorf("approval by %s: %v, want ErrProposalRefused", who, err)
			}
			if _, err := models.RejectProposal(ctx, db.Write, r.act(who), p.ID, "I do not agree with this."); !errors.Is(err, models.ErrProposalRefused) {
				t.Errorf("rejection by %s: %v, want ErrProposalRefused", who, err)
			}
		}
		if _, err := models.WithdrawProposal(ctx, db.Write, r.act("otto.sysadmin"), p.ID); !errors.Is(err, models.ErrProposalRefused) {
			t.Errorf("withdrawal by otto: %v, want ErrProposalRefused", err)
		}
		if _, err := models.RejectProposal(ctx, db.Write, r.act("otto.sysadmin"), p.ID, ""); !errors.As(err, new(models.FieldErrors)) {
			t.Errorf("rejection without a note: %v, want FieldErrors", err)
		}
		r.checkInert(t, "after the refused steps")
		if got, err := models.FindProposal(ctx, db.Read, p.ID); err != nil || got.Status != models.ProposalPending {
			t.Fatalf("proposal after refused steps: %+v, %v; want pending", got, err)
		}

		got, err := models.ApproveProposal(ctx, db.Write, nil, r.act("otto.sysadmin"), p.ID, "Checked with her manager.")
		if err != nil || got.Status != models.ProposalApproved || got.DeciderEmail != "otto.sysadmin@example.com" {
			t.Fatalf("approval by otto: %+v, %v", got, err)
		}
		if tier, live, changes, ends := r.state(t); tier != policy.TierSupport || live || changes != 1 || ends != 1 {
			t.Errorf("after approval: sara %s, grant live %t, %d tier changes, %d grant ends; want support, ended, 1, 1", tier, live, changes, ends)
		}
		ev, d := r.lastEvent(t, models.ActionProposalApproved)
		if ev.Actor != "otto.sysadmin@example.com" || ev.Reason != "Checked with her manager." ||
			string(d["before"]) != `{"tier":"senior","status":"active"}` || string(d["proposer"]) != `"ada.sysadmin@example.com"` {
			t.Errorf("proposal.approved = %+v detail %s", ev, ev.Detail)
		}
		if tc, _ := r.lastEvent(t, models.ActionStaffTierChanged); tc.Actor != "otto.sysadmin@example.com" || tc.Target != "sara.senior@example.com" {
			t.Errorf("staff.tier_changed = %+v, want by otto on sara", tc)
		}
		// Decided: every later step is refused and changes nothing.
		for name, step := range map[string]func() error{
			"approve again": func() error {
				_, err := models.ApproveProposal(ctx, db.Write, nil, r.act("zoe.sysadmin"), p.ID, "")
				return err
			},
			"reject": func() error {
				_, err := models.RejectProposal(ctx, db.Write, r.act("zoe.sysadmin"), p.ID, "Too late, but I disagree.")
				return err
			},
			"withdraw": func() error {
				_, err := models.WithdrawProposal(ctx, db.Write, r.act("ada.sysadmin"), p.ID)
				return err
			},
		} {
			if err := step(); !errors.Is(err, models.ErrConflict) {
				t.Errorf("%s after approval: %v, want ErrConflict", name, err)
			}
		}
		if _, _, changes, _ := r.state(t); changes != 1 {
			t.Errorf("%d tier changes after the refused steps, want 1", changes)
		}

		// Rejected and withdrawn proposals apply nothing.
		for _, step := range []struct {
			name   string
			decide func(id int64) (models.Proposal, error)
			status models.ProposalStatus
			action models.Action
		}{
			{"reject", func(id int64) (models.Proposal, error) {
				return models.RejectProposal(ctx, db.Write, r.act("otto.sysadmin"), id, "Sam is not ready for customer data.")
			}, models.ProposalRejected, models.ActionProposalRejected},
			{"withdraw", func(id int64) (models.Proposal, error) {
				return models.WithdrawProposal(ctx, db.Write, r.act("ada.sysadmin"), id)
			}, models.ProposalWithdrawn, models.ActionProposalWithdrawn},
		} {
			q, err := models.Propose(ctx, db.Write, r.act("ada.sysadmin"), models.ProposalInput{
				Kind: models.KindStaffTier, Payload: models.StaffTierChange{StaffID: r.ids["sam.support"], Tier: policy.TierSenior}, Reason: "Sam takes on the senior rota.",
			})
			if err != nil {
				t.Fatal(err)
			}
			got, err := step.decide(q.ID)
			if err != nil || got.Status != step.status {
				t.Errorf("%s: %+v, %v", step.name, got, err)
			}
			if s, _ := models.FindStaff(ctx, db.Read, r.ids["sam.support"]); s.Tier != policy.TierSupport {
				t.Errorf("%s: sam is %s, want support", step.name, s.Tier)
			}
			if ev, _ := r.lastEvent(t, step.action); ev.Target != models.ProposalTarget(q.ID) {
				t.Errorf("%s: event %+v", step.name, ev)
			}
		}
		if _, _, changes, _ := r.state(t); changes != 1 {
			t.Errorf("%d tier changes after a rejection and a withdrawal, want 1", changes)
		}
	})
}

// A proposal whose subject changed between the proposal and the approval
// applies nothing and is marked stale.
func TestProposalStale(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		r := newProposalRig(t, db)
		p := r.proposeSara(t)
		// Changed directly meanwhile (the CLI's path): sara is an auditor.
		if err := models.SetTier(ctx, db.Write, r.act("otto.sysadmin"), r.ids["sara.senior"], policy.TierAuditor); err != nil {
			t.Fatal(err)
		}
		got, err := models.ApproveProposal(ctx, db.Write, nil, r.act("otto.sysadmin"), p.ID, "")
		if err != nil || got.Status != models.ProposalStale {
			t.Fatalf("approval of a stale proposal: %+v, %v; want stale", got, err)
		}
		if s, _ := models.FindStaff(ctx, db.Read, r.ids["sara.senior"]); s.Tier != policy.TierAuditor {
			t.Errorf("sara is %s after the stale approval, want auditor", s.Tier)
		}
		if n := r.count(t, models.ActionStaffTierChanged); n != 1 {
			t.Errorf("%d tier changes, want the direct one only", n)
		}
		if n := r.count(t, models.ActionProposalApproved); n != 0 {
			t.Errorf("%d proposal.approved events, want 0", n)
		}
		if ev, d := r.lastEvent(t, models.ActionProposalStale); ev.Actor != "otto.sysadmin@example.com" || len(d["why"]) == 0 {
			t.Errorf("proposal.stale = %+v", ev)
		}
		stored, err := models.FindProposal(ctx, db.Read, p.ID)
		if err != nil || stored.Status != models.ProposalStale || stored.DecisionNote == "" {
			t.Errorf("stored proposal %+v, %v; want stale with why", stored, err)
		}
		// Its subject is free for a new proposal.
		if _, err := models.Propose(ctx, db.Write, r.act("ada.sysadmin"), models.ProposalInput{
			Kind: models.KindStaffTier, Payload: models.StaffTierChange{StaffID: r.ids["sara.senior"], Tier: policy.TierSupport}, Reason: "Sara moves to support after all.",
		}); err != nil {
			t.Errorf("new proposal after the stale one: %v", err)
		}
	})
}

// Two sysadmins approving at once on two connections (two replicas): one
// wins, the change is applied once.
func TestProposalConcurrentApprovals(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			ctx := context.Background()
			dbA, dbB := twoWorkerDBs(t, engine)
			r := newProposalRig(t, dbA)
			for round := range 5 {
				p := r.proposeSara(t)
				var wg sync.WaitGroup
				results := make([]models.Proposal, 2)
				errs := make([]error, 2)
				for i, who := range []string{"otto.sysadmin", "zoe.sysadmin"} {
					db := []*models.DB{dbA, dbB}[i]
					wg.Go(func() { results[i], errs[i] = models.ApproveProposal(ctx, db.Write, nil, r.act(who), p.ID, "") })
				}
				wg.Wait()
				wins, conflicts := 0, 0
				for i, err := range errs {
					switch {
					case err == nil && results[i].Status == models.ProposalApproved:
						wins++
					case errors.Is(err, models.ErrConflict):
						conflicts++
					default:
						t.Errorf("round %d approval %d: %+v, %v", round, i, results[i], err)
					}
				}
				if wins != 1 || conflicts != 1 {
					t.Fatalf("round %d: %d won, %d conflicts; want 1 and 1", round, wins, conflicts)
				}
				if n := r.count(t, models.ActionStaffTierChanged); n != int64(2*round+1) {
					t.Fatalf("round %d: %d tier-change events, want %d", round, n, 2*round+1)
				}
				// Two proposals on sam at once: one is stored.
				errs = make([]error, 2)
				for i, who := range []string{"otto.sysadmin", "zoe.sysadmin"} {
					db := []*models.DB{dbA, dbB}[i]
					wg.Go(func() {
						_, errs[i] = models.Propose(ctx, db.Write, r.act(who), models.ProposalInput{
							Kind: models.KindStaffTier, Payload: models.StaffTierChange{StaffID: r.ids["sam.support"], Tier: policy.TierSenior}, Reason: "Sam takes on the senior rota.",
						})
					})
				}
				wg.Wait()
				if (errs[0] == nil) == (errs[1] == nil) || !errors.Is(errors.Join(errs...), models.ErrConflict) {
					t.Fatalf("round %d: concurrent proposals on sam: %v; want one stored and one ErrConflict", round, errs)
				}
				if err := dbA.Write.Exec("UPDATE policy_proposals SET status = 'withdrawn', decided_at = proposed_at WHERE status = 'pending'").Error; err != nil {
					t.Fatal(err)
				}
				// Back to senior for the next round, directly.
				if err := models.SetTier(ctx, dbA.Write, r.act("otto.sysadmin"), r.ids["sara.senior"], policy.TierSenior); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// TestProposalKindsForRolesAndScopes: creating a role, changing it and
// changing a person's scope are proposals too; each is inert until a
// second sysadmin approves it, and its proposer cannot.
func TestProposalKindsForRolesAndScopes(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		r := newProposalRig(t, db)
		def := policy.RoleDef{Name: "eu-billing", Description: "Billing questions, EU customers.", Permissions: []policy.Permission{policy.PortalEnter, policy.WorkspaceMetaRead}, Scope: "region=eu"}
		propose := func(kind models.ProposalKind, payload any) models.Proposal {
			t.Helper()
			p, err := models.Propose(ctx, db.Write, r.act("ada.sysadmin"), models.ProposalInput{Kind: kind, Payload: payload, Reason: "Billing support is split by region now."})
			if err != nil {
				t.Fatalf("propose %s: %v", kind, err)
			}
			return p
		}
		approve := func(p models.Proposal) {
			t.Helper()
			if _, err := models.ApproveProposal(ctx, db.Write, nil, r.act("ada.sysadmin"), p.ID, ""); !errors.Is(err, models.ErrProposalRefused) {
				t.Errorf("%s approved by its proposer: %v, want ErrProposalRefused", p.Kind, err)
			}
			got, err := models.ApproveProposal(ctx, db.Write, nil, r.act("otto.sysadmin"), p.ID, "")
			if err != nil || got.Status != models.ProposalApproved {
				t.Fatalf("approve %s: %+v, %v", p.Kind, got, err)
			}
		}

		create := propose(models.KindRoleCreate, models.NewRoleProposal(def))
		if _, err := models.FindRole(ctx, db.Read, "eu-billing"); !errors.Is(err, models.ErrNotFound) {
			t.Fatalf("the role exists before approval: %v", err)
		}
		// A bad role is refused when proposed, and nothing is stored.
		bad := def
		bad.Name, bad.Permissions = "too-much", append(bad.Permissions, policy.Permission{Object: "root", Action: "all"})
		if _, err := models.Propose(ctx, db.Write, r.act("ada.sysadmin"), models.ProposalInput{Kind: models.KindRoleCreate, Payload: models.NewRoleProposal(bad), Reason: "Give them everything, quickly."}); !errors.As(err, new(models.FieldErrors)) {
			t.Errorf("proposing an unknown permission: %v, want FieldErrors", err)
		}
		approve(create)
		role, err := models.FindRole(ctx, db.Read, "eu-billing")
		if err != nil || role.Scope != "region=eu" || role.Permissions != "portal:enter,workspace_meta:read" {
			t.Fatalf("created role = %+v, %v", role, err)
		}

		changed := def
		changed.Scope = "region=eu,uk"
		change := propose(models.KindRoleChange, models.NewRoleProposal(changed))
		if role, _ := models.FindRole(ctx, db.Read, "eu-billing"); role.Scope != "region=eu" {
			t.Errorf("the role changed before approval: scope %q", role.Scope)
		}
		approve(change)
		if role, _ := models.FindRole(ctx, db.Read, "eu-billing"); role.Scope != "region=eu,uk" {
			t.Errorf("after approval the role's scope is %q, want region=eu,uk", role.Scope)
		}

		// Sam holds no grant, so his scope change reads no registry.
		sam := r.ids["sam.support"]
		scope := propose(models.KindStaffScope, models.StaffScopeChange{StaffID: sam, Scope: "plan=enterprise"})
		if s, _ := models.FindStaff(ctx, db.Read, sam); s.Scope != "" {
			t.Errorf("sam's scope changed before approval: %q", s.Scope)
		}
		approve(scope)
		if s, _ := models.FindStaff(ctx, db.Read, sam); s.Scope != "plan=enterprise" {
			t.Errorf("after approval sam's scope is %q, want plan=enterprise", s.Scope)
		}
		var n int64
		if err := db.Read.Model(&models.AuditEvent{}).Where("action = ?", models.ActionStaffScopeChanged).Count(&n).Error; err != nil || n != 1 {
			t.Errorf("staff.scope_changed events = %d (%v), want 1", n, err)
		}
	})
}

// TestRoleDeletion: a custom role nobody holds is deleted by an approved
// proposal, audited with what it was; one held by someone active or
// suspended cannot be proposed for deletion, a proposal whose role was
// given to someone meanwhile goes stale, and a deleted role can no
// longer be given. A built-in tier is never deleted.
func TestRoleDeletion(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		r := newProposalRig(t, db)
		createRole(t, db, r.now, dataReader)
		propose := func(name string) (models.Proposal, error) {
			return models.Propose(ctx, db.Write, r.act("ada.sysadmin"), models.ProposalInput{
				Kind: models.KindRoleDelete, Payload: models.RoleDeletion{Name: name}, Reason: "Nobody reads data this way any more.",
			})
		}
		approve := func(p models.Proposal) models.Proposal {
			t.Helper()
			got, err := models.ApproveProposal(ctx, db.Write, nil, r.act("otto.sysadmin"), p.ID, "")
			if err != nil {
				t.Fatalf("approve %s: %v", p.Kind, err)
			}
			return got
		}
		sam := r.ids["sam.support"]
		setRole := func(role policy.Tier) error {
			return models.SetStaffRole(ctx, db.Write, nil, r.act("otto.sysadmin"), sam, role)
		}

		// Held by someone suspended: refused, nothing written.
		if err := setRole("data-reader"); err != nil {
			t.Fatal(err)
		}
		if err := models.Suspend(ctx, db.Write, r.act("otto.sysadmin"), sam, "On leave until the audit is over."); err != nil {
			t.Fatal(err)
		}
		seq := lastSeq(t, db)
		var ce *models.ConflictError
		if _, err := propose("data-reader"); !errors.As(err, &ce) || !strings.Contains(ce.Message, "give them another role first") {
			t.Errorf("proposing to delete a role a suspended person holds: %v, want a ConflictError", err)
		}
		if _, err := propose("senior"); !errors.As(err, new(models.FieldErrors)) {
			t.Errorf("proposing to delete the senior tier: %v, want FieldErrors", err)
		}
		if _, err := propose("no-such-role"); !errors.Is(err, models.ErrNotFound) {
			t.Errorf("proposing to delete a role that does not exist: %v, want ErrNotFound", err)
		}
		if got := lastSeq(t, db); got != seq {
			t.Errorf("refused proposals wrote %d audit events", got-seq)
		}

		// Nobody holds it, then sam is given it again before approval:
		// the proposal goes stale and the role stays.
		if err := models.Reactivate(ctx, db.Write, r.act("otto.sysadmin"), sam, "Back from leave, cleared again."); err != nil {
			t.Fatal(err)
		}
		if err := setRole(policy.TierSupport); err != nil {
			t.Fatal(err)
		}
		p, err := propose("data-reader")
		if err != nil {
			t.Fatal(err)
		}
		if err := setRole("data-reader"); err != nil {
			t.Fatal(err)
		}
		if got := approve(p); got.Status != models.ProposalStale {
			t.Errorf("a deletion approved after the role was given to sam: %s, want stale", got.Status)
		}
		if _, err := models.FindRole(ctx, db.Read, "data-reader"); err != nil {
			t.Errorf("the role after a stale deletion: %v", err)
		}

		// Nobody holds it: approved, deleted, audited, and no longer given.
		if err := setRole(policy.TierSupport); err != nil {
			t.Fatal(err)
		}
		if p, err = propose("data-reader"); err != nil {
			t.Fatal(err)
		}
		if _, err := models.FindRole(ctx, db.Read, "data-reader"); err != nil {
			t.Errorf("the role was deleted before approval: %v", err)
		}
		seq = lastSeq(t, db)
		if got := approve(p); got.Status != models.ProposalApproved {
			t.Fatalf("deletion: %s, want approved", got.Status)
		}
		if _, err := models.FindRole(ctx, db.Read, "data-reader"); !errors.Is(err, models.ErrNotFound) {
			t.Errorf("the role after its deletion: %v, want ErrNotFound", err)
		}
		wantEvents(t, db, seq, r.now, string(models.ActionRoleDeleted), string(models.ActionProposalApproved))
		var ev models.AuditEvent
		if err := db.Read.Where("seq = ?", seq+1).Take(&ev).Error; err != nil {
			t.Fatal(err)
		}
		if ev.Target != "role:data-reader" || !strings.Contains(ev.Detail, `"before":{"description":"Reads customer data under a consented grant."`) {
			t.Errorf("role.deleted: target %q detail %s", ev.Target, ev.Detail)
		}
		var fe models.FieldErrors
		if err := setRole("data-reader"); !errors.As(err, &fe) || fe["tier"] == "" {
			t.Errorf("giving a deleted role: %v, want FieldErrors on tier", err)
		}
	})
}

// TestRoleDeletionWaitsForAGiving: a role being given to someone, in a
// transaction not yet committed, cannot be deleted from under them: the
// deletion waits for that transaction, then finds the role held and is
// refused. (Without the giving's shared lock on the role, the deletion
// would not see the uncommitted holder, and both would commit: a staff
// member holding a role that no longer exists.)
func TestRoleDeletionWaitsForAGiving(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		r := newProposalRig(t, db)
		createRole(t, db, r.now, dataReader)
		sam := r.ids["sam.support"]
		tx := db.Write.Begin()
		if err := models.SetStaffRole(ctx, tx, nil, r.act("ada.sysadmin"), sam, "data-reader"); err != nil {
			tx.Rollback()
			t.Fatal(err)
		}
		deleted := make(chan error, 1)
		go func() { deleted <- models.DeleteRole(ctx, db.Write, r.act("otto.sysadmin"), "data-reader") }()
		select {
		case err := <-deleted:
			tx.Rollback()
			t.Fatalf("the deletion did not wait for the giving: %v", err)
		case <-time.After(300 * time.Millisecond):
		}
		if err := tx.Commit().Error; err != nil {
			t.Fatal(err)
		}
		var ce *models.ConflictError
		if err := <-deleted; !errors.As(err, &ce) {
			t.Errorf("deleting a role just given to sam: %v, want a ConflictError", err)
		}
		if _, err := models.FindRole(ctx, db.Read, "data-reader"); err != nil {
			t.Errorf("the role after the refused deletion: %v", err)
		}
		if s, err := models.FindStaff(ctx, db.Read, sam); err != nil || s.Tier != "data-reader" {
			t.Errorf("sam's role = %q (%v), want data-reader", s.Tier, err)
		}
	})
}
