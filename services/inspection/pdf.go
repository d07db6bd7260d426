package inspection

// PDF notices: the same document as Notice.HTML, laid out on A4 with the
// margins of GB/T 9704 (official documents), with the CJK font embedded
// (subset) so that the PDF prints the same everywhere.
//
// Fonts: gopdf embeds TrueType-outlined fonts only. Debian's fonts-noto-cjk
// is OpenType/CFF and cannot be used; hack/fonts.sh installs Debian's
// fonts-arphic-uming (AR PL UMing, a Song/Ming face, Arphic Public
// License), a TrueType collection (.ttc) whose face 0 is the simplified
// Chinese one. Collections are split here, so any TrueType .ttf or .ttc
// works; the path is the service's --notice-font setting.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/signintech/gopdf"

	"github.com/wuxiao/wuxiao/services/internal/httpapi"
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
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("notice font: %w (install one with hack/fonts.sh, or set --notice-font to a TrueType CJK font)", err)
	}
	data, err := trueTypeFace(raw, index)
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

// trueTypeFace returns a standalone TrueType font: the font itself, or face
// index of a collection rebuilt as a font of its own.
func trueTypeFace(raw []byte, index int) ([]byte, error) {
	if len(raw) < 12 {
		return nil, errors.New("not a font file")
	}
	be := binary.BigEndian
	if string(raw[:4]) != "ttcf" {
		return checkTrueType(raw, 0, raw)
	}
	n := int(be.Uint32(raw[8:12]))
	if index < 0 || index >= n || len(raw) < 12+4*n {
		return nil, fmt.Errorf("the collection has %d faces; face %d does not exist", n, index)
	}
	off := int(be.Uint32(raw[12+4*index:]))
	if _, err := checkTrueType(raw, off, nil); err != nil {
		return nil, err
	}
	numTables := int(be.Uint16(raw[off+4:]))
	dir := raw[off+12 : off+12+16*numTables]
	size := 12 + 16*numTables
	var out bytes.Buffer
	out.Write(raw[off : off+12])
	body := make([]byte, 0)
	for i := range numTables {
		rec := dir[16*i : 16*i+16]
		tOff, tLen := int(be.Uint32(rec[8:])), int(be.Uint32(rec[12:]))
		if tOff < 0 || tLen < 0 || tOff+tLen > len(raw) {
			return nil, fmt.Errorf("table %q lies outside the file", rec[:4])
		}
		var nr [16]byte
		copy(nr[:8], rec[:8])
		be.PutUint32(nr[8:], uint32(size+len(body)))
		be.PutUint32(nr[12:], uint32(tLen))
		out.Write(nr[:])
		body = append(body, raw[tOff:tOff+tLen]...)
		for len(body)%4 != 0 {
			body = append(body, 0)
		}
	}
	out.Write(body)
	return out.Bytes(), nil
}

// checkTrueType checks that the font at off has TrueType outlines; it
// returns whole (the font's bytes) when it does.
func checkTrueType(raw []byte, off int, whole []byte) ([]byte, error) {
	if off < 0 || off+12 > len(raw) {
		return nil, errors.New("truncated font")
	}
	switch v := string(raw[off : off+4]); v {
	case "\x00\x01\x00\x00", "true":
	case "OTTO":
		return nil, errors.New("has CFF (PostScript) outlines, which cannot be embedded; use a TrueType font, e.g. Debian's fonts-arphic-uming (hack/fonts.sh)")
	default:
		return nil, fmt.Errorf("is not a TrueType font (version %q)", v)
	}
	numTables := int(binary.BigEndian.Uint16(raw[off+4:]))
	if off+12+16*numTables > len(raw) {
		return nil, errors.New("truncated table directory")
	}
	for i := range numTables {
		if string(raw[off+12+16*i:off+16+16*i]) == "glyf" {
			return whole, nil
		}
	}
	return nil, errors.New("has no glyf table (no TrueType outlines)")
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
		func() error { return w.line(n.Number, bodySize, "C", 24) },
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
			return w.line(dateSeal(n.IssuedAt), bodySize, "R", lineHeight)
		},
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return nil, fmt.Errorf("rendering notice %s as PDF: %w", n.Number, err)
		}
	}
	return pdf.GetBytesPdfReturnErr()
}

// noticePDF serves a notice as PDF, to the same readers as its HTML.
func (s *Service) noticePDF(w http.ResponseWriter, r *http.Request) {
	n, _, ok := s.readableNotice(w, r)
	if !ok {
		return
	}
	if s.Integrity.NoticeFont == nil {
		httpapi.WriteStatusProblem(w, r, http.StatusServiceUnavailable, "PDF notices unavailable",
			"the service has no CJK TrueType font to render PDFs with: set --notice-font / WUXIAO_NOTICE_FONT (hack/fonts.sh installs one); the HTML notice is at "+
				strings.TrimSuffix(r.URL.Path, "/pdf")+"/html")
		return
	}
	doc, err := n.PDF(s.Integrity.NoticeFont)
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/pdf")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`inline; filename="notice-%d-%d.pdf"; filename*=UTF-8''%s.pdf`, n.Year, n.Seq, url.PathEscape(n.Number)))
	w.Header().Set("Cache-Control", "private, no-store")
	_, _ = w.Write(doc)
}
