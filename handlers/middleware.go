package handlers

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"runtime/debug"
	"strings"
	"time"

	"gatehouse/models"
	"gatehouse/policy"

	"github.com/labstack/echo/v4"
)

type ctxKey int

const (
	viewerKey ctxKey = iota
	requestIDKey
	sessionEndKey
)

// viewer is the signed-in staff member of a request, read from the
// database on every request so that tier and status changes apply at once.
type viewer struct {
	Staff   models.Staff
	Session models.Session
	// Roles says what every role may do, read once per request under
	// its security epoch: a role's change counts from the next request.
	Roles *policy.Roles
}

// viewerOf returns the request's signed-in staff member, or nil.
func viewerOf(c echo.Context) *viewer {
	v, _ := c.Request().Context().Value(viewerKey).(*viewer)
	return v
}

func requestIDOf(c echo.Context) string {
	id, _ := c.Request().Context().Value(requestIDKey).(string)
	return id
}

func withValue(c echo.Context, key ctxKey, v any) {
	c.SetRequest(c.Request().WithContext(context.WithValue(c.Request().Context(), key, v)))
}

// actor describes the request's author for the audit log.
func (h *Handler) actor(c echo.Context) models.Actor {
	a := models.Actor{Email: "anonymous", IP: c.RealIP(), UserAgent: c.Request().UserAgent(), RequestID: requestIDOf(c)}
	if v := viewerOf(c); v != nil {
		a.Email, a.Tier = v.Staff.Email, string(v.Staff.Tier)
	}
	return a
}

func (h *Handler) recoverPanic(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			if r := recover(); r != nil {
				if r == http.ErrAbortHandler {
					// A handler cutting its response on purpose (an
					// export that failed part way): the connection must
					// be aborted, not the response ended with a 500.
					panic(r)
				}
				h.log.Error("panic", "request_id", requestIDOf(c), "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
				err = fmt.Errorf("panic: %v", r)
			}
		}()
		return next(c)
	}
}

// requestContext gives every request a fresh id (never the client's), sent
// back in X-Request-Id and carried into logs and audit events.
func (h *Handler) requestContext(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		id := models.NewToken()[:16]
		withValue(c, requestIDKey, id)
		c.Response().Header().Set("X-Request-Id", id)
		return next(c)
	}
}

// observe logs each request and feeds the request metrics, by route
// pattern (never by raw path, which would carry ids). A response cut on
// purpose (http.ErrAbortHandler) is logged with "cut": true and the
// panic goes on to the server, which aborts the connection.
func (h *Handler) observe(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		defer func() {
			if r := recover(); r != nil {
				if r == http.ErrAbortHandler {
					h.logRequest(c, start, true)
				}
				panic(r)
			}
		}()
		if err := next(c); err != nil {
			c.Error(err)
		}
		h.logRequest(c, start, false)
		return nil
	}
}

// logRequest logs one request's line and feeds the metrics.
func (h *Handler) logRequest(c echo.Context, start time.Time, cut bool) {
	route := c.Path()
	if route == "" {
		route = "unmatched"
	}
	status := c.Response().Status
	h.metrics.observe(c.Request().Method, route, status, time.Since(start))
	attrs := []any{"request_id", requestIDOf(c), "method", c.Request().Method, "route", route,
		"status", status, "duration_ms", time.Since(start).Milliseconds(), "ip", c.RealIP()}
	if v := viewerOf(c); v != nil {
		attrs = append(attrs, "staff", v.Staff.Email)
	}
	if cut {
		attrs = append(attrs, "cut", true)
		h.log.Warn("request", attrs...)
		return
	}
	h.log.Info("request", attrs...)
}

func (h *Handler) securityHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	formAction := "'self'"
	if u, err := url.Parse(h.oidc.cfg.Issuer); err == nil && u.Host != "" && u.Host != h.baseURL.Host {
		// The login form's redirect continues to the identity provider, and
		// browsers apply form-action to redirects.
		formAction += " " + u.Scheme + "://" + u.Host
	}
	csp := "default-src 'none'; style-src 'self'; img-src 'self'; form-action " + formAction +
		"; frame-ancestors 'none'; base-uri 'none'"
	return func(c echo.Context) error {
		hd := c.Response().Header()
		hd.Set("Content-Security-Policy", csp)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "same-origin")
		hd.Set("Cross-Origin-Opener-Policy", "same-origin")
		hd.Set("Cross-Origin-Resource-Policy", "same-origin")
		hd.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
		hd.Set("Cache-Control", "no-store")
		if h.https {
			hd.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
		}
		return next(c)
	}
}

// crossOrigin refuses state-changing requests sent by another site's page
// (Sec-Fetch-Site, or Origin against Host), so forms need no token field.
func (h *Handler) crossOrigin(next echo.HandlerFunc) echo.HandlerFunc {
	cop := http.NewCrossOriginProtection()
	// The portal's own origin, for proxies that rewrite the Host header.
	if err := cop.AddTrustedOrigin(h.baseURL.Scheme + "://" + h.baseURL.Host); err != nil {
		panic(fmt.Sprintf("base URL %s is not an origin: %v", h.baseURL, err))
	}
	return func(c echo.Context) error {
		if err := cop.Check(c.Request()); err != nil {
			h.log.Warn("cross-origin request refused", "request_id", requestIDOf(c), "origin", c.Request().Header.Get("Origin"))
			return echo.NewHTTPError(http.StatusForbidden, "cross-origin request refused")
		}
		return next(c)
	}
}

