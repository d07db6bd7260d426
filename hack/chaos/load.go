package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"maps"
	"math/bits"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	kratos "github.com/ory/kratos-client-go"
	"sigs.k8s.io/controller-runtime/pkg/client"

	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
)

// The steady load: in each town, processes of the sample catalog's
// funds-non-productive-spending advancing through their five steps,
// reports filed on the public intake (码上举报) and portal pages read. Every
// write is recorded in the ledger with what the client saw, which the
// books are checked against after the fault.

// stepRoles of funds-non-productive-spending (非生产性开支), in order, as in
// hack/e2e.
var stepRoles = []struct{ step, role string }{
	{"apply", "committee-member"},
	{"approval", "director"},
	{"reimburse", "accountant"},
	{"supervision-review", "supervision-chair"},
	{"disclosure", "accountant"},
}

// outcome of a write as the client saw it.
type outcome int

const (
	accepted outcome = iota // 2xx
	refused                 // an answer saying no (4xx other than a conflict after an unknown)
	unknown                 // no answer, or 5xx: the effect may or may not exist
)

// op is one write of the load.
type op struct {
	phase    string
	kind     string // start, step, complaint
	town     string
	village  string
	instance string // start, step
	step     string // step
	marker   string // start: the title; complaint: the description's marker
	tracking string // complaint: the tracking code
	outcome  outcome
	why      string // of a failure: the status or the transport error
	at       time.Time
}

// failure says why a request failed, briefly.
func failure(a answer, err error) string {
	if err != nil {
		msg := err.Error()
		if i := strings.LastIndex(msg, ": "); i >= 0 {
			msg = msg[i+2:]
		}
		return msg
	}
	return strconv.Itoa(a.status)
}

type ledger struct {
	mu  sync.Mutex
	ops []op
	// per phase and stream: the last failure and the first success after
	// a given time, for the recovery figure
	reads, readFails atomic.Int64
	readWhy          map[string]map[string]int // phase -> "town read reason" -> failed portal reads
	oks              map[string][]time.Time    // stream (town/kind) -> successes
	watch            chan op                   // accepted writes, while a fault waits for one
}

func (l *ledger) add(o op) {
	o.at = time.Now()
	l.mu.Lock()
	l.ops = append(l.ops, o)
	l.mu.Unlock()
	if o.outcome == accepted {
		l.ok(o.town+"/"+o.kind, o.at)
		l.mu.Lock()
		w := l.watch
		l.mu.Unlock()
		if w != nil {
			select {
			case w <- o:
			default:
			}
		}
	}
}

// next waits for the next accepted write of kind in town.
func (l *ledger) next(ctx context.Context, town, kind string) bool {
	w := make(chan op, 64)
	l.mu.Lock()
	l.watch = w
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		l.watch = nil
		l.mu.Unlock()
	}()
	for {
		select {
		case <-ctx.Done():
			return false
		case o := <-w:
			if o.town == town && o.kind == kind {
				return true
			}
		}
	}
}

func (l *ledger) ok(stream string, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.oks == nil {
		l.oks = map[string][]time.Time{}
	}
	l.oks[stream] = append(l.oks[stream], at)
}

// firstOK is each stream's first success after t (zero: none yet).
func (l *ledger) firstOK(streams []string, t time.Time) map[string]time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string]time.Time{}
	for _, s := range streams {
		for _, at := range l.oks[s] {
			if at.After(t) {
				out[s] = at
				break
			}
		}
	}
	return out
}

// readFailed counts a failed portal read by its reason (a 503 the portal
// may answer while it cannot reach its database; a 500 or no answer it
// should not).
func (l *ledger) readFailed(phase, town, why string) {
	l.readFails.Add(1)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.readWhy == nil {
		l.readWhy = map[string]map[string]int{}
	}
	if l.readWhy[phase] == nil {
		l.readWhy[phase] = map[string]int{}
	}
	l.readWhy[phase][town+" read "+why]++
}

func (l *ledger) readFailures(phase string) map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return maps.Clone(l.readWhy[phase])
}

func (l *ledger) of(phase string) []op {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []op
	for _, o := range l.ops {
		if o.phase == phase {
			out = append(out, o)
		}
	}
	return out
}

// people are the load's signed-in staff of one village.
type people struct {
	town, village string
	tokens        map[string]string // role -> Kratos session token
}

type loadgen struct {
	c       *cluster
	led     *ledger
	run     string // this run's marker
	phase   atomic.Value
	http    *http.Client
	kratos  kratosAdmin
	towns   []string
	staff   map[string][]people // town -> its villages' staff
	seq     atomic.Int64
	clients atomic.Int64
	pace    time.Duration // between a worker's writes: a steady load the consumers keep up with
	busy    sync.Map      // town/service -> *atomic.Int64 of requests in flight
	// stopping ends the load gracefully: no new request is begun, the ones
	// under way get their answer (cancelling them would make unknowns).
	stopping atomic.Bool
}

