package models

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"gorm.io/gorm"
)

// Session is a signed-in browser. The token itself is never stored: the
// row is keyed by an HMAC of it under the portal's session key.
type Session struct {
	IDHash     string `gorm:"primaryKey"`
	StaffID    int64
	CreatedAt  time.Time
	LastSeenAt time.Time
	AuthAt     time.Time // when the person last authenticated at the identity provider; zero when it did not say
	EndedAt    *time.Time
	EndReason  string
	IP         string `gorm:"column:ip"`
	UserAgent  string
}

// TableName is the sessions table's name.
func (Session) TableName() string { return "sessions" }

// SessionLimits are the idle and absolute lifetimes of a session.
type SessionLimits struct {
	Idle     time.Duration
	Absolute time.Duration
}

// Live reports whether the session may still be used at now.
func (s Session) Live(now time.Time, l SessionLimits) bool {
	return s.EndedAt == nil &&
		now.Before(s.LastSeenAt.Add(l.Idle)) &&
		now.Before(s.CreatedAt.Add(l.Absolute))
}

// SignedInWithin reports whether the person authenticated at the identity
// provider within window before now. A session whose ID token had no
// auth_time never counts: the portal cannot know how old that sign-in is.
func (s Session) SignedInWithin(now time.Time, window time.Duration) bool {
	return !s.AuthAt.IsZero() && now.Sub(s.AuthAt) <= window
}

// NewToken returns 256 random bits, URL-safe encoded.
func NewToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// TokenHash is the stored form of a token: HMAC-SHA256 under key, so a
// copy of the database alone cannot be turned back into cookies.
func TokenHash(key []byte, token string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(token))
	return hex.EncodeToString(m.Sum(nil))
}

// LoginInput is what a successful OIDC login establishes.
type LoginInput struct {
	Staff       Staff
	Issuer      string
	Subject     string
	SessionHash string    // hash of the new session's token
	AuthAt      time.Time // auth_time from the ID token; zero when it had none
	Replaces    string    // hash of the browser's previous session, ended now; may be empty
	StepUp      bool
}

// Login links the staff member to the OIDC identity on first login,
// starts a session and audits it, all in one transaction.
func Login(ctx context.Context, db *gorm.DB, now time.Time, by Actor, in LoginInput) error {
	return db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if in.Staff.OIDCSubject == nil {
			res := tx.Model(&Staff{}).
				Where("id = ? AND oidc_subject IS NULL AND status = ?", in.Staff.ID, StatusActive).
				Updates(map[string]any{"oidc_issuer": in.Issuer, "oidc_subject": in.Subject, "updated_at": now.UTC()})
			if res.Error != nil {
				return fmt.Errorf("link identity: %w", res.Error)
			}
			if res.RowsAffected != 1 {
				return fmt.Errorf("link identity of %s: %w", in.Staff.Email, ErrConflict)
			}
		}
		if in.Replaces != "" {
			if err := tx.Model(&Session{}).Where("id_hash = ? AND ended_at IS NULL", in.Replaces).
				Updates(map[string]any{"ended_at": now.UTC(), "end_reason": "replaced"}).Error; err != nil {
				return err
			}
		}
		s := Session{
			IDHash: in.SessionHash, StaffID: in.Staff.ID, CreatedAt: now.UTC(), LastSeenAt: now.UTC(),
			AuthAt: in.AuthAt.UTC(), IP: by.IP, UserAgent: clip(by.UserAgent, 512),
		}
		if err := tx.Create(&s).Error; err != nil {
			return fmt.Errorf("create session: %w", err)
		}
		_, err := AppendAudit(ctx, tx, AuditEntry{At: now, Actor: by, Action: ActionLoginSucceeded, Target: in.Staff.Email, Detail: map[string]any{"step_up": in.StepUp, "subject": in.Subject}})
		return err
	})
}

// SessionByHash returns the session and its staff member, whatever their
// state; callers check Live and the staff status. On PostgreSQL one query
// reads both, saving a round trip; on SQLite, where parsing a statement
// costs more than running it and the join's longer statement costs more
// to parse than two short ones, they are two queries.
func SessionByHash(ctx context.Context, db *gorm.DB, hash string) (Session, Staff, error) {
	if db.Dialector.Name() != "postgres" {
		var s Session
		if err := takeRow(ctx, db, &s, "SELECT * FROM sessions WHERE id_hash = ?", hash); errors.Is(err, ErrNotFound) {
			return Session{}, Staff{}, ErrNoSession
		} else if err != nil {
			return Session{}, Staff{}, fmt.Errorf("session: %w", err)
		}
		var st Staff
		if err := takeRow(ctx, db, &st, "SELECT * FROM staff WHERE id = ?", s.StaffID); err != nil {
			return Session{}, Staff{}, fmt.Errorf("session staff %d: %w", s.StaffID, err)
		}
		return s, st, nil
	}
	query, err := sessionStaffQuery(db)
	if err != nil {
		return Session{}, Staff{}, fmt.Errorf("session: %w", err)
	}
	var row sessionStaff
	if err := takeRow(ctx, db, &row, query, hash); errors.Is(err, ErrNotFound) {
		return Session{}, Staff{}, ErrNoSession
	} else if err != nil {
		return Session{}, Staff{}, fmt.Errorf("session: %w", err)
	}
	if row.Staff.ID == 0 {
		return Session{}, Staff{}, fmt.Errorf("session staff %d: %w", row.Session.StaffID, ErrNotFound)
	}
	return row.Session, row.Staff, nil
}

