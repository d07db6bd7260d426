//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
)

// The district's whole story, in the order the issue tells it, on a town and
// a village this test applies itself:
//
//  1. a Town and a Village are applied: the town's four services run as pods
//     and the village is live in each of them;
//  2. the district gateway routes the village's portal and report page to
//     the new town;
//  3. the village's cadres sign in through the gateway in a phone browser:
//     each opens the link the operator left for the town's IT staff, enters
//     the one-time code, chooses a password and lands on the console;
//  4. they run a 小资金 process (非生产性开支) whose reimbursement step goes
//     overdue: the workflow service's timer raises a violation warning and
//     the inspection service lowers the village's points;
//  5. the portal shows the process at its current step, with the warning;
//  6. a villager follows the portal's 码上举报 link and files a complaint,
//     which the town's discipline office finds substantiated: the village's
//     grade drops to C and a 预警通知书 is issued;
//  7. one trace in the collected spans runs from the complaint's intake
//     through Kafka to the grade change;
//  8. the process completes and the portal's wallet shows the payment;
//  9. the Village is deleted: it is archived in every service, its officials'
//     identities are deactivated, and everything it recorded is still there.
//
// Days cannot pass in a test: step 4 moves the one step's deadline (and its
// escalation timer) into the past in the town's workflow database, the only
// thing this test does outside the APIs. Everything after that is the
// services' own doing.
//
// The town weighs a substantiated complaint at −25 points (its rating rules,
// from a ConfigMap its Town names), so that one complaint moves a village of
// 98 points to C; with the default rules (−5) it would take five.
func TestDistrictStory(t *testing.T) {
	st := &story{}
	steps := []struct {
		name string
		run  func(*story, *testing.T)
	}{
		{"1-apply-town-and-village", (*story).applyTownAndVillage},
		{"2-gateway-routes-the-town", (*story).gatewayRoutesTown},
		{"3-cadres-sign-in-in-the-browser", (*story).cadresSignIn},
		{"4-overdue-step-lowers-points", (*story).overdueStepLowersPoints},
		{"5-portal-shows-current-step", (*story).portalShowsCurrentStep},
		{"6-complaint-drops-grade-to-C", (*story).complaintDropsGrade},
		{"7-one-trace-intake-to-grade", (*story).oneTraceIntakeToGrade},
		{"8-payment-on-the-portal", (*story).paymentOnThePortal},
		{"9-delete-village-loses-nothing", (*story).deleteVillageLosesNothing},
	}
	t.Cleanup(func() { st.cleanup(t) })
	for _, s := range steps {
		start := time.Now()
		ok := t.Run(s.name, func(t *testing.T) { s.run(st, t) })
		t.Logf("step %s: %s", s.name, time.Since(start).Round(100*time.Millisecond))
		if !ok {
			t.FailNow()
		}
	}
}

// story is what the steps hand on to each other.
type story struct {
	town, townCode string
	village        wuxiaov1.Village
	cadres         village
	discipline     string // session of the town's discipline office
	inst           instance
	amountFen      int64
	complaintID    string
	trackingCode   string // the reporter's key: never shown to the village
	intakeTrace    string
	notice         string
	// records read before the deletion, compared after it
	before map[string][]byte
}

const storyRules = `# The e2e town weighs a substantiated complaint heavily (see story_test.go).
kinds:
  complaint:
    label: 信访举报
    subkinds:
      substantiated: {label: 经查属实, points: -25}
      partly-substantiated: {label: 经查部分属实, points: -10}
      unsubstantiated: {label: 经查不属实, points: 0}
      accepted: {label: 已受理, points: 0}
`

