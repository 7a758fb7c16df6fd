package models_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/models/dbtest"
	"gatehouse/models/demo"
	"gatehouse/policy"
)

// walkKeyset pages through a list as a person does: forward from the
// first page to the last, then back to the first, adding a row (add)
// before each of the first pages loaded. It fails when a row that existed when a walk
// began is missed, when a row is shown twice, or when rows are shown out
// of the list's order (all, read whole).
func walkKeyset[T any](t *testing.T, name string, pageSize int, all func() []string, load func(after, before *models.Cursor) (models.Page[T], error), id func(T) string, add func()) {
	t.Helper()
	ids := func(p models.Page[T]) []string {
		out := make([]string, len(p.Rows))
		for i, r := range p.Rows {
			out[i] = id(r)
		}
		return out
	}
	read := func(after, before *models.Cursor) models.Page[T] {
		t.Helper()
		p, err := load(after, before)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(p.Rows) > pageSize {
			t.Fatalf("%s: %d rows on a page of %d", name, len(p.Rows), pageSize)
		}
		return p
	}
	check := func(dir string, existed, seen []string) {
		t.Helper()
		counts := map[string]int{}
		for _, s := range seen {
			if counts[s]++; counts[s] == 2 {
				t.Errorf("%s %s: row %s shown twice", name, dir, s)
			}
		}
		for _, s := range existed {
			if counts[s] == 0 {
				t.Errorf("%s %s: row %s skipped", name, dir, s)
			}
		}
		order := all()
		for i := 1; i < len(seen); i++ {
			if slices.Index(order, seen[i-1]) > slices.Index(order, seen[i]) {
				t.Errorf("%s %s: %s shown before %s", name, dir, seen[i-1], seen[i])
				break
			}
		}
	}

	existed := all()
	p := read(nil, nil)
	seen := ids(p)
	for pages := 0; p.Next != nil; pages++ {
		if pages > len(existed)+10 {
			t.Fatalf("%s forward: does not end", name)
		}
		if pages < 4 {
			add()
		}
		p = read(p.Next, nil)
		if p.Prev == nil {
			t.Errorf("%s forward: a later page has no previous page", name)
		}
		seen = append(seen, ids(p)...)
	}
	check("forward", existed, seen)

	existed = all()
	seen = ids(p) // the last page
	for pages := 0; p.Prev != nil; pages++ {
		if pages > len(existed)+10 {
			t.Fatalf("%s backward: does not end", name)
		}
		if pages < 4 {
			add()
		}
		p = read(nil, p.Prev)
		if p.Next == nil {
			t.Errorf("%s backward: an earlier page has no next page", name)
		}
		seen = append(ids(p), seen...)
	}
	check("backward", existed, seen)
}

func TestRequestsKeyset(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		now := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
		sam := mustStaff(t, db, "sam@example.com", "Sam", policy.TierSupport, models.StatusActive)
		sara := mustStaff(t, db, "sara@example.com", "Sara", policy.TierSenior, models.StatusActive)
		rnd := rand.New(rand.NewPCG(1, 2))
		statuses := []models.RequestStatus{models.RequestPending, models.RequestGranted, models.RequestDenied}
		n := 0
		add := func() {
			n++
			r := models.AccessRequest{
				Workspace: fmt.Sprintf("ws-%02d", rnd.IntN(12)), RequesterID: sam.ID, GranteeID: sara.ID,
				Reason: "A customer asked us to look at their import.", Ticket: "SUP-" + strconv.Itoa(n%5),
				Mode: models.ModeMasked, DurationSeconds: 3600, Status: statuses[rnd.IntN(len(statuses))],
				CreatedAt: now, ExpiresAt: now.Add(24 * time.Hour), UpdatedAt: now,
			}
			if err := db.Write.WithContext(ctx).Create(&r).Error; err != nil {
				t.Fatal(err)
			}
		}
		for range 37 {
			add()
		}
		for _, tc := range keysetCases(models.RequestSorts, []models.RequestFilter{{Status: models.RequestPending}, {Workspace: "ws-03"}, {Ticket: "SUP-2"}}) {
			f, sort, desc := tc.Filter, tc.Sort, tc.Desc
			{
				{
					name := fmt.Sprintf("%+v by %s desc=%t", f, sort.Name, desc)
					k := models.Keyset{Sort: sort, Desc: desc, Limit: 4}
					all := func() []string {
						kk := k
						kk.Limit = 10000
						p, _, err := models.PageRequests(ctx, db.Read, f, kk)
						if err != nil {
							t.Fatal(err)
						}
						var ids []string
						for _, r := range p.Rows {
							if (f.Status == "" || r.Status == f.Status) && (f.Workspace == "" || r.Workspace == f.Workspace) && (f.Ticket == "" || r.Ticket == f.Ticket) {
								ids = append(ids, strconv.FormatInt(r.ID, 10))
							} else {
								t.Fatalf("%s: request %d does not match", name, r.ID)
							}
						}
						return ids
					}
					load := func(after, before *models.Cursor) (models.Page[models.RequestListing], error) {
						kk := k
						kk.After, kk.Before = after, before
						p, _, err := models.PageRequests(ctx, db.Read, f, kk)
						return p, err
					}
					walkKeyset(t, name, k.Limit, all, load, func(r models.RequestListing) string { return strconv.FormatInt(r.ID, 10) }, add)
				}
			}
		}
		if _, _, err := models.PageRequests(ctx, db.Read, models.RequestFilter{}, models.Keyset{Sort: models.RequestSorts[0], After: &models.Cursor{Value: "x'; DROP TABLE staff; --", ID: "1"}, Limit: 5}); err == nil {
			t.Error("a cursor whose value is not an id was read")
		}
	})
}

