package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gatehouse/devidp"
	"gatehouse/handlers"
	"gatehouse/letters"
	"gatehouse/models"
	"gatehouse/models/demo"
	"gatehouse/policy"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"gorm.io/gorm"
)

func serve(ctx context.Context, args, env []string, stdout, stderr io.Writer) error {
	cfg, err := serveConfig(args, env, stderr)
	if err != nil {
		return err
	}
	s := &server{
		cfg: cfg, stdout: stdout, metrics: prometheus.NewRegistry(),
		log: slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: cfg.LogLevel})),
	}
	s.workers.log = s.log
	if s.st, err = openStores(ctx, cfg); err != nil {
		return err
	}
	defer s.st.Close()
	defer s.workers.stop()
	outbox, err := models.NewOutbox(cfg.SessionKey)
	if err != nil {
		return err
	}
	post := models.Post{Outbox: outbox, Letters: letters.New(cfg.Company, cfg.BaseURL, time.Now)}
	if cfg.Dev {
		if err := seedDemoRequest(ctx, cfg, s.st.db, s.st.product, post); err != nil {
			return err
		}
	}
	if err := s.startWorkers(ctx, post); err != nil {
		return err
	}
	h, err := s.handler(outbox)
	if err != nil {
		return err
	}
	return s.listen(ctx, h)
}

// server is one run of serve: its configuration, the stores it opened
// and the background work it started.
type server struct {
	cfg     Config
	log     *slog.Logger
	stdout  io.Writer
	metrics *prometheus.Registry
	st      *stores
	workers workers
}

// serveConfig reads serve's configuration, refusing unsafe production
// settings; --dev keeps its keys in its data directory.
func serveConfig(args, env []string, stderr io.Writer) (Config, error) {
	cfg, err := loadConfig("serve", args, env, stderr)
	if cfg.Dev {
		cfg.devSecurityTxt(time.Now())
	}
	if p := cfg.checkSecurityTxt(time.Now()); len(p) > 0 {
		err = joinProblems(err, configError(p))
	}
	if !cfg.Dev {
		err = joinProblems(err, cfg.checkProduction())
	}
	if err != nil || !cfg.Dev {
		return cfg, err
	}
	return cfg, cfg.devKeys()
}

// handler builds the portal's HTTP handler over the stores.
func (s *server) handler(outbox *models.Outbox) (*handlers.Handler, error) {
	cfg, st := s.cfg, s.st
	opts := handlers.Options{
		DB: st.db, Product: st.product.Read, ProductDB: st.product, TenantsDir: st.tenantsDir, Tenants: st.tenants, Catalog: st.catalog, Audit: st.audit, AccessCache: models.NewAccessCache(st.db.Read, models.MaxAccessCacheTTL, 4096, time.Now), Logger: s.log, Now: time.Now, Metrics: s.metrics,
		BaseURL: cfg.BaseURL, AllowedDomains: cfg.AllowedDomains, SessionKey: cfg.SessionKey,
		AgreementVersion: cfg.AgreementVersion, TrustedProxies: cfg.TrustedProxies, MetricsToken: cfg.MetricsToken, MetricsElsewhere: cfg.MetricsAddr != "", BreakglassWindow: cfg.BreakglassWindow,
		Requests: cfg.Requests, Company: cfg.Company, Retention: cfg.Retention, Outbox: outbox, Sessions: cfg.Sessions, StepUpWindow: cfg.StepUpWindow,
		OIDC:        handlers.OIDC{Issuer: cfg.OIDCIssuer, ClientID: cfg.OIDCClientID, ClientSecret: cfg.OIDCClientSecret, HTTPClient: &http.Client{Timeout: 10 * time.Second}},
		Dev:         cfg.Dev,
		Detection:   cfg.Detection.Rules,
		SecurityTxt: cfg.SecurityTxt,
	}
	if cfg.Dev {
		opts.DemoStaff = demoStaff()
	}
	opts.Metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	var err error
	if opts.Enforcer, err = policy.New(); err != nil {
		return nil, err
	}
	if cfg.Dev {
		if opts.DevIdP, err = devIdentityProvider(cfg, st.db); err != nil {
			return nil, err
		}
	}
	return handlers.New(opts)
}

