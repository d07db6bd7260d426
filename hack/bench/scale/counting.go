package main

import (
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"

	"k8s.io/client-go/rest"
)

// reqKey identifies a kind of API request the way kube-apiserver's
// apiserver_request_total does: verb (GET, LIST, WATCH, CREATE, UPDATE, PATCH,
// APPLY, DELETE, DELETECOLLECTION), API group, resource and subresource.
type reqKey struct {
	Verb, Group, Resource, Subresource string
}

func (k reqKey) String() string {
	r := k.Resource
	if k.Group != "" {
		r += "." + k.Group
	}
	if k.Subresource != "" {
		r += "/" + k.Subresource
	}
	return k.Verb + " " + r
}

// counts is a bag of request counts, by kind and by response code.
type counts struct {
	ByKey  map[reqKey]float64
	ByCode map[string]float64 // completed requests by HTTP status code
}

func newCounts() counts {
	return counts{ByKey: map[reqKey]float64{}, ByCode: map[string]float64{}}
}

func (c counts) clone() counts {
	o := newCounts()
	for k, v := range c.ByKey {
		o.ByKey[k] = v
	}
	for k, v := range c.ByCode {
		o.ByCode[k] = v
	}
	return o
}

// sub returns c - o.
func (c counts) sub(o counts) counts {
	r := c.clone()
	for k, v := range o.ByKey {
		r.ByKey[k] -= v
	}
	for k, v := range o.ByCode {
		r.ByCode[k] -= v
	}
	return r
}

func isRead(verb string) bool {
	return verb == "GET" || verb == "LIST" || verb == "WATCH"
}

// sortedKeys lists the kinds of request in decreasing order of count,
// dropping those whose count rounds to zero.
func (c counts) sortedKeys() []reqKey {
	var ks []reqKey
	for k, v := range c.ByKey {
		if v >= 0.5 || v <= -0.5 {
			ks = append(ks, k)
		}
	}
	sort.Slice(ks, func(i, j int) bool {
		a, b := c.ByKey[ks[i]], c.ByKey[ks[j]]
		if a != b {
			return a > b
		}
		return ks[i].String() < ks[j].String()
	})
	return ks
}

// counter counts the requests one or more clients send, client-side, keyed
// exactly like the API server keys them, so the two can be subtracted.
type counter struct {
	mu          sync.Mutex
	c           counts
	nonResource float64 // discovery, /version, ...: not compared with the server
}

func newCounter() *counter { return &counter{c: newCounts()} }

func (r *counter) snapshot() counts {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.c.clone()
}

// wrap makes cfg count every request it sends through this counter.
func (r *counter) wrap(cfg *rest.Config) *rest.Config {
	cfg = rest.CopyConfig(cfg)
	prev := cfg.WrapTransport
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
		if prev != nil {
			rt = prev(rt)
		}
		return &countingRT{next: rt, c: r}
	}
	return cfg
}

type countingRT struct {
	next http.RoundTripper
	c    *counter
}

func (t *countingRT) RoundTrip(req *http.Request) (*http.Response, error) {
	key, ok := classify(req)
	t.c.mu.Lock()
	if ok {
		t.c.c.ByKey[key]++
	} else {
		t.c.nonResource++
	}
	t.c.mu.Unlock()
	resp, err := t.next.RoundTrip(req)
	if ok && err == nil && key.Verb != "WATCH" {
		// The server records a request's code when it completes; watches
		// complete much later (or never within a window), so leave them out
		// on both sides.
		t.c.mu.Lock()
		t.c.c.ByCode[strconv.Itoa(resp.StatusCode)]++
		t.c.mu.Unlock()
	}
	return resp, err
}

// classify maps an HTTP request to the verb, group, resource and subresource
// kube-apiserver files it under in apiserver_request_total. ok is false for
// non-resource requests (discovery, /version, /metrics, ...).
func classify(req *http.Request) (reqKey, bool) {
	segs := strings.Split(strings.Trim(req.URL.Path, "/"), "/")
	var group string
	switch {
	case len(segs) >= 3 && segs[0] == "api":
		segs = segs[2:] // api/v1/...
	case len(segs) >= 4 && segs[0] == "apis":
		group = segs[1]
		segs = segs[3:] // apis/<group>/<version>/...
	default:
		return reqKey{}, false
	}
	watchPath := false
	if len(segs) > 0 && segs[0] == "watch" {
		watchPath = true
		segs = segs[1:]
	}
	// namespaces/<ns>/<resource>/..., except a namespace's own subresources
	// (as the API server's RequestInfoFactory decides).
	if len(segs) >= 3 && segs[0] == "namespaces" && segs[2] != "status" && segs[2] != "finalize" {
		segs = segs[2:]
	}
	if len(segs) == 0 {
		return reqKey{}, false
	}
	k := reqKey{Group: group, Resource: segs[0]}
	named := len(segs) >= 2
	if len(segs) >= 3 {
		k.Subresource = segs[2]
	}
	q := req.URL.Query()
	isWatch := watchPath || q.Get("watch") == "true" || q.Get("watch") == "1"
	switch req.Method {
	case http.MethodGet, http.MethodHead:
		switch {
		case isWatch:
			k.Verb = "WATCH"
		case named:
			k.Verb = "GET"
		default:
			k.Verb = "LIST"
		}
	case http.MethodPost:
		k.Verb = "CREATE"
	case http.MethodPut:
		k.Verb = "UPDATE"
	case http.MethodPatch:
		k.Verb = "PATCH"
		if req.Header.Get("Content-Type") == "application/apply-patch+yaml" {
			k.Verb = "APPLY"
		}
	case http.MethodDelete:
		k.Verb = "DELETE"
		if !named {
			k.Verb = "DELETECOLLECTION"
		}
	default:
		k.Verb = req.Method
	}
	return k, true
}