// mustStaff adds a staff member directly.
func mustStaff(t *testing.T, db *models.DB, email, name string, tier policy.Tier, status models.Status) models.Staff {
	t.Helper()
	now := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	s := models.Staff{Email: email, Name: name, Tier: tier, Status: status, CreatedAt: now, UpdatedAt: now}
	if err := db.Write.Create(&s).Error; err != nil {
		t.Fatal(err)
	}
	return s
}

func TestStaffKeyset(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		rnd := rand.New(rand.NewPCG(3, 4))
		tiers := []policy.Tier{policy.TierSupport, policy.TierSenior, policy.TierEngineer}
		statuses := []models.Status{models.StatusActive, models.StatusSuspended}
		n := 0
		add := func() {
			n++
			// Names repeat, so ties are broken by id.
			mustStaff(t, db, fmt.Sprintf("p%03d-%d@example.com", rnd.IntN(1000), n), fmt.Sprintf("Person %d", rnd.IntN(9)), tiers[rnd.IntN(3)], statuses[rnd.IntN(2)])
		}
		for range 23 {
			add()
		}
		for _, tc := range keysetCases(models.StaffSorts, []models.StaffFilter{{Tier: policy.TierSenior}, {Status: models.StatusSuspended}, {Query: "person 3"}}) {
			f, sort, desc := tc.Filter, tc.Sort, tc.Desc
			{
				{
					name := fmt.Sprintf("%+v by %s desc=%t", f, sort.Name, desc)
					k := models.Keyset{Sort: sort, Desc: desc, Limit: 3}
					all := func() []string {
						kk := k
						kk.Limit = 10000
						p, c, err := models.PageStaff(ctx, db.Read, f, kk)
						if err != nil {
							t.Fatal(err)
						}
						if c.N != int64(len(p.Rows)) || c.Capped {
							t.Errorf("%s: count %+v, want %d", name, c, len(p.Rows))
						}
						var ids []string
						for _, s := range p.Rows {
							if (f.Tier != "" && s.Tier != f.Tier) || (f.Status != "" && s.Status != f.Status) {
								t.Fatalf("%s: %s does not match", name, s.Email)
							}
							ids = append(ids, strconv.FormatInt(s.ID, 10))
						}
						return ids
					}
					load := func(after, before *models.Cursor) (models.Page[models.Staff], error) {
						kk := k
						kk.After, kk.Before = after, before
						p, _, err := models.PageStaff(ctx, db.Read, f, kk)
						return p, err
					}
					walkKeyset(t, name, k.Limit, all, load, func(s models.Staff) string { return strconv.FormatInt(s.ID, 10) }, add)
				}
			}
		}
	})
}

