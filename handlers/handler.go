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
	"gatehouse/policy"

	"github.com/prometheus/client_golang/prometheus"
	"gorm.io/gorm"
)

// OIDC is the staff identity provider the portal signs people in with.
type OIDC struct {
	Issuer       string
	ClientID     string
	ClientSecret string
	// HTTPClient talks to the provider (discovery, keys, token
	// endpoint); give it a timeout.
	HTTPClient *http.Client
}

// Options are everything a Handler needs; cmd/gatehouse fills them from
// the configuration. Every setting must have its value: the defaults are
// applied where the configuration is read (models' Default* values).
type Options struct {
	DB      *models.DB
	Product *gorm.DB // the product database (workspace registry), read-only
	// ProductDB is the product database with write access, used only to
	// delete a workspace (drop its schema, mark it deleted in the
	// registry); TenantsDir is where its SQLite files live ("" on
	// PostgreSQL).
	ProductDB  *models.DB
	TenantsDir string
	// Retention is the data-retention policy.
	Retention models.RetentionPolicy
	Tenants   *models.TenantReader
	Catalog   *policy.Catalog
	// Audit appends view events with group commit; data pages write their
	// event through it before showing anything.
	Audit *models.AuditWriter
	// AccessCache, when not nil, serves sessions, staff, grants and
	// registry entries while the security epoch stands still (nil: every
	// request reads them all).
	AccessCache *models.AccessCache
	// Outbox is the mail outbox: handlers enqueue mail in the transaction
	// of the change it tells about; the dev mailbox reads it.
	Outbox   *models.Outbox
	Enforcer *policy.Enforcer
	// Detection is the detection rules, for the alert list's rule filter.
	Detection []policy.Rule
	Logger    *slog.Logger
	Now       func() time.Time
	Metrics   *prometheus.Registry

	BaseURL          *url.URL // where browsers reach the portal
	OIDC             OIDC
	AllowedDomains   []string // the hd claims (and email domains) that may sign in
	SessionKey       []byte   // HMAC key for stored session and state hashes
	AgreementVersion string   // the current confidentiality agreement
	Sessions         models.SessionLimits
	StepUpWindow     time.Duration // how recent a login tier changes and offboarding need
	BreakglassWindow time.Duration // how long a break-glass stays open
	// Requests are the access-request rules. Their clearance's agreement
	// is AgreementVersion; its TrainingValidFor is how long security
	// training counts, for requests and for every other touch of
	// customer data.
	Requests       models.RequestPolicy
	Company        string // the company's name as customers read it in mails and on the consent page
	TrustedProxies []netip.Prefix
	MetricsToken   string // when set, /metrics needs "Authorization: Bearer <token>"
	// MetricsElsewhere: /metrics is served by MetricsHandler on a listener
	// of its own, and Echo's answers 404.
	MetricsElsewhere bool
	// SecurityTxt is what /.well-known/security.txt says; its zero value
	// serves none.
	SecurityTxt SecurityTxt

	// Export tunes audit exports; zero fields take their defaults.
	Export ExportOptions

	// Dev mounts DevIdP at /dev/oidc and enables POST /dev/login, which
	// offers DemoStaff on the sign-in page.
	Dev       bool
	DevIdP    http.Handler
	DemoStaff []DemoStaff
}

// DemoStaff is a person the development sign-in page offers; its fields
// are those of models/demo's StaffMember, so that one converts to it.
type DemoStaff struct {
	Email       string
	Name        string
	Tier        policy.Tier
	Status      models.Status
	NoAgreement bool // has not signed the confidentiality agreement
}

// Handler holds the dependencies and settings of every handler.
type Handler struct {
	detection  []policy.Rule
	db         *models.DB
	product    *gorm.DB
	search     *models.SearchSample // which word of a search each index is asked for
	productDB  *models.DB
	tenantsDir string
	data       *models.TenantData // the one way to customer data
	catalog    *policy.Catalog
	audit      *models.AuditWriter
	cache      *models.AccessCache
	outbox     *models.Outbox
	enforcer   *policy.Enforcer
	log        *slog.Logger
	now        func() time.Time
	registry   *prometheus.Registry
	metrics    *metrics
	oidc       *oidcClient
	letters    letters.Letters

	baseURL          *url.URL
	https            bool
	allowedDomains   []string
	sessionKey       []byte
	agreement        string
	clearance        models.Clearance // what touching customer data needs
	sessions         models.SessionLimits
	stepUpWindow     time.Duration
	breakglassWindow time.Duration
	requests         models.RequestPolicy
	retention        models.RetentionPolicy
	company          string
	trustedProxies   []netip.Prefix
	metricsToken     string
	metricsElsewhere bool
	dev              bool
	devIdP           http.Handler
	demoStaff        []DemoStaff
	export           ExportOptions
	securityTxtFile  SecurityTxt

	// The per-address budgets (limits.go), counted in the portal database.
	linkFailures  *limiter
	loginFailures *limiter
	linkViews     *limiter
	loginStarts   *limiter
}

