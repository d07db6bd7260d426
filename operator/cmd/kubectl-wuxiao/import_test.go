package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
	"github.com/wuxiao/wuxiao/operator/internal/posters"
	"github.com/wuxiao/wuxiao/operator/internal/posters/posterstest"
)

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	must(t, writeFileTB(path, content))
	return path
}

func writeFileTB(path, content string) error { return os.WriteFile(path, []byte(content), 0o600) }

// sheet is a town's village list as town IT keeps it: Chinese headers,
// one column per role.
type sheetRow struct{ name, suffix, secretary, director, accountant, liaison string }

func sheet(prefix string, rows ...sheetRow) string {
	var b strings.Builder
	b.WriteString("村名,村代码,党组织书记,村委会主任,报账员,监察联络员\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "%s,%s%s,%s,%s,%s,%s\n", r.name, prefix, r.suffix, r.secretary, r.director, r.accountant, r.liaison)
	}
	return b.String()
}

// resourceVersions fingerprints what an import may write: the spec
// (generation), the metadata and kubectl-wuxiao's field ownership (an
// apply that changes anything records its time there). The operator's
// status writes are not the import's.
func resourceVersions(t *testing.T, ns string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for code, v := range villages(t, ns) {
		var mine []byte
		for _, m := range v.ManagedFields {
			if m.Manager == "kubectl-wuxiao" {
				mine, _ = json.Marshal(m)
			}
		}
		out[code] = fmt.Sprintf("gen=%d labels=%v annotations=%v finalizers=%v apply=%s", v.Generation, v.Labels, v.Annotations, v.Finalizers, mine)
	}
	return out
}