func TestWorkspacesKeyset(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		now := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
		if err := demo.SeedProduct(ctx, db.Write, now); err != nil {
			t.Fatal(err)
		}
		rnd := rand.New(rand.NewPCG(5, 6))
		plans := []string{"free", "team", "business"}
		n := 0
		add := func() {
			n++
			w := models.Workspace{
				Slug: fmt.Sprintf("w%03d-%d", rnd.IntN(1000), n), Name: fmt.Sprintf("Company %d", rnd.IntN(7)), Plan: plans[rnd.IntN(3)],
				Status: models.WorkspaceActive, MemberCount: rnd.IntN(5), SubscriptionState: "active",
				CreatedAt: now.Add(-time.Duration(rnd.IntN(400)) * 24 * time.Hour).Add(time.Duration(rnd.IntN(1000)) * time.Millisecond),
			}
			if w.Plan == "free" && rnd.IntN(2) == 0 {
				w.Status = models.WorkspaceFree
			}
			if err := db.Write.WithContext(ctx).Create(&w).Error; err != nil {
				t.Fatal(err)
			}
		}
		for range 20 {
			add()
		}
		list := models.WorkspaceList{DB: db.Read, Product: db.Read, Now: now, Policy: models.DefaultRetentionPolicy()}
		for _, tc := range keysetCases(models.WorkspaceSorts, []models.WorkspaceFilter{{Plan: "free"}, {Status: models.WorkspaceFree}, {Retention: models.RetentionActive}, {Retention: models.RetentionDeletionDue}, {Query: "company 2"}}) {
			f, sort, desc := tc.Filter, tc.Sort, tc.Desc
			{
				{
					name := fmt.Sprintf("%+v by %s desc=%t", f, sort.Name, desc)
					k := models.Keyset{Sort: sort, Desc: desc, Limit: 4}
					all := func() []string {
						kk := k
						kk.Limit = 10000
						p, c, err := list.Page(ctx, f, kk)
						if err != nil {
							t.Fatal(err)
						}
						if c.N != int64(len(p.Rows)) || c.Capped || c.AtLeast {
							t.Errorf("%s: count %+v, want %d", name, c, len(p.Rows))
						}
						var ids []string
						for _, w := range p.Rows {
							if (f.Plan != "" && w.Plan != f.Plan) || (f.Status != "" && w.Status != f.Status) {
								t.Fatalf("%s: %s does not match", name, w.Slug)
							}
							if f.Retention != "" {
								st, err := models.WorkspaceRetention(ctx, db.Read, db.Read, now, list.Policy, w.Slug)
								if err != nil || st.State != f.Retention {
									t.Fatalf("%s: %s is %s (%v)", name, w.Slug, st.State, err)
								}
							}
							ids = append(ids, w.Slug)
						}
						return ids
					}
					load := func(after, before *models.Cursor) (models.Page[models.Workspace], error) {
						kk := k
						kk.After, kk.Before = after, before
						p, _, err := list.Page(ctx, f, kk)
						return p, err
					}
					walkKeyset(t, name, k.Limit, all, load, func(w models.Workspace) string { return w.Slug }, add)
				}
			}
		}
		// Every workspace in a state is found: the candidates in SQL are
		// never fewer than the evaluation keeps.
		var every []models.Workspace
		if err := db.Read.Find(&every).Error; err != nil {
			t.Fatal(err)
		}
		counts := map[models.RetentionState]int{}
		for _, s := range models.RetentionStates() {
			counts[s] = 0
		}
		for _, w := range every {
			st, err := models.WorkspaceRetention(ctx, db.Read, db.Read, now, list.Policy, w.Slug)
			if err != nil {
				t.Fatal(err)
			}
			counts[st.State]++
		}
		for state, want := range counts {
			_, c, err := list.Page(ctx, models.WorkspaceFilter{Retention: state}, models.Keyset{Sort: models.WorkspaceSorts[0], Limit: 5})
			if err != nil {
				t.Fatal(err)
			}
			if c.N != int64(want) {
				t.Errorf("retention %s: counted %d, want %d", state, c.N, want)
			}
		}
	})
}

// keysetCases are the walks a list's test makes: every sort both ways
// unfiltered, and each filter in the default order.
func keysetCases[F any](sorts []models.SortKey, filters []F) []keysetCase[F] {
	var out []keysetCase[F]
	for _, s := range sorts {
		for _, desc := range []bool{false, true} {
			out = append(out, keysetCase[F]{Sort: s, Desc: desc})
		}
	}
	for _, f := range filters {
		out = append(out, keysetCase[F]{Filter: f, Sort: sorts[0], Desc: sorts[0].Desc})
	}
	return out
}

type keysetCase[F any] struct {
	Filter F
	Sort   models.SortKey
	Desc   bool
}
