package inspection

// PDF notices: the same document as Notice.HTML, laid out on A4 with the
// margins of GB/T 9704 (official documents), with the CJK font embedded
// (subset) so that the PDF prints the same everywhere.
//
// Fonts: gopdf embeds TrueType-outlined fonts only. Debian's fonts-noto-cjk
// is OpenType/CFF and cannot be used; hack/fonts.sh installs Debian's
// fonts-arphic-uming (AR PL UMing, a Song/Ming face, Arphic Public
// License), a TrueType collection (.ttc) whose face 0 is the simplified
// Chinese one. Collections are split by api/pdffont (shared with kubectl
// wuxiao's posters), so any TrueType .ttf or .ttc works; the path is the
// service's --notice-font setting.

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/signintech/gopdf"

	"github.com/wuxiao/wuxiao/api/pdffont"
)

// DefaultNoticeFontPath is where hack/fonts.sh (Debian's fonts-arphic-uming)
// puts the font.
const DefaultNoticeFontPath = "/usr/share/fonts/truetype/arphic/uming.ttc"

// NoticeFont is a TrueType font to render PDF notices with.
type NoticeFont struct {
	Path string
	data []byte
}

// LoadNoticeFont reads a TrueType font (.ttf) or one face (index) of a
// TrueType collection (.ttc), and checks that it can be embedded.
func LoadNoticeFont(path string, index int) (*NoticeFont, error) {
	raw, err := os.ReadFile(path) //nolint:gosec // G703: the operator's --notice-font setting (G304 is excluded for the same reason)
	if err != nil {
		return nil, fmt.Errorf("notice font: %w (install one with hack/fonts.sh, or set --notice-font to a TrueType CJK font)", err)
	}
	data, err := pdffont.Face(raw, index)
	if err != nil {
		return nil, fmt.Errorf("notice font %s: %w", path, err)
	}
	f := &NoticeFont{Path: path, data: data}
	var pdf gopdf.GoPdf
	pdf.Start(gopdf.Config{PageSize: *gopdf.PageSizeA4})
	if err := pdf.AddTTFFontData("notice", data); err != nil {
		return nil, fmt.Errorf("notice font %s: cannot be embedded: %w", path, err)
	}
	if err := pdf.SetFont("notice", "", 12); err != nil {
		return nil, fmt.Errorf("notice font %s: %w", path, err)
	}
	if w, err := pdf.MeasureTextWidth("预警通知书"); err != nil || w <= 0 {
		return nil, fmt.Errorf("notice font %s: has no Chinese glyphs (e.g. 预警通知书)", path)
	}
	return f, nil
}

// A4 layout, in points (1 mm = 72/25.4 pt), after GB/T 9704: margins top
// 37 mm, bottom 35 mm, left 28 mm, right 26 mm; titles 二号 (22 pt). The
// body is set a little smaller than the standard's 三号 (15 pt instead of
// 16, 25 pt leading) so that a usual notice fits on one page.
const (
	mm          = 72 / 25.4
	pageW       = 595.28
	pageH       = 841.89
	marginTop   = 37 * mm
	marginBot   = 35 * mm
	marginLeft  = 28 * mm
	marginRight = 26 * mm
	bodySize    = 15
	lineHeight  = 25
)

// pdfWriter lays out lines top-down, adding pages as needed.
type pdfWriter struct {
	pdf *gopdf.GoPdf
	y   float64
}

func (p *pdfWriter) newPage() {
	p.pdf.AddPage()
	p.y = marginTop
}

func (p *pdfWriter) space(h float64) {
	if p.y+h > pageH-marginBot {
		p.newPage()
		return
	}
	p.y += h
}

// line writes one line: align is "L", "C" or "R".
func (p *pdfWriter) line(text string, size float64, align string, height float64) error {
	if p.y+height > pageH-marginBot {
		p.newPage()
	}
	if err := p.pdf.SetFontSize(size); err != nil {
		return err
	}
	w, err := p.pdf.MeasureTextWidth(text)
	if err != nil {
		return err
	}
	x := marginLeft
	switch align {
	case "C":
		x = (pageW-w)/2 + (marginLeft-marginRight)/2
	case "R":
		x = pageW - marginRight - w
	}
	p.pdf.SetXY(x, p.y)
	if err := p.pdf.Text(text); err != nil {
		return err
	}
	p.y += height
	return nil
}

// paragraph writes text wrapped to the text width, the first line
// indented by indent characters.
func (p *pdfWriter) paragraph(text string, indent int) error {
	if err := p.pdf.SetFontSize(bodySize); err != nil {
		return err
	}
	text = strings.Repeat("\u3000", indent) + text
	lines, err := p.pdf.SplitText(text, pageW-marginLeft-marginRight)
	if err != nil {
		return err
	}
	for _, l := range lines {
		if err := p.line(l, bodySize, "L", lineHeight); err != nil {
			return err
		}
	}
	return nil
}

// PDF renders the notice as an A4 PDF with the font embedded.
func (n *Notice) PDF(font *NoticeFont) ([]byte, error) {
	if font == nil {
		return nil, errors.New("no font to render PDF notices with")
	}
	pdf := &gopdf.GoPdf{}
	pdf.Start(gopdf.Config{PageSize: *gopdf.PageSizeA4, Unit: gopdf.UnitPT})
	pdf.SetInfo(gopdf.PdfInfo{Title: n.Kind.Title() + " " + n.Number, Subject: n.Kind.Title(), Author: strings.Join(n.Issuers, " "),
		Creator: "wuxiao inspection", CreationDate: n.IssuedAt})
	if err := pdf.AddTTFFontData("notice", font.data); err != nil {
		return nil, err
	}
	if err := pdf.SetFont("notice", "", bodySize); err != nil {
		return nil, err
	}
	w := &pdfWriter{pdf: pdf}
	w.newPage()
	steps := []func() error{
		func() error {
			pdf.SetTextColor(0xcc, 0, 0)
			defer pdf.SetTextColor(0, 0, 0)
			return w.line(strings.Join(n.Issuers, " "), 22, "C", 40)
		},
		func() error { return w.line(n.Kind.Title(), 22, "C", 34) },
		func() error { return w.line(n.numberLine(), bodySize, "C", 24) },
		func() error {
			pdf.SetStrokeColor(0xcc, 0, 0)
			pdf.SetLineWidth(1.5)
			pdf.Line(marginLeft, w.y, pageW-marginRight, w.y)
			w.space(lineHeight)
			return nil
		},
		func() error { return w.paragraph("致："+n.addressee(), 0) },
		func() error { return w.paragraph(n.opening(), 2) },
		func() error {
			for i, r := range n.Reasons {
				if err := w.paragraph(fmt.Sprintf("%d. %s", i+1, r), 2); err != nil {
					return err
				}
			}
			return nil
		},
		func() error { return w.paragraph(n.requirement(), 2) },
		func() error {
			w.space(lineHeight)
			for _, s := range n.Issuers {
				if err := w.line(s, bodySize, "R", lineHeight); err != nil {
					return err
				}
			}
			return w.line(n.dateLine(), bodySize, "R", lineHeight)
		},
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return nil, fmt.Errorf("rendering notice %s as PDF: %w", n.Number, err)
		}
	}
	return pdf.GetBytesPdfReturnErr()
}
