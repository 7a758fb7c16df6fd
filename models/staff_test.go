package models_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/models/dbtest"
	"gatehouse/policy"
)

var (
	t0  = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	sys = models.Actor{Email: "ada.sysadmin@example.com", Tier: "sysadmin", IP: "192.0.2.1"}
)

func TestStaffLifecycle(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		s, err := models.CreateStaff(ctx, db.Write, t0, sys, models.Staff{Email: " New.Person@Example.com ", Name: "New Person", Tier: policy.TierSupport})
		if err != nil {
			t.Fatal(err)
		}
		if s.Email != "new.person@example.com" || s.Status != models.StatusActive {
			t.Fatalf("created %+v", s)
		}
		if _, err := models.CreateStaff(ctx, db.Write, t0, sys, models.Staff{Email: "new.person@example.com", Name: "Again", Tier: policy.TierSupport}); !errors.Is(err, models.ErrConflict) {
			t.Fatalf("duplicate email: got %v, want ErrConflict", err)
		}
		if err := models.SetTier(ctx, db.Write, models.Act{Now: t0, By: sys}, s.ID, policy.TierSenior); err != nil {
			t.Fatal(err)
		}
		if err := models.SetTier(ctx, db.Write, models.Act{Now: t0, By: sys}, s.ID, "root"); err == nil {
			t.Fatal("unknown tier accepted")
		}
		if err := models.RecordAgreement(ctx, db.Write, models.Act{Now: t0, By: sys}, s.ID, "2026-1", t0); err != nil {
			t.Fatal(err)
		}
		got, err := models.FindStaff(ctx, db.Read, s.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Tier != policy.TierSenior || !got.AgreementCurrent("2026-1") || got.AgreementCurrent("2027-1") {
			t.Fatalf("after changes: %+v", got)
		}
		hash := models.TokenHash([]byte("k"), models.NewToken())
		if err := models.Login(ctx, db.Write, t0, models.Actor{Email: s.Email}, models.LoginInput{Staff: got, Issuer: "iss", Subject: "sub-1", SessionHash: hash, AuthAt: t0}); err != nil {
			t.Fatal(err)
		}
		if err := models.Offboard(ctx, db.Write, models.Act{Now: t0.Add(time.Minute), By: sys}, s.ID, "left the company"); err != nil {
			t.Fatal(err)
		}
		sess, st, err := models.SessionByHash(ctx, db.Read, hash)
		if err != nil {
			t.Fatal(err)
		}
		if sess.EndedAt == nil || sess.EndReason != "offboarded" || st.Status != models.StatusOffboarded {
			t.Fatalf("after offboarding: session %+v staff %+v", sess, st)
		}
		if err := models.Offboard(ctx, db.Write, models.Act{Now: t0, By: sys}, s.ID, ""); !errors.Is(err, models.ErrConflict) {
			t.Fatalf("second offboarding: got %v, want ErrConflict", err)
		}
		if err := models.SetTier(ctx, db.Write, models.Act{Now: t0, By: sys}, s.ID, policy.TierSupport); !errors.Is(err, models.ErrConflict) {
			t.Fatalf("tier change after offboarding: got %v, want ErrConflict", err)
		}
		evs, err := models.ListAudit(ctx, db.Read, models.AuditFilter{Target: s.Email})
		if err != nil {
			t.Fatal(err)
		}
		var actions []models.Action
		for _, e := range evs {
			actions = append(actions, e.Action)
		}
		want := []models.Action{models.ActionStaffOffboarded, models.ActionLoginSucceeded, models.ActionStaffAgreementRecorded, models.ActionStaffTierChanged, models.ActionStaffCreated}
		if len(actions) != len(want) {
			t.Fatalf("audit actions = %v, want %v", actions, want)
		}
		for i := range want {
			if actions[i] != want[i] {
				t.Fatalf("audit actions = %v, want %v", actions, want)
			}
		}
		if evs[3].Detail != `{"after":{"agreement_version":"","status":"active","tier":"senior"},"before":{"agreement_version":"","status":"active","tier":"support"}}` {
			t.Errorf("tier change detail = %s", evs[3].Detail)
		}
	})
}

func TestAuditIsAppendOnly(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		if _, err := models.AppendAudit(ctx, db.Write, models.AuditEntry{At: t0, Actor: sys, Action: models.ActionLogout, Target: "x"}); err != nil {
			t.Fatal(err)
		}
		if err := db.Write.Exec("UPDATE audit_events SET actor = 'someone else'").Error; err == nil {
			t.Error("UPDATE of audit_events succeeded")
		}
		if err := db.Write.Exec("DELETE FROM audit_events").Error; err == nil {
			t.Error("DELETE from audit_events succeeded")
		}
		if db.Dialect == models.Postgres {
			if err := db.Write.Exec("TRUNCATE audit_events").Error; err == nil {
				t.Error("TRUNCATE of audit_events succeeded")
			}
		}
		var n int64
		db.Read.Model(&models.AuditEvent{}).Count(&n)
		if n != 1 {
			t.Errorf("audit rows = %d, want 1", n)
		}
	})
}

func TestLoginFlowIsSingleUse(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		f := models.LoginFlow{StateHash: "h1", Nonce: "n", Verifier: "v", ReturnTo: "/", CreatedAt: t0}
		if err := models.SaveLoginFlow(ctx, db.Write, f, 10*time.Minute); err != nil {
			t.Fatal(err)
		}
		got, err := models.TakeLoginFlow(ctx, db.Write, "h1")
		if err != nil || got.Nonce != "n" {
			t.Fatalf("first take: %+v, %v", got, err)
		}
		if _, err := models.TakeLoginFlow(ctx, db.Write, "h1"); !errors.Is(err, models.ErrNotFound) {
			t.Fatalf("second take: got %v, want ErrNotFound", err)
		}
	})
}
