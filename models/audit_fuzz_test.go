package models

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzAuditEncoding builds an event from any entry the way AppendAudit
// does and holds its two encodings to what auditors rely on. The
// canonical encoding reads back, field by field, as the doc comment of
// AppendCanonical describes it (so it is unambiguous); every field
// changes the hash; and the JSON line the exports and the stream write
// decodes to the same event with the same hash, for every event the
// appender accepts.
func FuzzAuditEncoding(f *testing.F) {
	f.Add(int64(1), int64(1772366400), int64(0), "data.viewed", "ada@example.com", "sysadmin", "192.0.2.1",
		"Mozilla/5.0", "req-1", "acme", "members", "1 2 3", "grant/7", "SUP-1234 export fails", "note",
		int64(7), true, int64(0), false, []byte{})
	f.Add(int64(94), int64(1772366400), int64(123456789), "consent.shown", "owner@acme.example", "customer",
		"2001:db8::1", "curl/8\x00\xff", "", "acme", "", "", "access_request/3", "", "<script>\u2028\"\\",
		int64(0), false, int64(12), true, []byte("prev"))
	f.Add(int64(1<<62), int64(-62135596800), int64(1), "login.refused", strings.Repeat("é", 161), "", "", "", "",
		"", "", "", strings.Repeat("t", 513), "", "", int64(-1), true, int64(1<<62), true, []byte{0})
	f.Add(int64(2), int64(253402300799), int64(999999999), "grant.ended", "a,b", "9:x,", "", "", "", "1:,", "", "1,2 3", "", "",
		"", int64(0), true, int64(0), true, []byte("p"))
	f.Fuzz(func(t *testing.T, seq, sec, nsec int64, action, actor, tier, ip, ua, requestID, workspace, table,
		records, target, reason, detail string, grant int64, hasGrant bool, bg int64, hasBG bool, prevSeed []byte) {
		e := AuditEntry{
			At:        time.Unix(sec, nsec),
			Actor:     Actor{Email: actor, Tier: tier, IP: ip, UserAgent: ua, RequestID: requestID},
			Action:    Action(action),
			Workspace: workspace,
			Table:     table,
			Target:    target,
			Reason:    reason,
		}
		if records != "" {
			e.RecordIDs = strings.Split(records, " ")
		}
		if detail != "" {
			e.Detail = map[string]string{"note": detail}
		}
		if hasGrant {
			e.GrantID = &grant
		}
		if hasBG {
			e.BreakglassID = &bg
		}
		ev, err := e.event()
		if why := refusal(e); (err != nil) != (why != "") {
			t.Fatalf("entry %+v: event() says %v, want a refusal only for: %s", e, err, why)
		}
		if err != nil {
			return
		}
		prev := GenesisHash
		if len(prevSeed) > 0 {
			sum := sha256.Sum256(prevSeed)
			prev = hex.EncodeToString(sum[:])
		}
		ev.Seq, ev.PrevHash = seq, prev
		ev.Hash = ChainHash(prev, ev)

		fields, err := readCanonical(AppendCanonical(nil, &ev))
		if err != nil {
			t.Fatalf("canonical encoding of %+v: %v", ev, err)
		}
		want := []string{strconv.FormatInt(ev.Seq, 10), ev.At.UTC().Format(time.RFC3339Nano), ev.Actor, ev.ActorTier,
			string(ev.Action), ev.Workspace, ev.Table, ev.RecordIDs, optionalText(ev.GrantID), optionalText(ev.BreakglassID),
			ev.Target, ev.Reason, ev.Detail, ev.IP, ev.UserAgent, ev.RequestID}
		for i := range want {
			if fields[i] != want[i] {
				t.Fatalf("canonical field %d = %q, want %q", i, fields[i], want[i])
			}
		}
		for i, mutate := range eventMutations {
			changed := ev
			mutate(&changed)
			if ChainHash(changed.PrevHash, changed) == ev.Hash {
				t.Fatalf("changing field %d of event %d leaves the hash as it was", i, ev.Seq)
			}
		}

		for _, typ := range []string{"", "event"} {
			line, err := AppendJSONLine(nil, typ, ev)
			if err != nil {
				t.Fatalf("an accepted event cannot be written as JSON: %v\n%+v", err, ev)
			}
			if strings.Index(string(line), "\n") != len(line)-1 {
				t.Fatalf("JSON line %q is not one line", line)
			}
			var r AuditRecord
			if err := json.Unmarshal(line, &r); err != nil {
				t.Fatalf("JSON line %q does not decode: %v", line, err)
			}
			got := r.Event()
			if r.Type != typ || fmt.Sprintf("%+v", eventText(got)) != fmt.Sprintf("%+v", eventText(ev)) {
				t.Fatalf("JSON line %q decodes to\n%+v (type %q), want\n%+v", line, eventText(got), r.Type, eventText(ev))
			}
			var c chainHasher
			if ChainHash(got.PrevHash, got) != ev.Hash || !c.matches(&got) {
				t.Fatalf("the event read from %q hashes to %s, want %s", line, ChainHash(got.PrevHash, got), ev.Hash)
			}
		}
	})
}

