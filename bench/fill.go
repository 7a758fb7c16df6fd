package bench

import (
	"context"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"gatehouse/models"
	"gatehouse/models/demo"

	"github.com/jackc/pgx/v5"
)

// gen makes the rows of one size, deterministically: the same size and
// time give the same databases.
type gen struct {
	size  Size
	now   time.Time
	bulk  int      // generated workspaces (the registry's size less the demo's)
	demo  []string // the demo workspaces' slugs
	staff []actor
}

type actor struct{ email, tier string }

func newGen(size Size, now time.Time) *gen {
	g := &gen{size: size, now: now.UTC().Truncate(time.Second), demo: demo.WorkspaceSlugs()}
	g.bulk = max(size.Workspaces-len(g.demo), 0)
	// The demo staff, who sign in to the benchmark's portal, are the
	// busiest actors; a larger staff does the rest.
	for _, m := range demo.Staff {
		if !m.Tier.Valid() {
			continue // a custom role (billing-support) reads no data
		}
		g.staff = append(g.staff, actor{m.Email, string(m.Tier)})
	}
	for i := range 60 {
		tier := "support"
		switch {
		case i < 15:
			tier = "senior"
		case i < 18:
			tier = "sysadmin"
		case i < 20:
			tier = "auditor"
		}
		g.staff = append(g.staff, actor{fmt.Sprintf("agent%02d@example.com", i), tier})
	}
	return g
}

var (
	adjectives = []string{"bright", "north", "silver", "quiet", "rapid", "blue", "green", "golden", "iron", "lucky",
		"brave", "clever", "crimson", "eastern", "frozen", "hidden", "mighty", "noble", "polar", "royal",
		"sunny", "swift", "urban", "vivid", "wild", "amber", "bold", "cosmic", "digital", "electric"}
	nouns = []string{"harbor", "falcon", "river", "summit", "forge", "meadow", "orbit", "pixel", "canyon", "beacon",
		"anchor", "bridge", "cedar", "delta", "ember", "fjord", "grove", "horizon", "island", "jungle",
		"kernel", "lantern", "maple", "nebula", "oasis", "prairie", "quarry", "ridge", "signal", "tundra"}
	suffixes = []string{"Labs", "Logistics", "Studio", "Partners", "Systems", "Foods", "Health", "Analytics", "Media", "Works"}
	tables   = []string{"members", "documents", "projects", "comments"}
	agents   = []string{"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 Safari/605.1.15",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36",
		"Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"}
)

// slug is generated workspace i's slug; unique because it ends in i.
func slug(i int) string {
	return adjectives[i%len(adjectives)] + "-" + nouns[(i/len(adjectives))%len(nouns)] + "-" + strconv.Itoa(i)
}

// workspace is generated workspace i and its owners: a realistic spread of
// plans, states and dates, so that every retention state, the search and
// the lists have something to find.
// benchRegions are the regions the generated registry spreads over.
var benchRegions = []string{"eu", "us", "uk"}

