package models_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/models/dbtest"
	"gatehouse/models/demo"
	"gatehouse/policy"

	"gorm.io/gorm"
)

// FuzzLinkTokens feeds the consent and deletion links any token, against
// a SQLite database holding one consent link and two deletion links. A
// token opens a link only when it is that link's token exactly; every
// other string, near misses made from the real tokens included, is
// ErrBadToken from every entry point (open, decide, confirm, cancel)
// and changes nothing. The stored form is the documented SHA-256.
func FuzzLinkTokens(f *testing.F) {
	l := newLinkFixture(f)
	for _, s := range []string{
		"", "x", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
		"deletion\x00AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "%41", " ", "'", "' OR '1'='1", "\x00", "\xff\xfe",
		"+/+/+/+/+/+/+/+/+/+/+/+/+/+/+/+/+/+/+/+/+/+", "-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, token string) {
		if got, want := models.ConsentTokenHash(token), sha256.Sum256([]byte("gatehouse consent v1\x00"+token)); got != hex.EncodeToString(want[:]) {
			t.Fatalf("ConsentTokenHash(%q) = %s, want hex(SHA-256(\"gatehouse consent v1\\x00\" + token))", token, got)
		}
		// The token as sent, and the real tokens with the fuzzed bytes
		// written over them from an offset: near misses of every length.
		candidates := []string{token}
		for _, real := range []string{l.consent, l.deletion[0]} {
			at := len(token) % (len(real) + 1)
			near := real[:at] + token
			if len(near) < len(real) {
				near += real[len(near):]
			}
			candidates = append(candidates, near)
		}
		for _, c := range candidates {
			l.check(t, c)
		}
	})
}

// linkFixture is a database with one consent link and two deletion links
// whose tokens are known, and what it held when made.
type linkFixture struct {
	ctx      context.Context
	db       *models.DB
	now      time.Time
	post     models.Post
	consent  string    // the consent link's token, mailed to owner@acme.example
	deletion [2]string // the deletion links' tokens
	owners   [2]string // the deletion links' recipients, by token
	rows     map[string]int64
}

// fuzzTokenLetters keeps the consent and deletion tokens mailed, by owner.
type fuzzTokenLetters struct {
	plainLetters
	consent, deletion map[string]string
}

func (l *fuzzTokenLetters) Letter(ctx context.Context, tx *gorm.DB, n models.Notice) (models.Mail, error) {
	switch n := n.(type) {
	case models.ConsentRequestNotice:
		l.consent[n.Owner] = n.Token
	case models.DeletionLinkNotice:
		l.deletion[n.Owner] = n.Token
		return models.Mail{Kind: "deletion.confirm", Subject: "Delete?", Text: "/deletion/" + n.Token}, nil
	}
	return l.plainLetters.Letter(ctx, tx, n)
}

