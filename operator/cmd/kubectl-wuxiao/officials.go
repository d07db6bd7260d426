package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
	"github.com/wuxiao/wuxiao/operator/internal/posters"
	"github.com/wuxiao/wuxiao/operator/internal/resources"
	"github.com/wuxiao/wuxiao/operator/internal/villagefile"
)

// recoveryEntry is one official's entry of the Secret where the operator
// leaves a village's first sign-in codes, under the official's id
// (controller.RecoveryEntry): village-<code> of the town's recovery
// namespace, recovery-<town>, whose Secrets a town admin may read, and no
// others.
type recoveryEntry struct {
	Login     string    `json:"login"`
	Code      string    `json:"code"`
	Link      string    `json:"link"`
	ExpiresAt time.Time `json:"expiresAt"`
}

func newOfficialsCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "officials", Short: "村干部的账号交接"}
	var town, village, output, fontPath string
	var officials []string
	var fontIndex int
	h := &cobra.Command{
		Use:   "handover --town 镇 --village 村 -o 交接单.pdf",
		Short: "打印村干部的账号交接单：登录名、首次登录链接（二维码）和一次性验证码，每人一页",
		Long: `为一个村的每位干部打印一页 A4 账号交接单：登录名、首次登录的链接（含二维码）和一次性验证码，
由操作员签发，24 小时内有效、只能使用一次。交接单含登录凭据：请当面交给本人。
本命令不在屏幕或日志中显示任何验证码。`,
		Example: `  kubectl wuxiao officials handover --town xikou --village 330213100201 -o 岩头村交接单.pdf`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := requireTown(town); err != nil {
				return err
			}
			if village == "" || output == "" {
				return errors.New("请用 --village 指定村（村代码、对象名或村名），用 -o 指定 PDF 文件")
			}
			return a.handover(cmd.Context(), town, village, officials, output, fontPath, fontIndex)
		},
	}
	h.Flags().StringVar(&town, "town", "", "镇（Town 的名字，如 xikou）")
	h.Flags().StringVar(&village, "village", "", "村：村代码、对象名或村名")
	h.Flags().StringSliceVar(&officials, "official", nil, "只打印这些干部（id，见村的 spec.officials；可重复）")
	h.Flags().StringVarP(&output, "output", "o", "", "PDF 文件")
	h.Flags().StringVar(&fontPath, "font", "", "TrueType 中文字体文件（同 qr posters）")
	h.Flags().IntVar(&fontIndex, "font-index", 0, ".ttc 字体集中的第几个字体")
	cmd.AddCommand(h, newReissueCmd(a))
	return cmd
}

// The operator's annotations (controller.ReissueAnnotation,
// controller.ReissuedAtAnnotation).
const (
	reissueAnnotation    = "wuxiao.io/reissue-recovery"
	reissuedAtAnnotation = "wuxiao.io/recovery-reissued-at"
)

func newReissueCmd(a *app) *cobra.Command {
	var town, village string
	var officials []string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "reissue --town 镇 --village 村 --official id",
		Short: "请操作员为干部重新签发首次登录验证码（旧验证码随即失效）",
		Long: `验证码过期、遗失或交接单外泄时，请操作员重新签发：旧的验证码立即失效，新的写入本镇的
交接 Secret，再用 officials handover 打印新的交接单。本命令不显示任何验证码。`,
		Example: `  kubectl wuxiao officials reissue --town xikou --village 330213100201 --official p13800000001
  kubectl wuxiao officials handover --town xikou --village 330213100201 --official p13800000001 -o 交接单.pdf`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := requireTown(town); err != nil {
				return err
			}
			if village == "" || len(officials) == 0 {
				return errors.New("请用 --village 指定村，用 --official 指定干部的 id（见 kubectl get village <村> -o yaml 的 spec.officials）")
			}
			return a.reissue(cmd.Context(), town, village, officials, timeout)
		},
	}
	cmd.Flags().StringVar(&town, "town", "", "镇（Town 的名字，如 xikou）")
	cmd.Flags().StringVar(&village, "village", "", "村：村代码、对象名或村名")
	cmd.Flags().StringSliceVar(&officials, "official", nil, "干部的 id（可重复）")
	cmd.Flags().DurationVar(&timeout, "timeout", 2*time.Minute, "最多等操作员多久")
	return cmd
}

