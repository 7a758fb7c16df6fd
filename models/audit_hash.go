package models

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"time"
)

// GenesisHash is the previous hash of the first event in the chain.
const GenesisHash = "0000000000000000000000000000000000000000000000000000000000000000"

// AppendCanonical appends the canonical encoding of ev to dst. It is the
// exact byte string the chain hash covers, so an auditor can re-implement
// it: sixteen fields, in this order, each written as a netstring — the
// field's length in bytes in decimal ASCII, ':', the bytes, ',':
//
//	seq           decimal, no sign or leading zeros
//	at            UTC, Go's RFC3339Nano ("2006-01-02T15:04:05.999999999Z07:00":
//	              fraction of at most 6 digits here, trailing zeros and a
//	              zero fraction omitted, "Z" for UTC)
//	actor, actor_tier, action, workspace, table_name, record_ids
//	grant_id      decimal, or empty when NULL
//	breakglass_id decimal, or empty when NULL
//	target, reason, detail, ip, user_agent, request_id
//
// Text fields are their stored UTF-8 bytes, unchanged. For example the
// actor "ada@example.com" is "15:ada@example.com,". The hash of an event is
// then lower-case hex(SHA-256(prev_hash || "\n" || canonical)), where
// prev_hash is the previous event's hash as 64 hex characters (GenesisHash
// for seq 1).
func AppendCanonical(dst []byte, ev *AuditEvent) []byte {
	var num [40]byte
	dst = appendField(dst, strconv.AppendInt(num[:0], ev.Seq, 10))
	dst = appendField(dst, appendTimeUTC(num[:0], ev.At))
	dst = appendText(dst, ev.Actor)
	dst = appendText(dst, ev.ActorTier)
	dst = appendText(dst, string(ev.Action))
	dst = appendText(dst, ev.Workspace)
	dst = appendText(dst, ev.Table)
	dst = appendText(dst, ev.RecordIDs)
	dst = appendOptional(dst, ev.GrantID)
	dst = appendOptional(dst, ev.BreakglassID)
	dst = appendText(dst, ev.Target)
	dst = appendText(dst, ev.Reason)
	dst = appendText(dst, ev.Detail)
	dst = appendText(dst, ev.IP)
	dst = appendText(dst, ev.UserAgent)
	dst = appendText(dst, ev.RequestID)
	return dst
}

// The helpers below are the hot path of verification, hence by hand.

func appendLen(dst []byte, n int) []byte {
	switch {
	case n < 10:
		return append(dst, byte('0'+n), ':') // #nosec G115 -- 0 <= n < 10
	case n < 100:
		return append(dst, byte('0'+n/10), byte('0'+n%10), ':')
	}
	return append(strconv.AppendInt(dst, int64(n), 10), ':')
}

func appendField(dst, b []byte) []byte {
	return append(append(appendLen(dst, len(b)), b...), ',')
}

func appendText(dst []byte, s string) []byte {
	return append(append(appendLen(dst, len(s)), s...), ',')
}

func appendOptional(dst []byte, p *int64) []byte {
	if p == nil {
		return append(dst, '0', ':', ',')
	}
	var num [20]byte
	return appendField(dst, strconv.AppendInt(num[:0], *p, 10))
}

// appendTimeUTC appends t in UTC exactly as t.UTC().AppendFormat(dst,
// time.RFC3339Nano) would, several times faster.
func appendTimeUTC(dst []byte, t time.Time) []byte {
	t = t.UTC()
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return t.AppendFormat(dst, time.RFC3339Nano)
	}
	hour, minute, sec := t.Clock()
	// #nosec G115 -- v is a clock or date part below 100, so each digit is 0-9
	two := func(dst []byte, v int) []byte { return append(dst, byte('0'+v/10), byte('0'+v%10)) }
	dst = two(dst, year/100)
	dst = two(dst, year%100)
	dst = append(dst, '-')
	dst = two(dst, int(month))
	dst = append(dst, '-')
	dst = two(dst, day)
	dst = append(dst, 'T')
	dst = two(dst, hour)
	dst = append(dst, ':')
	dst = two(dst, minute)
	dst = append(dst, ':')
	dst = two(dst, sec)
	if ns := t.Nanosecond(); ns != 0 {
		var frac [9]byte
		for i := 8; i >= 0; i-- {
			frac[i] = byte('0' + ns%10)
			ns /= 10
		}
		n := 9
		for frac[n-1] == '0' {
			n--
		}
		dst = append(dst, '.')
		dst = append(dst, frac[:n]...)
	}
	return append(dst, 'Z')
}

// chainHasher computes event hashes reusing one buffer.
type chainHasher struct {
	buf []byte
	hex [64]byte
}

// hash returns hex(SHA-256(prev || "\n" || canonical(ev))); the slice is
// valid until the next call.
func (c *chainHasher) hash(prev string, ev *AuditEvent) []byte {
	c.buf = append(c.buf[:0], prev...)
	c.buf = append(c.buf, '\n')
	c.buf = AppendCanonical(c.buf, ev)
	sum := sha256.Sum256(c.buf)
	hex.Encode(c.hex[:], sum[:])
	return c.hex[:]
}

// matches reports whether ev.Hash is the hash of ev after ev.PrevHash,
// comparing the digest with the stored hex digits directly (verify's hot
// path: no hex encoding of its own).
func (c *chainHasher) matches(ev *AuditEvent) bool {
	const digits = "0123456789abcdef"
	c.buf = append(c.buf[:0], ev.PrevHash...)
	c.buf = append(c.buf, '\n')
	c.buf = AppendCanonical(c.buf, ev)
	sum := sha256.Sum256(c.buf)
	want := ev.Hash
	if len(want) != 2*len(sum) {
		return false
	}
	for i, b := range sum {
		if want[2*i] != digits[b>>4] || want[2*i+1] != digits[b&15] {
			return false
		}
	}
	return true
}

// ChainHash returns the hash ev must carry when prev is the hash of the
// event before it.
func ChainHash(prev string, ev AuditEvent) string {
	var c chainHasher
	return string(c.hash(prev, &ev))
}
