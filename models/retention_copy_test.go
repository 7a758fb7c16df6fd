package models_test

import (
	"strings"
	"testing"

	"gatehouse/models"
)

// TestRetentionCopyAgrees: the explanation never contradicts the state
// beside it. A pending deletion request is not "nothing is planned"; a
// held workspace's due deletion does not "wait for a sysadmin's
// confirmation" but is held, by the hold it names.
func TestRetentionCopyAgrees(t *testing.T) {
	p := models.DefaultRetentionPolicy()
	paid := models.Workspace{Slug: "paid", Plan: "business", Status: "active", MemberCount: 9, CreatedAt: dayN(-400), LastLoginAt: ptr(dayN(90)), SubscriptionState: "active"}
	oddStatus := paid
	oddStatus.Status = "trial"
	free := models.Workspace{Slug: "paid", Plan: "free", Status: "free", MemberCount: 2, CreatedAt: dayN(-400), LastLoginAt: ptr(retentionBase), SubscriptionState: "none"}
	cancelled := models.Workspace{Slug: "paid", Plan: "team", Status: "cancelled", MemberCount: 4, CreatedAt: dayN(-400), CancelledAt: ptr(retentionBase), SubscriptionState: "cancelled"}
	marked := models.RetentionRecord{NoticedAt: ptr(dayN(150)), MarkedAt: ptr(dayN(180)), SecondNoticedAt: ptr(dayN(180))}
	pending := &models.DeletionRequest{ID: 4, Slug: "paid", Status: models.DeletionPending, NeededConfirmations: 2, CreatedAt: dayN(100), ExpiresAt: dayN(114), UpdatedAt: dayN(100)}
	confirmed := &models.DeletionRequest{ID: 3, Slug: "paid", Status: models.DeletionConfirmed, NeededConfirmations: 2, CreatedAt: dayN(100), ExpiresAt: dayN(114), ConfirmedAt: ptr(dayN(101)), UpdatedAt: dayN(101)}
	hold := []models.LegalHold{{ID: 7, Slug: "paid", Reference: "CASE-42", Reason: "counsel", PlacedBy: "ada.sysadmin@example.com", PlacedAt: dayN(10)}}

	tests := []struct {
		name          string
		w             models.Workspace
		rec           models.RetentionRecord
		holds         []models.LegalHold
		req           *models.DeletionRequest
		now           int
		want, notWant []string
	}{
		{name: "paid, open deletion request", w: paid, req: pending, now: 105,
			want: []string{"asked for deletion", "If they confirm it, deletion becomes due."}, notWant: []string{"nothing is planned"}},
		{name: "unknown status, open deletion request", w: oddStatus, req: pending, now: 105, notWant: []string{"nothing is planned"}},
		{name: "paid, no request: nothing is planned", w: paid, now: 105, want: []string{"nothing is planned"}},
		{name: "free, due, held", w: free, rec: marked, holds: hold, now: 275,
			want: []string{"legal hold CASE-42 holds it"}, notWant: []string{"sysadmin's confirmation"}},
		{name: "cancelled, due, held", w: cancelled, holds: hold, now: 95,
			want: []string{"legal hold CASE-42 holds it"}, notWant: []string{"sysadmin's confirmation"}},
		{name: "confirmed request, held", w: paid, req: confirmed, holds: hold, now: 105,
			want: []string{"legal hold CASE-42 holds it"}, notWant: []string{"sysadmin's confirmation"}},
		{name: "free, due, not held", w: free, rec: marked, now: 275, want: []string{"waits for a sysadmin's confirmation"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := models.EvaluateRetention(tt.w, tt.rec, tt.holds, tt.req, dayN(tt.now), p)
			for _, s := range tt.want {
				if !strings.Contains(st.Explanation, s) {
					t.Errorf("explanation lacks %q:\n%s", s, st.Explanation)
				}
			}
			for _, s := range tt.notWant {
				if strings.Contains(st.Explanation, s) {
					t.Errorf("explanation says %q (state %s):\n%s", s, st.State, st.Explanation)
				}
			}
		})
	}
}
