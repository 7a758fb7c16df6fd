package handlers

import (
	"fmt"
	"net/http"

	"gatehouse/policy"

	"github.com/labstack/echo/v4"
)

// route is one entry of the route table: the whole URL surface of the
// portal and the permission each URL needs.
type route struct {
	method string
	path   string
	perm   policy.Permission
	fresh  bool // needs a login within the step-up window
	handle echo.HandlerFunc
}

func (h *Handler) routes() []route {
	get, post := http.MethodGet, http.MethodPost
	rs := []route{
		{get, "/healthz", policy.Public, false, h.healthz},
		{get, "/readyz", policy.Public, false, h.readyz},
		{get, "/metrics", policy.Public, false, h.metricsPage},
		{get, "/static/:file", policy.Public, false, h.staticFile},
		{get, "/.well-known/security.txt", policy.Public, false, h.securityTxt},

		{get, "/login", policy.Public, false, h.loginPage},
		{post, "/login", policy.Public, false, h.loginStart},
		{get, "/auth/callback", policy.Public, false, h.authCallback},
		{get, "/logout", policy.PortalEnter, false, h.logoutPage},
		{post, "/logout", policy.PortalEnter, false, h.logout},

		{get, "/", policy.PortalEnter, false, h.dashboard},

		{get, "/workspaces", policy.WorkspaceMetaRead, false, h.workspaceList},
		{get, "/workspaces/:slug", policy.WorkspaceMetaRead, false, h.workspaceShow},
		{get, "/workspaces/:slug/reach", policy.AuditRead, false, h.workspaceReachPage},
		{get, "/workspaces/:slug/data/:table", policy.TenantDataRead, false, h.dataTable},
		{get, "/workspaces/:slug/data/:table/:id", policy.TenantDataRead, false, h.dataRecord},
		{post, "/workspaces/:slug/data/:table/:id/reveal", policy.TenantDataRead, false, h.dataReveal},
		{post, "/workspaces/:slug/deletion-requests", policy.DeletionRequest, false, h.deletionRequestCreate},

		{get, "/requests", policy.RequestRead, false, h.requestList},
		{get, "/requests/new", policy.RequestCreate, false, h.requestNew},
		{post, "/requests", policy.RequestCreate, false, h.requestCreate},
		{get, "/requests/:id", policy.RequestRead, false, h.requestShow},
		{get, "/requests/:id/decide", policy.RequestApprove, false, h.requestDecidePage}, // decides nothing
		{post, "/requests/:id/approve", policy.RequestApprove, true, h.requestApprove},
		{post, "/requests/:id/deny", policy.RequestApprove, true, h.requestDeny},
		{post, "/requests/:id/cancel", policy.RequestCreate, false, h.requestCancel},
		{post, "/requests/:id/done", policy.TenantDataRead, false, h.requestDone},
		{post, "/requests/:id/revoke", policy.GrantRevoke, false, h.requestRevoke},

		{get, "/consent/:token", policy.Public, false, h.consentShow},
		{http.MethodHead, "/consent/:token", policy.Public, false, h.consentShow},
		{post, "/consent/:token", policy.Public, false, h.consentDecide},

		{get, "/deletion/:token", policy.Public, false, h.deletionShow},
		{http.MethodHead, "/deletion/:token", policy.Public, false, h.deletionShow},
		{post, "/deletion/:token", policy.Public, false, h.deletionDecide},

		{get, "/retention", policy.RetentionManage, false, h.retentionQueue},
		{get, "/retention/:slug", policy.RetentionManage, false, h.retentionShow},
		{post, "/retention/:slug/holds", policy.RetentionManage, false, h.holdPlace},
		{post, "/retention/:slug/holds/:id/lift", policy.RetentionManage, true, h.holdLift},
		{post, "/retention/:slug/delete", policy.RetentionManage, true, h.workspaceDelete},

		{get, "/audit", policy.AuditRead, false, h.auditList},
		{post, "/audit/export", policy.AuditRead, false, h.auditExport},

		{get, "/alerts", policy.AlertRead, false, h.alertList},
		{get, "/alerts/:id", policy.AlertRead, false, h.alertShow},
		{post, "/alerts/:id/acknowledge", policy.AlertManage, false, h.alertAcknowledge},
		{post, "/alerts/:id/resolve", policy.AlertManage, false, h.alertResolve},

		{get, "/reviews", policy.ReviewRead, false, h.reviewList},
		{get, "/reviews/:id", policy.ReviewRead, false, h.reviewShow},
		{get, "/reviews/:id/export", policy.ReviewRead, false, h.reviewExport}, // records the export
		{post, "/reviews/:id/rows/:row", policy.StaffManage, true, h.reviewCertify},

		{get, "/staff", policy.StaffManage, false, h.staffList},
		{post, "/staff", policy.StaffManage, true, h.staffCreate},
		{get, "/staff/:id", policy.StaffManage, false, h.staffShow},
		{post, "/staff/:id/tier", policy.StaffManage, true, h.staffTier},
		{post, "/staff/:id/scope", policy.StaffManage, true, h.staffScope}, // proposes: see staffScope
		{post, "/staff/:id/agreement", policy.StaffManage, true, h.staffAgreement},
		{post, "/staff/:id/training", policy.StaffManage, false, h.staffTraining},
		{post, "/staff/:id/suspend", policy.StaffManage, false, h.staffSuspend},
		{post, "/staff/:id/reactivate", policy.StaffManage, true, h.staffReactivate},
		{post, "/staff/:id/offboard", policy.StaffManage, true, h.staffOffboard},

		// Roles: read by those who manage staff; the POSTs propose a
		// role, a change or a deletion, which a second sysadmin approves.
		{get, "/roles", policy.StaffManage, false, h.roleList},
		{post, "/roles", policy.StaffManage, true, h.roleCreate},
		{get, "/roles/:name", policy.StaffManage, false, h.roleShow},
		{post, "/roles/:name", policy.StaffManage, true, h.roleChange},
		{post, "/roles/:name/delete", policy.StaffManage, true, h.roleDelete},

		// Policy changes under the two-person rule (the models refuse the
		// proposer's own approval and anyone but its proposer's withdrawal).
		{get, "/proposals", policy.StaffManage, false, h.proposalList},
		{get, "/proposals/:id", policy.StaffManage, false, h.proposalShow},
		{post, "/proposals/:id/approve", policy.StaffManage, true, h.proposalApprove},
		{post, "/proposals/:id/reject", policy.StaffManage, false, h.proposalReject},
		{post, "/proposals/:id/withdraw", policy.StaffManage, false, h.proposalWithdraw},

		{get, "/breakglass", policy.BreakglassUse, false, h.breakglassList},
		{post, "/breakglass", policy.BreakglassUse, true, h.breakglassOpen},
		{get, "/breakglass/:id", policy.BreakglassUse, false, h.breakglassShow},
		{post, "/breakglass/:id/review", policy.BreakglassUse, false, h.breakglassReview},
		{post, "/breakglass/:id/end", policy.BreakglassUse, false, h.breakglassEnd},

		{get, "/incidents", policy.IncidentRead, false, h.incidentList},
		{post, "/incidents", policy.IncidentManage, false, h.incidentDeclare},
		{get, "/incidents/:id", policy.IncidentRead, false, h.incidentShow},
		{post, "/incidents/:id/affected", policy.IncidentManage, false, h.incidentAffected},
		{post, "/incidents/:id/notices", policy.IncidentManage, false, h.noticeDraft},
		{get, "/incidents/:id/notices/:notice", policy.IncidentRead, false, h.noticePreview},
		{post, "/incidents/:id/notices/:notice/approve", policy.IncidentManage, true, h.noticeApprove},
		{post, "/incidents/:id/contain", policy.IncidentManage, false, h.incidentContain},
		{post, "/incidents/:id/close", policy.IncidentManage, false, h.incidentClose},

		// A workspace owner's link from an incident notice.
		{get, "/incident-notice/:token", policy.Public, false, h.incidentLinkShow},
		{http.MethodHead, "/incident-notice/:token", policy.Public, false, h.incidentLinkShow},

		// A workspace owner's link from the break-glass mail.
		{get, "/emergency/:token", policy.Public, false, h.breakglassLinkShow},
		{http.MethodHead, "/emergency/:token", policy.Public, false, h.breakglassLinkShow},
		{post, "/emergency/:token", policy.Public, false, h.breakglassLinkEnd},

		// A workspace owner's link from a transparency report mail.
		{get, "/transparency/:token", policy.Public, false, h.transparencyShow},
		{http.MethodHead, "/transparency/:token", policy.Public, false, h.transparencyShow},
		{post, "/transparency/:token", policy.Public, false, h.transparencyMailOff},
	}
	if h.dev {
		dev := echo.WrapHandler(h.devIdP)
		rs = append(rs,
			route{post, "/dev/login", policy.Public, false, h.devLogin},
			route{get, "/dev/oidc/*", policy.Public, false, dev},
			route{post, "/dev/oidc/*", policy.Public, false, dev},
			route{get, "/dev/mail", policy.Public, false, h.devMailList},
			route{get, "/dev/mail/:id", policy.Public, false, h.devMailShow},
		)
	}
	return rs
}