func (st *story) applyTownAndVillage(t *testing.T) {
	ctx := t.Context()
	var district wuxiaov1.District
	var towns wuxiaov1.TownList
	if err := env.kube.List(ctx, &towns); err != nil {
		t.Fatal(err)
	}
	if len(towns.Items) == 0 {
		t.Fatal("no Town in the cluster: the district is not up")
	}
	if err := env.kube.Get(ctx, client.ObjectKey{Name: towns.Items[0].Spec.District}, &district); err != nil {
		t.Fatal(err)
	}
	// A town code of the district no Town uses (9xx, after the sample
	// towns) and a name never used before: a Town's database, topics and
	// identities outlive it, and this run must start from nothing.
	used := map[string]bool{}
	for _, tw := range towns.Items {
		used[tw.Spec.Code] = true
	}
	prefix := towns.Items[0].Spec.Code[:6]
	first := int(time.Now().UnixNano() % 100)
	for i := 0; i < 100 && st.town == ""; i++ {
		if code := fmt.Sprintf("%s%03d000", prefix, 900+(first+i)%100); !used[code] {
			st.townCode, st.town = code, "e2e"+randomSuffix()
		}
	}
	if st.town == "" {
		t.Fatalf("every town code %s900000-%s999000 is taken: delete old e2e Towns", prefix, prefix)
	}
	t.Logf("town %s (%s)", st.town, st.townCode)

	// The town's rating rules, in a ConfigMap beside the operator.
	rulesCM := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: "wuxiao-system", Name: "rating-rules-" + st.town,
			Labels: map[string]string{wuxiaov1.RatingRulesLabel: "true"}}, // edits reach the town at once
		Data: map[string]string{"rules.yaml": storyRules},
	}
	if err := env.kube.Create(ctx, rulesCM); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	var services []wuxiaov1.ServiceTemplate
	for _, s := range []wuxiaov1.ServiceName{"workflow", "disclosure", "complaint", "inspection"} {
		services = append(services, wuxiaov1.ServiceTemplate{Name: s, Replicas: ptr.To[int32](1),
			Resources: &corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("32Mi")},
				Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi")},
			}})
	}
	town := &wuxiaov1.Town{
		ObjectMeta: metav1.ObjectMeta{Name: st.town},
		Spec: wuxiaov1.TownSpec{
			District: district.Name, Code: st.townCode, Kind: wuxiaov1.TownKindTown, DisplayName: "端到端测试镇",
			Services:        services,
			RatingRulesRef:  &wuxiaov1.ConfigMapKeyRef{Namespace: rulesCM.Namespace, Name: rulesCM.Name, Key: "rules.yaml"},
			PreventDeletion: ptr.To(false), // the test deletes it when done
		},
	}
	start := time.Now()
	if err := env.kube.Create(ctx, town); err != nil {
		t.Fatalf("applying Town %s: %v", st.town, err)
	}
	// The Village as town IT staff would write it: every role the 小资金
	// process needs, and a liaison officer.
	code := st.townCode[:9] + "201"
	official := func(id, name string, role wuxiaov1.OfficialRole) wuxiaov1.Official {
		return wuxiaov1.Official{ID: id, Name: name, Role: role, Email: id + "@" + st.town + ".e2e.wuxiao.invalid"}
	}
	st.village = wuxiaov1.Village{
		ObjectMeta: metav1.ObjectMeta{Namespace: "town-" + st.town, Name: "ceshi"},
		Spec: wuxiaov1.VillageSpec{
			Code: code, Kind: wuxiaov1.VillageKindVillage, DisplayName: "测试村",
			Officials: []wuxiaov1.Official{
				official("wang-shuji", "王书记", wuxiaov1.RoleSecretary),
				official("li-zhuren", "李主任", wuxiaov1.RoleDirector),
				official("zhao-weiyuan", "赵委员", wuxiaov1.RoleCommitteeMember),
				official("qian-baozhang", "钱报账", wuxiaov1.RoleAccountant),
				official("sun-jiandu", "孙监督", wuxiaov1.RoleSupervisionChair),
				official("zhou-lianluo", "周联络", wuxiaov1.RoleLiaisonOfficer),
			},
		},
	}
	// The namespace is the operator's: wait for it, as a town IT
	// administrator waits for the town to be onboarded.
	eventually(t, "namespace town-"+st.town, 2*time.Minute, func() error {
		return env.kube.Get(ctx, client.ObjectKey{Name: "town-" + st.town}, &corev1.Namespace{})
	})
	villageApplied := time.Now()
	v := st.village.DeepCopy()
	if err := env.kube.Create(ctx, v); err != nil {
		t.Fatalf("applying Village: %v", err)
	}

	eventually(t, "Town "+st.town+" Ready", 5*time.Minute, func() error {
		var tw wuxiaov1.Town
		if err := env.kube.Get(ctx, client.ObjectKey{Name: st.town}, &tw); err != nil {
			return err
		}
		if !ready(tw.Status.Conditions) {
			return fmt.Errorf("not Ready: %s", conditionSummary(tw.Status.Conditions))
		}
		return nil
	})
	t.Logf("Town Ready %s after it was applied", time.Since(start).Round(time.Second))
	var pods corev1.PodList
	if err := env.kube.List(ctx, &pods, client.InNamespace("town-"+st.town)); err != nil {
		t.Fatal(err)
	}
	running := map[string]bool{}
	for _, p := range pods.Items {
		if p.Status.Phase == corev1.PodRunning && podReady(&p) {
			running[p.Labels["app.kubernetes.io/name"]] = true
		}
	}
	for _, s := range []string{"workflow", "disclosure", "complaint", "inspection"} {
		if !running[s] && !running["wuxiao-"+s] {
			t.Errorf("no ready pod of %s in town-%s (pods: %v)", s, st.town, running)
		}
	}

	eventually(t, "Village "+code+" live in the four services", 5*time.Minute, func() error {
		if err := env.kube.Get(ctx, client.ObjectKeyFromObject(&st.village), &st.village); err != nil {
			return err
		}
		s := st.village.Status
		if !ready(s.Conditions) || s.Live != "4/4" {
			return fmt.Errorf("Ready %v, live %q: %s", ready(s.Conditions), s.Live, conditionSummary(s.Conditions))
		}
		return nil
	})
	t.Logf("Village live 4/4 %s after it was applied", time.Since(villageApplied).Round(time.Second))
	for _, a := range st.village.Status.Services {
		if !a.Live || a.State != "live" || a.Generation != st.village.Generation {
			t.Errorf("service %s: %+v, want live at generation %d", a.Name, a, st.village.Generation)
		}
	}
	// The QR code points at the village's portal, and the ConfigMap has it
	// as PNG and SVG.
	if !strings.HasSuffix(st.village.Status.PortalURL, "/v/"+code) {
		t.Errorf("portal URL %q does not end in /v/%s", st.village.Status.PortalURL, code)
	}
	var qr corev1.ConfigMap
	if err := env.kube.Get(ctx, client.ObjectKey{Namespace: "town-" + st.town, Name: st.village.Status.QRConfigMap}, &qr); err != nil {
		t.Fatalf("QR ConfigMap %q: %v", st.village.Status.QRConfigMap, err)
	}
	pngOK, svgOK := false, false
	for _, b := range qr.BinaryData {
		pngOK = pngOK || strings.HasPrefix(string(b), "\x89PNG")
	}
	for _, s := range qr.Data {
		svgOK = svgOK || strings.Contains(s, "<svg")
	}
	if !pngOK || !svgOK {
		t.Errorf("QR ConfigMap %s: PNG %v, SVG %v", qr.Name, pngOK, svgOK)
	}
}

