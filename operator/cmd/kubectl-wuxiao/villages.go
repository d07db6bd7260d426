package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"
	"golang.org/x/term"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
	"github.com/wuxiao/wuxiao/operator/internal/villagefile"
)

func newVillagesCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "villages",
		Aliases: []string{"village", "vil"},
		Short:   "从表格导入村、把村导出到表格",
	}
	cmd.AddCommand(newImportCmd(a), newExportCmd(a))
	return cmd
}

type importOptions struct {
	town, townCode string
	dryRun, wait   bool
	timeout        time.Duration
}

func newImportCmd(a *app) *cobra.Command {
	var o importOptions
	cmd := &cobra.Command{
		Use:   "import 文件.xlsx|文件.csv --town 镇",
		Short: "从 Excel（.xlsx）或 CSV 表格导入、更新本镇的村",
		Long: `从表格导入、更新本镇的村（社区），一行一个村。

表头（中文或英文均可）：村名、村代码（12 位），可选 类型（村/社区）、对象名，
然后每个职务一列：` + roleHeaders() + `。
职务格子里写“姓名 手机号”或“姓名 电子邮箱”，多人用“；”或换行分开，例如：
  张伟 13800000001；李娜 ln@example.org

先检查每一行，发现问题就全部列出（行号、列名、怎么改），一个村也不导入。
没有问题才用服务器端应用（server-side apply，字段管理者 kubectl-wuxiao）写入：
同一个文件再导入一次不会改变任何东西；改了的行只更新那个村。
之后显示进度，直到每个村在四个服务中都已上线（Live 4/4），最后列出汇总表。
有任何一行失败，退出码不为 0。`,
		Example: `  kubectl wuxiao villages import 溪口镇村名单.xlsx --town xikou --dry-run
  kubectl wuxiao villages import 溪口镇村名单.xlsx --town xikou`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := requireTown(o.town); err != nil {
				return err
			}
			return a.importVillages(cmd.Context(), args[0], o)
		},
	}
	cmd.Flags().StringVar(&o.town, "town", "", "镇（Town 的名字，如 xikou）")
	cmd.Flags().StringVar(&o.townCode, "town-code", "", "镇的 12 位代码，用来核对村代码的前 9 位；能读取 Town 时不必给")
	cmd.Flags().BoolVar(&o.dryRun, "dry-run", false, "只检查，并请 API 服务器试运行（server-side dry run），不写入")
	cmd.Flags().BoolVar(&o.wait, "wait", true, "等到每个村都已上线（Live）")
	cmd.Flags().DurationVar(&o.timeout, "timeout", 10*time.Minute, "最多等多久")
	return cmd
}

func roleHeaders() string {
	var h []string
	for _, c := range villagefile.RoleColumns {
		h = append(h, c.Header)
	}
	return strings.Join(h, "、")
}

// outcome of one row.
type outcome struct {
	row    *villagefile.Row
	result string // 创建, 更新, 未变 (将创建… on a dry run), 失败
	failed bool
	detail string
	v      *wuxiaov1.Village // last seen
}

func (a *app) importVillages(ctx context.Context, path string, o importOptions) error {
	recs, err := villagefile.ReadFile(path)
	if err != nil {
		return err
	}
	rows, problems := villagefile.Parse(recs)
	c, err := a.client()
	if err != nil {
		return err
	}
	ns := townNamespace(o.town)
	var existing []wuxiaov1.Village
	if rows != nil {
		list := &wuxiaov1.VillageList{}
		if err := c.List(ctx, list, client.InNamespace(ns)); err != nil {
			return explain(err, "读取本镇已有的村", ns)
		}
		existing = list.Items
		town, note, err := resolveTown(ctx, c, o.town, o.townCode, existing)
		if err != nil {
			return err
		}
		if note != "" {
			problems = append(problems, villagefile.Problem{Warning: true, Message: note})
		}
		problems = append(problems, villagefile.Check(rows, town, existing)...)
	}
	errs := villagefile.Errors(problems)
	for _, p := range problems {
		if p.Warning {
			fmt.Fprintln(a.errOut, p.String())
		}
	}
	if len(errs) > 0 {
		fmt.Fprintf(a.errOut, "%s：发现 %d 个问题，没有导入任何村。改好后再导入：\n", path, len(errs))
		for _, p := range errs {
			fmt.Fprintln(a.errOut, "  "+p.String())
		}
		return &silentError{fmt.Sprintf("%d problems", len(errs))}
	}

	before := map[string]*wuxiaov1.Village{}
	for i := range existing {
		before[existing[i].Name] = &existing[i]
	}
	outcomes := make([]*outcome, len(rows))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for i := range rows {
		out := &outcome{row: &rows[i]}
		outcomes[i] = out
		g.Go(func() error {
			a.apply(gctx, c, ns, out, before[out.row.Name], o.dryRun)
			return nil
		})
	}
	_ = g.Wait()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if !o.dryRun && o.wait {
		if err := a.waitLive(ctx, c, ns, outcomes, o.timeout); err != nil {
			return err
		}
	}
	return a.summary(outcomes, o.dryRun)
}

