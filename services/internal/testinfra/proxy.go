package testinfra

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
)

// Proxy forwards TCP connections to a target while open: Cut closes its
// listener and every forwarded connection (the target gone for whoever
// connects through it), Restore listens again on the same address. Tests
// put it between a component and its database or broker.
type Proxy struct {
	t      testing.TB
	Addr   string
	target string
	mu     sync.Mutex
	l      net.Listener
	conns  []net.Conn
}

// NewProxy starts a proxy to target on a free loopback address; it is cut
// when the test ends.
func NewProxy(t testing.TB, target string) *Proxy {
	p := &Proxy{t: t, target: target, Addr: FreeAddr(t)}
	p.Restore()
	t.Cleanup(p.Cut)
	return p
}

// Restore listens on the proxy's address again.
func (p *Proxy) Restore() {
	l, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", p.Addr)
	if err != nil {
		p.t.Fatalf("proxy: %v", err)
	}
	p.mu.Lock()
	p.l = l
	p.mu.Unlock()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			u, err := (&net.Dialer{}).DialContext(context.Background(), "tcp", p.target)
			if err != nil {
				_ = c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, u)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(u, c); _ = u.Close() }()
			go func() { _, _ = io.Copy(c, u); _ = c.Close() }()
		}
	}()
}

// Cut closes the listener and every connection through the proxy.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.l != nil {
		if err := p.l.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			p.t.Error(err)
		}
		p.l = nil
	}
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.conns = nil
}
