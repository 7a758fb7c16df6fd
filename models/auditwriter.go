package models

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"time"

	"gorm.io/gorm"
)

// AuditWriter appends events that are not part of another transaction —
// above all views of tenant data — with group commit: one goroutine takes
// whatever is queued (up to a batch limit) and appends it in a single
// transaction, so concurrent views share one commit instead of waiting for
// one each.
type AuditWriter struct {
	db       *DB
	maxBatch int
	reqs     chan auditRequest
	done     chan struct{}

	mu     sync.RWMutex // held for reading while sending on reqs
	closed bool
}

type auditRequest struct {
	ctx   context.Context
	ev    AuditEvent
	under *underGrant // nil for an event that needs no live grant
	reply chan auditReply
}

// underGrant makes an event, a view of tenant data, conditional on its
// grant: the batch's transaction, once it holds the chain head, checks
// that the grant is live then (see liveAt), and records refused instead
// of the event unless it is; the event's time becomes that moment's.
//
// When the view's access was checked under security epoch epoch (known)
// and the epoch has not moved since, nothing that ends access has been
// recorded since, and the grant's window as read then (window) is
// checked; otherwise the grant is read again and, when the epoch is
// known to have moved, stillAllowed re-checks the rest of the viewer's
// access (staff record, session) in the batch's transaction.
type underGrant struct {
	grant        int64
	now          func() time.Time // read after the chain head is locked
	refused      AuditEvent
	known        bool
	epoch        int64
	window       grantWindow
	stillAllowed func(ctx context.Context, tx *gorm.DB, at time.Time) (bool, error)
}

type auditReply struct {
	ev  AuditEvent
	err error
}

// NewAuditWriter starts a writer on db that commits up to maxBatch events
// per transaction (256 when maxBatch <= 0). Close it to stop it.
func NewAuditWriter(db *DB, maxBatch int) *AuditWriter {
	if maxBatch <= 0 {
		maxBatch = 256
	}
	w := &AuditWriter{db: db, maxBatch: maxBatch, reqs: make(chan auditRequest, 4*maxBatch), done: make(chan struct{})}
	go w.run()
	return w
}

// Append records e and returns the stored event once the transaction
// holding it has committed. On any error the event may or may not have
// been stored, and the caller must not show what it was about to show.
func (w *AuditWriter) Append(ctx context.Context, e AuditEntry) (AuditEvent, error) {
	ev, err := e.event()
	if err != nil {
		return AuditEvent{}, err
	}
	return w.send(ctx, auditRequest{ctx: ctx, ev: ev, reply: make(chan auditReply, 1)})
}

// appendUnder records e, an event under a grant (see underGrant), only
// if the grant is still live once the chain head is locked, by the clock
// under.now read then (which becomes the event's time); otherwise it
// records refused in its place and returns a wrapped ErrNoGrant once that
// is committed. So no event under a grant follows, in the chain, the
// event that ended it: an ending commits its event (and moves the
// security epoch) in the transaction that ends the grant, which holds
// the head too.
func (w *AuditWriter) appendUnder(ctx context.Context, e AuditEntry, under underGrant, refused AuditEntry) (AuditEvent, error) {
	ev, err := e.event()
	if err != nil {
		return AuditEvent{}, err
	}
	if under.refused, err = refused.event(); err != nil {
		return AuditEvent{}, err
	}
	return w.send(ctx, auditRequest{ctx: ctx, ev: ev, under: &under, reply: make(chan auditReply, 1)})
}

func (w *AuditWriter) send(ctx context.Context, req auditRequest) (AuditEvent, error) {
	w.mu.RLock()
	if w.closed {
		w.mu.RUnlock()
		return AuditEvent{}, ErrAuditWriterClosed
	}
	select {
	case w.reqs <- req:
		w.mu.RUnlock()
	case <-ctx.Done():
		w.mu.RUnlock()
		return AuditEvent{}, ctx.Err()
	}
	select {
	case r := <-req.reply:
		return r.ev, r.err
	case <-ctx.Done():
		return AuditEvent{}, ctx.Err()
	}
}

// Close stops taking events, commits every event already queued, and
// waits for the writer to finish.
func (w *AuditWriter) Close() error {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.reqs)
	}
	w.mu.Unlock()
	<-w.done
	return nil
}