// loadSession resolves the session cookie to a live session of an active
// staff member; anything else leaves the request anonymous.
func (h *Handler) loadSession(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		ck, err := c.Cookie(h.sessionCookieName())
		if err != nil || ck.Value == "" {
			return next(c)
		}
		ctx, err := h.cache.Begin(c.Request().Context())
		if err != nil {
			return fmt.Errorf("load session: %w", err)
		}
		c.SetRequest(c.Request().WithContext(ctx))
		hash := models.TokenHash(h.sessionKey, ck.Value)
		sess, staff, err := h.cache.SessionByHash(ctx, h.db.Read, hash)
		now := h.now()
		switch {
		case errors.Is(err, models.ErrNoSession):
			h.clearSessionCookie(c)
			return next(c)
		case err != nil:
			return fmt.Errorf("load session: %w", err)
		case !sess.Live(now, h.sessions) || staff.Status != models.StatusActive:
			h.clearSessionCookie(c)
			withValue(c, sessionEndKey, h.sessionEndWhy(sess, staff, now))
			return next(c)
		}
		if now.Sub(sess.LastSeenAt) > time.Minute {
			if err := models.TouchSession(ctx, h.db.Write, hash, now); err != nil {
				return fmt.Errorf("touch session: %w", err)
			}
			h.cache.Touched(ctx, hash, now)
			sess.LastSeenAt = now
		}
		roles, err := h.cache.Roles(ctx, h.db.Read)
		if err != nil {
			return fmt.Errorf("load roles: %w", err)
		}
		withValue(c, viewerKey, &viewer{Staff: staff, Session: sess, Roles: roles})
		return next(c)
	}
}

// allowed reports whether the viewer holds permission p: their role (a
// built-in tier or a custom role) must grant it and, beyond entering the
// portal, the confidentiality agreement must be signed in its current
// version. A role the snapshot does not know grants nothing.
func (h *Handler) allowed(v *viewer, p policy.Permission) bool {
	if p == policy.Public {
		return true
	}
	if v == nil || v.Staff.Status != models.StatusActive {
		return false
	}
	if p != policy.PortalEnter && !v.Staff.AgreementCurrent(h.agreement) {
		return false
	}
	return v.Roles.Allowed(v.Staff.Tier, p)
}

// authorize is the per-route guard: deny by default.
func (h *Handler) authorize(p policy.Permission, fresh bool) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if p == policy.Public {
				return next(c)
			}
			v := viewerOf(c)
			if v == nil {
				if c.Request().Method == http.MethodGet {
					to := "/login?return_to=" + url.QueryEscape(c.Request().URL.RequestURI())
					if why, _ := c.Request().Context().Value(sessionEndKey).(string); why != "" {
						to += "&why=" + why
					}
					return c.Redirect(http.StatusSeeOther, to)
				}
				return echo.NewHTTPError(http.StatusUnauthorized, "sign in first")
			}
			if !h.allowed(v, p) {
				h.log.Warn("permission denied", "request_id", requestIDOf(c), "staff", v.Staff.Email, "tier", v.Staff.Tier, "permission", p.String())
				return fmt.Errorf("%s needs %s: %w", c.Path(), p, policy.ErrDenied)
			}
			if fresh && !v.Session.SignedInWithin(h.now(), h.stepUpWindow) {
				return h.stepUpPage(c)
			}
			return next(c)
		}
	}
}

// ipExtractor trusts X-Forwarded-For only from the configured proxies.
func ipExtractor(trusted []netip.Prefix) echo.IPExtractor {
	if len(trusted) == 0 {
		return echo.ExtractIPDirect()
	}
	var opts []echo.TrustOption
	for _, p := range trusted {
		opts = append(opts, echo.TrustIPRange(prefixToIPNet(p)))
	}
	opts = append(opts, echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false))
	return echo.ExtractIPFromXFFHeader(opts...)
}

func prefixToIPNet(p netip.Prefix) *net.IPNet {
	p = p.Masked()
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// safeReturnTo accepts only a local absolute path, so a login cannot be
// used to bounce the browser to another site, nor into the sign-in or
// the development routes. A path with a dot segment ("/x/../auth/",
// "/%2e/dev/"), which the browser would resolve elsewhere, is refused:
// the portal's own links have none. The value returned is checked
// again: re-encoding can turn a harmless "/%2Fevil.example/%20" into
// "//evil.example/%20", another site.
func safeReturnTo(s string) string {
	local := func(s string) bool {
		return strings.HasPrefix(s, "/") && !strings.HasPrefix(s, "//") && !strings.ContainsAny(s, "\\\r\n")
	}
	if !local(s) {
		return "/"
	}
	u, err := url.Parse(s)
	if err != nil || u.Host != "" || u.Scheme != "" {
		return "/"
	}
	for _, seg := range strings.Split(u.Path, "/") {
		if seg == "." || seg == ".." {
			return "/"
		}
	}
	for _, p := range []string{"/auth", "/dev"} {
		if u.Path == p || strings.HasPrefix(u.Path, p+"/") {
			return "/"
		}
	}
	if out := u.RequestURI(); local(out) {
		return out
	}
	return "/"
}

// maxBody bounds every request body: the portal's forms are a few
// kilobytes, and nothing a client sends should cost more to read.
const maxBody = 64 << 10

// limitBody refuses a body over maxBody: at once when Content-Length
// says so (413), and by failing the read when it does not.
func (h *Handler) limitBody(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		if req.ContentLength > maxBody {
			return echo.NewHTTPError(http.StatusRequestEntityTooLarge, "The request is too large.")
		}
		req.Body = http.MaxBytesReader(c.Response(), req.Body, maxBody)
		return next(c)
	}
}
