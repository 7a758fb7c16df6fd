package models

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// Workspace is a customer workspace as the product's registry describes
// it: general information only, never payment data. The registry belongs
// to the product; Gatehouse only reads it.
type Workspace struct {
	Slug              string `gorm:"primaryKey"`
	Name              string
	Plan              string // free, team, business, enterprise
	Status            string // active, cancelled, free
	MemberCount       int
	CreatedAt         time.Time
	LastLoginAt       *time.Time
	CancelledAt       *time.Time
	SubscriptionState string // trialing, active, past_due, cancelled, none
	RenewalDate       *time.Time
	DSN               string `gorm:"column:dsn"` // set for workspaces on their own database server
}

// TableName is the registry table's name in the product database.
func (Workspace) TableName() string { return "workspaces" }

// WorkspaceOwner is an owner or admin of a workspace, who decides on
// access to it.
type WorkspaceOwner struct {
	Slug  string `gorm:"primaryKey"`
	Email string `gorm:"primaryKey"`
}

// TableName is the owners table's name in the product database.
func (WorkspaceOwner) TableName() string { return "workspace_owners" }

// CountWorkspaces counts the workspaces in the registry.
func CountWorkspaces(ctx context.Context, product *gorm.DB) (int64, error) {
	var n int64
	if err := product.WithContext(ctx).Model(&Workspace{}).Count(&n).Error; err != nil {
		return 0, fmt.Errorf("count workspaces: %w", err)
	}
	return n, nil
}