func (a *app) reissue(ctx context.Context, town, village string, officials []string, timeout time.Duration) error {
	c, err := a.client()
	if err != nil {
		return err
	}
	ns := townNamespace(town)
	v, err := findVillage(ctx, c, ns, village)
	if err != nil {
		return err
	}
	var names []string
	for _, id := range officials {
		i := slices.IndexFunc(v.Spec.Officials, func(o wuxiaov1.Official) bool { return o.ID == id })
		if i < 0 {
			return fmt.Errorf("村 %s 没有 id 为 %s 的干部", v.Spec.DisplayName, id)
		}
		names = append(names, fmt.Sprintf("%s（%s）", v.Spec.Officials[i].Name, id))
	}
	ids := officials
	if pending := v.Annotations[reissueAnnotation]; pending != "" {
		ids = append(strings.Split(pending, ","), ids...)
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	patched := v.DeepCopy()
	if patched.Annotations == nil {
		patched.Annotations = map[string]string{}
	}
	patched.Annotations[reissueAnnotation] = strings.Join(ids, ",")
	previous := v.Annotations[reissuedAtAnnotation]
	if err := c.Patch(ctx, patched, client.MergeFrom(v)); err != nil {
		return explain(err, "请求重新签发", ns)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	served := func(v *wuxiaov1.Village) bool {
		_, pending := v.Annotations[reissueAnnotation]
		return !pending
	}
	got, err := watchVillage(ctx, c, v, served)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("操作员在 %v 内没有签发（村就绪了吗？kubectl wuxiao status --town %s）；请求仍然有效，村就绪后会签发", timeout, town)
		}
		return err
	}
	at := got.Annotations[reissuedAtAnnotation]
	if at == "" || at == previous {
		return fmt.Errorf("操作员没有为 %s 签发：这些干部还没有账号（见 kubectl get events -n %s）", strings.Join(names, "、"), ns)
	}
	fmt.Fprintf(a.out, "已为 %s 重新签发首次登录验证码（%s），旧验证码已失效。\n打印交接单：kubectl wuxiao officials handover --town %s --village %s -o 交接单.pdf\n",
		strings.Join(names, "、"), at, town, v.Spec.Code)
	return nil
}