// gatewayRoutesTown: the district gateway, the public's way in, finds the
// town applied a moment ago (its watch of Towns and EndpointSlices, no
// restart) and routes the village's portal to its disclosure service and the
// portal's 码上举报 link to its complaint service.
func (st *story) gatewayRoutesTown(t *testing.T) {
	vc := st.village.Spec.Code
	portal := env.gateway + "/v/" + vc
	var page []byte
	eventually(t, "the village portal through the gateway", time.Minute, func() error {
		var code int
		if code, page = get(t, portal); code != http.StatusOK {
			return fmt.Errorf("GET %s: status %d: %.200s", portal, code, page)
		}
		if !strings.Contains(string(page), st.village.Spec.DisplayName) {
			return fmt.Errorf("GET %s: the page does not name %s", portal, st.village.Spec.DisplayName)
		}
		return nil
	})
	m := reportLinkRe.FindSubmatch(page)
	if m == nil || !strings.HasSuffix(string(m[1]), "/r/"+vc) {
		t.Fatalf("the portal through the gateway has no 码上举报 link to /r/%s", vc)
	}
	link, err := url.Parse(portal)
	if err != nil {
		t.Fatal(err)
	}
	if link, err = link.Parse(string(m[1])); err != nil {
		t.Fatal(err)
	}
	if link.Host != strings.TrimPrefix(env.gateway, "http://") {
		t.Fatalf("the portal's report link %s leaves the gateway %s", link, env.gateway)
	}
	if code, form := get(t, link.String()); code != http.StatusOK || !strings.Contains(string(form), "<form") {
		t.Fatalf("the report page %s through the gateway: status %d: %.300s", link, code, form)
	}
	// A village of no town of the district (another district's code) is
	// the gateway's own 404, not some town's page.
	const unknown = "110101001201"
	if code, _ := get(t, env.gateway+"/v/"+unknown); code != http.StatusNotFound {
		t.Fatalf("the portal of village %s, of no town of the district: status %d, want 404", unknown, code)
	}
}

// get is a GET as the public's browser sends it: a plain client, none of
// the API server's credentials.
func get(t *testing.T, u string) (int, []byte) {
	t.Helper()
	c := &http.Client{Timeout: 30 * time.Second}
	resp, err := c.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	return resp.StatusCode, b
}

// cadresSignIn: every official the operator created for the village signs
// in for the first time as a person would, through the gateway in a phone
// browser, with what town IT hands over (link and one-time code from the
// village's Secret in the town's recovery namespace). The session cookie the browser
// got is then the official's session for the rest of the story.
func (st *story) cadresSignIn(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	var sec corev1.Secret
	key := recoverySecret(st.town, st.village.Spec.Code)
	if err := env.kube.Get(ctx, key, &sec); err != nil {
		t.Fatal(err)
	}
	st.cadres = village{name: st.village.Name, code: st.village.Spec.Code, tokens: map[string]string{}, logins: map[string]string{}}
	for _, o := range st.village.Spec.Officials {
		raw, ok := sec.Data[o.ID]
		if !ok {
			t.Fatalf("no hand-over entry for %s in %s (keys: %v)", o.ID, key, slices.Sorted(maps.Keys(sec.Data)))
		}
		var rec struct {
			Login string `json:"login"`
			Code  string `json:"code"`
			Link  string `json:"link"`
		}
		if err := json.Unmarshal(raw, &rec); err != nil {
			t.Fatalf("hand-over entry of %s: %v", o.ID, err)
		}
		// Kratos names the gateway in its links (hack/kratos.sh's
		// WUXIAO_KRATOS_UI_URL): the official never sees Kratos itself.
		if !strings.HasPrefix(rec.Link, env.gateway+"/auth/recovery?flow=") || rec.Code == "" {
			t.Fatalf("hand-over entry of %s: link %q (want %s/auth/recovery?flow=...), code %q", o.ID, rec.Link, env.gateway, rec.Code)
		}
		role := string(o.Role)
		t.Run(role, func(t *testing.T) {
			start := time.Now()
			p := newPage(t)
			cookie := p.firstSignIn(rec.Link, rec.Code, e2ePassword)
			// The console greets the official by name and role.
			if who := p.text(".who"); !strings.Contains(who, o.Name) {
				t.Errorf("the console after the first sign-in greets %q, want %s", who, o.Name)
			}
			if f := p.failedRequests(); len(f) > 0 {
				t.Errorf("requests that failed during the first sign-in: %v", f)
			}
			st.cadres.tokens[role] = "cookie:wuxiao_session=" + cookie
			st.cadres.logins[role] = rec.Login
			sessions.Store(rec.Login, st.cadres.tokens[role])
			t.Logf("%s (%s): first sign-in through the gateway in %s", o.Name, role, time.Since(start).Round(10*time.Millisecond))
		})
	}
	for _, role := range []string{"secretary", "director", "committee-member", "accountant", "supervision-chair", "liaison-officer"} {
		if st.cadres.tokens[role] == "" {
			t.Fatalf("no session for the village's %s", role)
		}
	}
	// The password chosen in the browser is the secretary's: it signs in
	// (Kratos' native flow, as the phone would next time).
	login := st.cadres.logins["secretary"]
	eventually(t, "signing in "+login+" with the password chosen in the browser", 30*time.Second, func() error {
		_, err := env.kratos.tryLogin(ctx, login)
		return err
	})
	// The browser's session carries the scope the operator set: the
	// workflow service answers the secretary for this village and refuses
	// another.
	if code, body := call(t, http.MethodGet, st.url("workflow", "/v1/villages/"+st.village.Spec.Code+"/instances"), st.cadres.tokens["secretary"], nil); code != http.StatusOK {
		t.Fatalf("the secretary listing their village's processes: status %d: %s", code, body)
	}
	other := st.townCode[:9] + "299"
	if code, _ := call(t, http.MethodGet, st.url("workflow", "/v1/villages/"+other+"/instances"), st.cadres.tokens["secretary"], nil); code != http.StatusForbidden {
		t.Fatalf("the secretary listing village %s: status %d, want 403", other, code)
	}
	st.discipline = env.kratos.signInNew(t, ctx, "town-discipline", st.town, "")
}

