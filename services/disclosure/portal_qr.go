package disclosure

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/boombuler/barcode"
	"github.com/boombuler/barcode/qr"

	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
)

// PortalURL is the address a village's QR code encodes.
func (s *Service) PortalURL(r *http.Request, village string) string {
	base := strings.TrimRight(s.PortalBaseURL, "/")
	if base == "" {
		scheme := "https"
		if r.TLS == nil {
			scheme = "http"
		}
		base = scheme + "://" + r.Host
	}
	return base + "/v/" + village
}

// portalQR serves the village's QR code as PNG or SVG (for printing at any
// size). Medium error correction survives a scuffed notice board.
func (s *Service) portalQR(w http.ResponseWriter, r *http.Request) {
	village, ok := s.knownVillage(w, r)
	if !ok {
		return
	}
	target := s.PortalURL(r, village)
	code, err := qr.Encode(target, qr.M, qr.Auto)
	if err != nil {
		s.writeError(w, r, village, err)
		return
	}
	svg := strings.HasSuffix(r.URL.Path, ".svg")
	sum := sha256.Sum256([]byte(fmt.Sprint(target, svg)))
	etag := `"qr-` + hex.EncodeToString(sum[:8]) + `"`
	portalHeaders(w.Header())
	w.Header().Set("ETag", etag)
	w.Header().Set("Cache-Control", "public, max-age=86400")
	if notModified(r, etag, time.Time{}) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	if svg {
		w.Header().Set("Content-Type", "image/svg+xml")
		_, _ = w.Write(qrSVG(code))
		return
	}
	body, err := qrPNG(code)
	if err != nil {
		s.writeError(w, r, village, err)
		return
	}
	w.Header().Set("Content-Type", "image/png")
	_, _ = w.Write(body)
}

// QR codes are drawn with the 4-module quiet zone the standard asks for,
// at 8 pixels per module in the PNG (and as the SVG's nominal size).
const (
	qrQuiet = 4
	qrScale = 8
)

// qrDark reports whether module (x, y) of the code is dark.
func qrDark(code barcode.Barcode, x, y int) bool {
	r, _, _, _ := code.At(x, y).RGBA()
	return r < 0x8000
}

// qrPNG draws the code as a two-colour PNG.
func qrPNG(code barcode.Barcode) ([]byte, error) {
	n := code.Bounds().Dx()
	size := (n + 2*qrQuiet) * qrScale
	img := image.NewPaletted(image.Rect(0, 0, size, size), color.Palette{color.White, color.Black})
	for y := range n {
		for x := range n {
			if qrDark(code, x, y) {
				draw.Draw(img, image.Rect((x+qrQuiet)*qrScale, (y+qrQuiet)*qrScale, (x+qrQuiet+1)*qrScale, (y+qrQuiet+1)*qrScale),
					image.Black, image.Point{}, draw.Src)
			}
		}
	}
	var b bytes.Buffer
	err := png.Encode(&b, img)
	return b.Bytes(), err
}

// qrSVG draws the code as one path of unit squares.
func qrSVG(code barcode.Barcode) []byte {
	n := code.Bounds().Dx()
	side := n + 2*qrQuiet
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="%d" height="%d" shape-rendering="crispEdges">`,
		side, side, side*qrScale, side*qrScale)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="#fff"/><path fill="#000" d="`, side, side)
	for y := range n {
		for x := range n {
			if qrDark(code, x, y) {
				fmt.Fprintf(&b, "M%d %dh1v1h-1z", x+qrQuiet, y+qrQuiet)
			}
		}
	}
	b.WriteString(`"/></svg>`)
	return []byte(b.String())
}

// LoadCatalog reads the resolved power catalog the operator mounts (the
// file workflow reads too), for the 权力清单 pages.
func LoadCatalog(path string) (*wuxiaov1.ResolvedCatalog, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("power catalog: %w", err)
	}
	var c wuxiaov1.ResolvedCatalog
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("power catalog %s: %w", path, err)
	}
	for i := range c.Items {
		it := &c.Items[i]
		if len(it.Steps) == 0 {
			return nil, fmt.Errorf("power catalog %q: item %s has no steps", c.Name, it.ID)
		}
		for _, st := range it.Steps {
			for _, n := range st.Next {
				if it.Step(n) == nil {
					return nil, fmt.Errorf("power catalog %q: item %s step %s leads to unknown step %s", c.Name, it.ID, st.ID, n)
				}
			}
		}
	}
	return &c, nil
}
