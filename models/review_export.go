package models

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// ReviewCSVHeader is the first line of a review's CSV export.
var ReviewCSVHeader = []string{
	"period", "staff_id", "email", "name", "role", "scope", "status", "agreement_current", "agreement_version",
	"training_at", "last_sign_in_at", "last_data_access_at", "unused", "decision", "note", "certified_by", "certified_at",
}

// ReviewExportRow is one row of a review's export.
type ReviewExportRow struct {
	Period           string     `json:"period"`
	StaffID          int64      `json:"staff_id"`
	Email            string     `json:"email"`
	Name             string     `json:"name"`
	Role             string     `json:"role"`
	Scope            string     `json:"scope"`
	Status           string     `json:"status"`
	AgreementCurrent bool       `json:"agreement_current"`
	AgreementVersion string     `json:"agreement_version"`
	TrainingAt       *time.Time `json:"training_at"`
	LastSignInAt     *time.Time `json:"last_sign_in_at"`
	LastDataAccessAt *time.Time `json:"last_data_access_at"`
	Unused           bool       `json:"unused"`
	Decision         string     `json:"decision"`
	Note             string     `json:"note"`
	CertifiedBy      string     `json:"certified_by"`
	CertifiedAt      *time.Time `json:"certified_at"`
}

func exportRow(period string, r AccessReviewRow) ReviewExportRow {
	return ReviewExportRow{
		Period: period, StaffID: r.StaffID, Email: r.Email, Name: r.Name, Role: r.Role, Scope: r.Scope, Status: string(r.Status),
		AgreementCurrent: r.AgreementCurrent, AgreementVersion: r.AgreementVersion,
		TrainingAt: utcPtr(r.TrainingAt), LastSignInAt: utcPtr(r.LastSignInAt), LastDataAccessAt: utcPtr(r.LastDataAccessAt),
		Unused: r.Unused, Decision: r.Decision, Note: r.Note, CertifiedBy: r.CertifiedBy, CertifiedAt: utcPtr(r.CertifiedAt),
	}
}

// cells is the row as the CSV export writes it, formulas neutralised.
func (r ReviewExportRow) cells() []string {
	at := func(t *time.Time) string {
		if t == nil {
			return ""
		}
		return t.UTC().Format(time.RFC3339Nano)
	}
	out := []string{
		r.Period, strconv.FormatInt(r.StaffID, 10), r.Email, r.Name, r.Role, r.Scope, r.Status, strconv.FormatBool(r.AgreementCurrent), r.AgreementVersion,
		at(r.TrainingAt), at(r.LastSignInAt), at(r.LastDataAccessAt), strconv.FormatBool(r.Unused), r.Decision, r.Note, r.CertifiedBy, at(r.CertifiedAt),
	}
	for i, v := range out {
		out[i] = csvCell(v)
	}
	return out
}

// reviewExportBatch is how many rows an export reads at a time.
const reviewExportBatch = 500

// WriteReviewExport writes review rev's rows, by id, as CSV (a header,
// then a line per row) or JSON (an array of ReviewExportRow), reading
// them a batch at a time. A closed review's rows no longer change, so
// two exports of it are the same bytes.
func WriteReviewExport(ctx context.Context, db *gorm.DB, w io.Writer, rev AccessReview, format string) error {
	var cw *csv.Writer
	switch format {
	case "csv":
		cw = csv.NewWriter(w)
		if err := cw.Write(ReviewCSVHeader); err != nil {
			return err
		}
	case "json":
		if _, err := io.WriteString(w, "["); err != nil {
			return err
		}
	default:
		return fmt.Errorf("review export format %q: want csv or json", format)
	}
	after, n := int64(0), 0
	for {
		var rows []AccessReviewRow
		if err := db.WithContext(ctx).Where("review_id = ? AND id > ?", rev.ID, after).Order("id").Limit(reviewExportBatch).Find(&rows).Error; err != nil {
			return fmt.Errorf("access review %d export: %w", rev.ID, err)
		}
		for _, r := range rows {
			if err := writeExportRow(w, cw, exportRow(rev.Period, r), n); err != nil {
				return err
			}
			n++
		}
		if cw != nil {
			cw.Flush()
			if err := cw.Error(); err != nil {
				return err
			}
		}
		if len(rows) < reviewExportBatch {
			break
		}
		after = rows[len(rows)-1].ID
	}
	if cw == nil {
		_, err := io.WriteString(w, "]\n")
		return err
	}
	return nil
}

func writeExportRow(w io.Writer, cw *csv.Writer, r ReviewExportRow, n int) error {
	if cw != nil {
		return cw.Write(r.cells())
	}
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if n > 0 {
		if _, err := io.WriteString(w, ",\n"); err != nil {
			return err
		}
	}
	_, err = w.Write(b)
	return err
}

// RecordReviewExport records, before its bytes are sent, an export of a
// closed review whose body has the SHA-256 sum: the review.exported
// event, and the sum on the review when it is the first export. A review
// not closed is a conflict: only a finished review is evidence.
func RecordReviewExport(ctx context.Context, db *gorm.DB, act Act, id int64, format, sum string) (AccessReview, error) {
	var rev AccessReview
	err := db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).Where("id = ?", id).Take(&rev).Error; err != nil {
			return notFound(err, fmt.Sprintf("access review %d", id))
		}
		if rev.ClosedAt == nil {
			return conflictf("The %s access review is not finished: it can be exported once every row is certified.", rev.Period)
		}
		first := rev.ExportSHA256 == ""
		if first {
			if err := tx.Model(&AccessReview{}).Where("id = ? AND export_sha256 = ''", id).Update("export_sha256", sum).Error; err != nil {
				return err
			}
			rev.ExportSHA256 = sum
		}
		_, err := AppendAudit(ctx, tx, AuditEntry{
			At: act.Now, Actor: act.By, Action: ActionReviewExported, Target: rev.Target(),
			Detail: map[string]any{"period": rev.Period, "format": format, "sha256": sum, "first": first},
		})
		return err
	})
	if err != nil {
		return rev, fmt.Errorf("export access review %d: %w", id, err)
	}
	return rev, nil
}
