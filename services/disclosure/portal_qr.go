package disclosure

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/wuxiao/wuxiao/api/qrcode"
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
	code, err := qrcode.Encode(target)
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
		_, _ = w.Write(code.SVG(qrScale, "")) //nolint:gosec // G705: an SVG of rectangles only (no title given), served as image/svg+xml
		return
	}
	body, err := code.PNG(qrScale)
	if err != nil {
		s.writeError(w, r, village, err)
		return
	}
	w.Header().Set("Content-Type", "image/png")
	_, _ = w.Write(body) //nolint:gosec // G705: PNG bytes, served as image/png
}

// QR codes are drawn at 8 pixels per module in the PNG (and as the SVG's
// nominal size).
const qrScale = 8

// LoadCatalog reads the resolved power catalog the operator mounts (the
// file workflow reads too, with the same checks), for the 权力清单 pages.
func LoadCatalog(path string) (*wuxiaov1.ResolvedCatalog, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("power catalog: %w", err)
	}
	c, err := wuxiaov1.ParseResolvedCatalog(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}
