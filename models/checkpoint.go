package models

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"
)

// Checkpoint is a signed statement that the audit chain had reached Seq
// with hash Hash at time At. Written to the audit stream, it lets a later
// `gatehouse audit verify --checkpoint` notice newest rows cut from the
// database together with the chain head.
type Checkpoint struct {
	Type      string    `json:"type"` // "checkpoint"
	Seq       int64     `json:"seq"`
	Hash      string    `json:"hash"`
	At        time.Time `json:"at"`
	KeyID     string    `json:"key_id"`
	Signature string    `json:"signature"` // standard base64 of the ed25519 signature
}

// CheckpointMessage is the byte string a checkpoint signs:
//
//	"gatehouse-audit-checkpoint\n" + seq (decimal) + "\n" + hash (64 hex) + "\n" + at (UTC, RFC3339Nano)
func CheckpointMessage(seq int64, hash string, at time.Time) []byte {
	b := []byte("gatehouse-audit-checkpoint\n")
	b = strconv.AppendInt(b, seq, 10)
	b = append(append(append(b, '\n'), hash...), '\n')
	return at.UTC().AppendFormat(b, time.RFC3339Nano)
}

// KeyID names a public key: the first 16 hex digits of its SHA-256.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

// ParseSigningKey reads a base64 (standard or URL alphabet, padded or
// not) ed25519 seed of 32 bytes.
func ParseSigningKey(s string) (ed25519.PrivateKey, error) {
	seed, err := decodeBase64(s)
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("want the base64 of a %d-byte ed25519 seed", ed25519.SeedSize)
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

// ParsePublicKey reads a base64 ed25519 public key of 32 bytes.
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	b, err := decodeBase64(s)
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("want the base64 of a %d-byte ed25519 public key", ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(b), nil
}

func decodeBase64(s string) ([]byte, error) {
	s = string(bytes.TrimSpace([]byte(s)))
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, errors.New("not base64")
}

// SignCheckpoint signs head as of at.
func SignCheckpoint(key ed25519.PrivateKey, head ChainHead, at time.Time) Checkpoint {
	at = at.UTC()
	sig := ed25519.Sign(key, CheckpointMessage(head.Seq, head.Hash, at))
	return Checkpoint{
		Type: "checkpoint", Seq: head.Seq, Hash: head.Hash, At: at,
		KeyID: KeyID(key.Public().(ed25519.PublicKey)), Signature: base64.StdEncoding.EncodeToString(sig),
	}
}

// Verify checks the checkpoint's signature with pub.
func (c Checkpoint) Verify(pub ed25519.PublicKey) error {
	sig, err := base64.StdEncoding.DecodeString(c.Signature)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return errors.New("checkpoint signature is not a base64 ed25519 signature")
	}
	if !ed25519.Verify(pub, CheckpointMessage(c.Seq, c.Hash, c.At), sig) {
		return fmt.Errorf("checkpoint at seq %d: signature does not verify with key %s (checkpoint names key %s)", c.Seq, KeyID(pub), c.KeyID)
	}
	return nil
}

// ReadLastCheckpoint returns the last checkpoint line of an audit stream
// (other lines, such as events, are skipped; so are the other fields of a
// JSON log line carrying a checkpoint).
func ReadLastCheckpoint(r io.Reader) (Checkpoint, error) {
	var last Checkpoint
	found := false
	err := scanStream(r, func(c Checkpoint) error {
		if c.Type == "checkpoint" {
			last, found = c, true
		}
		return nil
	})
	if err != nil {
		return Checkpoint{}, err
	}
	if !found {
		return Checkpoint{}, errors.New("no checkpoint line found")
	}
	return last, nil
}

// VerifyAgainstCheckpoint checks cp's signature with pub (an error when it
// does not verify), then the whole chain (VerifyAudit), and then that the
// chain still holds the checkpoint: the event at cp.Seq exists with cp's
// hash, so the chain's head is at or beyond it. A chain cut after the
// checkpoint — rows and head rolled back together — verifies on its own
// but fails here.
func VerifyAgainstCheckpoint(ctx context.Context, db *DB, cp Checkpoint, pub ed25519.PublicKey) (VerifyResult, error) {
	if err := cp.Verify(pub); err != nil {
		return VerifyResult{}, err
	}
	res, err := VerifyAudit(ctx, db)
	if err != nil || !res.OK {
		return res, err
	}
	if res.Seq < cp.Seq {
		res.OK = false
		return res.broken(res.Seq+1, fmt.Sprintf("chain ends at seq %d before checkpoint seq %d: newer events were removed", res.Seq, cp.Seq)), nil
	}
	hash := GenesisHash
	if cp.Seq > 0 {
		var ev AuditEvent
		if err := db.Read.WithContext(ctx).Where("seq = ?", cp.Seq).Take(&ev).Error; err != nil {
			return VerifyResult{}, fmt.Errorf("read audit event %d: %w", cp.Seq, err)
		}
		hash = ev.Hash
	}
	if hash != cp.Hash {
		res.OK = false
		return res.broken(cp.Seq, fmt.Sprintf("event %d has hash %.12s…, the checkpoint signed %.12s…: the chain was rewritten", cp.Seq, hash, cp.Hash)), nil
	}
	return res, nil
}

// DefaultCheckpointEvery is how often a running portal signs a checkpoint
// of the audit chain (it also signs one when it stops).
const DefaultCheckpointEvery = 5 * time.Minute
