package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/wuxiao/wuxiao/services/internal/identity"
)

// The console reads and writes through the town services' own APIs, as the
// signed-in user: every call carries the user's Kratos session cookie (and
// nothing else of the browser's cookies), and the service decides. The
// gateway holds no credentials of its own for the towns.

// consoleHTTP is shared by every console request: keep-alive connections to
// the towns' pods, bounded waits.
var consoleHTTP = &http.Client{
	Timeout: 15 * time.Second,
	Transport: &http.Transport{
		Proxy:                 nil, // in-cluster traffic never goes through a proxy
		DialContext:           (&net.Dialer{Timeout: 3 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          512,
		MaxIdleConnsPerHost:   128,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: 15 * time.Second,
	},
	// A service's redirect is an answer to show, not to follow with the
	// user's cookie.
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// apiError is a town service's refusal (its problem details) or failure.
type apiError struct {
	Status int
	Type   string
	Title  string
	Detail string
}

func (e *apiError) Error() string {
	return fmt.Sprintf("%d %s: %s", e.Status, e.Title, e.Detail)
}

// errUnavailable: the town's service could not be reached.
var errUnavailable = errors.New("town service unavailable")

// sessionCookie is the Cookie header the town services get: the Kratos
// session cookie(s) of the request, nothing else.
func sessionCookie(r *http.Request) string {
	var parts []string
	for _, c := range r.Cookies() {
		for _, n := range identity.DefaultCookieNames {
			if c.Name == n && c.Value != "" {
				parts = append(parts, c.Name+"="+c.Value)
			}
		}
	}
	return strings.Join(parts, "; ")
}

// townCall is one call to a town service as the signed-in user.
type townCall struct {
	g       *Gateway
	town    string
	cookie  string
	service string
}

func (c townCall) url(path string) (string, error) {
	u, err := c.g.backends.ServiceURL(c.town, c.service)
	if err != nil {
		return "", fmt.Errorf("%w: %w", errUnavailable, err)
	}
	return strings.TrimRight(u.String(), "/") + path, nil
}

// do sends the request and decodes a 2xx JSON answer into out (when not
// nil); any other answer is an *apiError.
func (c townCall) do(ctx context.Context, method, path, contentType string, body io.Reader, out any) error {
	target, err := c.url(path)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if c.cookie != "" {
		req.Header.Set("Cookie", c.cookie)
	}
	res, err := consoleHTTP.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %s %s: %w", errUnavailable, c.service, path, err)
	}
	defer res.Body.Close()
	if res.StatusCode >= 300 {
		return readProblem(res)
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, res.Body)
		return nil
	}
	if err := json.NewDecoder(res.Body).Decode(out); err != nil {
		return fmt.Errorf("%s %s: decoding the answer: %w", c.service, path, err)
	}
	return nil
}

func readProblem(res *http.Response) error {
	raw, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	e := &apiError{Status: res.StatusCode}
	var p struct {
		Type   string `json:"type"`
		Title  string `json:"title"`
		Detail string `json:"detail"`
	}
	if json.Unmarshal(raw, &p) == nil {
		e.Type, e.Title, e.Detail = p.Type, p.Title, p.Detail
	}
	if e.Title == "" {
		e.Title = http.StatusText(res.StatusCode)
	}
	return e
}

func (c townCall) get(ctx context.Context, path string, out any) error {
	return c.do(ctx, http.MethodGet, path, "", nil, out)
}

func (c townCall) postJSON(ctx context.Context, path string, in, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	return c.do(ctx, http.MethodPost, path, "application/json", bytes.NewReader(b), out)
}

// stream relays a service's answer (a flowchart, an evidence file) to the
// browser with the headers that matter for it; the service's own
// Content-Disposition and nosniff survive.
func (c townCall) stream(w http.ResponseWriter, r *http.Request, path string) error {
	target, err := c.url(path)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, target, nil)
	if err != nil {
		return err
	}
	if c.cookie != "" {
		req.Header.Set("Cookie", c.cookie)
	}
	res, err := consoleHTTP.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %s %s: %w", errUnavailable, c.service, path, err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return readProblem(res)
	}
	h := w.Header()
	for _, k := range []string{"Content-Type", "Content-Length", "Content-Disposition", "Repr-Digest", "ETag"} {
		if v := res.Header.Get(k); v != "" {
			h.Set(k, v)
		}
	}
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "private, no-store")
	// Whatever the file is, it runs nothing on this origin.
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; sandbox")
	w.WriteHeader(http.StatusOK)
	_, err = io.Copy(w, res.Body)
	return err
}
