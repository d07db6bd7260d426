package httpapi

import (
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

var fuzzTrusted = []netip.Prefix{
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("fd00::/8"),
	netip.MustParsePrefix("127.0.0.1/32"),
}

// FuzzClientIP: behind trusted proxies the client address is a canonical
// address taken from the peer or the X-Forwarded-For hops; everything to
// the right of it is a trusted proxy, and whatever the client writes to
// the left of the hops the proxies added cannot change it.
func FuzzClientIP(f *testing.F) {
	for _, s := range [][3]string{
		{"10.1.2.3:4711", "203.0.113.7", ""},
		{"10.1.2.3:4711", "198.51.100.1, 203.0.113.7, 10.9.9.9", "6.6.6.6"},
		{"[fd00::1]:443", "2001:db8::1", ""},
		{"[fd00::1]:443", "::ffff:203.0.113.9", ""},
		{"203.0.113.7:1", "10.0.0.1", ""},
		{"10.0.0.1:1", "junk, 10.0.0.2", ""},
		{"10.0.0.1:1", "fe80::1%eth0", ""},
		{"10.0.0.1:1", "", ""},
		{"not an address", "203.0.113.7", ""},
		{"127.0.0.1:80", "[2001:db8::2]:5, 10.0.0.3:80", "1.1.1.1"},
	} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, remote, xff, spoof string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = remote
		if xff != "" {
			r.Header.Set("X-Forwarded-For", xff)
		}
		got := clientIP(r, fuzzTrusted)

		peer, peerOK := parseIP(remote)
		if !peerOK {
			if got != remote {
				t.Fatalf("peer %q is no address, yet the client is %q", remote, got)
			}
			return
		}
		a, err := netip.ParseAddr(got)
		if err != nil || a.String() != got || a.Is4In6() || a.Zone() != "" {
			t.Fatalf("client %q (peer %q, XFF %q) is not a canonical address", got, remote, xff)
		}
		if !isTrusted(peer, fuzzTrusted) {
			if a != peer {
				t.Fatalf("untrusted peer %q, yet the client is %q from XFF %q", remote, got, xff)
			}
			return
		}
		// The client is the peer or a hop, and every hop right of it is a
		// trusted proxy's address.
		hops := strings.Split(xff, ",")
		if xff == "" {
			hops = nil
		}
		at := -1
		for i := len(hops) - 1; i >= 0; i-- {
			h, ok := parseIP(strings.TrimSpace(hops[i]))
			if !ok {
				break
			}
			if h == a {
				at = i
				break
			}
			if !isTrusted(h, fuzzTrusted) {
				t.Fatalf("client %q is left of the untrusted hop %q in %q", got, hops[i], xff)
			}
		}
		if at < 0 && a != peer {
			t.Fatalf("client %q is neither the peer %q nor a hop the proxies vouch for in %q", got, remote, xff)
		}
		// Once an untrusted address was found, anything the client puts in
		// front changes nothing.
		if !isTrusted(a, fuzzTrusted) {
			r2 := httptest.NewRequest("GET", "/", nil)
			r2.RemoteAddr = remote
			r2.Header.Add("X-Forwarded-For", spoof)
			if xff != "" {
				r2.Header.Add("X-Forwarded-For", xff)
			}
			if got2 := clientIP(r2, fuzzTrusted); got2 != got {
				t.Fatalf("prefix %q written by the client moved the client from %q to %q (XFF %q)", spoof, got, got2, xff)
			}
		}
	})
}