func (st *story) rating(t *testing.T) (ratingView, error) {
	var r ratingView
	code, body := call(t, http.MethodGet, st.url("inspection", "/v1/villages/"+st.village.Spec.Code+"/rating"), st.discipline, nil)
	if code != http.StatusOK {
		return r, fmt.Errorf("rating: status %d: %s", code, body)
	}
	return r, json.Unmarshal(body, &r)
}

func (st *story) overdueStepLowersPoints(t *testing.T) {
	vc := st.village.Spec.Code
	before, err := st.rating(t)
	if err != nil {
		t.Fatal(err)
	}
	if before.Points != 100 || before.Grade != "A" {
		t.Fatalf("a new village's rating: %d (%s), want 100 (A)", before.Points, before.Grade)
	}
	st.amountFen = 86_000 // 860.00 元 of meeting expenses
	mustJSON(t, http.StatusCreated, http.MethodPost, st.url("workflow", "/v1/villages/"+vc+"/instances"), st.cadres.tokens["committee-member"],
		map[string]any{"itemId": "funds-non-productive-spending", "title": "村民代表会议误餐费 " + randomSuffix(), "amountFen": st.amountFen}, &st.inst)
	for _, s := range stepRoles[:2] { // apply, approval
		var res struct {
			Instance instance `json:"instance"`
		}
		mustJSON(t, http.StatusOK, http.MethodPost, st.url("workflow", "/v1/instances/"+st.inst.ID+"/steps/"+s.step+"/complete"),
			st.cadres.tokens[s.role], map[string]any{"note": "端到端测试"}, &res)
		st.inst = res.Instance
	}
	if st.inst.Current != "reimburse" {
		t.Fatalf("after apply and approval the process is at %q, want reimburse", st.inst.Current)
	}

	// Ten working days pass: the reimbursement's deadline and its
	// escalation timer move into the past.
	past := time.Now().Add(-time.Minute).UTC().Truncate(time.Second)
	st.backdateDeadline(t, st.inst.ID, "reimburse", past)

	eventually(t, "the overdue warning in the workflow service", 2*time.Minute, func() error {
		var out struct {
			Items []struct {
				Rule           string `json:"rule"`
				StepID         string `json:"stepId"`
				TrackingNumber string `json:"trackingNumber"`
				InstanceID     string `json:"instanceId"`
			} `json:"items"`
		}
		code, body := call(t, http.MethodGet, st.url("workflow", "/v1/villages/"+vc+"/warnings"), st.discipline, nil)
		if code != http.StatusOK {
			return fmt.Errorf("status %d: %s", code, body)
		}
		if err := json.Unmarshal(body, &out); err != nil {
			return err
		}
		for _, w := range out.Items {
			if w.Rule == "deadline" && w.StepID == "reimburse" && (w.InstanceID == st.inst.ID || w.TrackingNumber == st.inst.TrackingNumber) {
				return nil
			}
		}
		return fmt.Errorf("%d warnings, no deadline warning on reimburse: %s", len(out.Items), body)
	})
	eventually(t, "the inspection service deducting the overdue step", wait, func() error {
		now, err := st.rating(t)
		if err != nil {
			return err
		}
		for _, c := range now.Contributions {
			if c.Fact.Kind == "warning" && c.Fact.Subkind == "deadline" && c.Fact.Ref == st.inst.TrackingNumber {
				if c.Points >= 0 || now.Points != before.Points+c.Points {
					t.Fatalf("deadline warning counts %d, points %d -> %d", c.Points, before.Points, now.Points)
				}
				t.Logf("points %d (%s) -> %d (%s)", before.Points, before.Grade, now.Points, now.Grade)
				return nil
			}
		}
		return fmt.Errorf("no deadline contribution yet (points %d)", now.Points)
	})
}

