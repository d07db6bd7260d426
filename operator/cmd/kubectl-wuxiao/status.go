package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
	"github.com/wuxiao/wuxiao/operator/internal/villagefile"
)

// TownStatus is one town in `status -o json`.
type TownStatus struct {
	Name          string   `json:"name"`
	Code          string   `json:"code"`
	DisplayName   string   `json:"displayName"`
	Ready         string   `json:"ready"`
	Reason        string   `json:"reason,omitempty"`
	Version       string   `json:"version,omitempty"`
	Villages      int32    `json:"villages"`
	ReadyVillages int32    `json:"readyVillages"`
	Problems      []string `json:"problems,omitempty"`
}

// VillageStatus is one village in `status -o json`.
type VillageStatus struct {
	Town        string   `json:"town"`
	Name        string   `json:"name"`
	Code        string   `json:"code"`
	DisplayName string   `json:"displayName"`
	Ready       string   `json:"ready"`
	Reason      string   `json:"reason,omitempty"`
	Live        string   `json:"live,omitempty"`
	PortalURL   string   `json:"portalURL,omitempty"`
	Problems    []string `json:"problems,omitempty"`
}

// StatusReport is the output of `status -o json`.
type StatusReport struct {
	Towns    []TownStatus    `json:"towns"`
	Villages []VillageStatus `json:"villages"`
	// Notes say what could not be read (a town admin cannot read Towns).
	Notes []string `json:"notes,omitempty"`
}