// sessionStaff is a session joined to its staff member, whose columns
// come prefixed with "staff__".
type sessionStaff struct {
	Session Session `gorm:"embedded"`
	Staff   Staff   `gorm:"embedded;embeddedPrefix:staff__"`
}

var sessionStaffSQL struct {
	once  sync.Once
	query string
	err   error
}

// sessionStaffQuery selects a session and, prefixed, every column of its
// staff member, as the Staff model declares them.
func sessionStaffQuery(db *gorm.DB) (string, error) {
	sessionStaffSQL.once.Do(func() {
		stmt := &gorm.Statement{DB: db}
		if err := stmt.Parse(&Staff{}); err != nil {
			sessionStaffSQL.err = err
			return
		}
		cols := []string{"sessions.*"}
		for _, name := range stmt.Schema.DBNames {
			cols = append(cols, "staff."+name+" AS staff__"+name)
		}
		sessionStaffSQL.query = "SELECT " + strings.Join(cols, ", ") +
			" FROM sessions LEFT JOIN staff ON staff.id = sessions.staff_id WHERE sessions.id_hash = ?"
	})
	return sessionStaffSQL.query, sessionStaffSQL.err
}

// TouchSession records activity, which pushes the idle timeout back.
func TouchSession(ctx context.Context, db *gorm.DB, hash string, now time.Time) error {
	return db.WithContext(ctx).Model(&Session{}).Where("id_hash = ? AND ended_at IS NULL", hash).
		Update("last_seen_at", now.UTC()).Error
}

// Logout ends one session and audits it.
func Logout(ctx context.Context, db *gorm.DB, now time.Time, by Actor, hash string) error {
	return db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		res := tx.Model(&Session{}).Where("id_hash = ? AND ended_at IS NULL", hash).
			Updates(map[string]any{"ended_at": now.UTC(), "end_reason": "logout"})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return nil
		}
		_, err := AppendAudit(ctx, tx, AuditEntry{At: now, Actor: by, Action: ActionLogout, Target: by.Email})
		return err
	})
}

// CountLiveSessions counts a staff member's sessions that have not been
// ended (some may have timed out without being ended).
func CountLiveSessions(ctx context.Context, db *gorm.DB, staffID int64) (int64, error) {
	var n int64
	err := db.WithContext(ctx).Model(&Session{}).Where("staff_id = ? AND ended_at IS NULL", staffID).Count(&n).Error
	return n, err
}

func endStaffSessions(ctx context.Context, tx *gorm.DB, now time.Time, staffID int64, reason string) error {
	return tx.WithContext(ctx).Model(&Session{}).Where("staff_id = ? AND ended_at IS NULL", staffID).
		Updates(map[string]any{"ended_at": now.UTC(), "end_reason": reason}).Error
}

// LoginFlow is a login in progress: the secrets of one authorization
// request, kept server-side until the identity provider sends the browser
// back, then consumed exactly once.
type LoginFlow struct {
	StateHash string `gorm:"primaryKey"`
	Nonce     string
	Verifier  string // PKCE code verifier
	ReturnTo  string
	StepUp    bool
	LoginHint string
	// CreatedAt is when the flow, and so a step-up, began: a step-up
	// accepts only an auth_time from then on.
	CreatedAt time.Time
}

// TableName is the login flows table's name.
func (LoginFlow) TableName() string { return "login_flows" }

// SaveLoginFlow stores a new flow and drops flows older than maxAge.
func SaveLoginFlow(ctx context.Context, db *gorm.DB, f LoginFlow, maxAge time.Duration) error {
	return db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Where("created_at < ?", f.CreatedAt.Add(-maxAge)).Delete(&LoginFlow{}).Error; err != nil {
			return err
		}
		return tx.Create(&f).Error
	})
}

// TakeLoginFlow removes and returns the flow with the given state hash.
// Of two concurrent takers, only one gets it.
func TakeLoginFlow(ctx context.Context, db *gorm.DB, stateHash string) (LoginFlow, error) {
	var f LoginFlow
	err := db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Where("state_hash = ?", stateHash).Take(&f).Error; err != nil {
			return err
		}
		res := tx.Where("state_hash = ?", stateHash).Delete(&LoginFlow{})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected != 1 {
			return gorm.ErrRecordNotFound
		}
		return nil
	})
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return LoginFlow{}, fmt.Errorf("login flow: %w", ErrNotFound)
	}
	return f, err
}
