package models_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/models/dbtest"
	"gatehouse/models/demo"
	"gatehouse/policy"

	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// randomRetention fills db (portal and registry at once) with n
// workspaces whose dates sit on and around every threshold of the policy,
// and retention rows, holds and deletion requests for some of them.
func randomRetention(t *testing.T, db *models.DB, now time.Time, p models.RetentionPolicy, n int, seed uint64) {
	t.Helper()
	ctx := context.Background()
	if err := demo.SeedProduct(ctx, db.Write, now); err != nil {
		t.Fatal(err)
	}
	staff, err := models.CreateStaff(ctx, db.Write, now, sys, models.Staff{Email: "ret@example.com", Name: "Ret", Tier: policy.TierSupport})
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(seed, 14))
	offsets := []time.Duration{-time.Second, -time.Microsecond, 0, time.Microsecond, time.Second, -models.Day, models.Day}
	periods := []time.Duration{p.FreeNotice, p.FreeMark, p.FreeDelete, p.CancelledKeep, p.FreeMark - p.FreeNotice, p.FreeDelete - p.FreeMark, 0}
	edge := func(base time.Time) time.Time {
		if r.IntN(6) == 0 {
			return base.Add(-time.Duration(r.IntN(400)) * models.Day)
		}
		return base.Add(-periods[r.IntN(len(periods))]).Add(offsets[r.IntN(len(offsets))])
	}
	maybe := func(base time.Time) *time.Time {
		if r.IntN(3) == 0 {
			return nil
		}
		t := edge(base)
		return &t
	}
	var ws []models.Workspace
	var recs []models.RetentionRecord
	var holds []models.LegalHold
	var reqs []models.DeletionRequest
	for i := range n {
		w := models.Workspace{
			Slug: fmt.Sprintf("r%05d", i), Name: fmt.Sprintf("Random %d", i),
			Plan:      []string{"free", "free", "team", "business"}[r.IntN(4)],
			Status:    []string{models.WorkspaceActive, models.WorkspaceActive, models.WorkspaceFree, models.WorkspaceCancelled, models.WorkspaceDeleted, "suspended"}[r.IntN(6)],
			CreatedAt: edge(now), LastLoginAt: maybe(now), CancelledAt: maybe(now), SubscriptionState: "none",
		}
		ws = append(ws, w)
		since := w.CreatedAt
		if w.LastLoginAt != nil && w.LastLoginAt.After(since) {
			since = *w.LastLoginAt
		}
		if r.IntN(3) == 0 {
			// Steps dated around the clock's start and the thresholds.
			rec := models.RetentionRecord{Slug: w.Slug, UpdatedAt: now}
			around := func() *time.Time {
				t := since.Add(periods[r.IntN(len(periods))]).Add(offsets[r.IntN(len(offsets))])
				switch r.IntN(5) {
				case 0:
					t = since.Add(-models.Day)
				case 1:
					t = since.Add(time.Duration(r.IntN(300)) * models.Day)
				}
				if t.After(now) {
					t = now
				}
				return &t
			}
			if r.IntN(4) > 0 {
				rec.NoticedAt = around()
				if r.IntN(2) == 0 {
					rec.MarkedAt = around()
					if r.IntN(2) == 0 {
						rec.SecondNoticedAt = rec.MarkedAt
					}
				}
			}
			if r.IntN(15) == 0 {
				rec.DeletedAt = around()
			}
			recs = append(recs, rec)
		}
		if r.IntN(10) == 0 {
			h := models.LegalHold{Slug: w.Slug, Reference: "CASE", Reason: "test", PlacedBy: "ret@example.com", PlacedAt: now.Add(-models.Day)}
			if r.IntN(3) == 0 {
				lifted := now.Add(-time.Hour)
				h.LiftedAt, h.LiftedBy, h.LiftReason = &lifted, "ret@example.com", "done"
			}
			holds = append(holds, h)
		}
		if r.IntN(8) == 0 {
			q := models.DeletionRequest{Slug: w.Slug, RequestedBy: staff.ID, Note: "asked", CreatedAt: now.Add(-models.Day),
				ExpiresAt: now.Add(offsets[r.IntN(len(offsets))]), NeededConfirmations: 1, UpdatedAt: now}
			switch r.IntN(3) {
			case 0:
				q.Status = models.DeletionPending
			case 1:
				at := now.Add(-time.Hour)
				q.Status, q.ConfirmedAt = models.DeletionConfirmed, &at
			default:
				q.Status = models.DeletionExpired
			}
			reqs = append(reqs, q)
		}
	}
	for _, rows := range []any{ws, recs, holds, reqs} {
		if err := db.Write.CreateInBatches(rows, 200).Error; err != nil {
			t.Fatal(err)
		}
	}
}

