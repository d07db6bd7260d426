//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	kratos "github.com/ory/kratos-client-go"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
)

func newScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	_ = corev1.AddToScheme(s)
	_ = wuxiaov1.AddToScheme(s)
	return s
}

func ready(conds []metav1.Condition) bool { return meta.IsStatusConditionTrue(conds, "Ready") }

// call sends a request through the service proxy. in is JSON unless it is
// url.Values (a form). It returns the status and body; transport errors fail
// the test.
func call(t *testing.T, method, u, token string, in any) (int, []byte) {
	t.Helper()
	code, _, body := do(t, method, u, token, in)
	return code, body
}

// do is call that returns the response headers too.
func do(t *testing.T, method, u, token string, in any) (int, http.Header, []byte) {
	t.Helper()
	var body io.Reader
	ctype := ""
	switch v := in.(type) {
	case nil:
	case url.Values:
		body, ctype = strings.NewReader(v.Encode()), "application/x-www-form-urlencoded"
	default:
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		body, ctype = bytes.NewReader(b), "application/json"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if id, _ := tracedHeader.Load().(string); id != "" {
		req.Header.Set("traceparent", "00-"+id+"-"+randomSuffix()+randomSuffix()+"-01")
	}
	if c, ok := strings.CutPrefix(token, "cookie:"); ok {
		req.Header.Set("Cookie", c)
	} else if token != "" {
		// The API server consumes the Authorization header (it authenticates
		// us with it); the services accept a Kratos session in X-Session-Token too.
		req.Header.Set("X-Session-Token", token)
	}
	resp, err := env.proxy.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, data
}

// tracedHeader, when set, is the trace id call sends as a sampled
// traceparent (tests run one at a time).
var tracedHeader atomic.Value

// mustJSON calls and decodes a JSON answer, failing unless the status is want.
func mustJSON(t *testing.T, want int, method, u, token string, in, out any) {
	t.Helper()
	code, data := call(t, method, u, token, in)
	if code != want {
		t.Fatalf("%s %s: status %d, want %d: %s", method, u, code, want, bytes.TrimSpace(data))
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: decoding %s: %v", method, u, data, err)
		}
	}
}

// ------------------------------------------------------------------ people

const e2ePassword = "wuxiao-e2e-password-2026"

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

// village is a sample village of the test town with a session per role.
type village struct {
	name, code string
	tokens     map[string]string // role -> session token
	logins     map[string]string // role -> login, of the officials the operator created
}

// villageOf reads the i-th village (by name) of the test town and signs in
// its officials: those the operator created (their login from the town's
// recovery Secret; the password set through the Kratos admin API, as a town
// IT administrator would when handing over an account) and, for roles the
// sample villages do not staff, new identities created the same way.
func villageOf(t *testing.T, i int, extraRoles ...string) village {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var list wuxiaov1.VillageList
	if err := env.kube.List(ctx, &list, client.InNamespace("town-"+env.town)); err != nil {
		t.Fatal(err)
	}
	if len(list.Items) <= i {
		t.Fatalf("town %s has %d villages, need %d", env.town, len(list.Items), i+1)
	}
	// Stable order: by code.
	items := list.Items
	for a := range items {
		for b := a + 1; b < len(items); b++ {
			if items[b].Spec.Code < items[a].Spec.Code {
				items[a], items[b] = items[b], items[a]
			}
		}
	}
	return signInVillage(t, ctx, env.town, items[i], extraRoles...)
}

