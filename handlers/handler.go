// Package handlers is Gatehouse's HTTP surface: the route table with the
// permission each route needs, the middleware that enforces it, and one
// file of handlers per resource.
package handlers

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"gatehouse/letters"
	"gatehouse/models"
	"gatehouse/models/tenantdb"
	"gatehouse/policy"

	"github.com/prometheus/client_golang/prometheus"
	"gorm.io/gorm"
)

// OIDC is the staff identity provider the portal signs people in with.
type OIDC struct {
	Issuer       string
	ClientID     string
	ClientSecret string
	// HTTPClient talks to the provider (discovery, keys, token endpoint).
	HTTPClient *http.Client
}

// Options are everything a Handler needs; cmd/gatehouse fills them from
// the configuration.
type Options struct {
	DB      *models.DB
	Product *gorm.DB // the product database (workspace registry), read-only
	// ProductDB is the product database with write access, used only to
	// delete a workspace (drop its schema, mark it deleted in the
	// registry); TenantsDir is where its SQLite files live ("" on
	// PostgreSQL).
	ProductDB  *models.DB
	TenantsDir string
	// Retention is the data-retention policy; zero takes
	// models.DefaultRetentionPolicy.
	Retention models.RetentionPolicy
	// Tenants is the customer data; handlers reach it only through the
	// models.TenantData that New builds on it.
	Tenants *tenantdb.Reader
	Catalog *policy.Catalog
	// Audit appends view events with group commit; data pages write their
	// event through it before showing anything.
	Audit *models.AuditWriter
	// Outbox is the mail outbox: handlers enqueue mail in the transaction
	// of the change it tells about; the dev mailbox reads it.
	Outbox   *models.Outbox
	Enforcer *policy.Enforcer
	Logger   *slog.Logger
	Now      func() time.Time
	Metrics  *prometheus.Registry

	BaseURL          *url.URL // where browsers reach the portal
	OIDC             OIDC
	AllowedDomains   []string // the hd claims (and email domains) that may sign in
	SessionKey       []byte   // HMAC key for stored session and state hashes
	AgreementVersion string   // the current confidentiality agreement
	Sessions         models.SessionLimits
	StepUpWindow     time.Duration // how recent a login tier changes and offboarding need
	BreakglassWindow time.Duration // how long a break-glass stays open; 1h when zero
	// Requests are the access-request rules; zero fields take
	// models.DefaultRequestPolicy's values.
	Requests       models.RequestPolicy
	Company        string // the company's name as customers read it in mails and on the consent page
	TrustedProxies []netip.Prefix
	MetricsToken   string // when set, /metrics needs "Authorization: Bearer <token>"

	// Dev mounts DevIdP at /dev/oidc and enables POST /dev/login.
	Dev    bool
	DevIdP http.Handler
}

// Handler holds the dependencies of every handler.
type Handler struct {
	db       *models.DB
	product  *gorm.DB
	data     *models.TenantData // the one way to customer data
	catalog  *policy.Catalog
	audit    *models.AuditWriter
	enforcer *policy.Enforcer
	log      *slog.Logger
	now      func() time.Time
	opts     Options
	oidc     *oidcClient
	metrics  *metrics
	letters  letters.Letters
	https    bool

	consentLimit *failureLimiter // failures on /consent per client address
}

// New checks the options and builds a Handler.
func New(o Options) (*Handler, error) {
	var errs []error
	if o.DB == nil || o.Product == nil || o.ProductDB == nil || o.Tenants == nil || o.Catalog == nil || o.Audit == nil || o.Outbox == nil ||
		o.Enforcer == nil || o.Logger == nil || o.Now == nil || o.BaseURL == nil || o.Metrics == nil {
		errs = append(errs, errors.New("handlers: DB, Product, ProductDB, Tenants, Catalog, Audit, Outbox, Enforcer, Logger, Now, BaseURL and Metrics are required"))
	}
	if o.BaseURL != nil && ((o.BaseURL.Scheme != "http" && o.BaseURL.Scheme != "https") || o.BaseURL.Host == "" || strings.Trim(o.BaseURL.Path, "/") != "") {
		errs = append(errs, errors.New("handlers: base URL must be http(s)://host[:port] with no path"))
	}
	if len(o.SessionKey) < 32 {
		errs = append(errs, errors.New("handlers: session key shorter than 32 bytes"))
	}
	if o.Dev && o.DevIdP == nil {
		errs = append(errs, errors.New("handlers: Dev without DevIdP"))
	}
	if len(o.AllowedDomains) == 0 {
		errs = append(errs, errors.New("handlers: no allowed domains"))
	}
	if o.Retention == (models.RetentionPolicy{}) {
		o.Retention = models.DefaultRetentionPolicy()
	}
	if err := o.Retention.Check(); err != nil {
		errs = append(errs, fmt.Errorf("handlers: %w", err))
	}
	if o.ProductDB != nil && o.ProductDB.Dialect == models.SQLite && o.TenantsDir == "" {
		errs = append(errs, errors.New("handlers: a SQLite product database needs TenantsDir"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if o.Sessions.Idle == 0 {
		o.Sessions.Idle = 30 * time.Minute
	}
	if o.Sessions.Absolute == 0 {
		o.Sessions.Absolute = 12 * time.Hour
	}
	if o.StepUpWindow == 0 {
		o.StepUpWindow = 15 * time.Minute
	}
	if o.BreakglassWindow == 0 {
		o.BreakglassWindow = time.Hour
	}
	def := models.DefaultRequestPolicy(o.AgreementVersion)
	o.Requests.AgreementVersion = o.AgreementVersion
	if o.Requests.Ticket == nil {
		o.Requests.Ticket = def.Ticket
	}
	if o.Requests.MaxDuration == 0 {
		o.Requests.MaxDuration = def.MaxDuration
	}
	if o.Requests.PendingFor == 0 {
		o.Requests.PendingFor = def.PendingFor
	}
	if o.Requests.ConsentFor == 0 {
		o.Requests.ConsentFor = def.ConsentFor
	}
	if o.Company == "" {
		o.Company = "Gatehouse"
	}
	if o.OIDC.HTTPClient == nil {
		o.OIDC.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	m, err := newMetrics(o.Metrics)
	if err != nil {
		return nil, fmt.Errorf("handlers: metrics: %w", err)
	}
	h := &Handler{
		db: o.DB, product: o.Product, catalog: o.Catalog, audit: o.Audit, enforcer: o.Enforcer, log: o.Logger, now: o.Now,
		opts: o, metrics: m, https: o.BaseURL.Scheme == "https", letters: letters.New(o.Company, o.BaseURL, o.Now),
		consentLimit: newFailureLimiter(20, 10*time.Minute),
	}
	h.data = models.NewTenantData(models.TenantDataConfig{DB: o.DB, Product: o.Product, Tenants: o.Tenants,
		Catalog: o.Catalog, Audit: o.Audit, Now: o.Now})
	h.oidc = &oidcClient{cfg: o.OIDC, redirectURL: o.BaseURL.JoinPath("/auth/callback").String()}
	return h, nil
}