// TestRetentionSQLAgrees: the retention classes in SQL put every
// workspace in the state EvaluateRetention gives it, page by page, in
// slug order; the counts and the workspace list's filter agree.
func TestRetentionSQLAgrees(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
		p := models.DefaultRetentionPolicy()
		randomRetention(t, db, now, p, 1500, 7)

		var all []models.Workspace
		if err := db.Read.Order("slug").Find(&all).Error; err != nil {
			t.Fatal(err)
		}
		want := map[string]models.RetentionState{}
		wantIn := map[models.RetentionState][]string{}
		for _, w := range all {
			st, err := models.WorkspaceRetention(ctx, db.Read, db.Read, now, p, w.Slug)
			if err != nil {
				t.Fatal(err)
			}
			want[w.Slug] = st.State
			wantIn[st.State] = append(wantIn[st.State], w.Slug)
		}
		for _, s := range models.RetentionStates() {
			if len(wantIn[s]) == 0 {
				t.Errorf("the random registry has no workspace in %s", s)
			}
		}

		classes := &models.RetentionClasses{DB: db.Read, Product: db.Read, Now: now, Policy: p}
		counts, err := classes.Counts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range counts {
			if c.N != len(wantIn[c.State]) || c.Capped {
				t.Errorf("count of %s: %+v, want %d", c.State, c, len(wantIn[c.State]))
			}
		}
		// The queue's two halves: the retention job's census of the
		// counted states, kept, and the others counted on each view by a
		// fresh RetentionClasses (one that never read the plain notices).
		census, err := classes.Census(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := models.StoreRetentionCounts(ctx, db.Write, census, now); err != nil {
			t.Fatal(err)
		}
		fresh := &models.RetentionClasses{DB: db.Read, Product: db.Read, Now: now, Policy: p}
		queue, at, err := fresh.QueueCounts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !at.Equal(now) || len(queue) != len(models.RetentionStates()) {
			t.Errorf("queue counts %+v counted at %v, want every state, counted at %v", queue, at, now)
		}
		for i, c := range queue {
			if c.State != models.RetentionStates()[i] || c.N != len(wantIn[c.State]) || c.Capped || c.About {
				t.Errorf("queue count %d: %+v, want %s: %d", i, c, models.RetentionStates()[i], len(wantIn[models.RetentionStates()[i]]))
			}
		}

		// Every state, then all of them at once, walked by pages of 37.
		for _, states := range append([][]models.RetentionState{models.RetentionStates()}, func() (out [][]models.RetentionState) {
			for _, s := range models.RetentionStates() {
				out = append(out, []models.RetentionState{s})
			}
			return out
		}()...) {
			var got []string
			var after *models.RetentionCursor
			// A fresh RetentionClasses for each walk: one of a single state
			// reads the plain notices only for the states they can be in.
			classes := &models.RetentionClasses{DB: db.Read, Product: db.Read, Now: now, Policy: p}
			for pages := 0; ; pages++ {
				rows, next, err := classes.Page(ctx, states, "", after, 37)
				if err != nil {
					t.Fatal(err)
				}
				for _, st := range rows {
					if st.State != want[st.Slug] {
						t.Errorf("%s listed as %s, evaluated %s", st.Slug, st.State, want[st.Slug])
					}
					got = append(got, st.Slug)
				}
				if next == nil || pages > 100 {
					break
				}
				after = next
			}
			var wantSlugs []string
			for _, s := range states {
				wantSlugs = append(wantSlugs, wantIn[s]...)
			}
			if !slices.Equal(got, wantSlugs) {
				t.Errorf("states %v: listed %d workspaces, want %d (first difference near %v)", states, len(got), len(wantSlugs), firstDiff(got, wantSlugs))
			}
		}

		// The dashboard's deletions due: the longest overdue first, a
		// page of them or all.
		var due []models.RetentionStatus
		for _, slug := range wantIn[models.RetentionDeletionDue] {
			st, err := models.WorkspaceRetention(ctx, db.Read, db.Read, now, p, slug)
			if err != nil {
				t.Fatal(err)
			}
			due = append(due, st)
		}
		slices.SortFunc(due, func(a, b models.RetentionStatus) int {
			if c := a.NextAt.Compare(b.NextAt); c != 0 {
				return c
			}
			return strings.Compare(a.Slug, b.Slug)
		})
		for _, limit := range []int{7, len(due) + 1} {
			got, err := (&models.RetentionClasses{DB: db.Read, Product: db.Read, Now: now, Policy: p}).OverdueDeletions(ctx, limit)
			if err != nil {
				t.Fatal(err)
			}
			var gotSlugs, wantSlugs []string
			for _, st := range got {
				gotSlugs = append(gotSlugs, st.Slug)
			}
			for _, st := range due[:min(limit, len(due))] {
				wantSlugs = append(wantSlugs, st.Slug)
			}
			if !slices.Equal(gotSlugs, wantSlugs) {
				t.Errorf("overdue deletions, %d: %v, want %v", limit, gotSlugs, wantSlugs)
			}
		}

		list := models.WorkspaceList{DB: db.Read, Product: db.Read, Now: now, Policy: p}
		for _, s := range models.RetentionStates() {
			page, c, err := list.Page(ctx, models.WorkspaceFilter{Retention: s}, models.Keyset{Sort: models.WorkspaceSorts[1], Limit: 5000})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, w := range page.Rows {
				got = append(got, w.Slug)
			}
			if !slices.Equal(got, wantIn[s]) || c.N != int64(len(wantIn[s])) {
				t.Errorf("workspace list retention=%s: %d listed, counted %d, want %d", s, len(got), c.N, len(wantIn[s]))
			}
		}
	})
}