// resolveTown finds the town's code, which the rows' codes must start
// with. A town admin cannot read the cluster-scoped Town: the prefix then
// comes from --town-code, else from the town's villages the operator found
// valid (Ready).
func resolveTown(ctx context.Context, c client.Client, name, code string, existing []wuxiaov1.Village) (villagefile.Town, string, error) {
	t := &wuxiaov1.Town{}
	err := c.Get(ctx, client.ObjectKey{Name: name}, t)
	switch {
	case err == nil:
		if code != "" && code != t.Spec.Code {
			return villagefile.Town{}, "", fmt.Errorf("--town-code %s 与镇 %s 的代码 %s 不符", code, name, t.Spec.Code)
		}
		return villagefile.Town{Name: name, Code: t.Spec.Code}, "", nil
	case apierrors.IsNotFound(err):
		return villagefile.Town{}, "", fmt.Errorf("没有名为 %s 的镇（Town）：镇的名字对吗？", name)
	case !apierrors.IsForbidden(err):
		return villagefile.Town{}, "", explain(err, "读取镇 "+name, "")
	}
	if code != "" {
		if len(code) != 12 {
			return villagefile.Town{}, "", fmt.Errorf("--town-code 应为 12 位镇代码，例如 330213100000")
		}
		return villagefile.Town{Name: name, Code: code}, "", nil
	}
	for i := range existing {
		if meta.IsStatusConditionTrue(existing[i].Status.Conditions, wuxiaov1.ConditionReady) {
			return villagefile.Town{Name: name, Code: existing[i].Spec.Code[:9] + "000"}, "", nil
		}
	}
	return villagefile.Town{Name: name}, fmt.Sprintf("无法读取镇 %s 的代码（镇管理员无权读取 Town），本镇也还没有就绪的村：没有核对村代码的前 9 位。可用 --town-code 指定；导入后操作员会核对（原因 CodeMismatch）", name), nil
}

// apply applies one row with server-side apply. Forcing ownership makes
// the spreadsheet the source of truth for the fields it sets, as kubectl
// apply --server-side --force-conflicts would: a hand edit of an
// official's phone is replaced by the file's.
func (a *app) apply(ctx context.Context, c client.Client, ns string, out *outcome, before *wuxiaov1.Village, dryRun bool) {
	obj := out.row.Object(ns)
	opts := []client.PatchOption{client.FieldOwner(villagefile.FieldManager), client.ForceOwnership}
	if dryRun {
		opts = append(opts, client.DryRunAll)
	}
	//nolint:staticcheck // client.Apply on an unstructured object: only the file's fields are sent.
	if err := c.Patch(ctx, obj, client.Apply, opts...); err != nil {
		out.failed, out.result = true, "失败"
		out.detail = explain(err, "写入", ns).Error()
		return
	}
	prefix := ""
	if dryRun {
		prefix = "将"
	}
	switch {
	case before == nil:
		out.result = prefix + "创建"
	case obj.GetGeneration() != before.Generation:
		out.result = prefix + "更新"
	default:
		out.result = "未变"
	}
	if !dryRun {
		v := &wuxiaov1.Village{}
		if err := runtimeConvert(obj, v); err == nil {
			out.v = v
		}
	}
}

// Reasons of a Stalled village that waiting does not cure.
var finalReasons = []string{wuxiaov1.ReasonCodeMismatch, wuxiaov1.ReasonDuplicateCode, wuxiaov1.ReasonTownNotFound, wuxiaov1.ReasonInvalidSpec}

