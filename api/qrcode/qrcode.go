// Package qrcode draws the villages' QR codes, shared by the disclosure
// portal (PNG and SVG for the screen and the notice board) and kubectl
// wuxiao's posters (vector squares in a PDF): one encoding, one quiet
// zone, so every printed code scans alike.
package qrcode

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"strings"

	"github.com/boombuler/barcode"
	"github.com/boombuler/barcode/qr"
)

// Quiet is the blank margin, in modules, the standard asks around a code.
const Quiet = 4

// Code is an encoded QR code.
type Code struct {
	bc barcode.Barcode
	n  int
}

// Encode encodes text with medium error correction, which survives a
// scuffed notice board.
func Encode(text string) (*Code, error) {
	bc, err := qr.Encode(text, qr.M, qr.Auto)
	if err != nil {
		return nil, err
	}
	return &Code{bc: bc, n: bc.Bounds().Dx()}, nil
}

// Size is the number of modules on a side, without the quiet zone.
func (c *Code) Size() int { return c.n }

// Side is the number of modules on a side with the quiet zone.
func (c *Code) Side() int { return c.n + 2*Quiet }

// Dark reports whether module (x, y) is dark (0 ≤ x, y < Size).
func (c *Code) Dark(x, y int) bool {
	r, _, _, _ := c.bc.At(x, y).RGBA()
	return r < 0x8000
}

// Runs calls fn with every horizontal run of dark modules: its row and its
// columns [from, to), without the quiet zone. A vector drawing fills one
// rectangle per run.
func (c *Code) Runs(fn func(row, from, to int)) {
	for row := range c.n {
		for col := 0; col < c.n; {
			if !c.Dark(col, row) {
				col++
				continue
			}
			start := col
			for col < c.n && c.Dark(col, row) {
				col++
			}
			fn(row, start, col)
		}
	}
}

// PNG draws the code, quiet zone included, as a two-colour PNG of scale
// pixels per module.
func (c *Code) PNG(scale int) ([]byte, error) {
	size := c.Side() * scale
	img := image.NewPaletted(image.Rect(0, 0, size, size), color.Palette{color.White, color.Black})
	for y := range c.n {
		for x := range c.n {
			if c.Dark(x, y) {
				draw.Draw(img, image.Rect((x+Quiet)*scale, (y+Quiet)*scale, (x+Quiet+1)*scale, (y+Quiet+1)*scale),
					image.Black, image.Point{}, draw.Src)
			}
		}
	}
	var b bytes.Buffer
	err := png.Encode(&b, img)
	return b.Bytes(), err
}

var titleEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;")

// SVG draws the code, quiet zone included, as one path of unit squares
// ("Mx yh1v1h-1z") in a viewBox of Side units, scale pixels per module
// its nominal size; a title, when given, names it (for screen readers).
// The output is deterministic: an unchanged text draws the same bytes.
func (c *Code) SVG(scale int, title string) []byte {
	side := c.Side()
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="%d" height="%d" shape-rendering="crispEdges">`,
		side, side, side*scale, side*scale)
	if title != "" {
		b.WriteString("<title>" + titleEscaper.Replace(title) + "</title>")
	}
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="#fff"/><path fill="#000" d="`, side, side)
	for y := range c.n {
		for x := range c.n {
			if c.Dark(x, y) {
				fmt.Fprintf(&b, "M%d %dh1v1h-1z", x+Quiet, y+Quiet)
			}
		}
	}
	b.WriteString(`"/></svg>`)
	return []byte(b.String())
}
