// Package posterstest reads back what the posters package printed, for
// tests: each page's text and the addresses its QR codes decode to.
package posterstest

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"math"
	"sort"

	"github.com/ledongthuc/pdf"

	"github.com/wuxiao/wuxiao/api/qrcode/qrcodetest"
)

// Page is what one page shows.
type Page struct {
	Text string
	// QRs are the decoded QR codes, top to bottom, left to right.
	QRs []string
}

// Decode reads every page of a PDF: its text, and its filled rectangles
// grouped into QR codes (rectangles closer than a module to each other),
// each rasterised on its own and decoded with ZXing's QR reader.
func Decode(data []byte) ([]Page, error) {
	r, err := pdf.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, err
	}
	var pages []Page
	for i := 1; i <= r.NumPage(); i++ {
		p := r.Page(i)
		text, err := p.GetPlainText(nil)
		if err != nil {
			return nil, fmt.Errorf("page %d: %w", i, err)
		}
		qrs, err := decodeRects(p.Content().Rect)
		if err != nil {
			return nil, fmt.Errorf("page %d: %w", i, err)
		}
		pages = append(pages, Page{Text: text, QRs: qrs})
	}
	return pages, nil
}

type box struct{ x0, y0, x1, y1 float64 }

func norm(r pdf.Rect) box {
	return box{math.Min(r.Min.X, r.Max.X), math.Min(r.Min.Y, r.Max.Y), math.Max(r.Min.X, r.Max.X), math.Max(r.Min.Y, r.Max.Y)}
}

func decodeRects(rects []pdf.Rect) ([]string, error) {
	boxes := make([]box, len(rects))
	for i, r := range rects {
		boxes[i] = norm(r)
	}
	// Union-find: rectangles within one module (a rectangle's height is one
	// module) of each other belong to the same code.
	parent := make([]int, len(boxes))
	for i := range parent {
		parent[i] = i
	}
	find := func(i int) int {
		for parent[i] != i {
			parent[i] = parent[parent[i]]
			i = parent[i]
		}
		return i
	}
	for i := range boxes {
		for j := i + 1; j < len(boxes); j++ {
			a, b := boxes[i], boxes[j]
			gap := 1.01 * math.Max(a.y1-a.y0, b.y1-b.y0)
			if a.x0 <= b.x1+gap && b.x0 <= a.x1+gap && a.y0 <= b.y1+gap && b.y0 <= a.y1+gap {
				parent[find(i)] = find(j)
			}
		}
	}
	groups := map[int]*box{}
	count := map[int]int{}
	for i, b := range boxes {
		root := find(i)
		count[root]++
		if g := groups[root]; g == nil {
			c := b
			groups[root] = &c
		} else {
			g.x0, g.y0, g.x1, g.y1 = math.Min(g.x0, b.x0), math.Min(g.y0, b.y0), math.Max(g.x1, b.x1), math.Max(g.y1, b.y1)
		}
	}
	var areas []box
	for root, g := range groups {
		if count[root] >= 20 { // a QR code, not a stray rectangle
			areas = append(areas, *g)
		}
	}
	// PDF y grows upwards: top to bottom is descending y.
	sort.Slice(areas, func(i, j int) bool {
		if math.Abs(areas[i].y1-areas[j].y1) > 1 {
			return areas[i].y1 > areas[j].y1
		}
		return areas[i].x0 < areas[j].x0
	})
	var out []string
	for _, area := range areas {
		text, err := decodeArea(boxes, area)
		if err != nil {
			return nil, err
		}
		out = append(out, text)
	}
	return out, nil
}

// decodeArea rasterises the rectangles inside area (plus a quiet zone) at
// 8 pixels per point and decodes them.
func decodeArea(boxes []box, area box) (string, error) {
	const scale, margin = 8.0, 12.0
	w := int((area.x1 - area.x0 + 2*margin) * scale)
	h := int((area.y1 - area.y0 + 2*margin) * scale)
	img := image.NewGray(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = 0xff
	}
	for _, b := range boxes {
		if b.x0 < area.x0-0.01 || b.x1 > area.x1+0.01 || b.y0 < area.y0-0.01 || b.y1 > area.y1+0.01 {
			continue
		}
		px0 := int(math.Round((b.x0 - area.x0 + margin) * scale))
		px1 := int(math.Round((b.x1 - area.x0 + margin) * scale))
		// Flip: image rows grow downwards.
		py0 := int(math.Round((area.y1 - b.y1 + margin) * scale))
		py1 := int(math.Round((area.y1 - b.y0 + margin) * scale))
		for y := py0; y < py1 && y < h; y++ {
			for x := px0; x < px1 && x < w; x++ {
				img.SetGray(x, y, color.Gray{})
			}
		}
	}
	text, err := qrcodetest.Decode(img)
	if err != nil {
		return "", fmt.Errorf("a QR code at (%.0f,%.0f): %w", area.x0, area.y0, err)
	}
	return text, nil
}