func firstDiff(a, b []string) string {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return a[i] + " / " + b[i]
		}
	}
	return strings.Join(append(a[min(len(a), len(b)):], b[min(len(a), len(b)):]...), " ")
}

// TestRetentionDueQueriesUseIndexes: on PostgreSQL the registry's
// retention classes, as the queue counts them and the job reads them, are
// served by the registry's retention indexes, never a sequential scan.
func TestRetentionDueQueriesUseIndexes(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		if db.Dialect != models.Postgres {
			t.Skip("PostgreSQL's plans")
		}
		ctx := context.Background()
		now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
		p := models.DefaultRetentionPolicy()
		randomRetention(t, db, now, p, 2000, 3)
		if err := db.Write.Exec("ANALYZE workspaces").Error; err != nil {
			t.Fatal(err)
		}
		// The job's read of recent notices (readIdle), on a table that
		// keeps a row for every workspace ever noticed.
		err := db.Write.Exec("INSERT INTO retention (slug, noticed_at, updated_at) SELECT 'old-' || i, ?, ? FROM generate_series(1, 5000) AS i",
			now.Add(-400*models.Day), now).Error
		if err == nil {
			err = db.Write.Exec("ANALYZE retention").Error
		}
		if err != nil {
			t.Fatal(err)
		}
		var recent []string
		if err := db.Read.Raw("EXPLAIN SELECT slug, noticed_at, marked_at, deleted_at FROM retention WHERE noticed_at > ?", now.Add(-p.FreeNotice)).Scan(&recent).Error; err != nil {
			t.Fatal(err)
		}
		if text := strings.Join(recent, "\n"); !strings.Contains(text, "retention_noticed") {
			t.Errorf("recent notices: plan\n%s\nwant retention_noticed", text)
		}
		for state, index := range map[models.RetentionState]string{
			models.RetentionNoticeDue: "workspaces_free_idle_cover", models.RetentionDeletionDue: "workspaces_cancelled",
			models.RetentionCancelled: "workspaces_cancelled", models.RetentionDeleted: "workspaces_deleted",
		} {
			cond, args, ok := models.RegistryClassForTest(db.Read, state, now, p)
			if !ok {
				t.Fatalf("%s has no registry class", state)
			}
			for _, q := range []struct {
				sql  string
				want string // the index the plan must use; "" for any but no sequential scan
			}{
				{"SELECT 1 FROM workspaces WHERE " + cond + " LIMIT 5001", index},
				{"SELECT slug, name, plan, status, created_at, last_login_at, cancelled_at FROM workspaces WHERE " + cond + " AND slug > '' ORDER BY slug LIMIT 1000", ""},
			} {
				var plan []string
				err := db.Write.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
					if err := tx.Exec("SET LOCAL enable_seqscan = off").Error; err != nil {
						return err
					}
					return tx.Raw("EXPLAIN "+q.sql, args...).Scan(&plan).Error
				})
				if err != nil {
					t.Fatal(err)
				}
				text := strings.Join(plan, "\n")
				if strings.Contains(text, "Seq Scan on workspaces") || (q.want != "" && !strings.Contains(text, q.want)) {
					t.Errorf("%s: %s\nplan:\n%s\nwant %q and no sequential scan", state, q.sql, text, q.want)
				}
			}
		}
	})
}

