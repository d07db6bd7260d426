package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
)

// The books of one phase, read from the towns' databases (wuxiao_<town>)
// once the outboxes are drained and the consumers have caught up:
//
//   - a process start: instances with its title (the title is unique per
//     request): 0 for an accepted start is lost, 2 or more applied twice;
//   - a step: step.completed audit rows of the instance for that step: 0
//     for an accepted step is lost, 2 or more applied twice (every step of
//     the phase's instances, accepted or not, is counted for the latter);
//     the disclosure portal's copy (disclosure.process_steps) likewise;
//   - a report: complaints with its tracking code (accepted) and with its
//     marker in the description (any outcome, for applied twice);
//   - events: every outbox row of the phase published, and in the inbox of
//     every consumer of its topic (the inbox's key makes a second copy
//     impossible, so twice is read on the projections above);
//   - the audit chains: the inspection service's sweep of the town's trails
//     against its anchors (GET /v1/audit/verify) shows none broken.
type books struct {
	accepted, lost, twice, unknown int
	problems                       []string
}

func (b *books) lose(format string, args ...any) {
	b.lost++
	b.problem(format, args...)
}

func (b *books) double(format string, args ...any) {
	b.twice++
	b.problem(format, args...)
}

func (b *books) problem(format string, args ...any) {
	if len(b.problems) < 20 {
		b.problems = append(b.problems, fmt.Sprintf(format, args...))
	}
}

func (s *suite) dbOf(ctx context.Context, town string) (*pgx.Conn, error) {
	return pgx.Connect(ctx, strings.Replace(s.pgURL, "/postgres?", "/wuxiao_"+town+"?", 1))
}

// drain waits until every outbox row written since since is published and
// in the inbox of each of its topic's consumers, in every loaded town.
func (s *suite) drain(ctx context.Context, since time.Time, deadline time.Duration) (time.Duration, error) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	var last string
	for {
		pending := 0
		last = ""
		for _, town := range s.towns {
			n, what, err := s.undelivered(ctx, town, since)
			if err != nil {
				last = err.Error()
				pending++
				continue
			}
			pending += n
			if n > 0 {
				last += fmt.Sprintf("%s: %s; ", town, what)
			}
		}
		if pending == 0 {
			return time.Since(start), nil
		}
		select {
		case <-ctx.Done():
			return time.Since(start), fmt.Errorf("not drained after %s: %s", deadline, last)
		case <-time.After(time.Second):
		}
	}
}

var outboxes = []string{"workflow", "complaint", "disclosure", "inspection"}

// subscriptions: the inbox consumers that read each service's topic,
// found from the data (a consumer of a topic holds some of its events).
func subscriptions(ctx context.Context, db *pgx.Conn) (map[string][][2]string, error) {
	out := map[string][][2]string{}
	for _, src := range outboxes {
		for _, dst := range outboxes {
			rows, err := db.Query(ctx, fmt.Sprintf(`SELECT DISTINCT i.consumer FROM %s.outbox o JOIN %s.inbox i USING (event_id)
				WHERE o.topic NOT LIKE '%%tenant%%'`, src, dst))
			if err != nil {
				return nil, err
			}
			consumers, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				return nil, err
			}
			for _, c := range consumers {
				out[src] = append(out[src], [2]string{dst, c})
			}
		}
	}
	return out, nil
}

// undelivered counts the events since since that are not published or not
// in a consumer's inbox yet.
func (s *suite) undelivered(ctx context.Context, town string, since time.Time) (int, string, error) {
	db, err := s.dbOf(ctx, town)
	if err != nil {
		return 0, "", err
	}
	defer db.Close(ctx)
	subs, err := subscriptions(ctx, db)
	if err != nil {
		return 0, "", err
	}
	total, what := 0, ""
	for _, src := range outboxes {
		var n int
		if err := db.QueryRow(ctx, fmt.Sprintf(`SELECT count(*) FROM %s.outbox WHERE created_at >= $1 AND published_at IS NULL AND quarantined_at IS NULL`, src), since).Scan(&n); err != nil {
			return 0, "", err
		}
		if n > 0 {
			total += n
			what += fmt.Sprintf("%d unpublished in %s; ", n, src)
		}
		for _, sub := range subs[src] {
			if err := db.QueryRow(ctx, fmt.Sprintf(`SELECT count(*) FROM %s.outbox o WHERE o.created_at >= $1 AND o.topic NOT LIKE '%%tenant%%'
				AND NOT EXISTS (SELECT 1 FROM %s.inbox i WHERE i.consumer = $2 AND i.event_id = o.event_id)`, src, sub[0]), since, sub[1]).Scan(&n); err != nil {
				return 0, "", err
			}
			if n > 0 {
				total += n
				what += fmt.Sprintf("%d of %s not in %s; ", n, src, sub[1])
			}
		}
	}
	return total, what, nil
}