// New checks the options and builds a Handler.
func New(o Options) (*Handler, error) {
	o.Requests.Clearance.Agreement = o.AgreementVersion
	if err := o.check(); err != nil {
		return nil, err
	}
	m, err := newMetrics(o.Metrics)
	if err != nil {
		return nil, fmt.Errorf("handlers: metrics: %w", err)
	}
	h := &Handler{
		db:               o.DB,
		product:          o.Product,
		search:           &models.SearchSample{Product: o.Product},
		productDB:        o.ProductDB,
		tenantsDir:       o.TenantsDir,
		catalog:          o.Catalog,
		audit:            o.Audit,
		cache:            o.AccessCache,
		outbox:           o.Outbox,
		enforcer:         o.Enforcer,
		detection:        o.Detection,
		log:              o.Logger,
		now:              o.Now,
		registry:         o.Metrics,
		metrics:          m,
		oidc:             &oidcClient{cfg: o.OIDC, redirectURL: o.BaseURL.JoinPath("/auth/callback").String()},
		baseURL:          o.BaseURL,
		https:            o.BaseURL.Scheme == "https",
		allowedDomains:   o.AllowedDomains,
		sessionKey:       o.SessionKey,
		agreement:        o.AgreementVersion,
		clearance:        o.Requests.Clearance,
		sessions:         o.Sessions,
		stepUpWindow:     o.StepUpWindow,
		breakglassWindow: o.BreakglassWindow,
		requests:         o.Requests,
		retention:        o.Retention,
		company:          o.Company,
		trustedProxies:   o.TrustedProxies,
		metricsToken:     o.MetricsToken,
		metricsElsewhere: o.MetricsElsewhere,
		dev:              o.Dev,
		devIdP:           o.DevIdP,
		demoStaff:        o.DemoStaff,
		export:           o.Export.withDefaults(),
		securityTxtFile:  o.SecurityTxt,
		letters:          letters.New(o.Company, o.BaseURL, o.Now),
		linkFailures:     &limiter{Limit: linkFailureLimit, db: o.DB.Write, log: o.Logger},
		loginFailures:    &limiter{Limit: loginFailureLimit, db: o.DB.Write, log: o.Logger},
		linkViews:        &limiter{Limit: linkViewLimit, db: o.DB.Write, log: o.Logger},
		loginStarts:      &limiter{Limit: loginStartLimit, db: o.DB.Write, log: o.Logger},
	}
	h.data = models.NewTenantData(models.TenantDataConfig{
		DB:      o.DB,
		Product: o.Product,
		Tenants: o.Tenants,
		Catalog: o.Catalog,
		Audit:   o.Audit,
		Now:     o.Now,
		Cache:   o.AccessCache,

		Clearance: o.Requests.Clearance,
	})
	return h, nil
}

// check names every missing or unusable option at once.
func (o Options) check() error {
	var errs []error
	if o.DB == nil || o.Product == nil || o.ProductDB == nil || o.Tenants == nil || o.Catalog == nil || o.Audit == nil || o.Outbox == nil ||
		o.Enforcer == nil || o.Logger == nil || o.Now == nil || o.BaseURL == nil || o.Metrics == nil || o.OIDC.HTTPClient == nil {
		errs = append(errs, errors.New("handlers: DB, Product, ProductDB, Tenants, Catalog, Audit, Outbox, Enforcer, Logger, Now, BaseURL, Metrics and OIDC.HTTPClient are required"))
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
	if err := o.Retention.Check(); err != nil {
		errs = append(errs, fmt.Errorf("handlers: %w", err))
	}
	if o.ProductDB != nil && o.ProductDB.Dialect == models.SQLite && o.TenantsDir == "" {
		errs = append(errs, errors.New("handlers: a SQLite product database needs TenantsDir"))
	}
	if o.Sessions.Idle <= 0 || o.Sessions.Absolute <= 0 || o.StepUpWindow <= 0 {
		errs = append(errs, errors.New("handlers: Sessions and StepUpWindow are required (models.DefaultSessionLimits, models.DefaultStepUpWindow)"))
	}
	if o.BreakglassWindow <= 0 || o.BreakglassWindow > models.BreakglassMaxWindow {
		errs = append(errs, errors.New("handlers: BreakglassWindow must be positive and at most 24h (models.DefaultBreakglassWindow)"))
	}
	if r := o.Requests; r.Ticket == nil || r.MaxDuration <= 0 || r.PendingFor <= 0 || r.ConsentFor <= 0 || r.Clearance.TrainingValidFor <= 0 {
		errs = append(errs, errors.New("handlers: Requests needs every rule (models.DefaultRequestPolicy)"))
	}
	if o.Company == "" {
		errs = append(errs, errors.New("handlers: Company is required (models.DefaultCompany)"))
	}
	return errors.Join(errs...)
}