// reasonText says in Chinese what the operator's reasons mean; the
// operator's message (English, with the details) follows.
var reasonText = map[string]string{
	wuxiaov1.ReasonCodeMismatch:        "村代码不属于本镇",
	wuxiaov1.ReasonDuplicateCode:       "村代码已被本镇另一个村使用",
	wuxiaov1.ReasonTownNotFound:        "找不到镇",
	wuxiaov1.ReasonInvalidSpec:         "内容不合规",
	wuxiaov1.ReasonIdentityUnavailable: "身份服务（Kratos）暂不可用，操作员在重试",
	"IdentityConflict":                 "干部的登录名已被别的账号占用",
	wuxiaov1.ReasonDistrictNotFound:    "找不到区（District）",
	wuxiaov1.ReasonCatalogNotFound:     "镇还没有可用的权力清单",
	wuxiaov1.ReasonServicesNotReady:    "镇的服务还未就绪",
}

func explainReason(reason, msg string) string {
	if t, ok := reasonText[reason]; ok {
		return t + "（" + reason + "）：" + msg
	}
	return strings.TrimSpace(reason + " " + msg)
}

// state of a village for the progress: done (live), failed or waiting.
func villageState(v *wuxiaov1.Village) (done, failed bool, detail string) {
	if v == nil {
		return false, false, "等待操作员"
	}
	if v.Status.ObservedGeneration != v.Generation {
		return false, false, "等待操作员"
	}
	st, rsn, msg := readyOf(v.Status.Conditions)
	if st == string(metav1.ConditionFalse) && slices.Contains(finalReasons, rsn) {
		return false, true, explainReason(rsn, msg)
	}
	if st != string(metav1.ConditionTrue) {
		return false, false, explainReason(rsn, msg)
	}
	if !liveDone(v.Status.Live) {
		return false, false, "服务上线 " + dash(v.Status.Live)
	}
	return true, false, ""
}

// waitLive follows the villages with a watch (not polling) until each
// applied one is live in every service, has failed, or the time is up.
func (a *app) waitLive(ctx context.Context, c client.WithWatch, ns string, outs []*outcome, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	byName := map[string]*outcome{}
	for _, o := range outs {
		if !o.failed {
			byName[o.row.Name] = o
		}
	}
	if len(byName) == 0 {
		return nil
	}
	bar := newProgress(a.errOut, len(byName))
	update := func(v *wuxiaov1.Village) {
		if o := byName[v.Name]; o != nil {
			o.v = v
		}
	}
	finished := func() bool {
		live, failed := 0, 0
		for _, o := range byName {
			done, bad, _ := villageState(o.v)
			switch {
			case done:
				live++
			case bad:
				failed++
			}
		}
		bar.set(live, failed)
		return live+failed == len(byName)
	}
	for {
		list := &wuxiaov1.VillageList{}
		if err := c.List(ctx, list, client.InNamespace(ns)); err != nil {
			if ctx.Err() != nil {
				break
			}
			return explain(err, "读取村的状态", ns)
		}
		for i := range list.Items {
			update(&list.Items[i])
		}
		if finished() {
			break
		}
		w, err := c.Watch(ctx, &wuxiaov1.VillageList{}, &client.ListOptions{Namespace: ns,
			Raw: &metav1.ListOptions{ResourceVersion: list.ResourceVersion}})
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			return explain(err, "观察（watch）村的状态", ns)
		}
		done := false
	events:
		for {
			select {
			case <-ctx.Done():
				break events
			case ev, ok := <-w.ResultChan():
				if !ok || ev.Type == watch.Error {
					break events // expired or closed by the server: list again
				}
				if v, ok := ev.Object.(*wuxiaov1.Village); ok && ev.Type != watch.Deleted {
					update(v)
					if finished() {
						done = true
						break events
					}
				}
			}
		}
		w.Stop()
		if done || ctx.Err() != nil {
			break
		}
	}
	bar.finish()
	if err := ctx.Err(); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}