// TestTownITOnboardsVillages is the town IT person's whole day, as a user
// bound only to the Role the operator creates for a Town's admins: a file
// with mistakes is refused whole, every mistake listed; a clean file is
// applied and followed (watch) until every village is Live 4/4; the same
// file again, and an export imported back, change nothing (not even a
// resourceVersion); a changed row updates that village only and keeps its
// officials' identities; a dry run writes nothing; status shows the
// villages; the posters' QR codes decode to their addresses; another
// town's villages are out of reach, with a message saying why.
func TestTownITOnboardsVillages(t *testing.T) {
	d := district(t)
	it := readyTown(t, d, "kw-xikou")
	ns := it.town.NamespaceName()
	prefix := it.town.Spec.Code[:9]
	p := func() string { return phone(t) }

	// 1. Mistakes: everything reported, nothing applied.
	bad := writeFile(t, "bad.csv", "村名,村代码,党组织书记,村委会主任,监察联络员\n"+
		"岩头村,"+prefix+"201,张伟 "+p()+",李强 1380000,周立 "+p()+"\n"+
		",3302,孙洁 "+p()+",,\n"+
		"下塘村,"+prefix+"201,郑浩 "+p()+",冯雪 x@y,\n")
	_, stderr, err := kw(t, it.cfg, "villages", "import", bad, "--town", it.town.Name)
	if err == nil {
		t.Fatal("a file with mistakes was imported")
	}
	for _, want := range []string{
		"发现 7 个问题，没有导入任何村",
		"第 2 行 【村委会主任】：李强 的手机号「1380000」不对",
		"第 3 行 【村名】：村名不能为空",
		"第 3 行 【村代码】：「3302」不是 12 位数字",
		"第 3 行 【监察联络员】：缺少监察联络员",
		"第 4 行 【村代码】：" + prefix + "201 与第 2 行重复",
		"第 4 行 【村委会主任】：冯雪 的电子邮箱「x@y」不对",
		"第 4 行 【监察联络员】：缺少监察联络员",
		// A town admin cannot read the Town: the prefix is checked by the operator.
		"提醒 无法读取镇 " + it.town.Name + " 的代码",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if n := len(villages(t, ns)); n != 0 {
		t.Fatalf("%d villages applied from a file with mistakes", n)
	}

	// 2. A clean file reaches Live 4/4, followed by a watch.
	rows := []sheetRow{
		{"岩头村", "201", "张伟 " + p(), "李强 " + p(), "陈静 " + p(), "周立 " + p()},
		{"下塘村", "202", "郑浩 " + p(), "冯雪 " + p(), "王芳 " + p(), "赵敏 " + p()},
		{"上白社区", "203", "钱明 " + p(), "蒋华 " + p(), "韩梅 " + p(), "杨光 " + p()},
	}
	good := writeFile(t, "good.csv", sheet(prefix, rows...))
	stdout, stderr, err := kw(t, it.cfg, "villages", "import", good, "--town", it.town.Name)
	if err != nil {
		t.Fatalf("import: %v\n%s\n%s", err, stdout, stderr)
	}
	if !strings.Contains(stdout, "导入 3 个村：创建 3") || !strings.Contains(stderr, "3/3 村已上线") {
		t.Errorf("summary or progress missing:\n%s\n%s", stdout, stderr)
	}
	vs := villages(t, ns)
	for _, r := range rows {
		v, ok := vs[prefix+r.suffix]
		if !ok || v.Status.Live != "4/4" || v.Spec.DisplayName != r.name || len(v.Spec.Officials) != 4 {
			t.Errorf("village %s: %+v", r.name, v)
		}
		if mf := v.ManagedFields; len(mf) == 0 || !hasManager(v, "kubectl-wuxiao") {
			t.Errorf("village %s is not applied by kubectl-wuxiao: %+v", r.name, mf)
		}
	}
	if vs[prefix+"203"].Spec.Kind != wuxiaov1.VillageKindCommunity {
		t.Errorf("上白社区 is a %s", vs[prefix+"203"].Spec.Kind)
	}

	// 3. The same file again changes nothing.
	before := resourceVersions(t, ns)
	stdout, _, err = kw(t, it.cfg, "villages", "import", good, "--town", it.town.Name)
	if err != nil || !strings.Contains(stdout, "导入 3 个村：未变 3") {
		t.Errorf("re-import: %v\n%s", err, stdout)
	}
	if after := resourceVersions(t, ns); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("re-import wrote: %v → %v", before, after)
	}

	// 4. Export then import is a no-op, in both formats.
	for _, f := range []string{"villages.xlsx", "villages.csv"} {
		out := filepath.Join(t.TempDir(), f)
		if _, stderr, err := kw(t, it.cfg, "villages", "export", "--town", it.town.Name, "-o", out); err != nil {
			t.Fatalf("export: %v %s", err, stderr)
		}
		stdout, _, err = kw(t, it.cfg, "villages", "import", out, "--town", it.town.Name)
		if err != nil || !strings.Contains(stdout, "导入 3 个村：未变 3") {
			t.Errorf("import of the export %s: %v\n%s", f, err, stdout)
		}
		if after := resourceVersions(t, ns); fmt.Sprint(after) != fmt.Sprint(before) {
			t.Errorf("import of the export %s wrote: %v → %v", f, before, after)
		}
	}

	// 5. A changed row updates that village: the accountant with a new
	// number keeps their id (their identity), a new director gets a new one.
	old := vs[prefix+"202"]
	rows[1].director = "孙丽 " + p()
	rows[1].accountant = "王芳 " + p()
	changed := writeFile(t, "changed.csv", sheet(prefix, rows...))
	stdout, _, err = kw(t, it.cfg, "villages", "import", changed, "--town", it.town.Name)
	if err != nil || !strings.Contains(stdout, "更新 1") || !strings.Contains(stdout, "未变 2") {
		t.Errorf("changed import: %v\n%s", err, stdout)
	}
	now := villages(t, ns)[prefix+"202"]
	if now.Generation == old.Generation || now.Status.Live != "4/4" || now.Status.ObservedGeneration != now.Generation {
		t.Errorf("the changed village is at generation %d (was %d), live %s", now.Generation, old.Generation, now.Status.Live)
	}
	if now.Spec.Officials[0].ID != old.Spec.Officials[0].ID || now.Spec.Officials[1].ID == old.Spec.Officials[1].ID ||
		now.Spec.Officials[2].ID != old.Spec.Officials[2].ID || now.Spec.Officials[2].Phone == old.Spec.Officials[2].Phone {
		t.Errorf("official ids %v → %v", old.Spec.Officials, now.Spec.Officials)
	}

	// 6. A dry run asks the API server and writes nothing.
	dry := writeFile(t, "dry.csv", sheet(prefix, append(rows, sheetRow{"茅岙村", "204", "许倩 " + p(), "何东 " + p(), "孙洁 " + p(), "吴涛 " + p()})...))
	before = resourceVersions(t, ns)
	stdout, _, err = kw(t, it.cfg, "villages", "import", dry, "--town", it.town.Name, "--dry-run")
	if err != nil || !strings.Contains(stdout, "将创建 1") || !strings.Contains(stdout, "未变 3") || !strings.Contains(stdout, "试运行") {
		t.Errorf("dry run: %v\n%s", err, stdout)
	}
	if after := resourceVersions(t, ns); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("the dry run wrote: %v → %v", before, after)
	}

	// 7. Status, as a table and as JSON.
	stdout, stderr, err = kw(t, it.cfg, "status", "--town", it.town.Name)
	if err != nil || !strings.Contains(stdout, prefix+"201") || !strings.Contains(stdout, "4/4") || !strings.Contains(stderr, "无权读取 Town") {
		t.Errorf("status: %v\n%s\n%s", err, stdout, stderr)
	}
	stdout, _, err = kw(t, it.cfg, "status", "--town", it.town.Name, "-o", "json")
	var rep StatusReport
	if err != nil || json.Unmarshal([]byte(stdout), &rep) != nil || len(rep.Villages) != 3 || rep.Villages[0].Live != "4/4" || rep.Villages[0].Ready != "True" {
		t.Errorf("status -o json: %v\n%s", err, stdout)
	}
	stdout, _, err = kw(t, env.Config, "status")
	if err != nil || !strings.Contains(stdout, it.town.Name) || !strings.Contains(stdout, it.town.Spec.Code) {
		t.Errorf("status of the district (platform admin): %v\n%s", err, stdout)
	}

	// 8. Posters: a page per village, each QR code decodes to its address;
	// one village alone; the sheet on one page.
	for _, tc := range []struct {
		args  []string
		pages int
		codes []string
	}{
		{nil, 3, []string{"201", "202", "203"}},
		{[]string{"--village", prefix + "202"}, 1, []string{"202"}},
		{[]string{"--sheet"}, 1, []string{"201", "202", "203"}},
	} {
		out := filepath.Join(t.TempDir(), "posters.pdf")
		args := append([]string{"qr", "posters", "--town", it.town.Name, "-o", out, "--font", posterstest.FontPath(t)}, tc.args...)
		if _, stderr, err := kw(t, it.cfg, args...); err != nil {
			t.Fatalf("posters %v: %v %s", tc.args, err, stderr)
		}
		data, err := os.ReadFile(out)
		must(t, err)
		pages, err := posterstest.Decode(data)
		must(t, err)
		if len(pages) != tc.pages {
			t.Errorf("posters %v: %d pages, want %d", tc.args, len(pages), tc.pages)
		}
		var got []string
		for _, pg := range pages {
			got = append(got, pg.QRs...)
		}
		var want []string
		for _, s := range tc.codes {
			v := villages(t, ns)[prefix+s]
			want = append(want, v.Status.PortalURL, posters.ReportURL(v.Status.PortalURL, v.Spec.Code))
		}
		if strings.Join(got, " ") != strings.Join(want, " ") || !strings.Contains(want[0], "https://jiandu.example.cn/v/") {
			t.Errorf("posters %v: QR codes %q, want %q", tc.args, got, want)
		}
	}

	// 9. Hand-over sheets: a page per official with the one-time code the
	// operator left in the town's recovery Secret and a QR code of the
	// sign-in link; no code reaches the terminal.
	out := filepath.Join(t.TempDir(), "handover.pdf")
	stdout, stderr, err = kw(t, it.cfg, "officials", "handover", "--town", it.town.Name, "--village", prefix+"201", "-o", out, "--font", posterstest.FontPath(t))
	if err != nil {
		t.Fatalf("handover: %v %s", err, stderr)
	}
	data, err := os.ReadFile(out)
	must(t, err)
	pages, err := posterstest.Decode(data)
	must(t, err)
	secret := &corev1.Secret{}
	v201 := villages(t, ns)[prefix+"201"]
	recoveryKey := client.ObjectKey{Namespace: it.town.RecoveryNamespaceName(), Name: "village-" + v201.Spec.Code}
	must(t, k8s.Get(context.Background(), recoveryKey, secret))
	if len(pages) != len(v201.Spec.Officials) {
		t.Fatalf("handover: %d pages for %d officials", len(pages), len(v201.Spec.Officials))
	}
	for i, o := range v201.Spec.Officials {
		var e recoveryEntry
		must(t, json.Unmarshal(secret.Data[o.ID], &e))
		if e.Code == "" || !strings.Contains(pages[i].Text, o.Name) || !strings.Contains(pages[i].Text, e.Code) || !strings.Contains(pages[i].Text, e.Login) {
			t.Errorf("handover page %d lacks %s, the code or %s: %q", i+1, o.Name, e.Login, pages[i].Text)
		}
		if len(pages[i].QRs) != 1 || pages[i].QRs[0] != e.Link {
			t.Errorf("handover page %d: QR %q, want %s", i+1, pages[i].QRs, e.Link)
		}
		if strings.Contains(stdout+stderr, e.Code) {
			t.Errorf("the one-time code of %s was printed", o.ID)
		}
	}

	// 10. Reissue: the operator issues a new code for one official; the old
	// one no longer works on the real Kratos, the new one does; codes appear
	// in no output and no event.
	o := v201.Spec.Officials[0]
	var prev recoveryEntry
	must(t, json.Unmarshal(secret.Data[o.ID], &prev))
	stdout, stderr, err = kw(t, it.cfg, "officials", "reissue", "--town", it.town.Name, "--village", v201.Spec.Code, "--official", o.ID)
	if err != nil || !strings.Contains(stdout, "已为 "+o.Name+"（"+o.ID+"） 重新签发") {
		t.Fatalf("reissue: %v\n%s\n%s", err, stdout, stderr)
	}
	must(t, k8s.Get(context.Background(), recoveryKey, secret))
	var fresh recoveryEntry
	must(t, json.Unmarshal(secret.Data[o.ID], &fresh))
	if fresh.Code == "" || fresh.Link == prev.Link || strings.Contains(stdout+stderr, fresh.Code) {
		t.Errorf("reissued entry %+v (old link %s) or printed", fresh.Link, prev.Link)
	}
	if got := villages(t, ns)[v201.Spec.Code]; got.Annotations["wuxiao.io/recovery-reissued-at"] == "" || got.Annotations["wuxiao.io/reissue-recovery"] != "" {
		t.Errorf("annotations after reissue: %v", got.Annotations)
	}
	if signIn(t, prev) {
		t.Error("the previous one-time code still signs in after a reissue")
	}
	if !signIn(t, fresh) {
		t.Error("the reissued one-time code does not sign in")
	}
	events := &corev1.EventList{}
	must(t, k8s.List(context.Background(), events, client.InNamespace(ns)))
	for _, e := range events.Items {
		if strings.Contains(e.Message, prev.Code) || strings.Contains(e.Message, fresh.Code) || strings.Contains(e.Message, fresh.Link) {
			t.Errorf("event %s/%s names a code or link: %s", e.Reason, e.Name, e.Message)
		}
	}

	// 11. Another town is out of reach, and the message says why.
	_, _, err = kw(t, it.cfg, "villages", "export", "--town", "kw-other", "-o", filepath.Join(t.TempDir(), "x.csv"))
	if err == nil || !strings.Contains(err.Error(), "没有权限列出村（命名空间 town-kw-other）") || !strings.Contains(err.Error(), "spec.admins") {
		t.Errorf("another town: %v", err)
	}
}