func (g *gen) workspace(i int) (models.Workspace, []string) {
	r := rand.New(rand.NewPCG(uint64(i), 0x5eed)) // #nosec G404 G115 -- benchmark data, the same for each index i (never negative); no secret
	s := slug(i)
	w := models.Workspace{
		Slug: s, Name: titled(adjectives[i%len(adjectives)]) + " " + titled(nouns[(i/len(adjectives))%len(nouns)]) + " " + suffixes[r.IntN(len(suffixes))],
		CreatedAt: g.now.Add(-time.Duration(30+r.IntN(1500)) * models.Day).Add(-time.Duration(r.IntN(86400)) * time.Second),
		// Spread over the regions by index, not from r: the other
		// columns stay what they were for each index.
		Region: benchRegions[i%len(benchRegions)],
	}
	ago := func(days int) *time.Time {
		t := g.now.Add(-time.Duration(days)*models.Day - time.Duration(r.IntN(86400))*time.Second)
		if t.Before(w.CreatedAt) {
			t = w.CreatedAt
		}
		return &t
	}
	switch p := r.IntN(100); {
	case p < 55:
		w.Plan, w.Status, w.SubscriptionState, w.MemberCount = "free", "free", "none", 1+r.IntN(5)
	case p < 80:
		w.Plan, w.MemberCount = "team", 2+r.IntN(19)
	case p < 95:
		w.Plan, w.MemberCount = "business", 10+r.IntN(91)
	default:
		w.Plan, w.MemberCount = "enterprise", 50+r.IntN(1951)
	}
	if w.Plan != "free" {
		switch c := r.IntN(100); {
		case c < 10:
			w.Status, w.SubscriptionState = "cancelled", "cancelled"
			w.CancelledAt = ago(r.IntN(400))
		default:
			w.Status, w.SubscriptionState = "active", []string{"active", "active", "active", "active", "active", "active", "active", "active", "trialing", "past_due"}[c%10]
			renew := g.now.Add(time.Duration(1+r.IntN(365)) * models.Day).Truncate(models.Day)
			w.RenewalDate = &renew
		}
	}
	// Most workspaces are used every week; some idle long enough for the
	// free rule's notices (150 days), a few never signed in.
	switch l := r.IntN(1000); {
	case l < 20:
	case l < 850:
		w.LastLoginAt = ago(r.IntN(30))
	case l < 970:
		w.LastLoginAt = ago(30 + r.IntN(120))
	default:
		w.LastLoginAt = ago(150 + r.IntN(250))
	}
	owners := []string{"owner@" + s + ".example"}
	if r.IntN(3) == 0 {
		owners = append(owners, "admin@"+s+".example")
	}
	return w, owners
}

func titled(s string) string { return strings.ToUpper(s[:1]) + s[1:] }

// pickWorkspace chooses the workspace of an event: a tenth the demo's,
// the rest generated ones, a fifth of those among the busiest 1%.
func (g *gen) pickWorkspace(r *rand.Rand) string {
	if g.bulk == 0 || r.IntN(10) == 0 {
		return g.demo[r.IntN(len(g.demo))]
	}
	if r.IntN(5) == 0 {
		return slug(r.IntN(max(g.bulk/100, 1)))
	}
	return slug(r.IntN(g.bulk))
}