// listen serves h until ctx ends, then shuts down in order: the requests
// in flight finish, then the workers stop, the audit shipper last with
// its final checkpoint.
func (s *server) listen(ctx context.Context, h *handlers.Handler) error {
	servers, err := s.listeners(h)
	if err != nil {
		return err
	}
	s.log.Info("listening", "addr", servers[0].ln.Addr().String(), "metrics_addr", s.cfg.MetricsAddr, "base_url", s.cfg.BaseURL.String(), "dev", s.cfg.Dev)
	if s.cfg.Dev {
		fmt.Fprintf(s.stdout, "\nGatehouse (development mode) is running at %s\nOpen it and pick a demo staff member to sign in. Press Ctrl-C to stop.\n\n", s.cfg.BaseURL)
	}
	errc := make(chan error, len(servers))
	for _, l := range servers {
		go func() { errc <- l.srv.Serve(l.ln) }()
	}
	select {
	case err := <-errc:
		for _, l := range servers {
			l.srv.Close()
		}
		return err
	case <-ctx.Done():
	}
	s.log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	var stuck []error
	for _, l := range servers {
		if err := l.srv.Shutdown(shutdownCtx); err != nil {
			stuck = append(stuck, fmt.Errorf("shutdown: %w", err))
		}
	}
	if len(stuck) > 0 {
		return errors.Join(stuck...)
	}
	// Every request has finished; the workers' last steps (the mail
	// worker's last send among them) are recorded before the final
	// checkpoint, which covers their events.
	s.workers.stop()
	for range servers {
		if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
			return err
		}
	}
	s.log.Info("stopped")
	return nil
}

// listener is one HTTP server and the socket it serves.
type listener struct {
	srv *http.Server
	ln  net.Listener
}

// listeners opens the portal's listener and, with GATEHOUSE_METRICS_ADDR,
// the one serving /metrics alone; both are bound before either serves, so
// an address in use refuses the start.
func (s *server) listeners(h *handlers.Handler) ([]listener, error) {
	e, err := h.Echo()
	if err != nil {
		return nil, err
	}
	serve := []http.Handler{e}
	addrs := []string{s.cfg.Addr}
	if s.cfg.MetricsAddr != "" {
		serve, addrs = append(serve, h.MetricsHandler()), append(addrs, s.cfg.MetricsAddr)
	}
	var out []listener
	for i, addr := range addrs {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			for _, l := range out {
				l.ln.Close()
			}
			return nil, err
		}
		out = append(out, listener{ln: ln, srv: &http.Server{
			Handler: serve[i], ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
			WriteTimeout: 60 * time.Second, IdleTimeout: 2 * time.Minute,
			ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		}})
	}
	return out, nil
}

// stores are the databases the portal works with.
type stores struct {
	db         *models.DB           // the portal's own database
	product    *models.DB           // the product's database: the workspace registry
	tenantsDir string               // SQLite: where each workspace's file lives
	tenants    *models.TenantReader // customer data, one schema or file per workspace
	catalog    *policy.Catalog      // what of customer data may be shown
	audit      *models.AuditWriter  // group-committing appender for view events
}

func (s *stores) Close() error {
	var errs []error
	if s.audit != nil {
		errs = append(errs, s.audit.Close())
	}
	if s.tenants != nil {
		errs = append(errs, s.tenants.Close())
	}
	if s.product != nil {
		errs = append(errs, s.product.Close())
	}
	if s.db != nil {
		errs = append(errs, s.db.Close())
	}
	return errors.Join(errs...)
}

// openStores opens and migrates the portal database, takes legacy audit
// rows into the chain, opens the product and tenant databases (adding the
// demo data in --dev), and checks the data catalog against a real
// workspace schema: a catalog naming a table or column that does not
// exist refuses the start.
func openStores(ctx context.Context, cfg Config) (_ *stores, err error) {
	s := &stores{}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	if s.db, err = models.Open(ctx, cfg.DatabaseURL); err != nil {
		return nil, err
	}
	if err = models.Migrate(ctx, s.db); err != nil {
		return nil, err
	}
	if err = models.SealAuditChain(ctx, s.db); err != nil {
		return nil, err
	}
	// The audit log's monthly partitions (PostgreSQL), created ahead: an
	// event with no partition for its month could not be written.
	if _, err = models.EnsureAuditPartitions(ctx, s.db, models.DefaultPartitionsAhead); err != nil {
		return nil, err
	}
	if s.product, err = models.Open(ctx, cfg.ProductDatabaseURL); err != nil {
		return nil, fmt.Errorf("product database: %w", err)
	}
	tcfg := tenantStorage(cfg, s.product)
	if cfg.Dev {
		if err = seedDemo(ctx, cfg, s.db, s.product, tcfg.SQLiteDir); err != nil {
			return nil, err
		}
	}
	s.tenantsDir = tcfg.SQLiteDir
	if s.tenants, err = models.OpenTenantReader(ctx, tcfg); err != nil {
		return nil, fmt.Errorf("tenant data: %w", err)
	}
	if s.catalog, err = policy.LoadCatalog(); err != nil {
		return nil, err
	}
	if err = checkCatalog(ctx, s); err != nil {
		return nil, err
	}
	s.audit = models.NewAuditWriter(s.db, 256)
	return s, nil
}

// tenantStorage is where the workspaces' data lives: schemas of the
// PostgreSQL product database, or SQLite files in tenants/ beside the
// product's file.
func tenantStorage(cfg Config, product *models.DB) models.TenantStorage {
	if product.Dialect == models.SQLite {
		return models.TenantStorage{Dialect: models.SQLite, SQLiteDir: filepath.Join(filepath.Dir(strings.TrimPrefix(cfg.ProductDatabaseURL, "sqlite:")), "tenants")}
	}
	return models.TenantStorage{Dialect: product.Dialect, PostgresURL: cfg.ProductDatabaseURL}
}