// check reads the books of the phase's operations.
func (s *suite) check(ctx context.Context, ops []op, since time.Time) (*books, error) {
	b := &books{}
	byTown := map[string][]op{}
	for _, o := range ops {
		byTown[o.town] = append(byTown[o.town], o)
		switch o.outcome {
		case accepted:
			b.accepted++
		case unknown:
			b.unknown++
		}
	}
	for town, ops := range byTown {
		if err := s.checkTown(ctx, b, town, ops, since); err != nil {
			return nil, fmt.Errorf("%s: %w", town, err)
		}
	}
	for _, town := range s.towns {
		if err := s.verifyAudit(ctx, b, town); err != nil {
			return nil, fmt.Errorf("%s audit: %w", town, err)
		}
	}
	return b, nil
}

func (s *suite) checkTown(ctx context.Context, b *books, town string, ops []op, since time.Time) error {
	db, err := s.dbOf(ctx, town)
	if err != nil {
		return err
	}
	defer db.Close(ctx)
	count := func(q string, args ...any) int {
		var n int
		if err2 := db.QueryRow(ctx, q, args...).Scan(&n); err2 != nil && err == nil {
			err = err2
		}
		return n
	}
	instances := map[string]bool{}
	steps := map[[2]string]bool{}
	for _, o := range ops {
		switch o.kind {
		case "start":
			rows, err2 := db.Query(ctx, `SELECT id::text FROM workflow.instances WHERE doc->>'title' = $1`, o.marker)
			if err2 != nil {
				return err2
			}
			ids, err2 := pgx.CollectRows(rows, pgx.RowTo[string])
			if err2 != nil {
				return err2
			}
			switch {
			case len(ids) == 0 && o.outcome == accepted:
				b.lose("%s: process %q accepted, no instance", town, o.marker)
			case len(ids) > 1:
				b.double("%s: process %q started %d times", town, o.marker, len(ids))
			}
			for _, id := range ids {
				instances[id] = true
			}
		case "step":
			instances[o.instance] = true
			if o.outcome == accepted {
				steps[[2]string{o.instance, o.step}] = true
			}
		case "complaint":
			if o.outcome == accepted {
				if o.tracking == "" {
					b.lose("%s: report %s accepted without a tracking code on the receipt", town, o.marker)
				} else if n := count(`SELECT count(*) FROM complaint.complaints WHERE tracking_code = $1`, o.tracking); n == 0 {
					b.lose("%s: report %s (%s) accepted, not stored", town, o.marker, o.tracking)
				}
			}
			if n := count(`SELECT count(*) FROM complaint.complaints WHERE doc->>'description' LIKE '%' || $1 || '：%'`, o.marker); n > 1 {
				b.double("%s: report %s stored %d times", town, o.marker, n)
			}
		}
	}
	if err != nil {
		return err
	}
	// Every step of the phase's instances: once in the audit trail, once on
	// the portal; the accepted ones at least once.
	for id := range instances {
		rows, err := db.Query(ctx, `SELECT data::jsonb->>'step', count(*) FROM workflow.audit WHERE instance_id = $1 AND action = 'step.completed' GROUP BY 1`, id)
		if err != nil {
			return err
		}
		audit := map[string]int{}
		for rows.Next() {
			var st string
			var n int
			if err := rows.Scan(&st, &n); err != nil {
				return err
			}
			audit[st] = n
		}
		rows.Close()
		rows, err = db.Query(ctx, `SELECT step_id, count(*) FROM disclosure.process_steps WHERE instance_id = $1 GROUP BY 1`, id)
		if err != nil {
			return err
		}
		portal := map[string]int{}
		for rows.Next() {
			var st string
			var n int
			if err := rows.Scan(&st, &n); err != nil {
				return err
			}
			portal[st] = n
		}
		rows.Close()
		for st, n := range audit {
			if n > 1 {
				b.double("%s: instance %s step %s audited %d times", town, id, st, n)
			}
			if portal[st] > 1 {
				b.double("%s: instance %s step %s on the portal %d times", town, id, st, portal[st])
			}
		}
		for _, sr := range stepRoles {
			if !steps[[2]string{id, sr.step}] {
				continue
			}
			if audit[sr.step] == 0 {
				b.lose("%s: instance %s step %s accepted, not in the audit trail", town, id, sr.step)
			} else if portal[sr.step] == 0 {
				b.lose("%s: instance %s step %s accepted, not on the portal (disclosure)", town, id, sr.step)
			}
		}
	}
	// Events: nothing of the phase left unpublished or unconsumed.
	if n, what, err := s.undelivered(ctx, town, since); err != nil {
		return err
	} else if n > 0 {
		b.lost += n
		b.problem("%s: events: %s", town, what)
	}
	return nil
}

