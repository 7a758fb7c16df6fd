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
	"strings"
	"time"

	"gatehouse/handlers"
	"gatehouse/handlers/devidp"
	"gatehouse/models"
	"gatehouse/models/demo"
	"gatehouse/policy"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

func serve(ctx context.Context, args, env []string, stdout, stderr io.Writer) error {
	cfg, err := loadConfig("serve", args, env, stderr)
	if !cfg.Dev {
		err = joinProblems(err, cfg.checkProduction())
	}
	if err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
	if cfg.Dev {
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return err
		}
		if len(cfg.SessionKey) == 0 {
			if cfg.SessionKey, err = devSessionKey(cfg.DataDir); err != nil {
				return err
			}
		}
	}
	db, product, err := openDatabases(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	defer product.Close()

	opts := handlers.Options{
		DB: db, Product: product.Read, Logger: log, Now: time.Now, Metrics: prometheus.NewRegistry(),
		BaseURL: cfg.BaseURL, AllowedDomains: cfg.AllowedDomains, SessionKey: cfg.SessionKey,
		AgreementVersion: cfg.AgreementVersion, TrustedProxies: cfg.TrustedProxies, MetricsToken: cfg.MetricsToken,
		OIDC: handlers.OIDC{Issuer: cfg.OIDCIssuer, ClientID: cfg.OIDCClientID, ClientSecret: cfg.OIDCClientSecret},
		Dev:  cfg.Dev,
	}
	opts.Metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if opts.Enforcer, err = policy.New(); err != nil {
		return err
	}
	if cfg.Dev {
		if opts.DevIdP, err = devIdentityProvider(cfg); err != nil {
			return err
		}
	}
	h, err := handlers.New(opts)
	if err != nil {
		return err
	}
	e, err := h.Echo()
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler: e, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 60 * time.Second, IdleTimeout: 2 * time.Minute,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	log.Info("listening", "addr", ln.Addr().String(), "base_url", cfg.BaseURL.String(), "dev", cfg.Dev)
	if cfg.Dev {
		fmt.Fprintf(stdout, "\nGatehouse (development mode) is running at %s\nOpen it and pick a demo staff member to sign in. Press Ctrl-C to stop.\n\n", cfg.BaseURL)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	log.Info("stopped")
	return nil
}

// openDatabases opens and migrates the portal database and opens the
// product database; in --dev it adds the demo data.
func openDatabases(ctx context.Context, cfg Config) (*models.DB, *models.DB, error) {
	db, err := models.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, nil, err
	}
	if err := models.Migrate(ctx, db); err != nil {
		db.Close()
		return nil, nil, err
	}
	product, err := models.Open(ctx, cfg.ProductDatabaseURL)
	if err != nil {
		db.Close()
		return nil, nil, fmt.Errorf("product database: %w", err)
	}
	if cfg.Dev {
		now := time.Now()
		err := demo.SeedStaff(ctx, db, now)
		if err != nil {
			err = fmt.Errorf("demo staff: %w", err)
		} else if err = demo.SeedProduct(ctx, product.Write, now); err != nil {
			err = fmt.Errorf("demo workspaces: %w", err)
		}
		if err != nil {
			db.Close()
			product.Close()
			return nil, nil, err
		}
	}
	return db, product, nil
}

// devIdentityProvider is the in-process OpenID Connect provider of --dev,
// knowing the demo staff (all verified, hd=example.com).
func devIdentityProvider(cfg Config) (http.Handler, error) {
	var users []devidp.User
	for _, m := range demo.Staff {
		local, _, _ := strings.Cut(m.Email, "@")
		users = append(users, devidp.User{Subject: "dev-" + local, Email: m.Email, EmailVerified: true, Name: m.Name, HostedDomain: demo.Domain})
	}
	return devidp.New(devidp.Config{
		Issuer: cfg.OIDCIssuer, ClientID: cfg.OIDCClientID, ClientSecret: cfg.OIDCClientSecret,
		RedirectURIs: []string{cfg.BaseURL.JoinPath("/auth/callback").String()}, Users: users,
	})
}

func migrate(ctx context.Context, args, env []string, stdout io.Writer) error {
	cfg, err := loadConfig("migrate", args, env, stdout)
	if err != nil {
		return err
	}
	if cfg.Dev {
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return err
		}
	}
	if cfg.DatabaseURL == "" {
		return errors.New("GATEHOUSE_DATABASE_URL is missing")
	}
	db, err := models.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := models.Migrate(ctx, db); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "migrations applied")
	return nil
}