// event is the audit event of seq (from 1), spread evenly over the two
// years before now: mostly data views, with the logins, requests,
// grants, retention and break-glass events around them.
func (g *gen) event(seq int64) models.AuditEvent {
	r := rand.New(rand.NewPCG(uint64(seq), 0xa0d17)) // #nosec G404 G115 -- benchmark data, the same for each seq (never negative); no secret
	span := 730 * models.Day
	step := span / time.Duration(g.size.Events+1)
	at := g.now.Add(-span).Add(time.Duration(seq) * step).Add(time.Duration(r.Int64N(int64(max(step, time.Millisecond))))).Truncate(time.Millisecond)
	a := g.staff[r.IntN(len(g.staff))]
	if r.IntN(3) > 0 { // two thirds by the demo's seniors and support
		a = g.staff[r.IntN(3)]
	}
	var rid [8]byte
	for i := range rid {
		rid[i] = byte(r.IntN(256)) // #nosec G115 -- 0..255
	}
	ev := models.AuditEvent{
		Seq: seq, At: at, Actor: a.email, ActorTier: a.tier,
		IP: fmt.Sprintf("10.%d.%d.%d", r.IntN(256), r.IntN(256), 1+r.IntN(254)), UserAgent: agents[r.IntN(len(agents))],
		RequestID: hex.EncodeToString(rid[:]),
	}
	request := 1 + r.Int64N(max(int64(g.size.Events)/40, 1))
	grant := request
	switch k := r.IntN(1000); {
	case k < 700: // a page of a table, or one record
		ev.Action, ev.Workspace, ev.Table = models.ActionDataViewed, g.pickWorkspace(r), tables[r.IntN(len(tables))]
		if r.IntN(4) == 0 {
			ev.RecordIDs = strconv.Itoa(1 + r.IntN(5000))
		} else {
			first := 1 + 50*r.IntN(100)
			ids := make([]string, 50)
			for i := range ids {
				ids[i] = strconv.Itoa(first + i)
			}
			ev.RecordIDs = strings.Join(ids, ",")
		}
		if r.IntN(50) == 0 {
			bg := 1 + r.Int64N(max(int64(g.size.Events)/5000, 1))
			ev.BreakglassID, ev.Reason = &bg, "Incident: customer cannot sign in"
		} else {
			ev.GrantID = &grant
		}
	case k < 730:
		ev.Action, ev.Workspace, ev.Table, ev.GrantID = models.ActionFieldRevealed, g.pickWorkspace(r), "members", &grant
		ev.RecordIDs, ev.Detail = strconv.Itoa(1+r.IntN(5000)), `{"column":"email"}`
	case k < 810:
		ev.Action = models.ActionLoginSucceeded
	case k < 830:
		ev.Action = models.ActionLogout
	case k < 860:
		ev.Action, ev.Workspace, ev.Target = models.ActionRequestCreated, g.pickWorkspace(r), fmt.Sprintf("request/%d", request)
		ev.Reason, ev.Detail = "Ticket #"+strconv.Itoa(10000+r.IntN(90000))+": data looks wrong", `{"tables":["members","projects"],"hours":4}`
	case k < 880:
		ev.Action, ev.Workspace, ev.Target = models.ActionRequestApproved, g.pickWorkspace(r), fmt.Sprintf("request/%d", request)
	case k < 890:
		ev.Action, ev.Workspace, ev.Target = models.ActionConsentGranted, g.pickWorkspace(r), fmt.Sprintf("request/%d", request)
		ev.Actor, ev.ActorTier = "owner@"+ev.Workspace+".example", "customer"
	case k < 910:
		ev.Action, ev.Workspace, ev.Target, ev.GrantID = models.ActionGrantDone, g.pickWorkspace(r), fmt.Sprintf("request/%d", request), &grant
	case k < 920:
		ev.Action, ev.Workspace, ev.Target, ev.GrantID = models.ActionGrantExpired, g.pickWorkspace(r), fmt.Sprintf("request/%d", request), &grant
		ev.Actor, ev.ActorTier = "system", "system"
	case k < 935:
		ev.Action, ev.Workspace, ev.Actor, ev.ActorTier = models.ActionRetentionNoticed, g.pickWorkspace(r), "system", "system"
		ev.Detail = `{"rule":"free","days_idle":150}`
	case k < 940:
		ev.Action, ev.Workspace, ev.Actor, ev.ActorTier = models.ActionRetentionMarked, g.pickWorkspace(r), "system", "system"
	case k < 942:
		bg := 1 + r.Int64N(max(int64(g.size.Events)/5000, 1))
		ev.Action, ev.Workspace, ev.BreakglassID, ev.Reason = models.ActionBreakglassOpened, g.pickWorkspace(r), &bg, "Incident: customer cannot sign in"
	case k < 944:
		bg := 1 + r.Int64N(max(int64(g.size.Events)/5000, 1))
		ev.Action, ev.Workspace, ev.BreakglassID = models.ActionBreakglassReviewed, g.pickWorkspace(r), &bg
	case k < 946:
		ev.Action, ev.Detail = models.ActionAuditExported, `{"format":"csv"}`
	default:
		ev.Action, ev.Workspace, ev.Actor, ev.ActorTier = models.ActionMailSent, g.pickWorkspace(r), "system", "system"
		ev.Target = fmt.Sprintf("request/%d", request)
	}
	return ev
}