// verifyAudit asks the town's inspection service to verify every audit
// trail of the town against its anchors.
func (s *suite) verifyAudit(ctx context.Context, b *books, town string) error {
	tok, ok := s.discipline[town]
	if !ok {
		var err error
		if tok, err = s.kr.newSession(ctx, "town-discipline", town, "", s.run); err != nil {
			return err
		}
		s.discipline[town] = tok
	}
	var a answer
	var err error
	for attempt := 0; attempt < 10; attempt++ {
		if a, err = s.g.send(ctx, town, "inspection", http.MethodGet, "/v1/audit/verify", tok, nil, "", nil); err == nil && a.status == http.StatusOK {
			break
		}
		time.Sleep(2 * time.Second)
	}
	if err != nil {
		return err
	}
	if a.status != http.StatusOK {
		return fmt.Errorf("GET /v1/audit/verify: status %d: %s", a.status, a.body)
	}
	var out struct {
		Instances int               `json:"instances"`
		Valid     int               `json:"valid"`
		Broken    []json.RawMessage `json:"broken"`
	}
	if err := json.Unmarshal(a.body, &out); err != nil {
		return fmt.Errorf("GET /v1/audit/verify: %w: %s", err, a.body)
	}
	if len(out.Broken) > 0 {
		b.problem("%s: %d of %d audit trails broken: %s", town, len(out.Broken), out.Instances, out.Broken[0])
		s.brokenTrails += len(out.Broken)
	}
	s.trails[town] = out.Instances
	return nil
}

// --------------------------------------------------------- the villages

const chaosVillages = 30

func (s *suite) villageCodes() []string {
	var out []string
	for i := 0; i < chaosVillages; i++ {
		out = append(out, fmt.Sprintf("%s%03d", s.townCode[:9], s.villageBase+i))
	}
	return out
}

func (s *suite) applyVillages(ctx context.Context) error {
	for i, code := range s.villageCodes() {
		v := &wuxiaov1.Village{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("chaos-%s", code[9:]), Namespace: "town-" + s.town},
			Spec: wuxiaov1.VillageSpec{
				Code: code, Kind: "village", DisplayName: fmt.Sprintf("混沌测试%02d村", i+1),
				Officials: []wuxiaov1.Official{
					{ID: "secretary", Name: "混沌书记", Role: "secretary", Phone: fmt.Sprintf("139%04d%04d", s.villageBase, i)},
					{ID: "director", Name: "混沌主任", Role: "director", Phone: fmt.Sprintf("139%04d%04d", s.villageBase, 100+i)},
				},
			},
		}
		if err := s.c.kube.Create(ctx, v); err != nil {
			return fmt.Errorf("creating village %s: %w", code, err)
		}
	}
	return nil
}

func (s *suite) readyVillages(ctx context.Context) int {
	var list wuxiaov1.VillageList
	if err := s.c.kube.List(ctx, &list, client.InNamespace("town-"+s.town)); err != nil {
		return -1
	}
	n := 0
	for _, v := range list.Items {
		if strings.HasPrefix(v.Name, "chaos-") && v.DeletionTimestamp == nil {
			for _, c := range v.Status.Conditions {
				if c.Type == "Ready" && c.Status == metav1.ConditionTrue {
					n++
				}
			}
		}
	}
	return n
}

