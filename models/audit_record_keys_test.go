package models_test

import (
	"context"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"gatehouse/models/dbtest"

	"gorm.io/gorm"
)

// auditRecordKeys00005 is audit_record_keys as migration 00005 made it,
// which built the "who viewed" index of every log migrated before 00032.
const auditRecordKeys00005 = `CREATE FUNCTION pg_temp.audit_record_keys_00005(workspace TEXT, record_ids TEXT) RETURNS TEXT[]
    LANGUAGE sql IMMUTABLE STRICT
    RETURN ARRAY(
        SELECT DISTINCT workspace || E'\x1f' || CASE WHEN id ~ '^[0-9]{1,18}$' THEN (id::BIGINT / 16)::TEXT ELSE 'r' || id END
        FROM unnest(string_to_array(NULLIF(record_ids, ''), ',')) AS id
    )`

// TestAuditRecordKeysUnchanged: the cheaper audit_record_keys (migration
// 00032) gives the same set of keys as 00005's for every record list, so
// an index built with the old body finds the same events with the new
// one: tried on ids at every edge of "1 to 18 ASCII digits" (none, 18,
// 19, leading zeros, signs, spaces, newlines, other scripts' digits,
// empty items) and on random lists of them.
func TestAuditRecordKeysUnchanged(t *testing.T) {
	db := dbtest.Postgres(t)
	ctx := context.Background()
	edges := []string{"", "0", "7", "15", "16", "017", "000000000000000000", "999999999999999999", "1000000000000000000",
		"9223372036854775807", "-1", "+1", " 1", "1 ", "1\n", "\n1", "１２", "١٢", "12a", "a12", "abc", "r1", "1.5", "1e3",
		"0x10", "\x1f", "acme", "12345678901234567", "123456789012345678", "1234567890123456789"}
	r := rand.New(rand.NewPCG(1, 2))
	var lists []string
	for _, e := range edges {
		lists = append(lists, e, e+","+e, ","+e, e+",")
	}
	for range 2000 {
		ids := make([]string, 1+r.IntN(60))
		for i := range ids {
			if r.IntN(4) == 0 {
				ids[i] = edges[r.IntN(len(edges))]
			} else {
				ids[i] = strconv.FormatInt(r.Int64N(1_000_000), 10)
			}
		}
		lists = append(lists, strings.Join(ids, ","))
	}
	err := db.Write.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		for _, stmt := range []string{auditRecordKeys00005, "CREATE TEMP TABLE lists (workspace TEXT, record_ids TEXT)"} {
			if err := tx.Exec(stmt).Error; err != nil {
				return err
			}
		}
		for i, l := range lists {
			ws := []string{"acme", "globex", "w\x1fx", "ünï"}[i%4]
			if err := tx.Exec("INSERT INTO lists VALUES (?, ?)", ws, l).Error; err != nil {
				return err
			}
		}
		if err := tx.Exec("INSERT INTO lists VALUES ('acme', NULL), (NULL, '1')").Error; err != nil {
			return err
		}
		var differ []struct{ Workspace, RecordIDs, Old, New string }
		if err := tx.Raw(`SELECT workspace, record_ids AS record_ids,
       (SELECT array_agg(k ORDER BY k) FROM unnest(pg_temp.audit_record_keys_00005(workspace, record_ids)) k)::text AS old,
       (SELECT array_agg(k ORDER BY k) FROM unnest(audit_record_keys(workspace, record_ids)) k)::text AS new
FROM lists
WHERE (SELECT array_agg(k ORDER BY k) FROM unnest(pg_temp.audit_record_keys_00005(workspace, record_ids)) k)
      IS DISTINCT FROM (SELECT array_agg(k ORDER BY k) FROM unnest(audit_record_keys(workspace, record_ids)) k)
   OR (audit_record_keys(workspace, record_ids) IS NULL) <> (pg_temp.audit_record_keys_00005(workspace, record_ids) IS NULL)
LIMIT 5`).Scan(&differ).Error; err != nil {
			return err
		}
		for _, d := range differ {
			t.Errorf("audit_record_keys(%q, %q) = %s, 00005 gave %s", d.Workspace, d.RecordIDs, d.New, d.Old)
		}
		var n int64
		if err := tx.Raw("SELECT count(*) FROM lists").Scan(&n).Error; err != nil || n != int64(len(lists)+2) {
			t.Fatalf("compared %d lists (%v), want %d", n, err, len(lists)+2)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
