package models

import (
	"context"
	"fmt"

	"gorm.io/gorm"
)

// SealAuditChain takes the events written before the chain existed (the
// migration leaves the head unsealed when there are any) into the chain:
// in seq order, it numbers them 1..n, which closes gaps that rolled-back
// transactions left in the old identity sequence, and sets their hashes.
// It does nothing once the head is sealed, so running it at every start is
// safe; appending seals first by itself too. Events written after sealing
// are never sealed, so a row inserted later without a hash stays visible
// as a break to VerifyAudit.
func SealAuditChain(ctx context.Context, db *DB) error {
	return db.Write.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		head, err := lockHead(tx)
		if err != nil || head.Hash != "" {
			return err
		}
		_, err = sealLegacy(ctx, tx)
		return err
	})
}

// sealLegacy seals every row of an unsealed chain; the caller holds the head.
func sealLegacy(ctx context.Context, tx *gorm.DB) (ChainHead, error) {
	head := ChainHead{Hash: GenesisHash}
	var c chainHasher
	after := int64(-1 << 63)
	for {
		var batch []AuditEvent
		if err := tx.Where("seq > ?", after).Order("seq").Limit(1000).Find(&batch).Error; err != nil {
			return ChainHead{}, fmt.Errorf("seal audit chain: %w", err)
		}
		if len(batch) == 0 {
			break
		}
		for i := range batch {
			ev := &batch[i]
			if ev.Hash != "" {
				return ChainHead{}, fmt.Errorf("seal audit chain: event %d already has a hash while the head is unsealed", ev.Seq)
			}
			old := ev.Seq
			ev.Seq, ev.PrevHash = head.Seq+1, head.Hash
			ev.Hash = string(c.hash(ev.PrevHash, ev))
			// ev.Seq <= old: the rows before it moved to 1..ev.Seq-1, so
			// the new number is free.
			if err := tx.Exec("UPDATE audit_events SET seq = ?, prev_hash = ?, hash = ? WHERE seq = ?", ev.Seq, ev.PrevHash, ev.Hash, old).Error; err != nil {
				return ChainHead{}, fmt.Errorf("seal audit event %d: %w", old, err)
			}
			head = ChainHead{Seq: ev.Seq, Hash: ev.Hash}
			after = old
		}
	}
	return head, setHead(tx, head)
}