// eventBatch is how many events one COPY (or one SQLite transaction) writes.
const eventBatch = 100_000

// fillEvents appends g's events to the empty chain of portal, hashing each
// with the models' own chain hash in order, and moves the head to the last.
// On PostgreSQL the events are copied in (COPY, batch by batch) with the
// log's secondary indexes dropped and built again afterwards, as a
// restore does; on SQLite they are inserted in batches.
func fillEvents(ctx context.Context, portal *models.DB, portalURL string, g *gen) error {
	var head models.ChainHead
	if err := portal.Write.WithContext(ctx).Raw("SELECT seq, hash FROM audit_head WHERE id = 1").Row().Scan(&head.Seq, &head.Hash); err != nil {
		return fmt.Errorf("audit head: %w", err)
	}
	if head.Seq != 0 {
		return fmt.Errorf("audit log not empty (head at %d)", head.Seq)
	}
	total := int64(g.size.Events)
	next := func(seq int64) models.AuditEvent {
		ev := g.event(seq)
		ev.PrevHash = head.Hash
		ev.Hash = models.ChainHash(head.Hash, ev)
		head = models.ChainHead{Seq: ev.Seq, Hash: ev.Hash}
		return ev
	}
	if portal.Dialect == models.Postgres {
		conn, err := pgx.Connect(ctx, portalURL)
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		rebuild, err := dropIndexes(ctx, conn, "audit_events")
		if err != nil {
			return err
		}
		cols := []string{"seq", "at", "actor", "actor_tier", "action", "workspace", "table_name", "record_ids", "grant_id", "breakglass_id",
			"target", "reason", "detail", "ip", "user_agent", "request_id", "prev_hash", "hash"}
		for from := int64(1); from <= total; from += eventBatch {
			to := min(from+eventBatch-1, total)
			seq := from - 1
			src := pgx.CopyFromFunc(func() ([]any, error) {
				if seq >= to {
					return nil, nil
				}
				seq++
				ev := next(seq)
				return []any{ev.Seq, ev.At, ev.Actor, ev.ActorTier, string(ev.Action), ev.Workspace, ev.Table, ev.RecordIDs,
					ev.GrantID, ev.BreakglassID, ev.Target, ev.Reason, ev.Detail, ev.IP, ev.UserAgent, ev.RequestID, ev.PrevHash, ev.Hash}, nil
			})
			if _, err := conn.CopyFrom(ctx, pgx.Identifier{"audit_events"}, cols, src); err != nil {
				return fmt.Errorf("copy events %d-%d: %w", from, to, err)
			}
		}
		for _, q := range append([]string{"SET maintenance_work_mem = '512MB'"}, rebuild...) {
			if _, err := conn.Exec(ctx, q); err != nil {
				return fmt.Errorf("%.80s: %w", q, err)
			}
		}
	} else {
		const rows = 500 // 18 parameters a row: well within SQLite's limit
		for from := int64(1); from <= total; from += eventBatch {
			to := min(from+eventBatch-1, total)
			evs := make([]models.AuditEvent, 0, to-from+1)
			for seq := from; seq <= to; seq++ {
				evs = append(evs, next(seq))
			}
			if err := portal.Write.WithContext(ctx).CreateInBatches(evs, rows).Error; err != nil {
				return fmt.Errorf("insert events %d-%d: %w", from, to, err)
			}
		}
	}
	if total == 0 {
		return nil
	}
	return portal.Write.WithContext(ctx).Exec("UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1", head.Seq, head.Hash).Error
}