// statements is a gorm logger that keeps every statement run, with its
// values written in. A page may run its reads at once (a search's
// arms), so it is safe for concurrent use.
type statements struct {
	mu  sync.Mutex
	sql []string
}

func (s *statements) LogMode(logger.LogLevel) logger.Interface { return s }
func (s *statements) Info(context.Context, string, ...any)     {}
func (s *statements) Warn(context.Context, string, ...any)     {}
func (s *statements) Error(context.Context, string, ...any)    {}
func (s *statements) Trace(_ context.Context, _ time.Time, fc func() (string, int64), _ error) {
	sql, _ := fc()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sql = append(s.sql, sql)
}

// TestRetentionQueueQueriesUseIndexes: on PostgreSQL every statement the
// retention queue's first page and counts and the sysadmin dashboard run
// (once the retention job has counted) is served by an index, and none
// reads the plain first notices, the bulk of the retention table.
func TestRetentionQueueQueriesUseIndexes(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		if db.Dialect != models.Postgres {
			t.Skip("PostgreSQL's plans")
		}
		ctx := context.Background()
		now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
		p := models.DefaultRetentionPolicy()
		randomRetention(t, db, now, p, 2000, 5)
		// Most rows of a real retention table are plain first notices.
		if err := db.Write.Exec("INSERT INTO retention (slug, noticed_at, updated_at) SELECT 'noticed-' || i, ?, ? FROM generate_series(1, 3000) AS i", now, now).Error; err != nil {
			t.Fatal(err)
		}
		census, err := (&models.RetentionClasses{DB: db.Read, Product: db.Read, Now: now, Policy: p}).Census(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := models.StoreRetentionCounts(ctx, db.Write, census, now); err != nil {
			t.Fatal(err)
		}
		for _, table := range []string{"workspaces", "retention", "legal_holds", "deletion_requests", "retention_counts"} {
			if err := db.Write.Exec("ANALYZE " + table).Error; err != nil {
				t.Fatal(err)
			}
		}

		var seen statements
		traced := db.Read.Session(&gorm.Session{Logger: &seen})
		attention := slices.DeleteFunc(models.RetentionStates(), func(s models.RetentionState) bool {
			return s == models.RetentionActive || s == models.RetentionDeleted
		})
		queue := &models.RetentionClasses{DB: traced, Product: traced, Now: now, Policy: p}
		if _, _, err := queue.Page(ctx, attention, "", nil, 50); err != nil {
			t.Fatal(err)
		}
		if _, at, err := queue.QueueCounts(ctx); err != nil || at.IsZero() {
			t.Fatalf("queue counts at %v, %v; want the census's", at, err)
		}
		dashboard := &models.RetentionClasses{DB: traced, Product: traced, Now: now, Policy: p}
		if _, err := dashboard.OverdueDeletions(ctx, 51); err != nil {
			t.Fatal(err)
		}
		if _, _, err := models.EstimateWorkspaces(ctx, traced); err != nil {
			t.Fatal(err)
		}
		if len(seen.sql) < 5 {
			t.Fatalf("traced %d statements: %q", len(seen.sql), seen.sql)
		}
		for _, sql := range seen.sql {
			var plan []string
			err := db.Write.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
				if err := tx.Exec("SET LOCAL enable_seqscan = off").Error; err != nil {
					return err
				}
				return tx.Raw("EXPLAIN " + sql).Scan(&plan).Error
			})
			if err != nil {
				t.Fatalf("%s: %v", sql, err)
			}
			text := strings.Join(plan, "\n")
			if strings.Contains(text, "Seq Scan") {
				t.Errorf("%.300s\nplan:\n%.2000s\nwant no sequential scan", sql, text)
			}
			// The retention table is read through retention_acted, or
			// for named workspaces.
			if strings.Contains(text, " on retention ") && !strings.Contains(text, "on retention_acted") && !strings.Contains(text, "Index Cond: (slug = ") {
				t.Errorf("%.300s\nplan:\n%.2000s\nwant the retention table read through retention_acted or by slug", sql, text)
			}
		}
	})
}