// backdateDeadline moves the deadline of the open step of an instance, and
// its escalation timer, to at: the time travel of this test (see above).
func (st *story) backdateDeadline(t *testing.T, instanceID, step string, at time.Time) {
	ctx := t.Context()
	admin := os.Getenv("WUXIAO_TEST_POSTGRES_URL")
	if admin == "" {
		t.Fatal("WUXIAO_TEST_POSTGRES_URL is not set (hack/district.sh env prints it)")
	}
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/wuxiao_" + st.town
	conn, err := pgx.Connect(ctx, u.String())
	if err != nil {
		t.Fatalf("connecting to the town's database: %v", err)
	}
	defer conn.Close(context.Background())
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		var doc map[string]any
		if err := tx.QueryRow(ctx, `SELECT doc FROM workflow.instances WHERE id = $1 FOR UPDATE`, instanceID).Scan(&doc); err != nil {
			return err
		}
		steps, _ := doc["steps"].([]any)
		moved := false
		for _, s := range steps {
			rec, _ := s.(map[string]any)
			if rec["stepId"] == step && rec["completedAt"] == nil {
				rec["dueAt"] = at.Format(time.RFC3339Nano)
				moved = true
			}
		}
		if !moved {
			return fmt.Errorf("no open step %s in %v", step, steps)
		}
		if _, err := tx.Exec(ctx, `UPDATE workflow.instances SET doc = $2 WHERE id = $1`, instanceID, doc); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `UPDATE workflow.timers SET fire_at = $3
			WHERE instance_id = $1 AND step_id = $2 AND kind = 'escalation' AND fired_at IS NULL AND NOT cancelled`, instanceID, step, at)
		if err != nil {
			return err
		}
		if tag.RowsAffected() != 1 {
			return fmt.Errorf("%d escalation timers of step %s, want 1", tag.RowsAffected(), step)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("moving the deadline of %s into the past: %v", step, err)
	}
}

func (st *story) portalShowsCurrentStep(t *testing.T) {
	vc := st.village.Spec.Code
	p := st.url("disclosure", "/v/"+vc+"/processes/"+st.inst.TrackingNumber)
	eventually(t, "the process on the portal at its current step with the warning", wait, func() error {
		code, page := call(t, http.MethodGet, p, "", nil)
		if code != http.StatusOK {
			return fmt.Errorf("status %d", code)
		}
		for _, want := range []string{st.inst.TrackingNumber, "当前步骤<b>凭证报销</b>", "违规预警", "超过办理时限"} {
			if !strings.Contains(string(page), want) {
				return fmt.Errorf("page lacks %q", want)
			}
		}
		return nil
	})
}

// The link is /r/<code>; the API server's proxy rewrites it to its own
// path of the disclosure service, where an ingress would route it to the
// complaint service: the test follows it to the complaint service.
var trackingCodeRe = regexp.MustCompile(`id="tracking-code">(TS-[0-9]{3}-[0-9A-Z]{4}-[0-9A-Z]{4})<`)

var reportLinkRe = regexp.MustCompile(`<a class="report" href="([^"]*/r/[0-9]{12})">码上举报</a>`)

