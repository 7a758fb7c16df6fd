package bench

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"gatehouse/fleet"
	"gatehouse/models"
	"gatehouse/models/dbtest"
)

// BenchmarkSize measures a real `gatehouse serve --dev` process on the
// kept databases of each size of GATEHOUSE_BENCH_SIZES (default
// DefaultSizes; GATEHOUSE_BENCH_FULL=1 adds FullSize), on PostgreSQL
// (GATEHOUSE_TEST_PG) and, when GATEHOUSE_BENCH_ENGINES names it, SQLite:
// its start-up, each staff page's time (p50 over several requests, from
// sending to the last byte on loopback), the audit export's time to first
// byte and whether it completes, one sweeper pass and one retention run
// (the models' jobs run here against the same databases), and the
// server's resident memory (VmRSS idle after start-up, VmHWM at the end).
// Each figure is reported as a metric and the whole as a table.
// Run it with -benchtime=1x (make bench-size).
func BenchmarkSize(b *testing.B) {
	spec := os.Getenv("GATEHOUSE_BENCH_SIZES")
	if spec == "" {
		spec = DefaultSizes
	}
	if os.Getenv("GATEHOUSE_BENCH_FULL") == "1" {
		spec += "," + FullSize
	}
	sizes, err := ParseSizes(spec)
	if err != nil {
		b.Fatal(err)
	}
	engines := strings.Split(cmpOr(os.Getenv("GATEHOUSE_BENCH_ENGINES"), "postgres"), ",")
	bin := fleet.Binary(b)
	var tables []string
	for _, engine := range engines {
		for _, size := range sizes {
			b.Run(engine+"/"+size.Name(), func(b *testing.B) {
				opts := Options{Logf: b.Logf}
				switch strings.TrimSpace(engine) {
				case "postgres":
					opts.Server = dbtest.PostgresURL(b)
				case "sqlite":
				default:
					b.Fatalf("GATEHOUSE_BENCH_ENGINES: unknown engine %q (postgres, sqlite)", engine)
				}
				var rows []row
				for b.Loop() {
					rows = measure(b, bin, size, opts)
				}
				for _, r := range rows {
					if r.ms >= 0 {
						b.ReportMetric(r.ms, r.metric+"-ms")
					}
					if r.mb > 0 {
						b.ReportMetric(r.mb, r.metric+"-MB")
					}
				}
				tables = append(tables, table(engine, size, rows))
			})
		}
	}
	fmt.Println()
	for _, t := range tables {
		fmt.Println(t)
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// row is one measured figure: a time in ms (-1 when none), memory in MB,
// and a note (HTTP status other than 200, the export's completeness).
type row struct {
	name, metric string
	ms, mb       float64
	note         string
}

// page is a staff page to time: who asks, and where.
type page struct {
	name, metric, who, path string
}

// measure generates (or finds) the size's databases, starts the server
// and takes every figure once.
func measure(b *testing.B, bin string, size Size, opts Options) []row {
	ctx := context.Background()
	began := time.Now()
	tg, err := Generate(ctx, size, opts)
	if err != nil {
		b.Fatal(err)
	}
	if tg.Built {
		b.Logf("generated %s in %s", size, time.Since(began).Round(time.Second))
	}
	dataDir := filepath.Join(filepath.Dir(tg.Portal), "data")
	if tg.Dialect == models.Postgres {
		cache, err := os.UserCacheDir()
		if err != nil {
			b.Fatal(err)
		}
		dataDir = filepath.Join(cache, "gatehouse-bench", "gatehouse_bench_"+size.Name()+"_pg_data")
	}
	portal, err := models.Open(ctx, tg.Portal)
	if err != nil {
		b.Fatal(err)
	}
	defer portal.Close()
	settled, err := settleMail(ctx, portal)
	if err != nil {
		b.Fatal(err)
	}
	if settled > 0 {
		b.Logf("%d queued mails counted as delivered", settled)
	}
	s := startServer(b, bin, tg, dataDir)
	b.Logf("quiet %s after start-up", settle().Round(time.Millisecond))
	idle, _ := s.memory()
	rows := []row{{name: "start-up (exec to /readyz)", metric: "startup", ms: ms(s.Startup)}}
	product, err := models.Open(ctx, tg.Product)
	if err != nil {
		b.Fatal(err)
	}
	defer product.Close()

	// A record someone viewed, for the "who viewed" filters; a busy
	// generated workspace; a rare term for the search.
	views, err := models.SearchAudit(ctx, portal.Read, models.AuditQuery{Action: models.ActionDataViewed, Workspace: slug(0), Limit: 1})
	if err != nil || len(views) == 0 {
		b.Fatalf("no view to search for in %s: %v", slug(0), err)
	}
	record := strings.Split(views[0].RecordIDs, ",")[0]
	ws := slug(0)
	rare := slug(max(size.Workspaces-26, 0) / 2)
	now := time.Now().UTC()
	pages := []page{
		{"dashboard (support)", "dashboard-support", "sam.support@example.com", "/"},
		{"dashboard (senior)", "dashboard-senior", "sara.senior@example.com", "/"},
		{"dashboard (sysadmin)", "dashboard-sysadmin", "ada.sysadmin@example.com", "/"},
		{"dashboard (auditor)", "dashboard-auditor", "aud.auditor@example.com", "/"},
		{"dashboard (engineer)", "dashboard-engineer", "eve.engineer@example.com", "/"},
		{"workspace list", "workspaces", "sara.senior@example.com", "/workspaces"},
		{"workspace search (common: harbor)", "workspaces-search-common", "sara.senior@example.com", "/workspaces?q=harbor"},
		{"workspace search (one: " + rare + ")", "workspaces-search-one", "sara.senior@example.com", "/workspaces?q=" + rare},
		{"workspace search (owner email)", "workspaces-search-owner", "sara.senior@example.com", "/workspaces?q=" + url.QueryEscape("owner@"+rare)},
		{"workspace page (" + ws + ")", "workspace-page", "sara.senior@example.com", "/workspaces/" + ws},
		{"retention queue", "retention", "ada.sysadmin@example.com", "/retention"},
		{"requests", "requests", "sara.senior@example.com", "/requests"},
		{"audit log, first page", "audit", "aud.auditor@example.com", "/audit"},
		{"audit: actor", "audit-actor", "aud.auditor@example.com", "/audit?actor=sara.senior%40example.com"},
		{"audit: workspace", "audit-workspace", "aud.auditor@example.com", "/audit?workspace=" + ws},
		{"audit: action (breakglass.opened)", "audit-action", "aud.auditor@example.com", "/audit?action=breakglass.opened"},
		{"audit: record of a workspace (who viewed)", "audit-record", "aud.auditor@example.com", "/audit?workspace=" + ws + "&record=" + record},
		{"audit: record, no workspace", "audit-record-any", "aud.auditor@example.com", "/audit?record=" + record},
		{"audit: since 30 days", "audit-since", "aud.auditor@example.com", "/audit?since=" + now.AddDate(0, 0, -30).Format(time.DateOnly)},
		{"audit: until 12 months ago", "audit-until", "aud.auditor@example.com", "/audit?until=" + now.AddDate(-1, 0, 0).Format(time.DateOnly)},
		{"audit: workspace + until 12 months ago", "audit-workspace-until", "aud.auditor@example.com", "/audit?workspace=" + ws + "&until=" + now.AddDate(-1, 0, 0).Format(time.DateOnly)},
		{"audit: break-glass 1", "audit-breakglass", "aud.auditor@example.com", "/audit?breakglass=1"},
	}
	clients := map[string]*client{}
	for _, p := range pages {
		c := clients[p.who]
		if c == nil {
			c = s.signIn(b, p.who)
			clients[p.who] = c
		}
		rows = append(rows, timePage(b, c, p))
	}

	// The export, after the pages, so that its memory shows in the peak.
	_, before := s.memory()
	ex := clients["aud.auditor@example.com"].export()
	_, after := s.memory()
	note := fmt.Sprintf("status %d, %d lines, %.1f MB in %.1f s", ex.Status, ex.Lines, float64(ex.Bytes)/1e6, ex.Total.Seconds())
	exported, err := models.SearchAudit(ctx, portal.Read, models.AuditQuery{Action: models.ActionAuditExported, Limit: 1})
	if err == nil && len(exported) == 1 {
		// The export covers the events before its own record; the header
		// (and a trailer, if any) are the other lines.
		want := exported[0].Seq - 1
		complete := ex.ReadErr == nil && ex.Status == http.StatusOK && ex.Lines-1 >= want
		note += fmt.Sprintf("; %d events before it: complete=%v", want, complete)
	}
	if ex.ReadErr != nil {
		note += "; read error: " + ex.ReadErr.Error()
	}
	rows = append(rows,
		row{name: "audit export (CSV, all): first byte", metric: "export-ttfb", ms: ms(ex.FirstByte), note: note},
		row{name: "audit export: whole", metric: "export-total", ms: ms(ex.Total)},
		row{name: "server peak RSS during export (VmHWM before → after)", metric: "export-peak-rss", ms: -1, mb: after,
			note: fmt.Sprintf("%.0f → %.0f MB", before, after)})

	// The jobs, here against the same databases.
	post, err := Post(time.Now())
	if err != nil {
		b.Fatal(err)
	}
	sweeper := &models.Sweeper{DB: portal.Write, Product: product.Read, Post: post, Now: time.Now}
	rows = append(rows, timeJob("sweeper pass", "sweep", 5, func() error { _, err := sweeper.Sweep(ctx); return err }))
	tenants := ""
	if tg.Dialect == models.SQLite {
		tenants = filepath.Join(filepath.Dir(tg.Product), "tenants")
	}
	job := &models.RetentionJob{DB: portal, Product: product, TenantsDir: tenants, Policy: models.DefaultRetentionPolicy(), Post: post, Now: time.Now}
	rows = append(rows, timeJob("retention run (nothing due)", "retention-run", 3, func() error { _, err := job.RunOnce(ctx); return err }))

	rss, peak := s.memory()
	rows = append(rows,
		row{name: "server RSS idle after start-up", metric: "rss-idle", ms: -1, mb: idle},
		row{name: "server RSS at the end", metric: "rss-end", ms: -1, mb: rss},
		row{name: "server peak RSS (VmHWM)", metric: "rss-peak", ms: -1, mb: peak})
	return rows
}

// timePage fetches p once to warm it, then several times (fewer for a
// slow page), and returns the median.
func timePage(b *testing.B, c *client, p page) row {
	r := row{name: p.name, metric: p.metric}
	status, first, err := c.get(p.path)
	if err != nil {
		r.ms, r.note = -1, "error: "+err.Error()
		return r
	}
	n := 11
	switch {
	case first > 3*time.Second:
		n = 1
	case first > 300*time.Millisecond:
		n = 3
	}
	times := []time.Duration{}
	for range n {
		st, d, err := c.get(p.path)
		if err != nil {
			r.note = "error: " + err.Error()
			break
		}
		status = st
		times = append(times, d)
	}
	if len(times) == 0 {
		times = append(times, first)
	}
	r.ms = ms(median(times))
	if status != http.StatusOK {
		r.note = fmt.Sprintf("status %d", status)
	}
	b.Logf("%-45s %8.1f ms (n=%d) %s", p.name, r.ms, len(times), r.note)
	return r
}

// timeJob runs fn n times and returns the median.
func timeJob(name, metric string, n int, fn func() error) row {
	var times []time.Duration
	for range n {
		began := time.Now()
		if err := fn(); err != nil {
			return row{name: name, metric: metric, ms: -1, note: "error: " + err.Error()}
		}
		times = append(times, time.Since(began))
	}
	return row{name: name, metric: metric, ms: ms(median(times))}
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// table is the size's figures as a Markdown table.
func table(engine string, size Size, rows []row) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "### %s, %d workspaces, %d events\n\n", engine, size.Workspaces, size.Events)
	sb.WriteString("| figure | ms | MB | note |\n|---|---:|---:|---|\n")
	for _, r := range rows {
		t, m := "", ""
		if r.ms >= 0 {
			t = fmt.Sprintf("%.1f", r.ms)
		}
		if r.mb > 0 {
			m = fmt.Sprintf("%.0f", r.mb)
		}
		fmt.Fprintf(&sb, "| %s | %s | %s | %s |\n", r.name, t, m, r.note)
	}
	return sb.String()
}