// checkCatalog compares the catalog with the schema of the registry's
// first workspace (by slug) whose data is there: deleted workspaces and
// those on servers of their own are passed over. It reads a bounded
// sample of the registry (sampleWorkspaces), never all of it: when none
// of the sample has its data there, the check is skipped.
func checkCatalog(ctx context.Context, s *stores) error {
	return sampleWorkspaces(ctx, s.product.Read, func(w models.Workspace) (bool, error) {
		tables, err := s.tenants.Tables(ctx, w)
		if errors.Is(err, models.ErrNotFound) {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("data catalog: reading workspace %s: %w", w.Slug, err)
		}
		if len(tables) == 0 {
			return false, nil // a PostgreSQL schema that is not there has no tables
		}
		if err := s.catalog.CheckSchema(tables); err != nil {
			return false, fmt.Errorf("data catalog does not match workspace %s: %w", w.Slug, err)
		}
		return true, nil
	})
}

// The start-up catalog check reads at most catalogSample live workspaces,
// catalogPage at a time.
const (
	catalogSample = 1000
	catalogPage   = 50
)

// sampleWorkspaces calls each with the registry's live workspaces whose
// data is on the product's server, by slug, until each says it is done,
// an error, or catalogSample of them, reading catalogPage at a time.
func sampleWorkspaces(ctx context.Context, product *gorm.DB, each func(models.Workspace) (bool, error)) error {
	after, seen := "", 0
	for seen < catalogSample {
		var ws []models.Workspace
		err := product.WithContext(ctx).Where("status <> ? AND COALESCE(dsn, '') = '' AND slug > ?", models.WorkspaceDeleted, after).
			Order("slug").Limit(min(catalogPage, catalogSample-seen)).Find(&ws).Error
		if err != nil {
			return err
		}
		for _, w := range ws {
			if done, err := each(w); done || err != nil {
				return err
			}
		}
		if len(ws) < catalogPage {
			return nil
		}
		seen += len(ws)
		after = ws[len(ws)-1].Slug
	}
	return nil
}

// devIdentityProvider is the in-process OpenID Connect provider of --dev.
// It knows whoever is in the staff table at the moment they sign in (all
// verified, hd the domain of their address): the demo staff, seeded
// there, and anyone added since with `gatehouse staff add` or the staff
// page. The portal itself still refuses an address outside
// GATEHOUSE_ALLOWED_DOMAINS (example.com in --dev) or a staff member who
// may not sign in.
func devIdentityProvider(cfg Config, db *models.DB) (http.Handler, error) {
	staff := func(ctx context.Context) ([]devidp.User, error) {
		all, _, err := models.PageStaff(ctx, db.Read, models.StaffFilter{}, models.Keyset{Sort: models.StaffSorts[0], Limit: 1000})
		if err != nil {
			return nil, err
		}
		users := make([]devidp.User, 0, len(all.Rows))
		for _, m := range all.Rows {
			users = append(users, devUser(m.Email, m.Name))
		}
		return users, nil
	}
	// Replicas sharing the session key share the provider's keys, so a
	// sign-in may go through any of them at each step.
	secret, err := devSecret(cfg.SessionKey, "gatehouse dev identity provider")
	if err != nil {
		return nil, err
	}
	return devidp.New(devidp.Config{
		Issuer: cfg.OIDCIssuer, ClientID: cfg.OIDCClientID, ClientSecret: cfg.OIDCClientSecret,
		RedirectURIs: []string{cfg.BaseURL.JoinPath("/auth/callback").String()}, Directory: staff,
		Secret: secret,
	})
}

// devUser is staff member email as the development provider signs them
// in. A demo address keeps the subject it always had ("dev-sam.support"),
// so data directories of earlier runs, whose staff are linked to it,
// still sign in.
func devUser(email, name string) devidp.User {
	local, domain, _ := strings.Cut(email, "@")
	subject := "dev-" + email
	if domain == demo.Domain {
		subject = "dev-" + local
	}
	return devidp.User{Subject: subject, Email: email, EmailVerified: true, Name: name, HostedDomain: domain}
}

func migrate(ctx context.Context, args, env []string, stdout io.Writer) error {
	cfg, err := loadConfig("migrate", args, env, stdout)
	if err != nil {
		return err
	}
	db, err := openPortalDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	fmt.Fprintln(stdout, "migrations applied")
	if cfg.Dev {
		if err := migrateDemo(ctx, cfg, db); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "demo data in place")
	}
	return nil
}

// openPortalDB opens and migrates the portal database for a command
// (migrate, staff), creating the --dev data directory if needed.
func openPortalDB(ctx context.Context, cfg Config) (*models.DB, error) {
	if cfg.DatabaseURL == "" {
		return nil, errors.New("GATEHOUSE_DATABASE_URL is missing")
	}
	if cfg.Dev {
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return nil, err
		}
	}
	db, err := models.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, err
	}
	if err := models.Migrate(ctx, db); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}