func (g *loadgen) going(ctx context.Context) bool { return ctx.Err() == nil && !g.stopping.Load() }

func newLoadgen(c *cluster, led *ledger, run string, towns []string, kr kratosAdmin) *loadgen {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 16,
		IdleConnTimeout:     30 * time.Second,
	}
	g := &loadgen{c: c, led: led, run: run, towns: towns, kratos: kr, staff: map[string][]people{},
		http: &http.Client{Transport: tr, Timeout: 15 * time.Second}, pace: 300 * time.Millisecond}
	g.phase.Store("setup")
	return g
}

// signIn creates the staff of the first villages of each town (new Kratos
// identities scoped like the operator's, one per role) and signs them in.
func (g *loadgen) signIn(ctx context.Context, perTown int) error {
	for _, town := range g.towns {
		var list wuxiaov1.VillageList
		if err := g.c.kube.List(ctx, &list, client.InNamespace("town-"+town)); err != nil {
			return err
		}
		n := 0
		for _, v := range list.Items {
			if n == perTown || strings.HasPrefix(v.Name, "chaos-") {
				continue
			}
			p := people{town: town, village: v.Spec.Code, tokens: map[string]string{}}
			for _, sr := range stepRoles {
				if _, ok := p.tokens[sr.role]; ok {
					continue
				}
				tok, err := g.kratos.newSession(ctx, sr.role, town, v.Spec.Code, g.run)
				if err != nil {
					return err
				}
				p.tokens[sr.role] = tok
			}
			g.staff[town] = append(g.staff[town], p)
			n++
		}
		if n == 0 {
			return fmt.Errorf("town %s has no villages", town)
		}
	}
	return nil
}

// url of a path of a town's service pod.
func (g *loadgen) url(ctx context.Context, town, svc, path string, refresh bool) string {
	ip := g.c.podIP(ctx, town, svc, refresh)
	if ip == "" {
		return ""
	}
	return "http://" + ip + ":8080" + path
}

type answer struct {
	status int
	hdr    http.Header
	body   []byte
}

