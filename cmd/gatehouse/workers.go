package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"gatehouse/mailer"
	"gatehouse/models"

	"github.com/prometheus/client_golang/prometheus"
)

// worker is background work: Run works until ctx ends, then returns.
type worker interface {
	Run(ctx context.Context) error
}

// workers runs serve's background work, each worker in a goroutine of its
// own, and stops it in the reverse order of the starts.
type workers struct {
	log     *slog.Logger
	running []running
}

// running is a started worker.
type running struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// start runs w until stop. Its context does not end with ctx: shutdown
// stops the workers only once the requests in flight have finished.
func (ws *workers) start(ctx context.Context, name string, w worker) {
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := w.Run(runCtx); err != nil {
			ws.log.Error(name, "error", err)
		}
	}()
	ws.running = append(ws.running, running{cancel: cancel, done: done})
}

// stop stops every worker, the last started first, and waits for each.
// It is safe to call twice.
func (ws *workers) stop() {
	for i := len(ws.running) - 1; i >= 0; i-- {
		ws.running[i].cancel()
		<-ws.running[i].done
	}
	ws.running = nil
}

// startWorkers starts the background work, in the order it stops in
// reverse: the audit shipper (stopped last, so that its final checkpoint
// covers every other worker's events), the mail worker, the request
// sweeper (every 30 seconds), the retention job, the transparency
// reports and the access reviews (each at once, then hourly), the detection rules (every
// GATEHOUSE_DETECTION_EVERY, 10 seconds unless set), the alert webhook
// when set and, on PostgreSQL, the audit log's partitions made ahead
// (hourly).
func (s *server) startWorkers(ctx context.Context, post models.Post) error {
	shipper, err := newAuditShipper(s.cfg, s.st.db, s.stdout, s.log)
	if err != nil {
		return err
	}
	if shipper != nil {
		s.workers.start(ctx, "audit stream", shipper)
	}
	mail, err := newMailWorker(s.cfg, s.st.db, post.Outbox, s.metrics, s.log)
	if err != nil {
		return err
	}
	s.workers.start(ctx, "mail worker", mail)
	s.workers.start(ctx, "sweeper", &models.Sweeper{
		DB: s.st.db.Write, Product: s.st.product.Read, Post: post, Now: time.Now, Every: 30 * time.Second, Logger: s.log,
	})
	s.workers.start(ctx, "retention", &models.RetentionJob{
		DB: s.st.db, Product: s.st.product, TenantsDir: s.st.tenantsDir, Policy: s.cfg.Retention, Post: post,
		Now: time.Now, Every: time.Hour, Logger: s.log,
	})
	detector := &models.Detector{
		DB: s.st.db, Rules: s.cfg.Detection.Rules, Post: post, SecurityEmail: s.cfg.Detection.SecurityEmail,
		Webhook: s.cfg.Detection.WebhookURL != "", Now: time.Now, Every: s.cfg.Detection.Every, Logger: s.log.With("worker", "detection"),
	}
	s.workers.start(ctx, "detection", detector)
	if s.cfg.Detection.WebhookURL != "" {
		s.workers.start(ctx, "alert webhook", &models.WebhookWorker{
			DB: s.st.db, URL: s.cfg.Detection.WebhookURL, Secret: s.cfg.Detection.WebhookSecret, Now: time.Now,
			Logger: s.log.With("worker", "alert webhook"),
		})
	}
	s.workers.start(ctx, "transparency", &models.TransparencyJob{
		DB: s.st.db, Product: s.st.product, Post: post, Policy: s.cfg.Transparency, Now: time.Now, Every: time.Hour, Logger: s.log,
		Alerts: func(ctx context.Context, workspaces []string, from, to time.Time) (map[string][]models.ReportAlert, error) {
			return models.ReportAlertsConcerning(ctx, s.st.db.Read, workspaces, from, to)
		},
	})
	// The access reviews raise their overdue alerts through the
	// detector's code (announced as its own are); they run apart from it.
	s.workers.start(ctx, "access reviews", &models.ReviewJob{
		DB: s.st.db, Every: s.cfg.AccessReviews, Agreement: s.cfg.AgreementVersion, Alerts: detector,
		Now: time.Now, Interval: time.Hour, Logger: s.log.With("worker", "access reviews"),
	})
	if s.st.db.Dialect == models.Postgres {
		s.workers.start(ctx, "audit partitions", &models.PartitionWorker{DB: s.st.db, Every: time.Hour, Logger: s.log})
	}
	return nil
}

