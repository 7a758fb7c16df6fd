package handlers

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"gatehouse/models"
)

// serverCPU returns the CPU time so far of every postgres process on this
// machine, from /proc/PID/schedstat (nanoseconds on CPU): the server's
// share of a benchmark on a local PostgreSQL (and of anything else using
// that server meanwhile).
func serverCPU() time.Duration {
	ents, _ := os.ReadDir("/proc")
	var total time.Duration
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		comm, err := os.ReadFile("/proc/" + e.Name() + "/comm")
		if err != nil || strings.TrimSpace(string(comm)) != "postgres" {
			continue
		}
		ss, err := os.ReadFile("/proc/" + e.Name() + "/schedstat")
		if err != nil {
			continue
		}
		f := strings.Fields(string(ss))
		if len(f) > 0 {
			n, _ := strconv.ParseInt(f[0], 10, 64)
			total += time.Duration(n)
		}
	}
	return total
}

// BenchmarkDataPageParts measures, one request at a time, the process CPU
// (and on PostgreSQL the server's CPU) of each part of an audited data
// page: the session and staff read, the workspace read, the grant read,
// the 50-row tenant read, the audit append and commit (a batch of one),
// and the whole page over HTTP.
func BenchmarkDataPageParts(b *testing.B) {
	for _, engine := range []string{"sqlite", "postgres"} {
		b.Run(engine, func(b *testing.B) {
			rig := newDataPageRig(b, engine, 1)
			p, db, sara, client := rig.p, rig.db, rig.viewer, rig.clients[0]
			ctx := context.Background()
			var hash string
			if err := db.Read.Raw("SELECT id_hash FROM sessions WHERE staff_id = ? AND ended_at IS NULL", sara.ID).Row().Scan(&hash); err != nil {
				b.Fatal(err)
			}
			path := rig.path
			res, err := client.Get(p.srv.URL + path)
			if err != nil {
				b.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			b.Logf("page: %d bytes", len(body))
			ceiling := ceilingServer(b, p, path, sara.ID)
			plain := &http.Client{}

			grant, _, err := models.GrantFor(ctx, db.Read, p.clock.Now(), models.GrantQuery{StaffID: sara.ID, Workspace: "acme", Table: "members", Record: 0})
			if err != nil {
				b.Fatal(err)
			}
			viewer := models.Viewer{StaffID: sara.ID, Actor: models.Actor{Email: sara.Email, Tier: string(sara.Tier), IP: "127.0.0.1"}, Session: hash}
			page, err := p.h.data.ReadTable(ctx, viewer, models.DataRequest{Slug: "acme", Table: "members"})
			if err != nil {
				b.Fatal(err)
			}
			var ids []int64
			for _, r := range page.Rows {
				ids = append(ids, r.ID)
			}
			e := models.AuditEntry{Actor: models.Actor{Email: sara.Email, Tier: string(sara.Tier), IP: "127.0.0.1", UserAgent: "Go-http-client/1.1", RequestID: "0123456789abcdef"},
				Action: models.ActionDataViewed, Workspace: "acme", Table: "members", GrantID: &grant.ID, Reason: grant.Origin()}
			for _, id := range ids {
				e.RecordIDs = append(e.RecordIDs, strconv.FormatInt(id, 10))
			}
			parts := []struct {
				name string
				run  func() error
			}{
				{"session+staff", func() error { _, _, err := models.SessionByHash(ctx, db.Read, hash); return err }},
				{"epoch", func() error { _, err := models.SecurityEpoch(ctx, db.Read); return err }},
				// What a request reads with the access cache warm: the
				// epoch (prepared once) and the session and staff from memory.
				{"session+staff-cached", func() error {
					cctx, err := p.h.cache.Begin(ctx)
					if err == nil {
						_, _, err = p.h.cache.SessionByHash(cctx, db.Read, hash)
					}
					return err
				}},
				{"workspace", func() error { _, err := models.FindWorkspace(ctx, p.h.product, "acme"); return err }},
				{"grant", func() error {
					_, _, err := models.GrantFor(ctx, db.Read, p.clock.Now(), models.GrantQuery{StaffID: sara.ID, Workspace: "acme", Table: "members", Record: 0})
					return err
				}},
				// The tenant page alone: BenchmarkRows in models/internal/tenantdb.
				{"read-table-api", func() error {
					_, err := p.h.data.ReadTable(ctx, viewer, models.DataRequest{Slug: "acme", Table: "members"})
					return err
				}},
				{"audit-append-1", func() error { e.At = p.clock.Now(); _, err := p.h.audit.Append(ctx, e); return err }},
				{"page-http", func() error { return get(client, p.srv.URL+path) }},
				{"ceiling-http", func() error { return get(plain, ceiling.URL+path) }},
			}
			b.ResetTimer()
			for _, part := range parts {
				cpu, srv := processCPU(), serverCPU()
				start := time.Now()
				for i := 0; i < b.N; i++ {
					if err := part.run(); err != nil {
						b.Fatal(part.name, err)
					}
				}
				wall := time.Since(start)
				s := serverCPU() - srv
				c := processCPU() - cpu
				n := time.Duration(b.N)
				b.ReportMetric(float64((c/n).Nanoseconds())/1000, part.name+"-cpu-us")
				if engine == "postgres" {
					b.ReportMetric(float64((s/n).Nanoseconds())/1000, part.name+"-pgcpu-us")
				}
				b.ReportMetric(float64((wall/n).Nanoseconds())/1000, part.name+"-wall-us")
			}
		})
	}
}

func get(c *http.Client, url string) error {
	res, err := c.Get(url)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	io.Copy(&buf, res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %d", url, res.StatusCode)
	}
	return nil
}