// signInVillage signs in the officials of v, a Village of town, one session
// per role (see villageOf).
func signInVillage(t *testing.T, ctx context.Context, town string, v wuxiaov1.Village, extraRoles ...string) village {
	t.Helper()
	if !ready(v.Status.Conditions) {
		t.Fatalf("village %s is not Ready", v.Name)
	}
	var sec corev1.Secret
	if err := env.kube.Get(ctx, recoverySecret(town, v.Spec.Code), &sec); err != nil {
		t.Fatal(err)
	}
	out := village{name: v.Name, code: v.Spec.Code, tokens: map[string]string{}, logins: map[string]string{}}
	for _, o := range v.Spec.Officials {
		raw, ok := sec.Data[o.ID]
		if !ok {
			continue // handed over already (the operator drops delivered codes)
		}
		var rec struct {
			Login string `json:"login"`
			Code  string `json:"code"`
			Link  string `json:"link"`
		}
		if err := json.Unmarshal(raw, &rec); err != nil {
			t.Fatalf("recovery entry of %s: %v", o.ID, err)
		}
		if _, done := out.tokens[string(o.Role)]; done {
			continue
		}
		out.tokens[string(o.Role)] = env.kratos.signInOfficial(t, ctx, rec.Login, rec.Code, rec.Link)
		out.logins[string(o.Role)] = rec.Login
	}
	for _, role := range extraRoles {
		out.tokens[role] = env.kratos.signInNew(t, ctx, role, town, v.Spec.Code)
	}
	return out
}

// recoverySecret is where the operator leaves the first sign-in codes of a
// village's officials for town IT staff: Secret village-<code> of the
// town's recovery namespace, keyed by official id.
func recoverySecret(town, code string) client.ObjectKey {
	return client.ObjectKey{Namespace: wuxiaov1.TownRecoveryNamespace(town), Name: "village-" + code}
}

// signInOfficial signs in an official the operator created, the way the
// official would: with the one-time recovery code that town IT staff hand
// over (from the village's recovery Secret), which yields a
// session cookie. A code already used (an earlier run) falls back to a
// password set through the admin API.
func (k kratosAdmin) signInOfficial(t *testing.T, ctx context.Context, login, code, link string) string {
	t.Helper()
	if tok, ok := sessions.Load(login); ok {
		return tok.(string)
	}
	if cookie, err := k.recover(ctx, code, link); err == nil {
		sessions.Store(login, cookie)
		return cookie
	} else {
		t.Logf("recovery code of %s: %v; setting a password instead", login, err)
	}
	return k.signInExisting(t, ctx, login)
}

// recover submits code to the recovery flow of link and returns the session
// as "cookie:<name>=<value>" (call sends it as a Cookie).
func (k kratosAdmin) recover(ctx context.Context, code, link string) (string, error) {
	u, err := url.Parse(link)
	if err != nil || code == "" || u.Query().Get("flow") == "" {
		return "", fmt.Errorf("no usable recovery code (link %q)", link)
	}
	endpoint := k.public.GetConfig().Servers[0].URL + "/self-service/recovery?flow=" + url.QueryEscape(u.Query().Get("flow"))
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint,
		strings.NewReader(`{"method":"code","code":"`+code+`"}`))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	// Success sends the browser on to the settings flow (to choose a
	// password), with the new session's cookie.
	for _, c := range resp.Cookies() {
		if c.Name == "wuxiao_session" && c.Value != "" {
			return "cookie:" + c.Name + "=" + c.Value, nil
		}
	}
	return "", fmt.Errorf("status %d, no session: %s", resp.StatusCode, bytes.TrimSpace(body))
}

// sessions caches the tokens of existing officials for this test process.
var sessions sync.Map // login -> token

// signInExisting sets a password on the identity with this login and signs
// in, once per test process. The operator may be patching the same identity
// (Kratos applies a JSON patch by rewriting the whole identity, credentials
// included, which can undo a password set a moment before): a refused
// sign-in sets the password again.
func (k kratosAdmin) signInExisting(t *testing.T, ctx context.Context, login string) string {
	t.Helper()
	if tok, ok := sessions.Load(login); ok {
		return tok.(string)
	}
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		if err = k.setPassword(ctx, login); err != nil {
			t.Fatal(err)
		}
		var tok string
		if tok, err = k.tryLogin(ctx, login); err == nil {
			sessions.Store(login, tok)
			return tok
		}
		time.Sleep(time.Second)
	}
	t.Fatalf("signing in %s: %v", login, err)
	return ""
}

