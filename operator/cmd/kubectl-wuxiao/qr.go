package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/wuxiao/wuxiao/api/pdffont"
	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
	"github.com/wuxiao/wuxiao/operator/internal/posters"
)

func newQRCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "qr", Short: "村的二维码"}
	var o postersOptions
	p := &cobra.Command{
		Use:   "posters --town 镇 [--village 村] [--sheet] -o posters.pdf",
		Short: "打印“码上监督”二维码海报（A4 PDF）：村务公开和码上举报的二维码与地址",
		Long: `为本镇的每个村生成一页 A4 海报，贴在宣传栏：村名、码上监督、村务公开门户的二维码和地址、
码上举报页的二维码和地址。--sheet 则每页排 ` + fmt.Sprint(posters.PerSheetPage) + ` 个村，便于裁剪。
只打印已就绪（有门户地址）的村。中文字体嵌入 PDF（需要一个 TrueType 中文字体，见 --font）。`,
		Example: `  kubectl wuxiao qr posters --town xikou -o 溪口镇海报.pdf
  kubectl wuxiao qr posters --town xikou --village 330213100201 -o 岩头村.pdf
  kubectl wuxiao qr posters --town xikou --sheet -o 溪口镇二维码.pdf`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := requireTown(o.town); err != nil {
				return err
			}
			if o.output == "" {
				return errors.New("请用 -o 指定 PDF 文件，例如 -o posters.pdf")
			}
			return a.posters(cmd.Context(), o)
		},
	}
	p.Flags().StringVar(&o.town, "town", "", "镇（Town 的名字，如 xikou）")
	p.Flags().StringSliceVar(&o.villages, "village", nil, "只打印这些村（村代码、对象名或村名；可重复）")
	p.Flags().BoolVar(&o.sheet, "sheet", false, fmt.Sprintf("每页排 %d 个村", posters.PerSheetPage))
	p.Flags().StringVarP(&o.output, "output", "o", "", "PDF 文件（- 为标准输出）")
	p.Flags().StringVar(&o.font, "font", "", "TrueType 中文字体文件（.ttf/.ttc）；默认依次尝试 "+strings.Join(pdffont.Candidates, "、"))
	p.Flags().IntVar(&o.fontIndex, "font-index", 0, ".ttc 字体集中的第几个字体（0 起）")
	cmd.AddCommand(p)
	return cmd
}

type postersOptions struct {
	town, output, font string
	villages           []string
	sheet              bool
	fontIndex          int
}

func loadFont(path string, index int) ([]byte, error) {
	if path != "" {
		data, err := pdffont.Load(path, index)
		if err != nil {
			return nil, fmt.Errorf("字体 %w", err)
		}
		return data, nil
	}
	var tried []string
	for _, c := range pdffont.Candidates {
		data, err := pdffont.Load(c, index)
		if err == nil {
			return data, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			tried = append(tried, err.Error())
		}
	}
	return nil, fmt.Errorf("找不到可嵌入的 TrueType 中文字体（试过 %s%s）：请用 --font 指定一个，例如 Windows 的 C:\\Windows\\Fonts\\simsun.ttc，或 Debian/Ubuntu 安装 fonts-arphic-uming",
		strings.Join(pdffont.Candidates, "、"), strings.Join(append([]string{""}, tried...), "；"))
}

func (a *app) posters(ctx context.Context, o postersOptions) error {
	font, err := loadFont(o.font, o.fontIndex)
	if err != nil {
		return err
	}
	c, err := a.client()
	if err != nil {
		return err
	}
	ns := townNamespace(o.town)
	list := &wuxiaov1.VillageList{}
	if err := c.List(ctx, list, client.InNamespace(ns)); err != nil {
		return explain(err, "列出村", ns)
	}
	slices.SortFunc(list.Items, func(x, y wuxiaov1.Village) int { return strings.Compare(x.Spec.Code, y.Spec.Code) })
	wanted := map[string]bool{}
	for _, v := range o.villages {
		wanted[v] = true
	}
	var ps []posters.Poster
	var skipped []string
	found := map[string]bool{}
	for i := range list.Items {
		v := &list.Items[i]
		if len(wanted) > 0 {
			match := ""
			for _, key := range []string{v.Spec.Code, v.Name, v.Spec.DisplayName} {
				if wanted[key] {
					match = key
				}
			}
			if match == "" {
				continue
			}
			found[match] = true
		}
		if !v.DeletionTimestamp.IsZero() {
			continue
		}
		report := posters.ReportURL(v.Status.PortalURL, v.Spec.Code)
		if v.Status.PortalURL == "" || report == "" {
			skipped = append(skipped, fmt.Sprintf("%s（%s）", v.Spec.DisplayName, v.Spec.Code))
			continue
		}
		ps = append(ps, posters.Poster{DisplayName: v.Spec.DisplayName, Code: v.Spec.Code, PortalURL: v.Status.PortalURL,
			ReportURL: report, ContactPhone: v.Spec.Portal.ContactPhone})
	}
	var missing []string
	for _, v := range o.villages {
		if !found[v] {
			missing = append(missing, v)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("镇 %s 中没有这些村：%s（可用村代码、对象名或村名）", o.town, strings.Join(missing, "、"))
	}
	if len(skipped) > 0 {
		fmt.Fprintf(a.errOut, "注意：这些村还没有门户地址（操作员尚未处理或未就绪），没有打印：%s\n", strings.Join(skipped, "、"))
	}
	if len(ps) == 0 {
		return fmt.Errorf("没有可打印的村：kubectl wuxiao status --town %s 查看原因", o.town)
	}
	f, err := a.createFile(o.output)
	if err != nil {
		return err
	}
	if err := posters.Render(f, font, ps, o.sheet); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if o.output != "-" {
		pages := len(ps)
		if o.sheet {
			pages = (len(ps) + posters.PerSheetPage - 1) / posters.PerSheetPage
		}
		fmt.Fprintf(a.errOut, "已生成 %s：%d 个村，%d 页 A4\n", o.output, len(ps), pages)
	}
	return nil
}
