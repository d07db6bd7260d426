// Package posters draws the villages' printable QR posters (码上监督): one
// A4 page per village for the notice board (宣传栏), or a sheet of many
// villages per page. QR codes are drawn as vector squares, so they print
// sharp at any size; the Chinese font is embedded (subset), so the PDF
// prints the same on any machine.
package posters

import (
	"fmt"
	"io"
	"strings"

	"github.com/signintech/gopdf"

	"github.com/wuxiao/wuxiao/api/qrcode"
)

// Poster is one village's poster.
type Poster struct {
	// DisplayName of the village, e.g. 岩头村.
	DisplayName string
	Code        string
	// PortalURL is the village's public portal (村务公开).
	PortalURL string
	// ReportURL is its report page (码上举报).
	ReportURL string
	// ContactPhone of the liaison station, if the village has one.
	ContactPhone string
}

// ReportURL is the report page of the village whose portal is portalURL:
// the district gateway serves portals at /v/<code> and the report page at
// /r/<code> (services/gateway).
func ReportURL(portalURL, code string) string {
	if base, ok := strings.CutSuffix(portalURL, "/v/"+code); ok {
		return base + "/r/" + code
	}
	return ""
}

// A4 in points.
const (
	pageW = 595.28
	pageH = 841.89
	font  = "cjk"
)

// PerSheetPage is how many villages a page of the sheet layout holds.
const PerSheetPage = 6

// Render writes the posters as one PDF: a page per village, or with sheet
// PerSheetPage villages per page. fontData is a TrueType font with Chinese
// glyphs (see api/pdffont).
func Render(w io.Writer, fontData []byte, posters []Poster, sheet bool) error {
	if len(posters) == 0 {
		return fmt.Errorf("no village to print")
	}
	pdf := &gopdf.GoPdf{}
	pdf.Start(gopdf.Config{PageSize: *gopdf.PageSizeA4})
	pdf.SetInfo(gopdf.PdfInfo{Title: "码上监督 二维码海报", Creator: "kubectl-wuxiao"})
	if err := pdf.AddTTFFontData(font, fontData); err != nil {
		return fmt.Errorf("the font cannot be embedded: %w", err)
	}
	if err := pdf.SetFont(font, "", 12); err != nil {
		return err
	}
	if wd, err := pdf.MeasureTextWidth("码上监督"); err != nil || wd <= 0 {
		return fmt.Errorf("the font has no Chinese glyphs (码上监督)")
	}
	d := &drawer{pdf: pdf}
	for i, p := range posters {
		if p.PortalURL == "" || p.ReportURL == "" {
			return fmt.Errorf("village %s (%s) has no portal address yet", p.DisplayName, p.Code)
		}
		if !sheet {
			pdf.AddPage()
			d.poster(p)
			continue
		}
		if i%PerSheetPage == 0 {
			pdf.AddPage()
		}
		d.cell(p, i%PerSheetPage)
	}
	if d.err != nil {
		return d.err
	}
	_, err := pdf.WriteTo(w)
	return err
}

type drawer struct {
	pdf *gopdf.GoPdf
	err error
}

// text writes s with its top at y, centred on cx.
func (d *drawer) text(s string, size, cx, y float64) {
	if d.err != nil {
		return
	}
	if d.err = d.pdf.SetFontSize(size); d.err != nil {
		return
	}
	wd, err := d.pdf.MeasureTextWidth(s)
	if err != nil {
		d.err = err
		return
	}
	// gopdf's Text puts the baseline at y; the ascent is ~0.88 em.
	d.pdf.SetXY(cx-wd/2, y+0.88*size)
	d.err = d.pdf.Text(s)
}

// qr draws url's QR code as a side×side square (quiet zone included) with
// its top-left corner at x, y: each row's runs of dark modules as one
// filled rectangle.
func (d *drawer) qr(url string, x, y, side float64) {
	if d.err != nil {
		return
	}
	code, err := qrcode.Encode(url)
	if err != nil {
		d.err = fmt.Errorf("encoding %s as a QR code: %w", url, err)
		return
	}
	m := side / float64(code.Side())
	d.pdf.SetFillColor(0, 0, 0)
	code.Runs(func(row, from, to int) {
		d.pdf.RectFromUpperLeftWithStyle(x+float64(qrcode.Quiet+from)*m, y+float64(qrcode.Quiet+row)*m, float64(to-from)*m, m, "F")
	})
}

// poster lays out one A4 page: title, village, the portal's big code and
// address, the report page's code and address, the village code.
func (d *drawer) poster(p Poster) {
	cx := pageW / 2
	d.pdf.SetTextColor(0xb7, 0x1c, 0x1c)
	d.text("码上监督", 44, cx, 50)
	d.pdf.SetTextColor(0, 0, 0)
	d.text(p.DisplayName, 30, cx, 112)
	d.text("扫码看村务公开：我们的钱包 · 补贴去哪了 · 流程到哪了", 13, cx, 160)
	d.qr(p.PortalURL, cx-150, 180, 300)
	d.text(p.PortalURL, 11, cx, 486)
	d.pdf.SetStrokeColor(0xb7, 0x1c, 0x1c)
	d.pdf.SetLineWidth(1)
	d.pdf.Line(60, 515, pageW-60, 515)
	d.pdf.SetTextColor(0xb7, 0x1c, 0x1c)
	d.text("码上举报：发现问题，扫码反映", 18, cx, 530)
	d.pdf.SetTextColor(0, 0, 0)
	d.text("可以不留姓名，监察联络员会处理并答复", 11, cx, 556)
	d.qr(p.ReportURL, cx-85, 574, 170)
	d.text(p.ReportURL, 10, cx, 748)
	footer := "村代码 " + p.Code
	if p.ContactPhone != "" {
		footer += " · 监察联络站电话 " + p.ContactPhone
	}
	d.text(footer, 10, cx, 790)
}

// Sheet layout: 2 columns × 3 rows of cells with cutting lines.
const (
	sheetCols   = 2
	cellW       = 270
	cellH       = 250
	sheetMargin = (pageW - sheetCols*cellW) / 2
	sheetTop    = 45
)

func (d *drawer) cell(p Poster, i int) {
	x := sheetMargin + float64(i%sheetCols)*cellW
	y := sheetTop + float64(i/sheetCols)*cellH
	d.pdf.SetStrokeColor(0xbb, 0xbb, 0xbb)
	d.pdf.SetLineWidth(0.5)
	d.pdf.SetLineType("dashed")
	d.pdf.Line(x, y, x+cellW, y)
	d.pdf.Line(x, y+cellH, x+cellW, y+cellH)
	d.pdf.Line(x, y, x, y+cellH)
	d.pdf.Line(x+cellW, y, x+cellW, y+cellH)
	d.pdf.SetLineType("solid")
	cx := x + cellW/2
	d.pdf.SetTextColor(0xb7, 0x1c, 0x1c)
	d.text("码上监督", 12, cx, y+10)
	d.pdf.SetTextColor(0, 0, 0)
	d.text(p.DisplayName, 16, cx, y+28)
	d.qr(p.PortalURL, x+12, y+52, 120)
	d.qr(p.ReportURL, x+cellW-132, y+52, 120)
	d.text("扫码看村务公开", 9, x+72, y+175)
	d.text("码上举报", 9, x+cellW-72, y+175)
	d.text(p.PortalURL, 7.5, cx, y+196)
	d.text(p.ReportURL, 7.5, cx, y+210)
	d.text("村代码 "+p.Code, 7.5, cx, y+228)
}
