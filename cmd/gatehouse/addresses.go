package main

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// isLoopbackHost says whether host names this machine only: localhost or
// a loopback IP address.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// splitAddr splits a listening address, host:port with a port number
// (0 for any free port), and reports whether it is one.
func splitAddr(addr string) (host, port string, ok bool) {
	host, port, err := net.SplitHostPort(addr)
	_, perr := strconv.ParseUint(port, 10, 16)
	return host, port, err == nil && perr == nil
}

// parseBaseURL reads GATEHOUSE_BASE_URL, returning a problem instead of a
// URL when it is unusable. The portal's routes and its __Host- cookies
// live at the root, so a path is refused here, before any database is
// opened, not after migrating by handlers.New.
func parseBaseURL(raw string) (*url.URL, string) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return nil, "GATEHOUSE_BASE_URL is not a URL"
	}
	if strings.Trim(u.Path, "/") != "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Sprintf("GATEHOUSE_BASE_URL must be scheme://host[:port] with no path (has %q): the portal is served at the root of its URL", raw)
	}
	return u, ""
}

// parseMetrics reads GATEHOUSE_METRICS_ADDR, a listener of its own that
// serves /metrics without asking for the token: it must be reachable
// from this machine only.
func (c *Config) parseMetrics(env map[string]string) []string {
	raw := env["GATEHOUSE_METRICS_ADDR"]
	if raw == "" {
		return nil
	}
	host, port, err := net.SplitHostPort(raw)
	if n, perr := strconv.Atoi(port); err != nil || perr != nil || n < 1 || n > 65535 || !isLoopbackHost(host) {
		return []string{fmt.Sprintf("GATEHOUSE_METRICS_ADDR must be a loopback host:port such as 127.0.0.1:9090 (has %q): /metrics is served there without a token", raw)}
	}
	c.MetricsAddr = raw
	return nil
}

// checkMetrics refuses a production start whose /metrics anyone who
// reaches the portal could read.
func (c Config) checkMetrics() []string {
	if c.MetricsToken != "" || c.MetricsAddr != "" {
		return nil
	}
	return []string{"GATEHOUSE_METRICS_TOKEN is missing: in production /metrics needs a bearer token (generate one with: openssl rand -base64 32), " +
		"or set GATEHOUSE_METRICS_ADDR to a loopback address to serve /metrics there alone"}
}
