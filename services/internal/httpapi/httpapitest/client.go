package httpapitest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"
)

// Response is a response read whole.
type Response struct {
	Status int
	Header http.Header
	Raw    string
	// Body is the body as a JSON object (nil when it is not one), List as
	// a JSON array of objects.
	Body map[string]any
	List []map[string]any
}

// ContentType is the response's Content-Type.
func (r Response) ContentType() string { return r.Header.Get("Content-Type") }

// ProblemType is the type member of a problem details body ("" without).
func (r Response) ProblemType() string {
	s, _ := r.Body["type"].(string)
	return s
}

// Client calls one server under test as its clients do: a bearer token,
// a body, headers.
type Client struct {
	URL string // the server's root, e.g. httptest.Server.URL
	// KeepRedirects answers a redirect to the test instead of following it.
	KeepRedirects bool
}

// Request is one call.
type Request struct {
	Method, Path string
	Token        string // sent as "Authorization: Bearer <Token>" when set
	ContentType  string
	// Body is sent as it is when a string or []byte; anything else but nil
	// as JSON (ContentType then defaults to application/json).
	Body   any
	Header http.Header
}

var keepRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// Do sends req and reads the response; a transport error fails the test.
func (c Client) Do(t testing.TB, req Request) Response {
	t.Helper()
	var body io.Reader
	contentType := req.ContentType
	switch b := req.Body.(type) {
	case nil:
	case string:
		body = bytes.NewReader([]byte(b))
	case []byte:
		body = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		body = bytes.NewReader(raw)
		if contentType == "" {
			contentType = "application/json"
		}
	}
	r, err := http.NewRequestWithContext(t.Context(), req.Method, c.URL+req.Path, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range req.Header {
		r.Header[k] = v
	}
	if req.Token != "" {
		r.Header.Set("Authorization", "Bearer "+req.Token)
	}
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	return c.Send(t, r)
}

// Send sends a request the test built and reads the response.
func (c Client) Send(t testing.TB, r *http.Request) Response {
	t.Helper()
	hc := http.DefaultClient
	if c.KeepRedirects {
		hc = keepRedirects
	}
	res, err := hc.Do(r) //nolint:gosec // G704: a test client; the URL is the server under test's, chosen by the test
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	out := Response{Status: res.StatusCode, Header: res.Header, Raw: string(raw)}
	_ = json.Unmarshal(raw, &out.Body)
	_ = json.Unmarshal(raw, &out.List)
	return out
}

// Call sends method path with a token (or none), a content type and a
// body (see Request.Body).
func (c Client) Call(t testing.TB, method, path, token, contentType string, body any) Response {
	t.Helper()
	return c.Do(t, Request{Method: method, Path: path, Token: token, ContentType: contentType, Body: body})
}

// JSON sends body marshalled as JSON, nil as "null", as the services'
// clients do.
func (c Client) JSON(t testing.TB, method, path, token string, body any) Response {
	t.Helper()
	raw, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	return c.Call(t, method, path, token, "application/json", raw)
}

// Get sends GET path with a token (or none).
func (c Client) Get(t testing.TB, path, token string) Response {
	t.Helper()
	return c.Call(t, http.MethodGet, path, token, "", nil)
}
