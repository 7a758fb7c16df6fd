package models_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"gatehouse/models"
	"gatehouse/models/dbtest"

	"gorm.io/gorm"
)

// asRole runs q in a transaction of its own as role (SET LOCAL ROLE).
func asRole(db *models.DB, role, q string) error {
	return db.Write.Transaction(func(tx *gorm.DB) error {
		if err := tx.Exec("SET LOCAL ROLE " + role).Error; err != nil {
			return err
		}
		return tx.Exec(q).Error
	})
}

func partitionOf(t *testing.T, db *models.DB, seq int64) string {
	t.Helper()
	var name string
	if err := db.Read.Raw("SELECT tableoid::regclass::text FROM audit_events WHERE seq = ?", seq).Scan(&name).Error; err != nil {
		t.Fatal(err)
	}
	return name
}

// TestAuditPartitionMigration migrates a PostgreSQL database holding a
// chain to the partitioned log: the rows and every index survive, the
// chain verifies across partitions, each partition has the append-only
// triggers and the portal's grants, and the portal role can create
// partitions ahead only through the function it is granted.
func TestAuditPartitionMigration(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		db := dbtest.SQLite(t)
		parts, err := models.AuditPartitions(context.Background(), db)
		if err != nil || parts != nil {
			t.Errorf("AuditPartitions on SQLite = %v, %v; want none", parts, err)
		}
		if n, err := models.EnsureAuditPartitions(context.Background(), db, 3); err != nil || n != 0 {
			t.Errorf("EnsureAuditPartitions on SQLite = %d, %v; want nothing to do", n, err)
		}
	})
	t.Run("postgres", func(t *testing.T) {
		ctx := context.Background()
		admin := dbtest.Postgres(t) // for the role, which outlives the database below
		role := fmt.Sprintf("gh_portal_%d", time.Now().UnixNano())
		if err := admin.Write.Exec("CREATE ROLE " + role).Error; err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { admin.Write.Exec("DROP ROLE " + role) })
		db, err := models.Open(ctx, dbtest.NewPostgresDatabase(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		if err := models.MigrateUpTo(ctx, db, 18); err != nil {
			t.Fatal(err)
		}
		for _, q := range []string{
			"GRANT INSERT, SELECT ON audit_events TO " + role,
			"GRANT SELECT, UPDATE ON audit_head TO " + role,
		} {
			if err := db.Write.Exec(q).Error; err != nil {
				t.Fatal(err)
			}
		}
		var indexes []string
		if err := db.Read.Raw("SELECT indexname FROM pg_indexes WHERE tablename = 'audit_events' ORDER BY 1").Scan(&indexes).Error; err != nil {
			t.Fatal(err)
		}
		evs := testChain(40) // from t0, 2026-11-02
		fillChain(t, db, evs)

		if err := models.Migrate(ctx, db); err != nil {
			t.Fatalf("migrating a log of 40 events: %v", err)
		}
		var kind string
		db.Read.Raw("SELECT relkind::text FROM pg_class WHERE oid = 'audit_events'::regclass").Scan(&kind)
		if kind != "p" {
			t.Fatalf("audit_events relkind %q, want p (partitioned)", kind)
		}
		var after []string
		db.Read.Raw("SELECT indexname FROM pg_indexes WHERE tablename = 'audit_events' ORDER BY 1").Scan(&after)
		for _, name := range indexes {
			if !slices.Contains(after, name) {
				t.Errorf("index %s of the old table is not on the partitioned one (it has %v)", name, after)
			}
		}
		res, err := models.VerifyAudit(ctx, db)
		if err != nil || !res.OK || res.Count != 40 || res.Head != evs[39].Hash {
			t.Fatalf("VerifyAudit after the migration = %+v, %v; want the 40 events", res, err)
		}
		if got := partitionOf(t, db, 1); got != "audit_events_before" {
			t.Errorf("an old event is in %s, want audit_events_before", got)
		}

		parts, err := models.AuditPartitions(ctx, db)
		if err != nil || len(parts) < 4 || parts[0].Name != "audit_events_before" {
			t.Fatalf("AuditPartitions = %+v, %v; want audit_events_before and 3 months ahead", parts, err)
		}
		// An event in each month of its own partition, chained on from the
		// old ones.
		for _, p := range parts[1:] {
			month, err := time.Parse("2006_01", strings.TrimPrefix(p.Name, "audit_events_"))
			if p.Name == "audit_events_later" {
				// The default partition: a month none was made for.
				month, err = time.Now().UTC().AddDate(5, 0, 0), nil
			}
			if err != nil {
				t.Fatalf("partition name %s: %v", p.Name, err)
			}
			ev, err := models.AppendAudit(ctx, db.Write, models.AuditEntry{At: month.Add(36 * time.Hour), Actor: sys, Action: models.ActionLogout, Target: p.Name})
			if err != nil {
				t.Fatal(err)
			}
			if got := partitionOf(t, db, ev.Seq); got != p.Name {
				t.Errorf("an event of %s went to %s", month.Format("2006-01"), got)
			}
		}
		if _, err := models.AppendAudit(ctx, db.Write, models.AuditEntry{At: time.Now(), Actor: sys, Action: models.ActionLogout, Target: "now"}); err != nil {
			t.Fatal(err)
		}
		total := int64(40 + len(parts))
		if res, err := models.VerifyAudit(ctx, db); err != nil || !res.OK || res.Count != total {
			t.Fatalf("VerifyAudit across partitions = %+v, %v; want %d events", res, err, total)
		}

		// Each partition holds the portal's grants; with only those, the
		// role cannot change a row of any partition.
		for _, p := range parts {
			var ok bool
			db.Read.Raw("SELECT has_table_privilege(?, ?, 'INSERT') AND has_table_privilege(?, ?, 'SELECT')", role, p.Name, role, p.Name).Scan(&ok)
			if !ok {
				t.Errorf("partition %s lacks the portal's grants", p.Name)
			}
			for _, q := range []string{"UPDATE %s SET reason = 'r'", "DELETE FROM %s", "TRUNCATE %s"} {
				q = fmt.Sprintf(q, p.Name)
				if err := asRole(db, role, q); err == nil || !strings.Contains(err.Error(), "permission denied") {
					t.Errorf("%s as the portal role: %v, want permission denied", q, err)
				}
			}
		}
		// A role granted more than it should be still meets the triggers,
		// on every partition; so does the owner.
		if err := db.Write.Exec("GRANT UPDATE, DELETE, TRUNCATE ON audit_events TO " + role).Error; err != nil {
			t.Fatal(err)
		}
		if _, err := models.EnsureAuditPartitions(ctx, db, 3); err != nil {
			t.Fatal(err)
		}
		for _, p := range parts {
			for _, q := range []string{"UPDATE %s SET reason = 'r'", "DELETE FROM %s", "TRUNCATE %s"} {
				q = fmt.Sprintf(q, p.Name)
				if err := asRole(db, role, q); err == nil || !strings.Contains(err.Error(), "append-only") {
					t.Errorf("%s as an over-granted role: %v, want the append-only trigger's refusal", q, err)
				}
				if err := db.Write.Exec(q).Error; err == nil || !strings.Contains(err.Error(), "append-only") {
					t.Errorf("%s as the owner: %v, want the append-only trigger's refusal", q, err)
				}
			}
		}
		if res, err := models.VerifyAudit(ctx, db); err != nil || !res.OK || res.Count != total {
			t.Fatalf("VerifyAudit after the refusals = %+v, %v; want %d events", res, err, total)
		}

		// The portal makes partitions ahead only through the function,
		// and only once granted it.
		if err := asRole(db, role, "SELECT audit_events_ensure_partitions(3)"); err == nil || !strings.Contains(err.Error(), "permission denied") {
			t.Errorf("ensure partitions without EXECUTE: %v, want permission denied", err)
		}
		if err := asRole(db, role, "CREATE TABLE audit_events_2099_01 PARTITION OF audit_events FOR VALUES FROM ('2099-01-01') TO ('2099-02-01')"); err == nil {
			t.Error("the portal role created a partition itself")
		}
		if err := db.Write.Exec("GRANT EXECUTE ON FUNCTION audit_events_ensure_partitions(integer) TO " + role).Error; err != nil {
			t.Fatal(err)
		}
		if err := asRole(db, role, "SELECT audit_events_ensure_partitions(5)"); err != nil {
			t.Errorf("ensure partitions as the portal role with EXECUTE: %v", err)
		}
		more, err := models.AuditPartitions(ctx, db)
		if err != nil || len(more) != len(parts)+2 {
			t.Errorf("after ensuring 5 months ahead: %d partitions (%v), want %d", len(more), err, len(parts)+2)
		}
		if _, err := models.EnsureAuditPartitions(ctx, db, 100); err == nil {
			t.Error("ensuring 100 months ahead was accepted")
		}
	})
}