func (st *story) complaintDropsGrade(t *testing.T) {
	vc := st.village.Spec.Code
	// The villager scans the QR code (the portal), follows 码上举报.
	code, page := call(t, http.MethodGet, st.url("disclosure", "/v/"+vc), "", nil)
	if code != http.StatusOK {
		t.Fatalf("portal: status %d", code)
	}
	m := reportLinkRe.FindSubmatch(page)
	if m == nil || !strings.HasSuffix(string(m[1]), "/r/"+vc) {
		t.Fatalf("the portal has no 码上举报 link to /r/%s", vc)
	}
	report := st.url("complaint", "/r/"+vc)
	if code, form := call(t, http.MethodGet, report, "", nil); code != http.StatusOK || !strings.Contains(string(form), "<form") {
		t.Fatalf("report page: status %d", code)
	}
	desc := "端到端测试举报：" + st.inst.TrackingNumber + " 误餐费开支不实，请核查。" + randomSuffix()
	st.intakeTrace = newTraceID()
	tracedHeader.Store(st.intakeTrace)
	receipt := func() []byte {
		defer tracedHeader.Store("")
		return submitReportURL(t, report, url.Values{"category": {"funds"}, "description": {desc}})
	}()
	if !strings.Contains(string(receipt), "举报已提交") {
		t.Fatalf("receipt page lacks 举报已提交")
	}
	tc := trackingCodeRe.FindSubmatch(receipt)
	if tc == nil {
		t.Fatalf("receipt page shows no tracking code")
	}
	st.trackingCode = string(tc[1])

	// The town's discipline office finds it, accepts, investigates and
	// finds it substantiated.
	st.complaintID = findComplaint(t, st.url("complaint", "/v1/villages/"+vc+"/complaints"), st.discipline, desc)
	act := st.url("complaint", "/v1/complaints/"+st.complaintID+"/actions")
	for _, a := range []map[string]any{
		{"action": "accept"},
		{"action": "investigate"},
		{"action": "resolve", "outcome": "substantiated", "summary": "经查属实：误餐费超标准列支，责令退回并在村务公开栏说明。"},
	} {
		mustJSON(t, http.StatusOK, http.MethodPost, act, st.discipline, a, nil)
	}

	eventually(t, "grade C, drafting a 预警通知书", wait, func() error {
		var out struct {
			Items []struct {
				From, To   string
				FromPoints int `json:"fromPoints"`
				ToPoints   int `json:"toPoints"`
				Notice     string
				Because    []struct {
					Fact struct {
						Kind    string `json:"kind"`
						Subkind string `json:"subkind"`
					} `json:"fact"`
					Points int `json:"points"`
				}
			} `json:"items"`
		}
		code, body := call(t, http.MethodGet, st.url("inspection", "/v1/villages/"+vc+"/grade-changes"), st.discipline, nil)
		if code != http.StatusOK {
			return fmt.Errorf("status %d: %s", code, body)
		}
		if err := json.Unmarshal(body, &out); err != nil {
			return err
		}
		for _, g := range out.Items {
			if g.To != "C" {
				continue
			}
			if g.From != "A" || !slices.ContainsFunc(g.Because, func(c struct {
				Fact struct {
					Kind    string `json:"kind"`
					Subkind string `json:"subkind"`
				} `json:"fact"`
				Points int `json:"points"`
			}) bool {
				return c.Fact.Kind == "complaint" && c.Fact.Subkind == "substantiated" && c.Points == -25
			}) {
				t.Fatalf("grade change to C: %s", body)
			}
			t.Logf("grade %s (%d) -> %s (%d)", g.From, g.FromPoints, g.To, g.ToPoints)
			return nil
		}
		return fmt.Errorf("no change to C yet: %s", body)
	})
	// The change drafted the notice; the town's discipline office signs it.
	var drafts struct {
		Items []struct {
			ID string `json:"id"`
		} `json:"items"`
	}
	mustJSON(t, http.StatusOK, http.MethodGet, st.url("inspection", "/v1/notices?status=draft&village="+vc), st.discipline, nil, &drafts)
	if len(drafts.Items) != 1 {
		t.Fatalf("%d draft notices for %s, want 1", len(drafts.Items), vc)
	}
	noticeID := drafts.Items[0].ID
	var n struct {
		Number string `json:"number"`
		Kind   string `json:"kind"`
		Grade  string `json:"grade"`
		Text   string `json:"text"`
		Status string `json:"status"`
	}
	mustJSON(t, http.StatusOK, http.MethodPost, st.url("inspection", "/v1/notices/"+noticeID+"/sign"), st.discipline, nil, &n)
	st.notice = n.Number
	t.Logf("notice %s signed", n.Number)
	mustJSON(t, http.StatusOK, http.MethodGet, st.url("inspection", "/v1/notices/"+st.notice), st.discipline, nil, &n)
	if n.Kind != "warning" || n.Grade != "C" || !strings.Contains(n.Text, "预警通知书") || !strings.Contains(n.Text, "测试村") {
		t.Fatalf("notice %s: kind %s grade %s text %q", st.notice, n.Kind, n.Grade, n.Text)
	}
	// Its PDF renders in the pod: the image carries the font (images_test.go).
	noticePDFRenders(t, st.url("inspection", "/v1/notices/"+st.notice+"/pdf"), st.discipline, "预警通知书", n.Number)
	// The notice goes to the village, and the village's cadres read their
	// rating: neither names the reporter's tracking code.
	for name, u := range map[string]string{
		"notice": st.url("inspection", "/v1/notices/"+st.notice),
		"rating": st.url("inspection", "/v1/villages/"+vc+"/rating"),
	} {
		code, body := call(t, http.MethodGet, u, st.cadres.tokens["secretary"], nil)
		if code != http.StatusOK {
			t.Fatalf("the village's secretary reading the %s: status %d: %s", name, code, body)
		}
		if strings.Contains(string(body), st.trackingCode) {
			t.Errorf("the %s the village reads carries the reporter's tracking code %s", name, st.trackingCode)
		}
	}
	// The village answers the notice with its rectification report; the
	// office accepts the answer, which closes the notice.
	answer := map[string]any{"report": "已召开村两委会议，误餐费已全额退回并在村务公开栏说明。",
		"evidence": []map[string]string{{"text": "退款凭证及公开栏照片已存档"}}}
	mustJSON(t, http.StatusOK, http.MethodPost, st.url("inspection", "/v1/notices/"+noticeID+"/answer"), st.cadres.tokens["secretary"], answer, &n)
	if n.Status != "answered" {
		t.Fatalf("after the village's answer: %s", n.Status)
	}
	mustJSON(t, http.StatusOK, http.MethodPost, st.url("inspection", "/v1/notices/"+noticeID+"/accept"), st.discipline, nil, &n)
	if n.Status != "accepted" {
		t.Fatalf("after the office's acceptance: %s", n.Status)
	}
}