func (k kratosAdmin) setPassword(ctx context.Context, login string) error {
	ids, _, err := k.admin.IdentityAPI.ListIdentities(ctx).CredentialsIdentifier(login).Execute()
	if err != nil {
		return fmt.Errorf("finding the identity of %s: %w", login, err)
	}
	if len(ids) != 1 {
		return fmt.Errorf("finding the identity of %s: %d found", login, len(ids))
	}
	id := ids[0]
	traits, _ := id.Traits.(map[string]any)
	pw := e2ePassword
	body := kratos.UpdateIdentityBody{
		SchemaId: id.SchemaId, State: id.GetState(), Traits: traits,
		MetadataPublic: id.MetadataPublic, MetadataAdmin: id.MetadataAdmin,
		Credentials: &kratos.IdentityWithCredentials{Password: &kratos.IdentityWithCredentialsPassword{
			Config: &kratos.IdentityWithCredentialsPasswordConfig{Password: &pw}}},
	}
	if _, resp, err := k.admin.IdentityAPI.UpdateIdentity(ctx, id.Id).UpdateIdentityBody(body).Execute(); err != nil {
		return fmt.Errorf("setting a password for %s: %w", login, kratosErr(resp, err))
	}
	return nil
}

// signInNew creates an official with role in town/village and signs in.
func (k kratosAdmin) signInNew(t *testing.T, ctx context.Context, role, town, villageCode string) string {
	t.Helper()
	email := fmt.Sprintf("e2e-%s-%s@%s.e2e.wuxiao.invalid", role, randomSuffix(), town)
	meta := map[string]any{"role": role, "town": town}
	if villageCode != "" && !strings.HasPrefix(role, "town-") {
		meta["village"] = villageCode
	}
	pw := e2ePassword
	body := kratos.CreateIdentityBody{
		SchemaId: "default", Traits: map[string]any{"email": email, "name": "端到端测试 " + role},
		MetadataPublic: meta,
		Credentials: &kratos.IdentityWithCredentials{Password: &kratos.IdentityWithCredentialsPassword{
			Config: &kratos.IdentityWithCredentialsPasswordConfig{Password: &pw}}},
	}
	if _, resp, err := k.admin.IdentityAPI.CreateIdentity(ctx).CreateIdentityBody(body).Execute(); err != nil {
		t.Fatalf("creating a %s: %v", role, kratosErr(resp, err))
	}
	return k.login(t, ctx, email)
}

func (k kratosAdmin) login(t *testing.T, ctx context.Context, login string) string {
	t.Helper()
	tok, err := k.tryLogin(ctx, login)
	if err != nil {
		t.Fatalf("signing in %s: %v", login, err)
	}
	return tok
}

func (k kratosAdmin) tryLogin(ctx context.Context, login string) (string, error) {
	flow, resp, err := k.public.FrontendAPI.CreateNativeLoginFlow(ctx).Execute()
	if err != nil {
		return "", fmt.Errorf("login flow: %w", kratosErr(resp, err))
	}
	b := kratos.UpdateLoginFlowWithPasswordMethodAsUpdateLoginFlowBody(kratos.NewUpdateLoginFlowWithPasswordMethod(login, "password", e2ePassword))
	done, resp, err := k.public.FrontendAPI.UpdateLoginFlow(ctx).Flow(flow.Id).UpdateLoginFlowBody(b).Execute()
	if err != nil || done.SessionToken == nil {
		return "", fmt.Errorf("%w", kratosErr(resp, errors.Join(err, errors.New("no session token"))))
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

// ratingView is a village's rating as the inspection service answers it.
type ratingView struct {
	Points        int    `json:"points"`
	Grade         string `json:"grade"`
	Contributions []struct {
		Fact struct {
			Kind    string `json:"kind"`
			Subkind string `json:"subkind"`
			Ref     string `json:"ref"`
		} `json:"fact"`
		Points int  `json:"points"`
		Capped bool `json:"capped"`
	} `json:"contributions"`
}
