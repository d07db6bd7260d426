package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// A complaint's tracking code is TS-NNN-XXXX-XXXX, NNN being digits 7-9 of
// its village's code, which name the town within the district (see
// services/complaint/tracking.go, which makes them: change both together).
// Codes issued before the town part existed are TS-XXXX-XXXX; for those the
// gateway asks every town.

// trackingKind is what a tracking code tells the gateway.
type trackingKind int

const (
	codeInvalid  trackingKind = iota // not a tracking code: any town answers "no such code"
	codeWithTown                     // names its town
	codeOld                          // valid, but the town is unknown
)

// codeChars is the alphabet of the random part: no 0/O, 1/I.
func codeChar(c byte) bool {
	return (c >= '2' && c <= '9') || (c >= 'A' && c <= 'Z' && c != 'I' && c != 'O')
}

func codeGroup(s string) bool {
	if len(s) != 4 {
		return false
	}
	for i := range 4 {
		if !codeChar(s[i]) {
			return false
		}
	}
	return true
}

// parseTrackingCode returns the kind of code and, for codeWithTown, its
// town part (3 digits).
func parseTrackingCode(code string) (trackingKind, string) {
	rest, ok := strings.CutPrefix(code, "TS-")
	if !ok {
		return codeInvalid, ""
	}
	parts := strings.Split(rest, "-")
	switch {
	case len(parts) == 3 && len(parts[0]) == 3 && allDigits(parts[0]) && codeGroup(parts[1]) && codeGroup(parts[2]):
		return codeWithTown, parts[0]
	case len(parts) == 2 && codeGroup(parts[0]) && codeGroup(parts[1]):
		return codeOld, ""
	}
	return codeInvalid, ""
}

// townOfCodePart returns the town whose code's digits 7-9 are part.
func townOfCodePart(b Backends, part string) (Town, bool) {
	for _, t := range b.Towns() {
		if t.Code[6:9] == part {
			return t, true
		}
	}
	return Town{}, false
}

// trackingTowns is where the complaint a code names may be: its own town
// (one), or, for an old code, every town. A malformed code or one naming no
// town of this district goes to one town, whose complaint service answers
// it as it answers any unknown code.
func trackingTowns(b Backends, code string) (towns []Town, fanOut bool) {
	kind, part := parseTrackingCode(code)
	switch kind {
	case codeWithTown:
		if t, ok := townOfCodePart(b, part); ok {
			return []Town{t}, false
		}
	case codeOld:
		return b.Towns(), true
	}
	return nil, false
}

// fanOutTimeout bounds how long the gateway waits for every town to say
// whether it knows an old code.
const fanOutTimeout = 5 * time.Second

// fanOutMaxBody bounds the body of a request sent to every town (a
// follow-up's feedback form, a few hundred bytes).
const fanOutMaxBody = 64 << 10

// townAnswer is one town's answer to a fanned-out request.
type townAnswer struct {
	town string
	resp *http.Response
	body []byte
	err  error
}

// askTowns sends r to the complaint service of every town at once, each
// with fanOutTimeout, and returns their answers (bodies read). A town
// without a ready pod counts as one that did not answer.
func (p *publicProxy) askTowns(r *http.Request, towns []Town) ([]townAnswer, error) {
	var body []byte
	if r.Body != nil && r.Body != http.NoBody {
		var err error
		body, err = io.ReadAll(io.LimitReader(r.Body, fanOutMaxBody+1))
		if err != nil {
			return nil, err
		}
		if len(body) > fanOutMaxBody {
			return nil, errBodyTooLarge
		}
	}
	out := make([]townAnswer, len(towns))
	var wg sync.WaitGroup
	for i, t := range towns {
		out[i].town = t.Name
		u, err := p.g.backends.ServiceURL(t.Name, ServiceComplaint)
		if err != nil {
			out[i].err = err
			continue
		}
		wg.Add(1)
		go func(a *townAnswer) {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(r.Context(), fanOutTimeout)
			defer cancel()
			// The host is a town's complaint service from the routing table,
			// never from the request; only the path and query are passed on.
			req, err := http.NewRequestWithContext(ctx, r.Method, u.String()+r.URL.RequestURI(), bytes.NewReader(body)) //nolint:gosec // see above
			if err != nil {
				a.err = err
				return
			}
			req.Header = r.Header.Clone()
			removeHopByHop(req.Header)
			setForwarded(req, r)
			resp, err := p.client.Do(req) //nolint:gosec // the routing table's host, as above
			if err != nil {
				a.err = err
				return
			}
			defer resp.Body.Close()
			a.body, a.err = io.ReadAll(resp.Body)
			a.resp = resp
		}(&out[i])
	}
	wg.Wait()
	return out, nil
}