// TestEstimateWorkspaces: a small registry is counted; a large one on
// PostgreSQL is the planner's estimate, said to be one.
func TestEstimateWorkspaces(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
		if err := demo.SeedProduct(ctx, db.Write, now); err != nil {
			t.Fatal(err)
		}
		exact, err := models.CountWorkspaces(ctx, db.Read)
		if err != nil {
			t.Fatal(err)
		}
		if n, about, err := models.EstimateWorkspaces(ctx, db.Read); err != nil || n != exact || about {
			t.Errorf("small registry: %d (about %v), %v; want %d exactly", n, about, err, exact)
		}
		if db.Dialect != models.Postgres {
			return
		}
		err = db.Write.Exec("INSERT INTO workspaces (slug, name, plan, status, member_count, created_at, subscription_state) SELECT 'big-' || i, 'Big ' || i, 'team', 'active', 1, ?, 'active' FROM generate_series(1, 12000) AS i", now).Error
		if err == nil {
			err = db.Write.Exec("ANALYZE workspaces").Error
		}
		if err != nil {
			t.Fatal(err)
		}
		n, about, err := models.EstimateWorkspaces(ctx, db.Read)
		if err != nil || !about || n < 11000 || n > 13500+exact {
			t.Errorf("large registry: %d (about %v), %v; want about %d", n, about, err, 12000+exact)
		}
		// The workspace list says the same of the whole registry, and
		// counts a filtered one, up to the cap.
		list := models.WorkspaceList{DB: db.Read, Product: db.Read, Now: now, Policy: models.DefaultRetentionPolicy()}
		k := models.Keyset{Sort: models.WorkspaceSorts[0], Limit: 50}
		if _, c, err := list.Page(ctx, models.WorkspaceFilter{}, k); err != nil || c != (models.Count{N: n, About: true}) {
			t.Errorf("whole list counted %+v, %v; want about %d", c, err, n)
		}
		if _, c, err := list.Page(ctx, models.WorkspaceFilter{Plan: "team"}, k); err != nil || c != (models.Count{N: models.CountCap, Capped: true}) {
			t.Errorf("team workspaces counted %+v, %v; want more than %d", c, err, models.CountCap)
		}
	})
}

