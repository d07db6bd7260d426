package httpapi

import (
	"encoding/binary"
	"net"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/wuxiao/wuxiao/services/internal/config"
)

func TestRateLimitKey(t *testing.T) {
	for _, tc := range []struct {
		name, addr, want string
	}{
		{"IPv4", "203.0.113.7", "203.0.113.7"},
		{"IPv4 with port", "203.0.113.7:4711", "203.0.113.7"},
		{"IPv4 neighbours stay apart", "203.0.113.8", "203.0.113.8"},
		{"IPv6 to its /64", "2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"IPv6 other address of the same /64", "2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"},
		{"IPv6 with port", "[2001:db8:1:2::9]:443", "2001:db8:1:2::/64"},
		{"IPv6 next /64 is another client", "2001:db8:1:3::1", "2001:db8:1:3::/64"},
		{"IPv6 zone dropped", "fe80::1%eth0", "fe80::/64"},
		{"IPv4-mapped counts as IPv4", "::ffff:203.0.113.7", "203.0.113.7"},
		{"IPv4-mapped with port", "[::ffff:203.0.113.7]:80", "203.0.113.7"},
		{"loopback v6", "::1", "::/64"},
		{"not an address", "pipe", "pipe"},
		{"empty", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := RateLimitKey(tc.addr); got != tc.want {
				t.Errorf("RateLimitKey(%q) = %q, want %q", tc.addr, got, tc.want)
			}
		})
	}
}

// Two addresses of one /64 behind the trusted ingress are one client.
func TestClientRateKeyBehindProxy(t *testing.T) {
	keys := map[string]bool{}
	for _, xff := range []string{"2001:db8:a:b::1", "2001:db8:a:b:dead:beef:0:1"} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = "10.1.2.3:5555"
		r.Header.Set("X-Forwarded-For", xff)
		b := config.Base{TrustedProxies: []string{"10.0.0.0/8"}}
		trusted := b.TrustedProxyPrefixes()
		keys[RateLimitKey(clientIP(r, trusted))] = true
	}
	if len(keys) != 1 || !keys["2001:db8:a:b::/64"] {
		t.Fatalf("keys = %v, want one: 2001:db8:a:b::/64", keys)
	}
}

// FuzzRateLimitKey: an IPv4 client (mapped or not) is its own key, an IPv6
// client's key is the /64 holding it, the same for every address in it,
// and a port never changes the key.
func FuzzRateLimitKey(f *testing.F) {
	for _, s := range []string{"203.0.113.7", "[2001:db8::1]:443", "::ffff:198.51.100.1", "fe80::1%eth0", "x", ""} {
		f.Add(s, uint64(0))
	}
	f.Fuzz(func(t *testing.T, addr string, low uint64) {
		key := RateLimitKey(addr)
		a, ok := parseIP(addr)
		if !ok {
			if h, _, err := net.SplitHostPort(addr); err == nil {
				addr = h
			}
			if b, err := netip.ParseAddr(addr); err == nil {
				a, ok = b.WithZone("").Unmap(), true // a zone: still keyed
			}
		}
		if !ok {
			return
		}
		if a.Is4() {
			if key != a.String() {
				t.Fatalf("IPv4 %q keyed %q", addr, key)
			}
			if RateLimitKey(net.JoinHostPort(a.String(), "1")) != key {
				t.Fatal("a port changed the key")
			}
			return
		}
		p, err := netip.ParsePrefix(key)
		if err != nil || p.Bits() != 64 || !p.Contains(a.WithZone("")) {
			t.Fatalf("IPv6 %q keyed %q, not its /64", addr, key)
		}
		// Another address of the same /64.
		b := a.WithZone("").As16()
		binary.BigEndian.PutUint64(b[8:], low)
		other := netip.AddrFrom16(b)
		if other.Is4In6() {
			return
		}
		if k := RateLimitKey(net.JoinHostPort(other.String(), "8443")); k != key {
			t.Fatalf("%s keyed %q, %s of the same /64 keyed %q", a, key, other, k)
		}
	})
}