func newStatusCmd(a *app) *cobra.Command {
	var town, output string
	cmd := &cobra.Command{
		Use:   "status [--town 镇]",
		Short: "镇和村的状态：是否就绪（Ready）、各服务是否已上线（Live）、问题",
		Example: `  kubectl wuxiao status --town xikou
  kubectl wuxiao status -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "" && output != "json" && output != "table" {
				return fmt.Errorf("-o 只能是 table 或 json")
			}
			rep, err := a.status(cmd.Context(), town)
			if err != nil {
				return err
			}
			if output == "json" {
				enc := json.NewEncoder(a.out)
				enc.SetIndent("", "  ")
				return enc.Encode(rep)
			}
			return printStatus(a, rep)
		},
	}
	cmd.Flags().StringVar(&town, "town", "", "只看这个镇（Town 的名字）；镇管理员必须指定")
	cmd.Flags().StringVarP(&output, "output", "o", "table", "输出格式：table 或 json")
	return cmd
}

func (a *app) status(ctx context.Context, town string) (*StatusReport, error) {
	c, err := a.client()
	if err != nil {
		return nil, err
	}
	rep := &StatusReport{Towns: []TownStatus{}, Villages: []VillageStatus{}}
	var towns []wuxiaov1.Town
	if town != "" {
		t := &wuxiaov1.Town{}
		switch err := c.Get(ctx, client.ObjectKey{Name: town}, t); {
		case err == nil:
			towns = append(towns, *t)
		case apierrors.IsForbidden(err):
			rep.Notes = append(rep.Notes, "你无权读取 Town 对象（集群级），只显示村；镇的状态请问平台管理员")
		case apierrors.IsNotFound(err):
			return nil, fmt.Errorf("没有名为 %s 的镇（Town）", town)
		default:
			return nil, explain(err, "读取镇 "+town, "")
		}
	} else {
		list := &wuxiaov1.TownList{}
		if err := c.List(ctx, list); err != nil {
			if apierrors.IsForbidden(err) {
				return nil, fmt.Errorf("你无权列出所有镇：镇管理员请用 --town 指定自己的镇（%s）", reason(err))
			}
			return nil, explain(err, "列出镇", "")
		}
		towns = list.Items
	}
	for i := range towns {
		rep.Towns = append(rep.Towns, townStatus(&towns[i]))
	}
	villages := &wuxiaov1.VillageList{}
	opts := []client.ListOption{}
	if town != "" {
		opts = append(opts, client.InNamespace(townNamespace(town)))
	}
	if err := c.List(ctx, villages, opts...); err != nil {
		ns := ""
		if town != "" {
			ns = townNamespace(town)
		}
		return nil, explain(err, "列出村", ns)
	}
	for i := range villages.Items {
		rep.Villages = append(rep.Villages, villageStatus(&villages.Items[i]))
	}
	slices.SortFunc(rep.Villages, func(x, y VillageStatus) int {
		return strings.Compare(x.Town+"/"+x.Code, y.Town+"/"+y.Code)
	})
	return rep, nil
}

func readyOf(conds []metav1.Condition) (status, reason, message string) {
	c := meta.FindStatusCondition(conds, wuxiaov1.ConditionReady)
	if c == nil {
		return "Unknown", "", "操作员还没有处理"
	}
	return string(c.Status), c.Reason, c.Message
}

func townStatus(t *wuxiaov1.Town) TownStatus {
	s := TownStatus{Name: t.Name, Code: t.Spec.Code, DisplayName: t.Spec.DisplayName, Version: t.Status.Version,
		Villages: t.Status.Villages, ReadyVillages: t.Status.ReadyVillages}
	var msg string
	s.Ready, s.Reason, msg = readyOf(t.Status.Conditions)
	if s.Ready != string(metav1.ConditionTrue) {
		s.Problems = append(s.Problems, strings.TrimSpace(s.Reason+" "+msg))
	}
	for _, svc := range t.Status.Services {
		if !svc.Ready {
			s.Problems = append(s.Problems, fmt.Sprintf("服务 %s 未就绪 %d/%d %s", svc.Name, svc.ReadyReplicas, svc.Replicas, svc.Message))
		}
	}
	if c := meta.FindStatusCondition(t.Status.Conditions, wuxiaov1.ConditionRatingRulesValid); c != nil && c.Status == metav1.ConditionFalse {
		s.Problems = append(s.Problems, "积分规则："+c.Message)
	}
	return s
}

// liveDone reports whether a Live count such as 4/4 is complete.
func liveDone(live string) bool {
	n, total, ok := strings.Cut(live, "/")
	return ok && n == total && n != "0"
}

func villageStatus(v *wuxiaov1.Village) VillageStatus {
	s := VillageStatus{Town: v.Status.Town, Name: v.Name, Code: v.Spec.Code, DisplayName: v.Spec.DisplayName,
		Live: v.Status.Live, PortalURL: v.Status.PortalURL}
	if s.Town == "" {
		s.Town = strings.TrimPrefix(v.Namespace, "town-")
	}
	var msg string
	s.Ready, s.Reason, msg = readyOf(v.Status.Conditions)
	if s.Ready != string(metav1.ConditionTrue) {
		s.Problems = append(s.Problems, explainReason(s.Reason, msg))
	}
	if len(v.Status.MissingRoles) > 0 {
		var roles []string
		for _, r := range v.Status.MissingRoles {
			roles = append(roles, villagefile.RoleLabel(r))
		}
		s.Problems = append(s.Problems, "缺少职务："+strings.Join(roles, "、"))
	}
	if s.Ready == string(metav1.ConditionTrue) && s.Live != "" && !liveDone(s.Live) {
		var waiting []string
		for _, svc := range wuxiaov1.AllServices {
			live := false
			for _, ack := range v.Status.Services {
				live = live || (ack.Name == string(svc) && ack.Live)
			}
			if !live {
				waiting = append(waiting, string(svc))
			}
		}
		s.Problems = append(s.Problems, "尚未上线的服务："+strings.Join(waiting, "、"))
	}
	if !v.DeletionTimestamp.IsZero() {
		s.Problems = append(s.Problems, "正在撤并归档")
	}
	return s
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func printStatus(a *app, rep *StatusReport) error {
	for _, n := range rep.Notes {
		fmt.Fprintln(a.errOut, "注意："+n)
	}
	if len(rep.Towns) > 0 {
		t := &table{header: []string{"镇", "代码", "名称", "READY", "村", "就绪村", "版本", "问题"}}
		for _, s := range rep.Towns {
			t.add(s.Name, s.Code, s.DisplayName, s.Ready, fmt.Sprint(s.Villages), fmt.Sprint(s.ReadyVillages), dash(s.Version), dash(strings.Join(s.Problems, "；")))
		}
		if err := t.write(a.out); err != nil {
			return err
		}
		fmt.Fprintln(a.out)
	}
	if len(rep.Villages) == 0 {
		_, err := fmt.Fprintln(a.out, "没有村。导入：kubectl wuxiao villages import 村.xlsx --town <镇>")
		return err
	}
	t := &table{header: []string{"镇", "村代码", "村名", "对象名", "READY", "LIVE", "问题"}}
	for _, s := range rep.Villages {
		t.add(s.Town, s.Code, s.DisplayName, s.Name, s.Ready, dash(s.Live), dash(strings.Join(s.Problems, "；")))
	}
	return t.write(a.out)
}