// send sends one request; an error is a transport failure (no answer).
func (g *loadgen) send(ctx context.Context, town, svc, method, path, token string, body io.Reader, ctype string, hdr map[string]string) (answer, error) {
	u := g.url(ctx, town, svc, path, false)
	if u == "" {
		return answer{}, errors.New("no pod address")
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return answer{}, err
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if token != "" {
		req.Header.Set("X-Session-Token", token)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	n := g.inflight(town, svc)
	n.Add(1)
	resp, err := g.http.Do(req)
	n.Add(-1)
	if err != nil {
		g.c.podIP(ctx, town, svc, true) // the pod may have moved
		return answer{}, err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, hdr: resp.Header, body: data}, nil
}

// inflight counts the requests to a town's service that are waiting for
// their answer (the service is working on them).
func (g *loadgen) inflight(town, svc string) *atomic.Int64 {
	v, _ := g.busy.LoadOrStore(town+"/"+svc, new(atomic.Int64))
	return v.(*atomic.Int64)
}

func (g *loadgen) sendJSON(ctx context.Context, town, svc, method, path, token string, in any) (answer, error) {
	b, _ := json.Marshal(in)
	return g.send(ctx, town, svc, method, path, token, bytes.NewReader(b), "application/json", nil)
}

func (g *loadgen) curPhase() string { return g.phase.Load().(string) }

// processes runs one process after the other in the village of p until ctx
// ends. A step whose answer was lost is sent again (a client's retry): the
// second answer is 200 if the first did not apply, 409 if it did.
func (g *loadgen) processes(ctx context.Context, p people) {
	for g.going(ctx) {
		n := g.seq.Add(1)
		title := fmt.Sprintf("混沌测试 %s-%d 村民代表会议误餐费", g.run, n)
		phase := g.curPhase()
		a, err := g.sendJSON(ctx, p.town, "workflow", http.MethodPost, "/v1/villages/"+p.village+"/instances", p.tokens["committee-member"],
			map[string]any{"itemId": "funds-non-productive-spending", "title": title, "amountFen": 10_000 + n})
		if ctx.Err() != nil {
			return
		}
		o := op{phase: phase, kind: "start", town: p.town, village: p.village, marker: title}
		var inst struct {
			ID string `json:"id"`
		}
		switch {
		case err == nil && a.status == http.StatusCreated && json.Unmarshal(a.body, &inst) == nil && inst.ID != "":
			o.outcome, o.instance = accepted, inst.ID
		case err != nil || a.status >= 500:
			o.outcome, o.why = unknown, failure(a, err)
		default:
			o.outcome, o.why = refused, failure(a, err)
		}
		g.led.add(o)
		if o.outcome != accepted {
			sleep(ctx, 500*time.Millisecond)
			continue
		}
		for _, sr := range stepRoles {
			sleep(ctx, g.pace)
			if !g.going(ctx) || !g.step(ctx, p, inst.ID, sr.step, sr.role) {
				break
			}
		}
		sleep(ctx, g.pace)
	}
}

// step completes one step, retrying while there is no answer; false when
// the process cannot go on.
func (g *loadgen) step(ctx context.Context, p people, id, step, role string) bool {
	lost := false
	for backoff := 200 * time.Millisecond; ctx.Err() == nil; backoff = min(backoff*2, 2*time.Second) {
		phase := g.curPhase()
		busy := g.inflight(p.town, "workflow-step")
		busy.Add(1)
		a, err := g.sendJSON(ctx, p.town, "workflow", http.MethodPost, "/v1/instances/"+id+"/steps/"+step+"/complete", p.tokens[role],
			map[string]any{"note": "混沌测试"})
		busy.Add(-1)
		if ctx.Err() != nil {
			if err != nil || a.status >= 500 {
				g.led.add(op{phase: phase, kind: "step", town: p.town, village: p.village, instance: id, step: step, outcome: unknown, why: failure(a, err)})
			}
			return false
		}
		o := op{phase: phase, kind: "step", town: p.town, village: p.village, instance: id, step: step}
		switch {
		case err == nil && a.status == http.StatusOK:
			o.outcome = accepted
			g.led.add(o)
			return true
		case err != nil || a.status >= 500:
			o.outcome, o.why, lost = unknown, failure(a, err), true
			g.led.add(o)
			sleep(ctx, backoff)
			continue
		case a.status == http.StatusConflict && lost:
			// The lost attempt applied: the process is past this step.
			o.outcome, o.why = refused, "409 on the retry (the unanswered attempt had applied)"
			g.led.add(o)
			return true
		default:
			o.outcome, o.why = refused, failure(a, err)
			g.led.add(o)
			return false
		}
	}
	return false
}

var (
	trackingCodeRe = regexp.MustCompile(`id="tracking-code">(TS-[0-9]{3}-[0-9A-Z]{4}-[0-9A-Z]{4})<`)
	powRe          = regexp.MustCompile(`id="pow"[^>]*data-token="([^"]+)"[^>]*data-seed="([^"]+)"[^>]*data-difficulty="([0-9]+)"`)
)

// complaints files reports on the public report page of the town's
// villages, one a second, each from its own client address (the host is a
// trusted proxy, as the gateway is, so X-Forwarded-For names the client);
// a flooded village's challenge is solved as the page's script would.
// Reports are not sent twice: a report page has no idempotency key, so an
// unanswered report stays unknown (and is still counted in the books).
func (g *loadgen) complaints(ctx context.Context, town string) {
	vs := g.staff[town]
	for i := 0; g.going(ctx); i++ {
		p := vs[i%len(vs)]
		n := g.seq.Add(1)
		marker := fmt.Sprintf("HD-%s-%d", g.run, n)
		form := url.Values{"category": {"funds"}, "description": {"混沌测试举报 " + marker + "：村务开支不实，请核查。"}}
		client := g.clients.Add(1)
		hdr := map[string]string{"X-Forwarded-For": fmt.Sprintf("10.%d.%d.%d", 64+client>>16&63, client>>8&255, client&255)}
		phase := g.curPhase()
		o := op{phase: phase, kind: "complaint", town: town, village: p.village, marker: marker}
		for attempt := 0; attempt < 3; attempt++ {
			a, err := g.send(ctx, town, "complaint", http.MethodPost, "/r/"+p.village, "", strings.NewReader(form.Encode()), "application/x-www-form-urlencoded", hdr)
			if ctx.Err() != nil && (err != nil || a.status >= 500) {
				o.outcome, o.why = unknown, failure(a, err)
				break
			}
			switch {
			case err != nil || a.status >= 500:
				o.outcome, o.why = unknown, failure(a, err)
			case a.status == http.StatusCreated:
				o.outcome = accepted
				if m := trackingCodeRe.FindSubmatch(a.body); m != nil {
					o.tracking = string(m[1])
				}
			case a.status == http.StatusPreconditionRequired:
				m := powRe.FindSubmatch(a.body)
				if m == nil {
					o.outcome, o.why = refused, "428 without a challenge"
					break
				}
				d, _ := strconv.Atoi(string(m[3]))
				tok := html.UnescapeString(string(m[1]))
				nonce := solvePoW(html.UnescapeString(string(m[2])), d)
				form.Set("pow_token", tok)
				form.Set("pow_nonce", nonce)
				hdr["X-Wuxiao-Challenge"], hdr["X-Wuxiao-Nonce"] = tok, nonce
				continue
			default:
				o.outcome, o.why = refused, failure(a, err)
			}
			break
		}
		g.led.add(o)
		sleep(ctx, time.Second)
	}
}

// solvePoW finds the decimal nonce whose SHA-256(seed+nonce) starts with
// difficulty zero bits, as the report page's script does.
func solvePoW(seed string, difficulty int) string {
	for i := 0; ; i++ {
		n := strconv.Itoa(i)
		sum := sha256.Sum256([]byte(seed + n))
		zeros := 0
		for _, b := range sum {
			if b == 0 {
				zeros += 8
				continue
			}
			zeros += bits.LeadingZeros8(b)
			break
		}
		if zeros >= difficulty {
			return n
		}
	}
}

// portal reads the village portals of the town (disclosure) five times a
// second; failures are counted, not books.
func (g *loadgen) portal(ctx context.Context, town string) {
	vs := g.staff[town]
	for i := 0; g.going(ctx); i++ {
		a, err := g.send(ctx, town, "disclosure", http.MethodGet, "/v/"+vs[i%len(vs)].village, "", nil, "", nil)
		if ctx.Err() != nil {
			return
		}
		g.led.reads.Add(1)
		if err != nil || a.status != http.StatusOK {
			g.led.readFailed(g.curPhase(), town, failure(a, err))
		} else {
			g.led.ok(town+"/read", time.Now())
		}
		sleep(ctx, 200*time.Millisecond)
	}
}

// start runs the load until ctx ends; wait for the returned WaitGroup.
func (g *loadgen) start(ctx context.Context, workersPerTown int) *sync.WaitGroup {
	g.stopping.Store(false)
	var wg sync.WaitGroup
	for _, town := range g.towns {
		for i := 0; i < workersPerTown; i++ {
			p := g.staff[town][i%len(g.staff[town])]
			wg.Go(func() { g.processes(ctx, p) })
		}
		wg.Go(func() { g.complaints(ctx, town) })
		wg.Go(func() { g.portal(ctx, town) })
	}
	return &wg
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// ------------------------------------------------------------------ Kratos

type kratosAdmin struct {
	admin, public *kratos.APIClient
}

func newKratosAdmin(publicURL, adminURL string) kratosAdmin {
	mk := func(u string) *kratos.APIClient {
		c := kratos.NewConfiguration()
		c.Servers = kratos.ServerConfigurations{{URL: u}}
		return kratos.NewAPIClient(c)
	}
	return kratosAdmin{admin: mk(adminURL), public: mk(publicURL)}
}

const chaosPassword = "wuxiao-chaos-password-2026" //nolint:gosec // G101: the password of the suite's own test accounts

// newSession creates an official with role in town/village (town roles
// without a village) and returns a session token.
func (k kratosAdmin) newSession(ctx context.Context, role, town, village, run string) (string, error) {
	email := fmt.Sprintf("chaos-%s-%s-%s@%s.chaos.wuxiao.invalid", run, role, village, town)
	meta := map[string]any{"role": role, "town": town}
	if village != "" {
		meta["village"] = village
	}
	pw := chaosPassword
	body := kratos.CreateIdentityBody{
		SchemaId: "default", Traits: map[string]any{"email": email, "name": "混沌测试 " + role},
		MetadataPublic: meta,
		Credentials: &kratos.IdentityWithCredentials{Password: &kratos.IdentityWithCredentialsPassword{
			Config: &kratos.IdentityWithCredentialsPasswordConfig{Password: &pw}}},
	}
	if _, resp, err := k.admin.IdentityAPI.CreateIdentity(ctx).CreateIdentityBody(body).Execute(); err != nil {
		return "", fmt.Errorf("creating a %s: %w", role, kratosErr(resp, err))
	}
	flow, resp, err := k.public.FrontendAPI.CreateNativeLoginFlow(ctx).Execute()
	if err != nil {
		return "", fmt.Errorf("login flow: %w", kratosErr(resp, err))
	}
	b := kratos.UpdateLoginFlowWithPasswordMethodAsUpdateLoginFlowBody(kratos.NewUpdateLoginFlowWithPasswordMethod(email, "password", pw))
	done, resp, err := k.public.FrontendAPI.UpdateLoginFlow(ctx).Flow(flow.Id).UpdateLoginFlowBody(b).Execute()
	if err != nil || done.SessionToken == nil {
		return "", fmt.Errorf("signing in %s: %w", email, kratosErr(resp, errors.Join(err, errors.New("no session token"))))
	}
	return *done.SessionToken, nil
}

func kratosErr(resp *http.Response, err error) error {
	if resp != nil && resp.Body != nil {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("%w: %s", err, bytes.TrimSpace(b))
	}
	return err
}