// dropIndexes drops table's indexes that back no constraint and returns
// the statements that create them again: whatever indexes the migrations
// made, the benchmark's database ends with the same.
func dropIndexes(ctx context.Context, conn *pgx.Conn, table string) ([]string, error) {
	rows, err := conn.Query(ctx, `SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
FROM pg_index i WHERE i.indrelid = $1::regclass
AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)`, table)
	if err != nil {
		return nil, err
	}
	var names, defs []string
	for rows.Next() {
		var n, d string
		if err := rows.Scan(&n, &d); err != nil {
			return nil, err
		}
		// A partitioned table's index is defined "ON ONLY" the parent:
		// created so again it would be left invalid, on no partition, and
		// every search of the log would read all of it.
		names, defs = append(names, n), append(defs, strings.Replace(d, " ON ONLY ", " ON ", 1))
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, n := range names {
		if _, err := conn.Exec(ctx, "DROP INDEX "+n); err != nil {
			return nil, fmt.Errorf("drop index %s: %w", n, err)
		}
	}
	return defs, nil
}

// fillWorkspaces adds g's generated workspaces and their owners to the
// registry the demo seeding created: COPY on PostgreSQL, batches on SQLite.
func fillWorkspaces(ctx context.Context, product *models.DB, productURL string, g *gen) error {
	if g.bulk == 0 {
		return nil
	}
	if product.Dialect == models.Postgres {
		conn, err := pgx.Connect(ctx, productURL)
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		i := 0
		src := pgx.CopyFromFunc(func() ([]any, error) {
			if i >= g.bulk {
				return nil, nil
			}
			w, _ := g.workspace(i)
			i++
			return []any{w.Slug, w.Name, w.Plan, w.Region, w.Status, w.MemberCount, w.CreatedAt, w.LastLoginAt, w.CancelledAt,
				w.SubscriptionState, w.RenewalDate, w.DSN}, nil
		})
		cols := []string{"slug", "name", "plan", "region", "status", "member_count", "created_at", "last_login_at", "cancelled_at",
			"subscription_state", "renewal_date", "dsn"}
		if _, err := conn.CopyFrom(ctx, pgx.Identifier{"workspaces"}, cols, src); err != nil {
			return fmt.Errorf("copy workspaces: %w", err)
		}
		// The owners in a second pass over the same workspaces, so that
		// memory does not grow with the registry.
		i = 0
		var pending []string
		var current string
		owners := pgx.CopyFromFunc(func() ([]any, error) {
			for len(pending) == 0 {
				if i >= g.bulk {
					return nil, nil
				}
				w, ow := g.workspace(i)
				i++
				current, pending = w.Slug, ow
			}
			o := pending[0]
			pending = pending[1:]
			return []any{current, o}, nil
		})
		if _, err := conn.CopyFrom(ctx, pgx.Identifier{"workspace_owners"}, []string{"slug", "email"}, owners); err != nil {
			return fmt.Errorf("copy owners: %w", err)
		}
		return nil
	}
	const batch = 20_000
	for from := 0; from < g.bulk; from += batch {
		var ws []models.Workspace
		var owners []models.WorkspaceOwner
		for i := from; i < min(from+batch, g.bulk); i++ {
			w, ow := g.workspace(i)
			ws = append(ws, w)
			for _, o := range ow {
				owners = append(owners, models.WorkspaceOwner{Slug: w.Slug, Email: o})
			}
		}
		if err := product.Write.WithContext(ctx).CreateInBatches(ws, 500).Error; err != nil {
			return err
		}
		if err := product.Write.WithContext(ctx).CreateInBatches(owners, 2000).Error; err != nil {
			return err
		}
	}
	// Loaded in bulk, each FTS5 table is left in several segments (6 and
	// 11 at 100k workspaces), each of which every search seeks in: a
	// rare text's search took 2.7 ms instead of 0.8. A product merges
	// them after a bulk load, as FTS5's documentation advises (README:
	// Workspace search).
	for _, fts := range []string{"workspaces_fts", "workspace_owners_fts"} {
		if err := product.Write.WithContext(ctx).Exec("INSERT INTO " + fts + " (" + fts + ") VALUES ('optimize')").Error; err != nil {
			return fmt.Errorf("optimize %s: %w", fts, err)
		}
	}
	return nil
}