func (st *story) oneTraceIntakeToGrade(t *testing.T) {
	// The report page is public: its server span starts a trace of its own
	// (a villager's browser does not choose the complaint's trace), linked
	// to the traceparent this test sent. That trace is the complaint's.
	var intake span
	eventually(t, "the intake span linked to the test's trace "+st.intakeTrace, wait, func() error {
		for _, s := range env.traces.linkedTo(st.intakeTrace) {
			status, _ := s.Attributes["http.response.status_code"].(float64)
			if s.Service == "wuxiao-complaint" && s.Name == "POST /r/{village}" && s.Parent == "" && status == http.StatusCreated {
				intake = s
				return nil
			}
		}
		return errors.New("no accepted POST /r/{village} span of wuxiao-complaint links to it")
	})
	if intake.TraceID == st.intakeTrace {
		t.Fatalf("the public intake continued the client's trace %s", st.intakeTrace)
	}
	eventually(t, "trace "+intake.TraceID+" from the complaint's intake to the grade change", wait, func() error {
		spans := env.traces.trace(intake.TraceID)
		byID := map[string]span{}
		for _, s := range spans {
			byID[s.SpanID] = s
		}
		var grade *span
		for i, s := range spans {
			if s.Service == "wuxiao-inspection" && slices.ContainsFunc(s.Events, func(e spanEvent) bool {
				return e.Name == "rating.changed" && e.Attributes["grade.after"] == "C"
			}) {
				grade = &spans[i]
			}
		}
		if grade == nil {
			return fmt.Errorf("%d spans, no wuxiao-inspection span with a rating.changed event to C", len(spans))
		}
		// The chain from the grade change up to the intake, crossing from
		// inspection to complaint (Kafka) on the way.
		var chain []string
		crossed := false
		for s, hops := *grade, 0; hops < 50; hops++ {
			chain = append(chain, s.Service+" "+s.Name)
			p, ok := byID[s.Parent]
			if !ok {
				return fmt.Errorf("chain breaks at %q (parent %s not received yet): %v", s.Name, s.Parent, chain)
			}
			crossed = crossed || (s.Service == "wuxiao-inspection" && p.Service == "wuxiao-complaint")
			if p.SpanID == intake.SpanID {
				if !crossed {
					return fmt.Errorf("chain does not cross from complaint to inspection: %v", chain)
				}
				t.Logf("trace %s: %d spans; grade change -> intake: %s", intake.TraceID, len(spans), strings.Join(append(chain, p.Service+" "+p.Name), " <- "))
				return nil
			}
			s = p
		}
		return errors.New("no chain from the grade change to the intake")
	})
	// No span of the trace names the reporter's address or browser.
	for _, s := range env.traces.trace(intake.TraceID) {
		for k := range s.Attributes {
			if strings.HasPrefix(k, "client.") || strings.HasPrefix(k, "network.peer.") || strings.HasPrefix(k, "user_agent.") {
				t.Errorf("span %s %q records %s", s.Service, s.Name, k)
			}
		}
	}
}

func (st *story) paymentOnThePortal(t *testing.T) {
	vc := st.village.Spec.Code
	for _, s := range stepRoles[2:] { // reimburse, supervision-review, disclosure
		var res struct {
			Instance instance `json:"instance"`
		}
		mustJSON(t, http.StatusOK, http.MethodPost, st.url("workflow", "/v1/instances/"+st.inst.ID+"/steps/"+s.step+"/complete"),
			st.cadres.tokens[s.role], map[string]any{"note": "端到端测试"}, &res)
		st.inst = res.Instance
	}
	if st.inst.Status != "completed" {
		t.Fatalf("process after every step: %+v", st.inst)
	}
	year := time.Now().In(time.FixedZone("CST", 8*3600)).Year()
	eventually(t, "the payment in the village's wallet", wait, func() error {
		var w struct {
			Entries []struct {
				TrackingNumber string `json:"trackingNumber"`
				AmountFen      int64  `json:"amountFen"`
			} `json:"entries"`
		}
		code, body := call(t, http.MethodGet, st.url("disclosure", fmt.Sprintf("/v1/public/villages/%s/wallet?year=%d", vc, year)), "", nil)
		if code != http.StatusOK {
			return fmt.Errorf("status %d: %s", code, body)
		}
		if err := json.Unmarshal(body, &w); err != nil {
			return err
		}
		for _, e := range w.Entries {
			if e.TrackingNumber == st.inst.TrackingNumber && e.AmountFen == st.amountFen {
				return nil
			}
		}
		return fmt.Errorf("no entry of %d fen for %s: %s", st.amountFen, st.inst.TrackingNumber, body)
	})
	code, page := call(t, http.MethodGet, st.url("disclosure", "/v/"+vc), "", nil)
	if code != http.StatusOK || !strings.Contains(string(page), "860.00") || !strings.Contains(string(page), st.inst.TrackingNumber) {
		t.Fatalf("wallet page: status %d, 860.00 or %s missing", code, st.inst.TrackingNumber)
	}
}