// TestRetentionJobKeepsTheQueueCounts: a run of the retention job leaves
// the counts of the CountedStates as they stand after it, for the queue.
func TestRetentionJobKeepsTheQueueCounts(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
		p := models.DefaultRetentionPolicy()
		randomRetention(t, db, now, p, 300, 11)
		job := &models.RetentionJob{DB: db, Product: db, Policy: p, Now: func() time.Time { return now },
			Post: models.Post{Outbox: newOutbox(t), Letters: &retentionLetters{}}}
		run, err := job.RunOnce(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if run.Noticed == 0 {
			t.Fatalf("the run noticed nobody (%+v): the counts would not move", run)
		}
		var all []models.Workspace
		if err := db.Read.Order("slug").Find(&all).Error; err != nil {
			t.Fatal(err)
		}
		want := map[models.RetentionState]int{}
		for _, w := range all {
			st, err := models.WorkspaceRetention(ctx, db.Read, db.Read, now, p, w.Slug)
			if err != nil {
				t.Fatal(err)
			}
			want[st.State]++
		}
		got, at, ok, err := models.StoredRetentionCounts(ctx, db.Read, models.CountedStates())
		if err != nil || !ok || !at.Equal(now) {
			t.Fatalf("stored counts %+v at %v (%v, %v); want them, counted at %v", got, at, ok, err, now)
		}
		for _, c := range got {
			if c.N != want[c.State] || c.About {
				t.Errorf("stored count of %s: %+v, want %d", c.State, c, want[c.State])
			}
		}
	})
}