// newMailWorker sends the outbox's mail: over SMTP, or, with --dev and
// no SMTP relay set, nowhere (the dev mailbox at /dev/mail shows it).
// Stopping it lets a send in progress finish.
func newMailWorker(cfg Config, db *models.DB, outbox *models.Outbox, reg prometheus.Registerer, log *slog.Logger) (*models.MailWorker, error) {
	var sender models.MailSender = mailer.Dev{}
	if !cfg.Dev || cfg.SMTP.Host != "" {
		var err error
		if sender, err = mailer.New(cfg.SMTP); err != nil {
			return nil, err
		}
	}
	sent := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gatehouse_mail_total", Help: "Mail delivery attempts by outcome: sent, retry (refused for now) or failed (for good).",
	}, []string{"outcome"})
	if err := reg.Register(sent); err != nil {
		return nil, err
	}
	for _, o := range []string{"sent", "retry", "failed"} {
		sent.WithLabelValues(o)
	}
	w := &models.MailWorker{
		DB: db, Outbox: outbox, Sender: sender, Now: time.Now, Logger: log.With("worker", "mail"),
		Observe: func(outcome string) { sent.WithLabelValues(outcome).Inc() },
	}
	if cfg.Dev {
		w.PollInterval = time.Second
	}
	return w, nil
}

// auditShipper copies audit events to the configured stream every second
// (when this replica holds the stream's claim) and signs checkpoints of
// the chain head every GATEHOUSE_AUDIT_CHECKPOINT_EVERY; when it stops it
// ships the last events, writes the final checkpoint, gives the claim up
// and closes the stream's file.
type auditShipper struct {
	s     *models.AuditShipper
	every time.Duration      // between checkpoints
	file  *models.StreamFile // nil when the stream is stdout
	log   *slog.Logger
}

// newAuditShipper returns the shipper the configuration asks for, or nil
// when it asks for neither a stream nor checkpoints.
func newAuditShipper(cfg Config, db *models.DB, stdout io.Writer, log *slog.Logger) (*auditShipper, error) {
	var out io.Writer
	var file *models.StreamFile
	switch {
	case cfg.AuditStream == "stdout":
		out = stdout
	case strings.HasPrefix(cfg.AuditStream, "file:"):
		var err error
		file, err = models.OpenStreamFile(strings.TrimPrefix(cfg.AuditStream, "file:"))
		if err != nil {
			return nil, fmt.Errorf("GATEHOUSE_AUDIT_STREAM: %w", err)
		}
		out = file
	}
	if out == nil && cfg.AuditSigningKey == nil {
		return nil, nil
	}
	s := models.NewAuditShipper(db, out, cfg.AuditSigningKey, time.Now, log)
	return &auditShipper{s: s, every: cfg.AuditCheckpointEvery, file: file, log: log}, nil
}

// Run ships until ctx ends, then writes the final checkpoint.
func (a *auditShipper) Run(ctx context.Context) error {
	ship, checkpoint := time.NewTicker(time.Second), time.NewTicker(a.every)
	defer ship.Stop()
	defer checkpoint.Stop()
	err := a.s.Run(ctx, ship.C, checkpoint.C)
	if a.file != nil {
		if err := a.file.Close(); err != nil {
			a.log.Error("audit stream", "error", err)
		}
	}
	if err != nil {
		return fmt.Errorf("final checkpoint: %w", err)
	}
	return nil
}