// checkVillages: every new village Ready, its officials' identities and
// its QR ConfigMap exactly once.
func (s *suite) checkVillages(ctx context.Context, b *books) (string, error) {
	ready := s.readyVillages(ctx)
	b.accepted += chaosVillages
	if ready < chaosVillages {
		b.lose("%d of %d villages Ready", ready, chaosVillages)
	}
	var cms corev1.ConfigMapList
	if err := s.c.kube.List(ctx, &cms, client.InNamespace("town-"+s.town)); err != nil {
		return "", err
	}
	qr := map[string]int{}
	for _, cm := range cms.Items {
		if v := cm.Labels["wuxiao.io/village"]; v != "" {
			qr[v]++
		}
	}
	ids, err := s.kr.identitiesByVillage(ctx)
	if err != nil {
		return "", err
	}
	// Each official's first sign-in code, in the village's Secret of the
	// town's recovery namespace: a missing one is a hand-over lost.
	var secrets corev1.SecretList
	if err := s.c.kube.List(ctx, &secrets, client.InNamespace(wuxiaov1.TownRecoveryNamespace(s.town))); err != nil {
		return "", err
	}
	codes := map[string]int{}
	for _, sec := range secrets.Items {
		if code, ok := strings.CutPrefix(sec.Name, "village-"); ok {
			codes[code] = len(sec.Data)
		}
	}
	nIDs, nQR, nCodes := 0, 0, 0
	for _, code := range s.villageCodes() {
		nIDs, nQR, nCodes = nIDs+ids[code], nQR+qr[code], nCodes+codes[code]
		if n := codes[code]; n < 2 {
			b.lose("village %s: %d of 2 first sign-in codes", code, n)
		}
		switch n := qr[code]; {
		case n == 0:
			b.lose("village %s: no QR ConfigMap", code)
		case n > 1:
			b.double("village %s: %d QR ConfigMaps", code, n)
		}
		switch n := ids[code]; {
		case n < 2:
			b.lose("village %s: %d of 2 identities", code, n)
		case n > 2:
			b.double("village %s: %d identities for 2 officials", code, n)
		}
	}
	return fmt.Sprintf("after: %d/%d Ready, %d identities and %d first sign-in codes for %d officials, %d QR ConfigMaps", ready, chaosVillages, nIDs, nCodes, 2*chaosVillages, nQR), nil
}

// deleteVillages removes the suite's villages and waits until they are
// gone (the operator's finalizer archives them).
func (s *suite) deleteVillages(ctx context.Context) error {
	var list wuxiaov1.VillageList
	if err := s.c.kube.List(ctx, &list, client.InNamespace("town-"+s.town)); err != nil {
		return err
	}
	for i := range list.Items {
		if strings.HasPrefix(list.Items[i].Name, "chaos-") {
			if err := s.c.kube.Delete(ctx, &list.Items[i]); err != nil {
				return err
			}
		}
	}
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		if err := s.c.kube.List(ctx, &list, client.InNamespace("town-"+s.town)); err == nil {
			left := 0
			for _, v := range list.Items {
				if strings.HasPrefix(v.Name, "chaos-") {
					left++
				}
			}
			if left == 0 {
				return nil
			}
		}
		time.Sleep(time.Second)
	}
	return fmt.Errorf("chaos villages still there after 3 minutes")
}

// identitiesByVillage counts the operator's identities per village code
// (metadata_admin.village, managedBy wuxiao-operator).
func (k kratosAdmin) identitiesByVillage(ctx context.Context) (map[string]int, error) {
	out := map[string]int{}
	token := ""
	for {
		req := k.admin.IdentityAPI.ListIdentities(ctx).PageSize(500)
		if token != "" {
			req = req.PageToken(token)
		}
		ids, resp, err := req.Execute()
		if err != nil {
			return nil, kratosErr(resp, err)
		}
		for _, id := range ids {
			m, _ := id.MetadataAdmin.(map[string]any)
			if m["managedBy"] == "wuxiao-operator" {
				if v, _ := m["village"].(string); v != "" {
					out[v]++
				}
			}
		}
		token = nextPageToken(resp)
		if token == "" || len(ids) == 0 {
			return out, nil
		}
	}
}

// nextPageToken reads Kratos' Link header (rel="next").
func nextPageToken(resp *http.Response) string {
	if resp == nil {
		return ""
	}
	for _, part := range strings.Split(resp.Header.Get("Link"), ",") {
		if !strings.Contains(part, `rel="next"`) {
			continue
		}
		i, j := strings.Index(part, "<"), strings.Index(part, ">")
		if i < 0 || j < i {
			continue
		}
		if u, err := url.Parse(part[i+1 : j]); err == nil {
			return u.Query().Get("page_token")
		}
	}
	return ""
}