func (w *AuditWriter) run() {
	defer close(w.done)
	batch := make([]auditRequest, 0, w.maxBatch)
	evs := make([]AuditEvent, 0, w.maxBatch)
	for first := range w.reqs {
		batch = w.gather(append(batch[:0], first))
		// On SQLite, when views are arriving together, let the goroutines
		// runnable now (requests about to append) run first, until three
		// yields in a row bring nothing: a bigger batch shares one commit,
		// and the single writer's fsync, among more views. A lone view
		// does not wait. (On PostgreSQL they measured no better, often
		// worse.)
		for idle := 0; w.db.Dialect == SQLite && len(batch) > 1 && len(batch) < w.maxBatch && idle < 3; {
			n := len(batch)
			runtime.Gosched()
			if batch = w.gather(batch); len(batch) == n {
				idle++
			}
		}
		w.commit(batch, evs[:0])
	}
}

// gather adds to batch what is queued now, up to the batch limit.
func (w *AuditWriter) gather(batch []auditRequest) []auditRequest {
	for len(batch) < w.maxBatch {
		select {
		case r, ok := <-w.reqs:
			if !ok {
				return batch
			}
			batch = append(batch, r)
		default:
			return batch
		}
	}
	return batch
}

// commit appends one batch and answers every request in it.
func (w *AuditWriter) commit(batch []auditRequest, evs []AuditEvent) {
	live := batch[:0]
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.reply <- auditReply{err: err} // nobody waits for it any more
			continue
		}
		live = append(live, r)
		evs = append(evs, r.ev)
	}
	if len(live) == 0 {
		return
	}
	// One caller giving up must not fail the others' events.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var refused []bool
	err := w.db.Write.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		return appendEventsLocked(ctx, tx, evs, func(tx *gorm.DB) error {
			var err error
			refused, err = recheckGrants(ctx, tx, live, evs)
			return err
		})
	})
	if err != nil {
		err = fmt.Errorf("audit batch of %d: %w", len(evs), err)
	}
	for i, r := range live {
		switch {
		case err != nil:
			r.reply <- auditReply{err: err}
		case refused[i]:
			r.reply <- auditReply{err: fmt.Errorf("grant %d or its holder's access ended before the view was recorded (refusal %d): %w", r.under.grant, evs[i].Seq, ErrNoGrant)}
		default:
			r.reply <- auditReply{ev: evs[i]}
		}
	}
}

// recheckGrants checks, inside tx and with the chain head held, the
// access of each event of live that is under a grant, and puts in evs
// the refusal of each whose access has ended. It reports which it refused.
func recheckGrants(ctx context.Context, tx *gorm.DB, live []auditRequest, evs []AuditEvent) ([]bool, error) {
	refused := make([]bool, len(live))
	known := false
	for _, r := range live {
		known = known || (r.under != nil && r.under.known)
	}
	var epoch int64
	if known {
		var err error
		if epoch, err = SecurityEpoch(ctx, tx); err != nil {
			return nil, err
		}
	}
	// fresh: checked under the epoch that still stands.
	fresh := func(r auditRequest) bool { return r.under.known && r.under.epoch == epoch }
	var ids []int64
	for _, r := range live {
		if r.under != nil && !fresh(r) {
			ids = append(ids, r.under.grant)
		}
	}
	windows := map[int64]grantWindow{}
	if len(ids) > 0 {
		var err error
		if windows, err = grantWindows(ctx, tx, ids); err != nil {
			return nil, err
		}
	}
	for i, r := range live {
		if r.under == nil {
			continue
		}
		// The use's time is when it is recorded, now: so the log shows
		// it within the grant's time, or it is refused.
		at := r.under.now().UTC().Truncate(time.Microsecond)
		win, ok := windows[r.under.grant]
		if fresh(r) {
			win, ok = r.under.window, true
		}
		if !ok || !win.liveAt(at) {
			evs[i], refused[i] = r.under.refused, true
			continue
		}
		if r.under.known && !fresh(r) && r.under.stillAllowed != nil {
			allowed, err := r.under.stillAllowed(ctx, tx, at)
			if err != nil {
				return nil, err
			}
			if !allowed {
				evs[i], refused[i] = r.under.refused, true
				evs[i].Reason = refusedAccess
				continue
			}
		}
		evs[i].At = at
	}
	return refused, nil
}