// watchVillage follows one village (a watch, not polling) until done says so.
func watchVillage(ctx context.Context, c client.WithWatch, v *wuxiaov1.Village, done func(*wuxiaov1.Village) bool) (*wuxiaov1.Village, error) {
	sel := fields.OneTermEqualSelector("metadata.name", v.Name)
	for {
		list := &wuxiaov1.VillageList{}
		if err := c.List(ctx, list, &client.ListOptions{Namespace: v.Namespace, FieldSelector: sel}); err != nil {
			return nil, explain(err, "读取村", v.Namespace)
		}
		if len(list.Items) == 0 {
			return nil, fmt.Errorf("村 %s 已被删除", v.Name)
		}
		if done(&list.Items[0]) {
			return &list.Items[0], nil
		}
		w, err := c.Watch(ctx, &wuxiaov1.VillageList{}, &client.ListOptions{Namespace: v.Namespace, FieldSelector: sel,
			Raw: &metav1.ListOptions{ResourceVersion: list.ResourceVersion}})
		if err != nil {
			return nil, explain(err, "观察（watch）村", v.Namespace)
		}
		for ev := range w.ResultChan() {
			if got, ok := ev.Object.(*wuxiaov1.Village); ok && ev.Type != watch.Deleted && done(got) {
				w.Stop()
				return got, nil
			}
			if ev.Type == watch.Error {
				break
			}
		}
		w.Stop()
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
}

// findVillage finds a village of the namespace by code, name or display name.
func findVillage(ctx context.Context, c client.Client, ns, key string) (*wuxiaov1.Village, error) {
	list := &wuxiaov1.VillageList{}
	if err := c.List(ctx, list, client.InNamespace(ns)); err != nil {
		return nil, explain(err, "列出村", ns)
	}
	var found []*wuxiaov1.Village
	for i := range list.Items {
		v := &list.Items[i]
		if v.Spec.Code == key || v.Name == key || v.Spec.DisplayName == key {
			found = append(found, v)
		}
	}
	switch len(found) {
	case 0:
		return nil, fmt.Errorf("命名空间 %s 中没有村 %s（可用村代码、对象名或村名）", ns, key)
	case 1:
		return found[0], nil
	}
	return nil, fmt.Errorf("有 %d 个村叫 %s：请用村代码", len(found), key)
}

func (a *app) handover(ctx context.Context, town, village string, only []string, output, fontPath string, fontIndex int) error {
	font, err := loadFont(fontPath, fontIndex)
	if err != nil {
		return err
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	ns := townNamespace(town)
	v, err := findVillage(ctx, c, ns, village)
	if err != nil {
		return err
	}
	secret := &corev1.Secret{}
	key := client.ObjectKey{Namespace: wuxiaov1.TownRecoveryNamespace(town), Name: resources.VillageRecoverySecretName(v.Spec.Code)}
	if err := c.Get(ctx, key, secret); err != nil && !apierrors.IsNotFound(err) {
		return explain(err, "读取首次登录验证码（Secret "+key.String()+"）", key.Namespace)
	}
	now := time.Now()
	var sheets []posters.Handover
	missing := 0
	for _, o := range v.Spec.Officials {
		if len(only) > 0 && !slices.Contains(only, o.ID) {
			continue
		}
		s := posters.Handover{Village: v.Spec.DisplayName, VillageCode: v.Spec.Code, Name: o.Name, Role: villagefile.RoleLabel(o.Role), Login: o.Email}
		if s.Login == "" {
			s.Login = o.Phone + "@" + v.Spec.Code + ".officials.wuxiao.invalid"
		}
		var e recoveryEntry
		raw, ok := secret.Data[o.ID]
		switch {
		case !ok:
			s.Note = "操作员还没有为这位干部签发验证码（村未就绪？kubectl wuxiao status 查看），或已签发后又被清除。"
		case json.Unmarshal(raw, &e) != nil:
			s.Note = "验证码记录无法读取，请联系平台管理员。"
		case !e.ExpiresAt.IsZero() && e.ExpiresAt.Before(now):
			s.Note = "验证码已于 " + e.ExpiresAt.In(time.FixedZone("CST", 8*3600)).Format("2006-01-02 15:04") + " 过期：用 kubectl wuxiao officials reissue 重新签发。"
		default:
			s.Login, s.Link, s.Code, s.ExpiresAt = e.Login, e.Link, e.Code, e.ExpiresAt
		}
		if s.Code == "" {
			missing++
		}
		sheets = append(sheets, s)
	}
	for _, id := range only {
		if !slices.ContainsFunc(v.Spec.Officials, func(o wuxiaov1.Official) bool { return o.ID == id }) {
			return fmt.Errorf("村 %s 没有 id 为 %s 的干部", v.Spec.DisplayName, id)
		}
	}
	if len(sheets) == 0 {
		return fmt.Errorf("村 %s 没有干部", v.Spec.DisplayName)
	}
	f, err := a.createFile(output)
	if err != nil {
		return err
	}
	if err := posters.RenderHandover(f, font, sheets); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	// Counts only: codes never reach the terminal or a log.
	fmt.Fprintf(a.errOut, "已生成 %s：%s %d 位干部", output, v.Spec.DisplayName, len(sheets))
	if missing > 0 {
		fmt.Fprintf(a.errOut, "，其中 %d 位没有可用的验证码（见交接单上的说明）", missing)
	}
	fmt.Fprintln(a.errOut)
	return nil
}