func (st *story) deleteVillageLosesNothing(t *testing.T) {
	ctx := t.Context()
	vc := st.village.Spec.Code
	year := time.Now().In(time.FixedZone("CST", 8*3600)).Year()
	records := map[string]struct {
		url, token string
	}{
		"process":        {st.url("workflow", "/v1/instances/"+st.inst.ID), st.discipline},
		"audit":          {st.url("workflow", "/v1/instances/"+st.inst.ID+"/audit"), st.discipline},
		"wallet":         {st.url("disclosure", fmt.Sprintf("/v1/public/villages/%s/wallet?year=%d", vc, year)), ""},
		"tracking":       {st.url("workflow", "/v1/public/track/"+st.inst.TrackingNumber), ""},
		"portal-process": {st.url("disclosure", "/v/"+vc+"/processes/"+st.inst.TrackingNumber), ""},
		"complaint":      {st.url("complaint", "/v1/complaints/"+st.complaintID), st.discipline},
		"rating":         {st.url("inspection", "/v1/villages/"+vc+"/rating"), st.discipline},
		"grade-changes":  {st.url("inspection", "/v1/villages/"+vc+"/grade-changes"), st.discipline},
		"notice":         {st.url("inspection", "/v1/notices/"+st.notice), st.discipline},
	}
	st.before = map[string][]byte{}
	for name, r := range records {
		code, body := call(t, http.MethodGet, r.url, r.token, nil)
		if code != http.StatusOK {
			t.Fatalf("%s before the deletion: status %d: %s", name, code, body)
		}
		st.before[name] = body
	}

	start := time.Now()
	if err := env.kube.Delete(ctx, &st.village); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the Village gone (archived in the four services first)", 5*time.Minute, func() error {
		err := env.kube.Get(ctx, client.ObjectKeyFromObject(&st.village), &wuxiaov1.Village{})
		switch {
		case apierrors.IsNotFound(err):
			return nil
		case err != nil:
			return fmt.Errorf("getting the Village: %w", err)
		}
		return errors.New("still there")
	})
	t.Logf("Village deleted %s after the request", time.Since(start).Round(100*time.Millisecond))

	for name, r := range records {
		code, body := call(t, http.MethodGet, r.url, r.token, nil)
		if code != http.StatusOK {
			t.Errorf("%s after the deletion: status %d: %s", name, code, body)
			continue
		}
		if strings.HasPrefix(name, "portal-") {
			// A page gains the archive notice; its tables stay as they were.
			if b, a := tablesRe.FindAll(st.before[name], -1), tablesRe.FindAll(body, -1); len(b) == 0 || !slices.EqualFunc(b, a, bytes.Equal) {
				t.Errorf("%s: the page's tables changed with the deletion:\nbefore %s\nafter  %s", name, b, a)
			}
			continue
		}
		if !sameJSON(st.before[name], body, "archived", "archivedAt", "state", "villageState") {
			t.Errorf("%s changed with the deletion:\nbefore %s\nafter  %s", name, st.before[name], body)
		}
	}
	code, page := call(t, http.MethodGet, st.url("disclosure", "/v/"+vc), "", nil)
	if code != http.StatusOK || !strings.Contains(string(page), "该村已撤并/归档") || !strings.Contains(string(page), "860.00") {
		t.Errorf("portal after archiving: status %d, archived notice or the payment missing", code)
	}
	// The officials' identities are deactivated, not deleted.
	for role, login := range st.cadres.logins {
		ids, _, err := env.kratos.admin.IdentityAPI.ListIdentities(ctx).CredentialsIdentifier(login).Execute()
		if err != nil || len(ids) != 1 {
			t.Errorf("identity of the %s (%s): %d found, %v", role, login, len(ids), err)
			continue
		}
		if ids[0].GetState() != "inactive" {
			t.Errorf("identity of the %s: state %q, want inactive", role, ids[0].GetState())
		}
	}
	if _, err := env.kratos.tryLogin(ctx, st.cadres.logins["secretary"]); err == nil {
		t.Errorf("the archived village's secretary can still sign in")
	}
}

var tablesRe = regexp.MustCompile(`(?s)<table>.*?</table>`)

// sameJSON compares two JSON documents, ignoring the named fields at any
// depth (those an archive may set).
func sameJSON(a, b []byte, ignore ...string) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return string(a) == string(b)
	}
	strip := func(v any) any { return stripKeys(v, ignore) }
	xa, _ := json.Marshal(strip(x))
	ya, _ := json.Marshal(strip(y))
	return string(xa) == string(ya)
}

func stripKeys(v any, keys []string) any {
	switch t := v.(type) {
	case map[string]any:
		for _, k := range keys {
			delete(t, k)
		}
		for k, e := range t {
			t[k] = stripKeys(e, keys)
		}
	case []any:
		for i, e := range t {
			t[i] = stripKeys(e, keys)
		}
	}
	return v
}

func (st *story) url(svc, path string) string { return townSvcURL(st.town, svc, path) }

// cleanup deletes the test's Town (and with it its namespace; its database
// and topics stay, as the operator never destroys records) unless
// WUXIAO_E2E_KEEP is set, for looking at a failure.
func (st *story) cleanup(t *testing.T) {
	if st.town == "" {
		return
	}
	if os.Getenv("WUXIAO_E2E_KEEP") != "" {
		t.Logf("WUXIAO_E2E_KEEP: leaving Town %s", st.town)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	_ = env.kube.Delete(ctx, &wuxiaov1.Village{ObjectMeta: metav1.ObjectMeta{Namespace: "town-" + st.town, Name: st.village.Name}})
	if err := env.kube.Delete(ctx, &wuxiaov1.Town{ObjectMeta: metav1.ObjectMeta{Name: st.town}}); err != nil && !apierrors.IsNotFound(err) {
		t.Logf("deleting Town %s: %v", st.town, err)
	}
	_ = env.kube.Delete(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "wuxiao-system", Name: "rating-rules-" + st.town}})
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func conditionSummary(conds []metav1.Condition) string {
	var parts []string
	for _, c := range conds {
		if c.Status != metav1.ConditionTrue {
			parts = append(parts, c.Type+"="+string(c.Status)+" ("+c.Reason+": "+c.Message+")")
		}
	}
	return strings.Join(parts, "; ")
}