// Echo builds the HTTP server: global middleware, then every route of the
// table behind its permission check. A route without a permission is a
// programming error and stops the start.
func (h *Handler) Echo() (*echo.Echo, error) {
	return h.echoFor(h.routes())
}

// echoFor builds the server for a route table; Echo passes the real one,
// tests a broken one to see it refused.
func (h *Handler) echoFor(rs []route) (*echo.Echo, error) {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = h.handleError
	e.IPExtractor = ipExtractor(h.trustedProxies)
	e.Use(h.requestContext, h.observe, h.recoverPanic, h.securityHeaders, h.limitBody, h.crossOrigin, h.loadSession)
	seen := map[string]bool{}
	for _, r := range rs {
		key := r.method + " " + r.path
		if r.perm.IsZero() {
			return nil, fmt.Errorf("route %s declares no permission", key)
		}
		if r.handle == nil || seen[key] {
			return nil, fmt.Errorf("route %s has no handler or is declared twice", key)
		}
		seen[key] = true
		mw := []echo.MiddlewareFunc{h.authorize(r.perm, r.fresh)}
		if namesWorkspace(r.path) && r.perm != policy.Public {
			mw = append(mw, h.inScope)
		}
		e.Add(r.method, r.path, r.handle, mw...)
	}
	return e, nil
}