// TestAuditEventRefusals: the appender refuses exactly the entries it
// documents, each with a message naming the action.
func TestAuditEventRefusals(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, e := range []AuditEntry{
		{At: at},
		{At: at, Action: "data.seen"},
		{At: at, Action: "\xb3"},
		{Action: ActionDataViewed},
		{At: at, Action: ActionDataViewed, RecordIDs: []string{"1", ""}},
		{At: at, Action: ActionDataViewed, RecordIDs: []string{"1,2"}},
		{At: at, Action: ActionDataViewed, RecordIDs: []string{"\xff"}},
		{At: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), Action: ActionDataViewed},
		{At: time.Date(0, 12, 31, 23, 59, 59, 0, time.UTC), Action: ActionDataViewed},
		{At: at, Action: ActionDataViewed, RecordIDs: []string{"1\x00"}},
	} {
		if _, err := e.event(); err == nil || !strings.Contains(err.Error(), strings.Trim(strconv.Quote(string(e.Action)), `"`)) {
			t.Errorf("entry %+v: %v, want a refusal naming the action", e, err)
		}
	}
	if _, err := (AuditEntry{At: at, Action: ActionDataViewed, RecordIDs: []string{"1", "2"}}).event(); err != nil {
		t.Errorf("a plain entry is refused: %v", err)
	}
}

// refusal is why the appender must refuse e, or "" when it must take it.
func refusal(e AuditEntry) string {
	switch {
	case !KnownAction(e.Action):
		return "an unknown action"
	case e.At.IsZero():
		return "no time"
	case e.At.UTC().Year() < 1 || e.At.UTC().Year() > 9999:
		return "a time outside the years 1 to 9999"
	}
	for _, id := range e.RecordIDs {
		if id == "" || strings.ContainsAny(id, ",\x00") || !utf8.ValidString(id) {
			return "a record id that is empty, holds a comma or is not text"
		}
	}
	return ""
}

// eventMutations each change one field of an event the hash covers.
var eventMutations = []func(*AuditEvent){
	func(e *AuditEvent) { e.Seq++ },
	func(e *AuditEvent) { e.At = e.At.Add(time.Microsecond) },
	func(e *AuditEvent) { e.Actor += "x" },
	func(e *AuditEvent) { e.ActorTier += "x" },
	func(e *AuditEvent) { e.Action += "x" },
	func(e *AuditEvent) { e.Workspace += "x" },
	func(e *AuditEvent) { e.Table += "x" },
	func(e *AuditEvent) { e.RecordIDs += "x" },
	func(e *AuditEvent) { e.GrantID = otherID(e.GrantID) },
	func(e *AuditEvent) { e.BreakglassID = otherID(e.BreakglassID) },
	func(e *AuditEvent) { e.Target += "x" },
	func(e *AuditEvent) { e.Reason += "x" },
	func(e *AuditEvent) { e.Detail += "x" },
	func(e *AuditEvent) { e.IP += "x" },
	func(e *AuditEvent) { e.UserAgent += "x" },
	func(e *AuditEvent) { e.RequestID += "x" },
	func(e *AuditEvent) { e.PrevHash = GenesisHash[:63] + "1" },
}

// otherID is a different optional id: none for one, one for none.
func otherID(p *int64) *int64 {
	if p != nil {
		return nil
	}
	n := int64(0)
	return &n
}

func optionalText(p *int64) string {
	if p == nil {
		return ""
	}
	return strconv.FormatInt(*p, 10)
}

// eventText is an event with its time and ids as text, for comparing.
func eventText(e AuditEvent) []string {
	return []string{strconv.FormatInt(e.Seq, 10), e.At.UTC().Format(time.RFC3339Nano), e.Actor, e.ActorTier, string(e.Action),
		e.Workspace, e.Table, e.RecordIDs, optionalText(e.GrantID), fmt.Sprint(e.GrantID == nil), optionalText(e.BreakglassID),
		fmt.Sprint(e.BreakglassID == nil), e.Target, e.Reason, e.Detail, e.IP, e.UserAgent, e.RequestID, e.PrevHash, e.Hash}
}

// readCanonical reads a canonical encoding back into its sixteen fields,
// as an auditor re-implementing it from AppendCanonical's doc would:
// netstrings, lengths in decimal without leading zeros.
func readCanonical(b []byte) ([]string, error) {
	var out []string
	for len(b) > 0 {
		colon := strings.IndexByte(string(b), ':')
		if colon < 1 || (colon > 1 && b[0] == '0') {
			return nil, fmt.Errorf("field %d: no length at %q", len(out), b)
		}
		n, err := strconv.Atoi(string(b[:colon]))
		if err != nil || n < 0 || colon+1+n >= len(b) || b[colon+1+n] != ',' {
			return nil, fmt.Errorf("field %d: bad netstring at %q", len(out), b)
		}
		out = append(out, string(b[colon+1:colon+1+n]))
		b = b[colon+2+n:]
	}
	if len(out) != 16 {
		return nil, fmt.Errorf("%d fields, want 16", len(out))
	}
	return out, nil
}
