package models

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"
)

// AffectedQuery names the evidence of an incident, one way at a time:
// what Staff viewed between Since and Until; what was read under Grant
// or under Breakglass; or what was read of each of Slugs between Since
// and Until. Each is served by an index of the audit log
// (audit_events_actor, _grant, _breakglass, _workspace), read in seq
// order, never by scanning the log.
type AffectedQuery struct {
	Staff      string
	Since      time.Time
	Until      time.Time
	Grant      int64
	Breakglass int64
	Slugs      []string
}

// AffectedWorkspace is one workspace an incident concerns, with what was
// accessed in it.
type AffectedWorkspace struct {
	Slug     string   `json:"slug"`
	Name     string   `json:"name"`
	Accesses []Access `json:"accesses"`
}

// Access is what one staff member read of one table of a workspace:
// how many views, which records (the first accessRecordsMax), when.
type Access struct {
	Staff   string    `json:"staff"`
	Table   string    `json:"table"`
	Views   int       `json:"views"`
	Records []string  `json:"records"`
	More    int       `json:"more,omitempty"` // records beyond Records
	First   time.Time `json:"first"`
	Last    time.Time `json:"last"`
}

// Evidence bounds: a finding is read in pages, and one that needs more
// than affectedEventsMax events is refused (narrow it) rather than read
// without end.
const (
	affectedPage      = 500
	affectedEventsMax = 50000
	accessRecordsMax  = 100
)

// accessActions are the events that read customer data.
var accessActions = []Action{ActionDataViewed, ActionFieldRevealed}

// queries is q as audit searches, one per slug for Slugs.
func (q AffectedQuery) queries() ([]AuditQuery, error) {
	base := AuditQuery{Actions: accessActions, Since: q.Since, Until: q.Until}
	ways := 0
	for _, set := range []bool{q.Staff != "", q.Grant != 0, q.Breakglass != 0, len(q.Slugs) > 0} {
		if set {
			ways++
		}
	}
	if ways != 1 {
		return nil, Invalid("method", "Find the workspaces one way: by staff member, by grant, by break-glass, or from a list of slugs.")
	}
	if !q.Since.IsZero() && !q.Until.IsZero() && !q.Until.After(q.Since) {
		return nil, Invalid("until", "The end of the window must come after its start.")
	}
	switch {
	case q.Staff != "":
		if q.Since.IsZero() || q.Until.IsZero() {
			return nil, Invalid("since", "Give the window: from when and until when the staff member's views count.")
		}
		base.Actor = q.Staff
	case q.Grant != 0:
		base.Grant = q.Grant
	case q.Breakglass != 0:
		base.Breakglass = q.Breakglass
	default:
		out := make([]AuditQuery, 0, len(q.Slugs))
		for _, s := range q.Slugs {
			w := base
			w.Workspace = s
			out = append(out, w)
		}
		return out, nil
	}
	return []AuditQuery{base}, nil
}

// FindAffected reads the evidence q names and returns the workspaces it
// shows were accessed, by slug, each with what was read, by whom, when.
// With Slugs, every slug is in the answer, accessed or not. Names are
// left empty for the caller, who reads the registry.
func FindAffected(ctx context.Context, db *gorm.DB, q AffectedQuery) ([]AffectedWorkspace, error) {
	qs, err := q.queries()
	if err != nil {
		return nil, err
	}
	type key struct{ ws, staff, table string }
	acc := map[key]*Access{}
	seen := map[key]map[string]bool{}
	found := map[string]bool{}
	for _, s := range q.Slugs {
		found[s] = true
	}
	read := 0
	for _, aq := range qs {
		var last int64
		for {
			var evs []AuditEvent
			err := aq.where(db.WithContext(ctx).Model(&AuditEvent{})).Where("seq > ?", last).Order("seq").Limit(affectedPage).Find(&evs).Error
			if err != nil {
				return nil, fmt.Errorf("affected workspaces: %w", err)
			}
			for _, ev := range evs {
				found[ev.Workspace] = true
				k := key{ev.Workspace, ev.Actor, ev.Table}
				a := acc[k]
				if a == nil {
					a = &Access{Staff: ev.Actor, Table: ev.Table, First: ev.At}
					acc[k], seen[k] = a, map[string]bool{}
				}
				a.Views++
				a.Last = laterOf(a.Last, ev.At)
				if ev.At.Before(a.First) {
					a.First = ev.At
				}
				for _, id := range strings.Split(ev.RecordIDs, ",") {
					if id == "" || seen[k][id] {
						continue
					}
					seen[k][id] = true
					if len(a.Records) < accessRecordsMax {
						a.Records = append(a.Records, id)
					} else {
						a.More++
					}
				}
			}
			read += len(evs)
			if read > affectedEventsMax {
				return nil, Invalid("", fmt.Sprintf("The evidence holds more than %d views; narrow the window or the staff member.", affectedEventsMax))
			}
			if len(evs) < affectedPage {
				break
			}
			last = evs[len(evs)-1].Seq
		}
	}
	var out []AffectedWorkspace
	for ws := range found {
		w := AffectedWorkspace{Slug: ws}
		for k, a := range acc {
			if k.ws == ws {
				w.Accesses = append(w.Accesses, *a)
			}
		}
		slices.SortFunc(w.Accesses, func(a, b Access) int {
			return strings.Compare(a.Staff+"\x00"+a.Table, b.Staff+"\x00"+b.Table)
		})
		out = append(out, w)
	}
	slices.SortFunc(out, func(a, b AffectedWorkspace) int { return strings.Compare(a.Slug, b.Slug) })
	return out, nil
}
