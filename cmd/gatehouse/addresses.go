package main

import (
	"fmt"
	"net/netip"
	"net/url"
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
