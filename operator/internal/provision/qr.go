package provision

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"strings"

	"github.com/boombuler/barcode"
	"github.com/boombuler/barcode/qr"
)

// QR renders url as a QR code: a PNG of 8 pixels per module and an SVG of
// the same modules, both with the 4-module quiet zone scanners need. Level M
// survives a printed notice board's wear. The output is deterministic, so an
// unchanged URL never rewrites the ConfigMap.
func QR(url string) (pngData []byte, svg string, err error) {
	code, err := qr.Encode(url, qr.M, qr.Auto)
	if err != nil {
		return nil, "", fmt.Errorf("encoding %s as a QR code: %w", url, err)
	}
	const quiet, scale = 4, 8
	n := code.Bounds().Dx()
	size := (n + 2*quiet) * scale
	img := image.NewPaletted(image.Rect(0, 0, size, size), color.Palette{color.White, color.Black})
	for y := 0; y < n; y++ {
		for x := 0; x < n; x++ {
			if dark(code, x, y) {
				for py := (y + quiet) * scale; py < (y+quiet+1)*scale; py++ {
					for px := (x + quiet) * scale; px < (x+quiet+1)*scale; px++ {
						img.SetColorIndex(px, py, 1)
					}
				}
			}
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, "", err
	}
	var s strings.Builder
	side := n + 2*quiet
	fmt.Fprintf(&s, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="%d" height="%d" shape-rendering="crispEdges">`, side, side, size, size)
	fmt.Fprintf(&s, `<title>%s</title><rect width="%d" height="%d" fill="#fff"/><path fill="#000" d="`, xmlEscape(url), side, side)
	for y := 0; y < n; y++ {
		for x := 0; x < n; x++ {
			if dark(code, x, y) {
				fmt.Fprintf(&s, "M%d %dh1v1h-1z", x+quiet, y+quiet)
			}
		}
	}
	s.WriteString(`"/></svg>`)
	return buf.Bytes(), s.String(), nil
}

func dark(code barcode.Barcode, x, y int) bool {
	r, _, _, _ := code.At(x, y).RGBA()
	return r < 0x8000
}

func xmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(s)
}
