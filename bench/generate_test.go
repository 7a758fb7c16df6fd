package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/models/dbtest"
)

// TestGenerate builds a tiny size on each engine and checks what the
// benchmarks rely on: the audit chain is whole by the models' own verify,
// the counts are the size's, the registry has every state to find, and a
// second call finds the generation complete instead of building again,
// while a half-built one (no marker) is built anew.
func TestGenerate(t *testing.T) {
	size := Size{Workspaces: 50, Events: 500}
	engines := map[string]func(t *testing.T) Options{
		"sqlite": func(t *testing.T) Options { return Options{Dir: t.TempDir()} },
		"postgres": func(t *testing.T) Options {
			b := make([]byte, 5)
			rand.Read(b)
			return Options{Server: dbtest.PostgresURL(t), Name: "gh_test_bench_" + hex.EncodeToString(b)}
		},
	}
	for name, options := range engines {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			opts := options(t)
			opts.Now = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
			opts.Logf = t.Logf
			tg, err := Generate(ctx, size, opts)
			t.Cleanup(func() {
				if err := Drop(context.Background(), tg, opts.Server); err != nil {
					t.Errorf("drop: %v", err)
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			if !tg.Built {
				t.Fatal("first Generate did not build")
			}
			check(t, tg, size)

			again, err := Generate(ctx, size, opts)
			if err != nil {
				t.Fatal(err)
			}
			if again.Built {
				t.Error("second Generate built again; want the kept databases reused")
			}

			// A generation that stopped before its marker is built anew.
			portal, err := models.Open(ctx, tg.Portal)
			if err != nil {
				t.Fatal(err)
			}
			if err := portal.Write.Exec("DROP TABLE " + markerTable).Error; err != nil {
				t.Fatal(err)
			}
			portal.Close()
			rebuilt, err := Generate(ctx, size, opts)
			if err != nil {
				t.Fatal(err)
			}
			if !rebuilt.Built {
				t.Error("Generate reused a generation without its marker; want it rebuilt")
			}
			check(t, rebuilt, size)
		})
	}
}

func check(t *testing.T, tg Target, size Size) {
	t.Helper()
	ctx := context.Background()
	portal, err := models.Open(ctx, tg.Portal)
	if err != nil {
		t.Fatal(err)
	}
	defer portal.Close()
	product, err := models.Open(ctx, tg.Product)
	if err != nil {
		t.Fatal(err)
	}
	defer product.Close()

	res, err := models.VerifyAudit(ctx, portal)
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK {
		t.Fatalf("audit chain broken at seq %d: %s", res.BrokenSeq, res.Problem)
	}
	// The generated events, then what the demo staff's seeding and the
	// first retention run appended.
	if res.Count <= int64(size.Events) {
		t.Errorf("chain holds %d events; want more than the %d generated", res.Count, size.Events)
	}
	// Detection starts at the generated log's head, as after an upgrade:
	// no portal started on it evaluates years of history first.
	pos, err := models.DetectionPosition(ctx, portal.Read)
	if err != nil {
		t.Fatal(err)
	}
	if pos < int64(size.Events) {
		t.Errorf("detection position %d; want at least the %d generated events' head", pos, size.Events)
	}
	// The skipped history's views are in the dashboards' per-day counts.
	var views, counted int64
	if err := portal.Read.Model(&models.AuditEvent{}).Where("action = ? AND seq <= ?", models.ActionDataViewed, pos).Count(&views).Error; err != nil {
		t.Fatal(err)
	}
	if err := portal.Read.Raw("SELECT COALESCE(SUM(n), 0) FROM audit_view_days").Row().Scan(&counted); err != nil {
		t.Fatal(err)
	}
	if views == 0 || counted != views {
		t.Errorf("audit_view_days counts %d views; the log holds %d up to the detection position", counted, views)
	}
	// Last period's transparency reports are made, as a first start makes
	// them, so no replica measured on the pair is making them.
	var reports int64
	if err := portal.Read.Model(&models.TransparencyReport{}).Count(&reports).Error; err != nil {
		t.Fatal(err)
	}
	if reports == 0 {
		t.Error("no transparency report for last period; want the generation to have made them")
	}
	if portal.Dialect == models.Postgres {
		// The log's indexes, dropped for the copy and built again, are
		// valid and on every partition: each partition has as many as
		// the parent.
		var broken []string
		err := portal.Read.Raw(`SELECT c.relname FROM pg_class c JOIN pg_inherits h ON h.inhrelid = c.oid
WHERE h.inhparent = 'audit_events'::regclass
AND (SELECT count(*) FROM pg_index WHERE indrelid = c.oid) <> (SELECT count(*) FROM pg_index WHERE indrelid = 'audit_events'::regclass)
UNION ALL SELECT indexrelid::regclass::text FROM pg_index WHERE NOT indisvalid`).Scan(&broken).Error
		if err != nil {
			t.Fatal(err)
		}
		if len(broken) > 0 {
			t.Errorf("indexes missing on partitions or invalid: %v", broken)
		}
	}
	n, err := models.CountWorkspaces(ctx, product.Read)
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(size.Workspaces) {
		t.Errorf("registry holds %d workspaces; want %d", n, size.Workspaces)
	}
	var owners int64
	if err := product.Read.Model(&models.WorkspaceOwner{}).Count(&owners).Error; err != nil {
		t.Fatal(err)
	}
	if owners < int64(size.Workspaces) {
		t.Errorf("%d owners for %d workspaces; want at least one each", owners, size.Workspaces)
	}
	// Views of records in generated workspaces, findable by the filters.
	evs, err := models.SearchAudit(ctx, portal.Read, models.AuditQuery{Action: models.ActionDataViewed, Workspace: slug(0), Limit: 5})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) == 0 {
		t.Errorf("no data.viewed events in %s", slug(0))
	}
	for _, ev := range evs {
		if ev.RecordIDs == "" || ev.Table == "" || (ev.GrantID == nil && ev.BreakglassID == nil) {
			t.Errorf("view %d: table %q records %q grant %v break-glass %v; want a table, records and a grant or break-glass", ev.Seq, ev.Table, ev.RecordIDs, ev.GrantID, ev.BreakglassID)
		}
	}
	if tg.Dialect == models.SQLite {
		if _, err := os.Stat(tg.Product); err != nil {
			t.Errorf("product file: %v", err)
		}
	}
}