func newLinkFixture(tb testing.TB) *linkFixture {
	ctx, now := context.Background(), demoNow
	db := dbtest.SQLite(tb)
	product, err := models.Open(ctx, filepath.Join(tb.TempDir(), "product.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { product.Close() })
	if err := demo.SeedProduct(ctx, product.Write, now); err != nil {
		tb.Fatal(err)
	}
	ob, err := models.NewOutbox(outboxSecret)
	if err != nil {
		tb.Fatal(err)
	}
	letters := &fuzzTokenLetters{consent: map[string]string{}, deletion: map[string]string{}}
	l := &linkFixture{ctx: ctx, db: db, now: now, post: models.Post{Outbox: ob, Letters: letters}}
	sys := models.Actor{Email: "test@example.com", Tier: "sysadmin"}
	act := models.Act{Now: now, By: sys}
	staff := func(email string, tier policy.Tier) models.Staff {
		s, err := models.CreateStaff(ctx, db.Write, now, sys, models.Staff{Email: email, Name: email, Tier: tier})
		if err == nil {
			err = models.RecordAgreement(ctx, db.Write, act, s.ID, agreement, now)
		}
		if err == nil {
			err = models.RecordTraining(ctx, db.Write, act, s.ID, now.AddDate(0, -1, 0))
		}
		if err == nil {
			s, err = models.FindStaff(ctx, db.Read, s.ID)
		}
		if err != nil {
			tb.Fatal(err)
		}
		return s
	}
	requester, approver, grantee := staff("sam@example.com", policy.TierSupport), staff("ann@example.com", policy.TierSenior), staff("gus@example.com", policy.TierSenior)
	pol := models.DefaultRequestPolicy(agreement)
	r, err := models.CreateRequest(ctx, db.Write, act, l.post, pol, models.NewRequest{
		Workspace: "acme", Requester: requester, Grantee: grantee, Reason: "Customer reports that exports fail since Monday.",
		Ticket: "SUP-1", Duration: 2 * time.Hour,
	})
	if err == nil {
		_, err = models.DecideRequest(ctx, db.Write, act, l.post, pol, models.Decision{Request: r.ID, Approve: true, Approver: approver, Note: "Looks legitimate.", Owners: []string{"owner@acme.example"}})
	}
	if err == nil {
		_, err = models.CreateDeletionRequest(ctx, db.Write, product.Read, act, l.post,
			models.NewDeletionRequest{Slug: "acme", Requester: requester, Note: "Customer asked by phone, ticket SUP-77.", Valid: 14 * models.Day})
	}
	if err != nil {
		tb.Fatal(err)
	}
	l.consent = letters.consent["owner@acme.example"]
	l.owners = [2]string{"owner@acme.example", "admin@acme.example"}
	for i, o := range l.owners {
		l.deletion[i] = letters.deletion[o]
	}
	for _, tok := range append(l.deletion[:], l.consent) {
		if len(tok) != 43 {
			tb.Fatalf("token %q: want the 43 characters of 32 random bytes", tok)
		}
	}
	l.rows = l.count(tb)
	return l
}

// count counts the rows any decision through a link would add or change.
func (l *linkFixture) count(tb testing.TB) map[string]int64 {
	out := map[string]int64{}
	for _, q := range []string{
		"SELECT COUNT(*) FROM audit_events", "SELECT COUNT(*) FROM consents", "SELECT COUNT(*) FROM grants",
		"SELECT COUNT(*) FROM deletion_confirmations WHERE confirmed_at IS NOT NULL",
		"SELECT COUNT(*) FROM deletion_requests WHERE status <> 'pending'", "SELECT COUNT(*) FROM mail_outbox",
	} {
		var n int64
		if err := l.db.Read.Raw(q).Scan(&n).Error; err != nil {
			tb.Fatal(err)
		}
		out[q] = n
	}
	return out
}

// check holds one token to the rule: it opens the link whose token it
// is, and nothing else; a token of no link decides nothing.
func (l *linkFixture) check(t *testing.T, token string) {
	t.Helper()
	cv, err := models.OpenConsent(l.ctx, l.db.Read, l.now, token)
	switch {
	case token == l.consent:
		if err != nil || cv.Link.Recipient != "owner@acme.example" {
			t.Fatalf("the consent token opens %+v, %v", cv.Link, err)
		}
	case !errors.Is(err, models.ErrBadToken) || cv.Link.ID != 0:
		t.Fatalf("OpenConsent(%q) = link %d, %v; want ErrBadToken", token, cv.Link.ID, err)
	}
	dv, err := models.OpenDeletionLink(l.ctx, l.db.Read, l.now, token)
	switch {
	case token == l.deletion[0] || token == l.deletion[1]:
		want := l.owners[0]
		if token == l.deletion[1] {
			want = l.owners[1]
		}
		if err != nil || dv.Link.Recipient != want {
			t.Fatalf("a deletion token opens %+v, %v; want %s's link", dv.Link, err, want)
		}
	case !errors.Is(err, models.ErrBadToken) || dv.Link.ID != 0:
		t.Fatalf("OpenDeletionLink(%q) = link %d, %v; want ErrBadToken", token, dv.Link.ID, err)
	}
	if token == l.consent || token == l.deletion[0] || token == l.deletion[1] {
		return
	}
	in := models.ConsentInput{Token: token, Decision: models.ConsentGrant, ShownHash: "h", PageHash: "h", IP: "192.0.2.9"}
	if _, err := models.DecideConsent(l.ctx, l.db.Write, l.now, l.post, in, models.DefaultClearance(agreement)); !errors.Is(err, models.ErrBadToken) {
		t.Fatalf("DecideConsent(%q): %v, want ErrBadToken", token, err)
	}
	if _, err := models.ConfirmDeletion(l.ctx, l.db.Write, l.now, token, "192.0.2.9", 57); !errors.Is(err, models.ErrBadToken) {
		t.Fatalf("ConfirmDeletion(%q): %v, want ErrBadToken", token, err)
	}
	if _, err := models.CancelDeletion(l.ctx, l.db.Write, l.now, token, "192.0.2.9"); !errors.Is(err, models.ErrBadToken) {
		t.Fatalf("CancelDeletion(%q): %v, want ErrBadToken", token, err)
	}
	if got := l.count(t); fmt.Sprint(got) != fmt.Sprint(l.rows) {
		t.Fatalf("after the token %q: %v, want %v", token, got, l.rows)
	}
}