func hasManager(v wuxiaov1.Village, manager string) bool {
	for _, m := range v.ManagedFields {
		if m.Manager == manager && m.Operation == "Apply" {
			return true
		}
	}
	return false
}

// TestImportFailsWhenTheOperatorRefusesARow: a town admin, who cannot read
// the Town, imports a village whose code lies outside the town; the
// operator refuses it (CodeMismatch), the others go Live, the summary says
// which row failed and why, and the exit is non-zero.
func TestImportFailsWhenTheOperatorRefusesARow(t *testing.T) {
	d := district(t)
	it := readyTown(t, d, "kw-xiwu")
	prefix := it.town.Spec.Code[:9]
	p := func() string { return phone(t) }
	var buf bytes.Buffer
	buf.WriteString(sheet(prefix, sheetRow{"岩头村", "201", "张伟 " + p(), "李强 " + p(), "陈静 " + p(), "周立 " + p()}))
	fmt.Fprintf(&buf, "外镇村,330213555201,钱明 %s,蒋华 %s,韩梅 %s,杨光 %s\n", p(), p(), p(), p())
	file := writeFile(t, "mixed.csv", buf.String())
	stdout, stderr, err := kw(t, it.cfg, "villages", "import", file, "--town", it.town.Name, "--timeout", "60s")
	t.Logf("kubectl wuxiao villages import:\n%s%s", stderr, stdout)
	if err == nil {
		t.Fatalf("a failed row exited 0:\n%s\n%s", stdout, stderr)
	}
	if !strings.Contains(stdout, "创建，失败") || !strings.Contains(stdout, "CodeMismatch") || !strings.Contains(stdout, "失败 1") {
		t.Errorf("the summary does not show the failed row:\n%s", stdout)
	}
	if !strings.Contains(stderr, "1/2 村已上线（Live），1 失败") {
		t.Errorf("progress:\n%s", stderr)
	}
	v := &wuxiaov1.Village{}
	must(t, k8s.Get(context.Background(), client.ObjectKey{Namespace: it.town.NamespaceName(), Name: "v" + prefix + "201"}, v))
	if v.Status.Live != "4/4" {
		t.Errorf("the good village is %s", v.Status.Live)
	}
}

// signIn submits a one-time code to its recovery flow on the real Kratos,
// as the official's browser does, and reports whether it signed in (Kratos
// then sends the browser on to the settings page to choose a password).
func signIn(t *testing.T, e recoveryEntry) bool {
	t.Helper()
	u, err := url.Parse(e.Link)
	must(t, err)
	target := strings.TrimSuffix(requireEnv(t, "WUXIAO_TEST_KRATOS_PUBLIC_URL"), "/") + "/self-service/recovery?flow=" + u.Query().Get("flow")
	req, err := http.NewRequest(http.MethodPost, target, strings.NewReader(`{"method":"code","code":"`+e.Code+`"}`))
	must(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.Do(req)
	must(t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode == http.StatusUnprocessableEntity && strings.Contains(string(body), "/settings")
}
