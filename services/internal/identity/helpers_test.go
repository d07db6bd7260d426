package identity

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wuxiao/wuxiao/services/internal/testinfra"
)

func kratosPublic(t *testing.T) string {
	return testinfra.Require(t, testinfra.EnvKratosPublicURL)
}

func kratosAdmin(t *testing.T) *Admin {
	return NewAdmin(testinfra.Require(t, testinfra.EnvKratosAdminURL), nil)
}

// probe is a handler that records what the middleware let through.
type probe struct {
	mu        sync.Mutex
	calls     int
	principal Principal
	signedIn  bool
}

func (p *probe) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls++
	p.principal, p.signedIn = FromContext(r.Context())
	w.WriteHeader(http.StatusNoContent)
}

type cred struct {
	bearer, header string
	cookie         *http.Cookie
}

func get(t *testing.T, h http.Handler, c cred) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, "/v1/thing", nil)
	if c.bearer != "" {
		r.Header.Set("Authorization", "Bearer "+c.bearer)
	}
	if c.header != "" {
		r.Header.Set("X-Session-Token", c.header)
	}
	if c.cookie != nil {
		r.AddCookie(&http.Cookie{Name: "unrelated", Value: "x"})
		r.AddCookie(c.cookie)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

type problemBody struct {
	Type     string `json:"type"`
	Title    string `json:"title"`
	Status   int    `json:"status"`
	Detail   string `json:"detail"`
	Instance string `json:"instance"`
}

// wantProblem checks that w is an RFC 9457 problem with status.
func wantProblem(t *testing.T, w *httptest.ResponseRecorder, status int) problemBody {
	t.Helper()
	if w.Code != status {
		t.Fatalf("status %d, want %d; body %s", w.Code, status, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type %q, want application/problem+json", ct)
	}
	var p problemBody
	if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
		t.Fatalf("problem body %q: %v", w.Body, err)
	}
	if p.Status != status || p.Title == "" || p.Detail == "" || p.Type != "about:blank" || p.Instance != "/v1/thing" {
		t.Fatalf("problem %+v incomplete for status %d", p, status)
	}
	return p
}

// browserLogin signs in through a browser login flow (CSRF cookie and token,
// JSON bodies) and returns the session cookie Kratos sets.
func browserLogin(t *testing.T, email, password string) *http.Cookie {
	t.Helper()
	pub := kratosPublic(t)
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest(http.MethodGet, pub+"/self-service/login/browser", nil)
	req.Header.Set("Accept", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var flow struct {
		ID string `json:"id"`
		UI struct {
			Nodes []struct {
				Attributes struct {
					Name  string `json:"name"`
					Value any    `json:"value"`
				} `json:"attributes"`
			} `json:"nodes"`
		} `json:"ui"`
	}
	err = json.NewDecoder(resp.Body).Decode(&flow)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("browser login flow: %s %v", resp.Status, err)
	}
	var csrf string
	for _, n := range flow.UI.Nodes {
		if n.Attributes.Name == "csrf_token" {
			csrf, _ = n.Attributes.Value.(string)
		}
	}
	body, _ := json.Marshal(map[string]string{"method": "password", "identifier": email, "password": password, "csrf_token": csrf})
	req, _ = http.NewRequest(http.MethodPost, pub+"/self-service/login?flow="+flow.ID, bytes.NewReader(body))
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Content-Type", "application/json")
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("browser login: %s %s", resp.Status, b)
	}
	for _, ck := range resp.Cookies() {
		if ck.Name == "wuxiao_session" {
			return &http.Cookie{Name: ck.Name, Value: ck.Value}
		}
	}
	t.Fatalf("browser login set no wuxiao_session cookie (cookies: %v)", resp.Cookies())
	return nil
}

// closedURL is an http URL on which nothing listens.
func closedURL(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

// countingProxy forwards to the real Kratos public API and counts /sessions/whoami calls.
type countingProxy struct {
	mu    sync.Mutex
	n     int
	block chan struct{} // when set, whoami waits for it to close
}

func (c *countingProxy) count() int { c.mu.Lock(); defer c.mu.Unlock(); return c.n }

func newCountingProxy(t *testing.T, target string) (*countingProxy, string) {
	cp := &countingProxy{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/sessions/whoami") {
			cp.mu.Lock()
			cp.n++
			block := cp.block
			cp.mu.Unlock()
			if block != nil {
				<-block
			}
		}
		req, _ := http.NewRequestWithContext(r.Context(), r.Method, target+r.URL.RequestURI(), r.Body)
		req.Header = r.Header.Clone()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
	}))
	t.Cleanup(srv.Close)
	return cp, srv.URL
}

// logBuffer is a concurrency-safe slog sink.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}
func (b *logBuffer) String() string { b.mu.Lock(); defer b.mu.Unlock(); return b.buf.String() }

func newLogger() (*slog.Logger, *logBuffer) {
	b := &logBuffer{}
	return slog.New(slog.NewTextHandler(b, nil)), b
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}
