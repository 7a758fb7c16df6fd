package handlers

import (
	"context"
	"crypto/subtle"
	"net/http"
	"strings"
	"time"

	"gatehouse/static"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// healthz says the process is up; it touches nothing else.
func (h *Handler) healthz(c echo.Context) error {
	return c.String(http.StatusOK, "ok\n")
}

// readyz says whether the portal can serve: its database and the product
// database (the workspace registry every page of customer data needs)
// answer.
func (h *Handler) readyz(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
	defer cancel()
	if err := h.db.Ping(ctx); err != nil {
		h.log.Error("readiness: database", "error", err)
		return c.String(http.StatusServiceUnavailable, "database unreachable\n")
	}
	product, err := h.product.DB()
	if err == nil {
		err = product.PingContext(ctx)
	}
	if err != nil {
		h.log.Error("readiness: product database", "error", err)
		return c.String(http.StatusServiceUnavailable, "product database unreachable\n")
	}
	return c.String(http.StatusOK, "ready\n")
}

func (h *Handler) metricsPage(c echo.Context) error {
	if h.metricsElsewhere {
		return echo.ErrNotFound
	}
	if !h.metricsAllowed(c.Request()) {
		return echo.NewHTTPError(http.StatusUnauthorized, "metrics need a bearer token")
	}
	promhttp.HandlerFor(h.registry, promhttp.HandlerOpts{}).ServeHTTP(c.Response(), c.Request())
	return nil
}

// MetricsHandler serves GET /metrics alone, for the listener of
// Options.MetricsElsewhere. A token, when one is set, is asked for there
// too.
func (h *Handler) MetricsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		if !h.metricsAllowed(r) {
			http.Error(w, "metrics need a bearer token", http.StatusUnauthorized)
			return
		}
		promhttp.HandlerFor(h.registry, promhttp.HandlerOpts{}).ServeHTTP(w, r)
	})
	return mux
}

// metricsAllowed says whether r may read the metrics: with no token set,
// whoever reaches the listener may.
func (h *Handler) metricsAllowed(r *http.Request) bool {
	t := h.metricsToken
	if t == "" {
		return true
	}
	got := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	return subtle.ConstantTimeCompare([]byte(got), []byte(t)) == 1
}

// staticFile serves embedded assets under content-hashed names, cached for
// a year; a name with a stale hash is not found.
func (h *Handler) staticFile(c echo.Context) error {
	body, ctype, ok := static.Lookup(c.Param("file"))
	if !ok {
		return echo.ErrNotFound
	}
	c.Response().Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	return c.Blob(http.StatusOK, ctype, body)
}

type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	logins   *prometheus.CounterVec
}

func newMetrics(reg *prometheus.Registry) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_http_requests_total", Help: "HTTP requests by route pattern, method and status code.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "gatehouse_http_request_duration_seconds", Help: "HTTP request latency by route pattern and method.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route", "method"}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_logins_total", Help: "Staff login outcomes: succeeded, or the refusal reason.",
		}, []string{"outcome"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.logins} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *metrics) observe(method, route string, status int, d time.Duration) {
	m.requests.WithLabelValues(route, method, http.StatusText(status)).Inc()
	m.duration.WithLabelValues(route, method).Observe(d.Seconds())
}