// TestAuditAppendBeyondPreparedMonths: an event of a month that has no
// partition of its own (a clock or a stop longer than the months prepared
// ahead) goes to the default partition, audit_events_later, and the chain
// runs on; ensuring partitions later leaves that month there and creates
// the others. Without the default partition an append is refused as
// ErrNoAuditPartition (503) and writes nothing.
func TestAuditAppendBeyondPreparedMonths(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *models.DB) {
		ctx := context.Background()
		if _, err := models.AppendAudit(ctx, db.Write, models.AuditEntry{At: time.Now(), Actor: sys, Action: models.ActionLogout, Target: "a"}); err != nil {
			t.Fatal(err)
		}
		far := time.Now().UTC().AddDate(0, 5, 0)
		if _, err := models.AppendAudit(ctx, db.Write, models.AuditEntry{At: far, Actor: sys, Action: models.ActionLogout, Target: "b"}); err != nil {
			t.Fatalf("append in %s: %v", far.Format("2006-01"), err)
		}
		w := models.NewAuditWriter(db, 4)
		defer w.Close()
		if _, err := w.Append(ctx, models.AuditEntry{At: far, Actor: sys, Action: models.ActionLogout, Target: "c"}); err != nil {
			t.Fatalf("AuditWriter append in %s: %v", far.Format("2006-01"), err)
		}
		wantSeqs(t, db, 3)
		if res, err := models.VerifyAudit(ctx, db); err != nil || !res.OK || res.Count != 3 {
			t.Errorf("VerifyAudit = %+v, %v; want 3 events", res, err)
		}
		if db.Dialect == models.SQLite {
			return // one table, no partitions
		}
		var later int64
		if err := db.Read.Raw("SELECT count(*) FROM audit_events_later").Scan(&later).Error; err != nil || later != 2 {
			t.Errorf("events in the default partition = %d, %v; want 2", later, err)
		}
		// Six months ahead: the month with events stays in the default
		// partition, the others get their own.
		if _, err := models.EnsureAuditPartitions(ctx, db, 6); err != nil {
			t.Fatalf("EnsureAuditPartitions with events in the default partition: %v", err)
		}
		parts, err := models.AuditPartitions(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		has := map[string]bool{}
		for _, p := range parts {
			has[p.Name] = true
		}
		for i := 1; i <= 6; i++ { // this month is in audit_events_before
			name := "audit_events_" + time.Now().UTC().AddDate(0, i, 1-time.Now().UTC().Day()).Format("2006_01")
			if want := i != 5; has[name] != want {
				t.Errorf("partition %s exists = %t, want %t (partitions: %v)", name, has[name], want, parts)
			}
		}
		// Without the default partition, the log refuses rather than lose
		// the row: 503, nothing written.
		if err := db.Write.Exec("ALTER TABLE audit_events DETACH PARTITION audit_events_later").Error; err != nil {
			t.Fatal(err)
		}
		_, err = models.AppendAudit(ctx, db.Write, models.AuditEntry{At: far, Actor: sys, Action: models.ActionLogout, Target: "d"})
		if !errors.Is(err, models.ErrNoAuditPartition) || !models.Unavailable(err) {
			t.Fatalf("append in %s without a partition = %v; want ErrNoAuditPartition, unavailable", far.Format("2006-01"), err)
		}
	})
}
