package models

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// TransparencyLinkValidFor is how long an owner's link opens its report
// and can turn the mail off.
const TransparencyLinkValidFor = 180 * Day

// TransparencyLink lets one owner read a report and turn the report's
// mail off. Only the SHA-256 of its token is stored.
type TransparencyLink struct {
	ID        int64 `gorm:"primaryKey"`
	ReportID  int64
	Recipient string
	TokenHash string
	CreatedAt time.Time
}

// TableName is the transparency links table's name.
func (TransparencyLink) TableName() string { return "transparency_links" }

// TransparencyMailOff records that an owner turned their workspace's
// report mail off.
type TransparencyMailOff struct {
	Workspace string `gorm:"primaryKey"`
	Recipient string `gorm:"primaryKey"`
	CreatedAt time.Time
}

// TableName is the table's name.
func (TransparencyMailOff) TableName() string { return "transparency_mail_off" }

// TransparencyNotice mails an owner a workspace's report with their link.
type TransparencyNotice struct {
	Report  TransparencyReport
	Figures ReportFigures
	Name    string // the workspace's name
	Owner   string
	Token   string
}

func (n TransparencyNotice) address() (string, string, *int64) {
	return n.Owner, n.Report.Workspace, nil
}

// transparencyTokenHash is the stored form of a report link's token; it
// differs from every other link's, so no token opens another kind.
func transparencyTokenHash(token string) string {
	return ConsentTokenHash("transparency\x00" + token)
}

// createTransparencyLink stores a new link to r for recipient in tx and
// returns its token.
func createTransparencyLink(ctx context.Context, tx *gorm.DB, now time.Time, r TransparencyReport, recipient string) (string, error) {
	token := NewToken()
	link := TransparencyLink{ReportID: r.ID, Recipient: recipient, TokenHash: transparencyTokenHash(token), CreatedAt: now.UTC()}
	if err := tx.WithContext(ctx).Create(&link).Error; err != nil {
		return "", fmt.Errorf("transparency link: %w", err)
	}
	return token, nil
}

// TransparencyLinkView is what an owner's report link opens.
type TransparencyLinkView struct {
	Link    TransparencyLink
	Report  TransparencyReport
	Figures ReportFigures
	MailOff bool // the recipient turned the mail off
}

// OpenTransparencyLink looks token up without changing anything. An
// unknown token, or one older than TransparencyLinkValidFor, is
// ErrBadToken.
func OpenTransparencyLink(ctx context.Context, db *gorm.DB, now time.Time, token string) (TransparencyLinkView, error) {
	var v TransparencyLinkView
	if len(token) != 43 {
		return v, ErrBadToken
	}
	err := db.WithContext(ctx).Where("token_hash = ?", transparencyTokenHash(token)).Take(&v.Link).Error
	if errors.Is(err, gorm.ErrRecordNotFound) || (err == nil && now.After(v.Link.CreatedAt.Add(TransparencyLinkValidFor))) {
		return TransparencyLinkView{}, ErrBadToken
	}
	if err != nil {
		return v, fmt.Errorf("transparency link: %w", err)
	}
	if err := db.WithContext(ctx).Where("id = ?", v.Link.ReportID).Take(&v.Report).Error; err != nil {
		return v, fmt.Errorf("transparency report %d: %w", v.Link.ReportID, err)
	}
	if v.Figures, err = v.Report.Parsed(); err != nil {
		return v, err
	}
	var off int64
	if err := db.WithContext(ctx).Model(&TransparencyMailOff{}).Where("workspace = ? AND recipient = ?", v.Report.Workspace, v.Link.Recipient).
		Count(&off).Error; err != nil {
		return v, fmt.Errorf("transparency mail: %w", err)
	}
	v.MailOff = off > 0
	return v, nil
}

// AuditTransparencyShown records that a report link page was shown.
func AuditTransparencyShown(ctx context.Context, db *gorm.DB, now time.Time, v TransparencyLinkView, ip, ua string) error {
	_, err := AppendAudit(ctx, db, AuditEntry{
		At: now, Actor: Actor{Email: v.Link.Recipient, Tier: "customer", IP: ip, UserAgent: ua}, Action: ActionTransparencyShown,
		Workspace: v.Report.Workspace, Target: v.Report.Target(),
	})
	return err
}

// TransparencyLinkInput is an owner's POST from the report page.
type TransparencyLinkInput struct {
	Token     string
	IP        string
	UserAgent string
}

// TurnTransparencyMailOff stops the report mail of the link's workspace
// to the link's recipient, from the next period on, and records it. A bad
// token is ErrBadToken; mail already off is a ConflictError; neither
// writes anything. Other owners keep getting theirs: one owner cannot
// silence the reports to the rest.
func TurnTransparencyMailOff(ctx context.Context, db *gorm.DB, now time.Time, in TransparencyLinkInput) (TransparencyLinkView, error) {
	var v TransparencyLinkView
	err := db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var err error
		if v, err = OpenTransparencyLink(ctx, tx, now, in.Token); err != nil {
			return err
		}
		off := TransparencyMailOff{Workspace: v.Report.Workspace, Recipient: v.Link.Recipient, CreatedAt: now.UTC()}
		ins := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&off)
		if ins.Error != nil {
			return fmt.Errorf("transparency mail off: %w", ins.Error)
		}
		if ins.RowsAffected == 0 {
			return conflictf("The report mail for %s is already off.", v.Report.Workspace)
		}
		v.MailOff = true
		_, err = AppendAudit(ctx, tx, AuditEntry{
			At: now, Actor: Actor{Email: v.Link.Recipient, Tier: "customer", IP: in.IP, UserAgent: in.UserAgent},
			Action: ActionTransparencyMailOff, Workspace: v.Report.Workspace, Target: v.Report.Target(),
			Reason: "the owner turned the transparency report mail off",
		})
		return err
	})
	return v, err
}