func (a *app) summary(outs []*outcome, dryRun bool) error {
	t := &table{header: []string{"行", "村代码", "村名", "对象名", "结果", "READY", "LIVE", "问题"}}
	failed, counts := 0, map[string]int{}
	for _, o := range outs {
		ready, live, detail := "-", "-", o.detail
		if !o.failed && o.v != nil && !dryRun {
			ready, _, _ = readyOf(o.v.Status.Conditions)
			live = dash(o.v.Status.Live)
			done, bad, d := villageState(o.v)
			if !done {
				o.failed = true
				detail = d
				if !bad {
					detail = "未在限定时间内上线：" + d
				}
			}
		}
		if o.failed {
			failed++
			if o.result != "失败" {
				o.result += "，失败"
			}
		}
		counts[o.result]++
		t.add(fmt.Sprint(o.row.Line), o.row.Code, o.row.DisplayName, o.row.Name, o.result, ready, live, dash(detail))
	}
	if err := t.write(a.out); err != nil {
		return err
	}
	var parts []string
	for _, k := range []string{"创建", "更新", "未变", "将创建", "将更新"} {
		if counts[k] > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", k, counts[k]))
		}
	}
	if failed > 0 {
		parts = append(parts, fmt.Sprintf("失败 %d", failed))
	}
	word := "导入"
	if dryRun {
		word = "试运行（未写入）"
	}
	fmt.Fprintf(a.out, "%s %d 个村：%s\n", word, len(outs), strings.Join(parts, "，"))
	if failed > 0 {
		return &silentError{fmt.Sprintf("%d villages failed", failed)}
	}
	return nil
}

// progress draws a bar on a terminal; elsewhere (a CI log, a pipe) it
// writes a line whenever the counts change.
type progress struct {
	mu           sync.Mutex
	w            io.Writer
	tty          bool
	total        int
	live, failed int
	drawn        bool
}

func newProgress(w io.Writer, total int) *progress {
	p := &progress{w: w, total: total, live: -1}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		p.tty = true
	}
	return p
}

func (p *progress) set(live, failed int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if live == p.live && failed == p.failed && p.drawn {
		return
	}
	p.live, p.failed, p.drawn = live, failed, true
	const width = 30
	filled := width * (live + failed) / p.total
	bar := strings.Repeat("█", filled) + strings.Repeat("░", width-filled)
	line := fmt.Sprintf("上线 [%s] %d/%d 村已上线（Live）", bar, live, p.total)
	if failed > 0 {
		line += fmt.Sprintf("，%d 失败", failed)
	}
	if p.tty {
		fmt.Fprint(p.w, "\r\033[K"+line)
	} else {
		fmt.Fprintln(p.w, line)
	}
}

func (p *progress) finish() {
	if p.tty && p.drawn {
		fmt.Fprintln(p.w)
	}
}

func newExportCmd(a *app) *cobra.Command {
	var town, output string
	cmd := &cobra.Command{
		Use:   "export --town 镇 -o 文件.xlsx|文件.csv",
		Short: "把本镇的村导出到 Excel（.xlsx）或 CSV 表格，格式与导入相同",
		Example: `  kubectl wuxiao villages export --town xikou -o 溪口镇村名单.xlsx
  kubectl wuxiao villages export --town xikou -o - > 溪口镇村名单.csv`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := requireTown(town); err != nil {
				return err
			}
			if output == "" {
				return errors.New("请用 -o 指定导出的文件（.xlsx 或 .csv；- 为标准输出的 CSV）")
			}
			return a.exportVillages(cmd.Context(), town, output)
		},
	}
	cmd.Flags().StringVar(&town, "town", "", "镇（Town 的名字，如 xikou）")
	cmd.Flags().StringVarP(&output, "output", "o", "", "文件：.xlsx 或 .csv；- 为标准输出（CSV）")
	return cmd
}

func (a *app) exportVillages(ctx context.Context, town, output string) error {
	format := villagefile.CSV
	if output != "-" {
		f, err := villagefile.FormatOf(output)
		if err != nil {
			return err
		}
		format = f
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	ns := townNamespace(town)
	list := &wuxiaov1.VillageList{}
	if err := c.List(ctx, list, client.InNamespace(ns)); err != nil {
		return explain(err, "列出村", ns)
	}
	slices.SortFunc(list.Items, func(x, y wuxiaov1.Village) int { return strings.Compare(x.Spec.Code, y.Spec.Code) })
	var rows []villagefile.Row
	for i := range list.Items {
		if list.Items[i].DeletionTimestamp.IsZero() {
			rows = append(rows, villagefile.FromVillage(&list.Items[i]))
		}
	}
	f, err := a.createFile(output)
	if err != nil {
		return err
	}
	if err := villagefile.Write(f, format, rows); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if output != "-" {
		fmt.Fprintf(a.errOut, "已导出 %d 个村到 %s\n", len(rows), output)
	}
	return nil
}