var errBodyTooLarge = errors.New("request body too large")

// serveFannedOut answers r from every town's complaint service: the answer
// of the town that knows the code (any status but 404), else 502 when a
// town did not answer (it may be the one that knows it), else the towns'
// 404. The code is never logged.
func (p *publicProxy) serveFannedOut(w http.ResponseWriter, r *http.Request, k kind, towns []Town) {
	answers, err := p.askTowns(r, towns)
	if err != nil {
		p.fail(w, r, k, err)
		return
	}
	var found, notFound *townAnswer
	failed := 0
	for i := range answers {
		a := &answers[i]
		switch {
		case a.err != nil || a.resp.StatusCode >= 500:
			failed++
			if ctx := r.Context(); ctx.Err() == nil {
				reason := "no ready pod"
				if a.err != nil && !errors.Is(a.err, ErrNoBackend) {
					reason = a.err.Error()
					var ue *url.Error
					if errors.As(a.err, &ue) {
						reason = ue.Err.Error() // the URL holds the code
					}
				} else if a.resp != nil {
					reason = a.resp.Status
				}
				p.g.log.Warn("gateway: a town did not answer a follow-up by an old tracking code",
					"town", a.town, "route", r.Pattern, "reason", reason)
			}
		case a.resp.StatusCode == http.StatusNotFound:
			notFound = a
		default:
			if found == nil {
				found = a
			}
		}
	}
	switch {
	case found != nil:
		relay(w, found)
	case failed > 0:
		p.fail(w, r, k, errTownsDown)
	case notFound != nil:
		relay(w, notFound)
	default: // no towns at all
		p.fail(w, r, k, ErrNoBackend)
	}
}

// errTownsDown: a town did not answer a fanned-out follow-up (502).
var errTownsDown = errors.New("a town did not answer")

func relay(w http.ResponseWriter, a *townAnswer) {
	h := w.Header()
	for k, v := range a.resp.Header {
		h[k] = v
	}
	removeHopByHop(h)
	h.Del("Content-Length")
	w.WriteHeader(a.resp.StatusCode)
	_, _ = w.Write(a.body)
}

// open311Merge answers GET /open311/v2/requests.json for ids of several
// towns: each town lists the requests it knows, the lists are joined in
// the order the ids were asked for.
func (p *publicProxy) open311Merge(w http.ResponseWriter, r *http.Request, towns []Town, ids []string) {
	answers, err := p.askTowns(r, towns)
	if err != nil {
		p.fail(w, r, kindOpen311, err)
		return
	}
	byID := map[string]json.RawMessage{}
	for i := range answers {
		a := &answers[i]
		if a.err != nil || a.resp.StatusCode >= 500 {
			p.g.log.Warn("gateway: a town did not answer an Open311 query", "town", a.town)
			p.fail(w, r, kindOpen311, errTownsDown)
			return
		}
		if a.resp.StatusCode != http.StatusOK {
			relay(w, a) // e.g. 400 for too many ids: every town says the same
			return
		}
		var list []json.RawMessage
		if err := json.Unmarshal(a.body, &list); err != nil {
			p.g.log.Warn("gateway: a town's Open311 answer is not a JSON list", "town", a.town)
			p.fail(w, r, kindOpen311, errTownsDown)
			return
		}
		for _, item := range list {
			var head struct {
				ID string `json:"service_request_id"`
			}
			if json.Unmarshal(item, &head) == nil {
				byID[head.ID] = item
			}
		}
	}
	out := []json.RawMessage{}
	for _, id := range ids {
		if item, ok := byID[id]; ok {
			out = append(out, item)
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}
