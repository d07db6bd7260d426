// Package qrcodetest reads QR codes back for tests, with a decoder
// independent of the encoder (ZXing's Go port): what the portal serves and
// the posters print must scan.
package qrcodetest

import (
	"encoding/xml"
	"errors"
	"fmt"
	"image"
	"image/color"
	"strings"

	"github.com/makiuchi-d/gozxing"
	gozxingqr "github.com/makiuchi-d/gozxing/qrcode"
)

// Decode reads the QR code in img.
func Decode(img image.Image) (string, error) {
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		return "", err
	}
	// gozxing's default finder-pattern search misses some codes whose data
	// modules look like finder patterns (a test flaked on random one-time
	// codes); a phone's scanner tries harder, and so does this, then reads
	// the image as the pure code it is.
	var errs []error
	for _, hints := range []map[gozxing.DecodeHintType]any{
		nil,
		{gozxing.DecodeHintType_TRY_HARDER: true},
		{gozxing.DecodeHintType_PURE_BARCODE: true},
	} {
		res, err := gozxingqr.NewQRCodeReader().Decode(bmp, hints)
		if err == nil {
			return res.GetText(), nil
		}
		errs = append(errs, err)
	}
	return "", fmt.Errorf("QR code does not decode: %w", errors.Join(errs...))
}

// DecodeSVG reads a QR code drawn as qrcode.Code.SVG draws it (unit
// squares "Mx yh1v1h-1z" of one path in a square viewBox), rasterised at 4
// pixels per module as a scanner sees the printed code.
func DecodeSVG(svg []byte) (string, error) {
	var doc struct {
		ViewBox string `xml:"viewBox,attr"`
		Path    struct {
			D string `xml:"d,attr"`
		} `xml:"path"`
	}
	if err := xml.Unmarshal(svg, &doc); err != nil {
		return "", fmt.Errorf("SVG is not well-formed: %w", err)
	}
	var side, h int
	if _, err := fmt.Sscanf(doc.ViewBox, "0 0 %d %d", &side, &h); err != nil || side <= 0 || h != side {
		return "", fmt.Errorf("viewBox %q is not a square from the origin", doc.ViewBox)
	}
	dark := map[[2]int]bool{}
	for _, sq := range strings.Split(strings.TrimSuffix(doc.Path.D, "z"), "z") {
		var x, y int
		if _, err := fmt.Sscanf(sq, "M%d %dh1v1h-1", &x, &y); err != nil {
			return "", fmt.Errorf("path element %q is not a unit square: %w", sq, err)
		}
		dark[[2]int{x, y}] = true
	}
	return Decode(Raster(side, func(x, y int) bool { return dark[[2]int{x, y}] }))
}

// Raster draws a side×side grid of modules, dark where dark says, at 4
// pixels per module.
func Raster(side int, dark func(x, y int) bool) image.Image {
	const px = 4
	img := image.NewGray(image.Rect(0, 0, side*px, side*px))
	for y := range side * px {
		for x := range side * px {
			c := color.Gray{Y: 255}
			if dark(x/px, y/px) {
				c = color.Gray{}
			}
			img.SetGray(x, y, c)
		}
	}
	return img
}