// TestRetentionJobSendsEveryDueStep: on a registry whose dates sit on and
// around every threshold, one run of the job sends exactly the notices and
// marks that evaluating every workspace finds due, and counts the
// deletions due; the workspaces it leaves unread because their retention
// row shows nothing is due (most of what it acted on before, at scale)
// have indeed nothing due.
func TestRetentionJobSendsEveryDueStep(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
		p := models.DefaultRetentionPolicy()
		randomRetention(t, db, now, p, 1500, 23)
		// And on each side of the two bounds of what is left unread: a
		// notice sent FreeMark - FreeNotice ago (its mark due from then),
		// and a notice and mark sent at the clock's start, FreeNotice ago
		// (valid from then).
		gap, cut := p.FreeMark-p.FreeNotice, now.Add(-p.FreeNotice)
		for i, off := range []time.Duration{-time.Second, -time.Microsecond, 0, time.Microsecond, time.Second} {
			recent, start := now.Add(-gap).Add(off), cut.Add(off)
			edges := []struct {
				w   models.Workspace
				rec models.RetentionRecord
			}{
				{models.Workspace{Slug: fmt.Sprintf("edge-recent-%d", i), CreatedAt: now.Add(-p.FreeMark - models.Day)},
					models.RetentionRecord{NoticedAt: &recent}},
				{models.Workspace{Slug: fmt.Sprintf("edge-start-%d", i), CreatedAt: cut},
					models.RetentionRecord{NoticedAt: &start, MarkedAt: &start, SecondNoticedAt: &start}},
			}
			for _, e := range edges {
				e.w.Name, e.w.Plan, e.w.Status, e.w.SubscriptionState = e.w.Slug, "free", models.WorkspaceFree, "none"
				e.rec.Slug, e.rec.UpdatedAt = e.w.Slug, now
				if err := db.Write.Create(&e.w).Error; err != nil {
					t.Fatal(err)
				}
				if err := db.Write.Create(&e.rec).Error; err != nil {
					t.Fatal(err)
				}
			}
		}
		// And what a month of runs leaves: workspaces noticed over the
		// last month, and marked ones.
		for i := range 40 {
			noticed := now.Add(-time.Duration(i) * models.Day / 2)
			w := models.Workspace{Slug: fmt.Sprintf("month-%02d", i), CreatedAt: noticed.Add(-p.FreeNotice - time.Hour)}
			rec := models.RetentionRecord{NoticedAt: &noticed}
			if i%2 == 1 {
				marked := now.Add(-time.Duration(i) * models.Day)
				noticed = marked.Add(-gap - time.Hour)
				w.CreatedAt = noticed.Add(-p.FreeNotice - time.Hour)
				rec.MarkedAt, rec.SecondNoticedAt = &marked, &marked
			}
			w.Name, w.Plan, w.Status, w.SubscriptionState = w.Slug, "free", models.WorkspaceFree, "none"
			rec.Slug, rec.UpdatedAt = w.Slug, now
			if err := db.Write.Create(&w).Error; err != nil {
				t.Fatal(err)
			}
			if err := db.Write.Create(&rec).Error; err != nil {
				t.Fatal(err)
			}
		}
		var all []models.Workspace
		if err := db.Read.Order("slug").Find(&all).Error; err != nil {
			t.Fatal(err)
		}
		quiet, err := models.QuietRetentionForTest(ctx, db.Read, db.Read, now, p)
		if err != nil {
			t.Fatal(err)
		}
		var notices, marks, due, quietIdle int
		for _, w := range all {
			st, err := models.WorkspaceRetention(ctx, db.Read, db.Read, now, p, w.Slug)
			if err != nil {
				t.Fatal(err)
			}
			step := st.Due && (st.Next == models.NextNotice || st.Next == models.NextMark)
			if quiet[w.Slug] && step {
				t.Errorf("%s is left unread, but its %s is due (%s)", w.Slug, st.Next, st.Explanation)
			}
			if quiet[w.Slug] {
				quietIdle++
			}
			switch {
			case step && st.Next == models.NextNotice:
				notices++
			case step:
				marks++
			}
			if st.State == models.RetentionDeletionDue {
				due++
			}
		}
		if quietIdle < 20 || notices < 20 || marks < 5 {
			t.Fatalf("%d left unread, %d notices and %d marks due: the random registry does not test the job", quietIdle, notices, marks)
		}
		run, err := models.RunRetention(ctx, db.Write, db.Read, now, p, models.Post{Outbox: newOutbox(t), Letters: &retentionLetters{}})
		if err != nil {
			t.Fatal(err)
		}
		if run.Noticed != notices || run.Marked != marks || run.DeletionDue != due {
			t.Errorf("run %+v, want %d notices, %d marks, %d deletions due", run, notices, marks, due)
		}
		if run.Evaluated >= len(all)/2 {
			t.Errorf("the run evaluated %d of %d workspaces: it reads more than may be due", run.Evaluated, len(all))
		}
	})
}

// TestREADMERegistryIndexes: the registry indexes README asks the product
// to create on PostgreSQL are the ones the code reads through.
func TestREADMERegistryIndexes(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	space := regexp.MustCompile(`\s+`)
	var documented []string
	for _, stmt := range regexp.MustCompile(`(?s)CREATE INDEX IF NOT EXISTS workspaces_[^;]*;`).FindAllString(string(readme), -1) {
		documented = append(documented, space.ReplaceAllString(strings.TrimSuffix(stmt, ";"), " "))
	}
	pg, err := gorm.Open(postgres.New(postgres.Config{DSN: "host=invalid"}), &gorm.Config{DryRun: true, DisableAutomaticPing: true})
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, ix := range models.RegistryRetentionIndexes(pg) {
		want = append(want, ix.SQL)
	}
	if !slices.Equal(documented, want) {
		t.Errorf("README's registry indexes:\n%s\nwant:\n%s", strings.Join(documented, "\n"), strings.Join(want, "\n"))
	}
}
