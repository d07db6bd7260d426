package httpapi

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// ClientIP returns the address of the client that sent r, for rate limits
// and abuse guards (never for logs: see outer). Behind an ingress the
// direct peer (r.RemoteAddr) is the proxy; its X-Forwarded-For is believed
// only when the peer is in the server's trusted proxies (config.Base
// TrustedProxies), and then only as far as it was written by trusted
// proxies: walking the list from the right, the first address that is not
// a trusted proxy is the client. Anything to its left was written by the
// client itself and is ignored, so a client cannot pick its own address by
// sending the header.
//
// Outside a Server (no trusted proxies known) it is the peer's address.
// The result is a canonical IP string (IPv4-mapped IPv6 unmapped), or
// r.RemoteAddr unchanged when that is not an address at all.
func ClientIP(r *http.Request) string {
	var trusted []netip.Prefix
	if st := stateFrom(r.Context()); st != nil {
		trusted = st.trustedProxies
	}
	return clientIP(r, trusted)
}

func clientIP(r *http.Request, trusted []netip.Prefix) string {
	peer, ok := parseIP(r.RemoteAddr)
	if !ok {
		return r.RemoteAddr
	}
	if !isTrusted(peer, trusted) {
		return peer.String()
	}
	// Every X-Forwarded-For line, in order, is one list.
	var hops []string
	for _, line := range r.Header.Values("X-Forwarded-For") {
		hops = append(hops, strings.Split(line, ",")...)
	}
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		a, ok := parseIP(strings.TrimSpace(hops[i]))
		if !ok {
			// Written by a trusted proxy that should have written an
			// address: stop at the last hop known.
			break
		}
		client = a
		if !isTrusted(a, trusted) {
			break
		}
	}
	return client.String()
}

// parseIP reads an address with or without a port ("203.0.113.7",
// "203.0.113.7:4711", "[2001:db8::1]:443", "2001:db8::1"); zones are
// refused (they are not client addresses).
func parseIP(s string) (netip.Addr, bool) {
	if h, _, err := net.SplitHostPort(s); err == nil {
		s = h
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// RateLimitKey is the key under which a client address (ClientIP's result,
// with or without a port) is counted by every rate limit and abuse guard:
// an IPv4 address as itself, an IPv6 address as its /64. One subscriber
// usually holds a whole /64 (SLAAC, privacy addresses), so keying by the
// full address would give a client a fresh bucket per address it picks.
// IPv4-mapped IPv6 addresses count as their IPv4 address; zones are
// dropped. Anything that is not an address is returned unchanged (one key
// for all such requests, which is the cautious side).
func RateLimitKey(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		addr = h
	}
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return addr
	}
	a = a.WithZone("").Unmap()
	if a.Is4() {
		return a.String()
	}
	p, _ := a.Prefix(64)
	return p.String()
}

// ClientRateKey is RateLimitKey(ClientIP(r)).
func ClientRateKey(r *http.Request) string { return RateLimitKey(ClientIP(r)) }
