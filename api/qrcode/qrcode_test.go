package qrcode

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"strings"
	"testing"

	"github.com/makiuchi-d/gozxing"
	gozxingqr "github.com/makiuchi-d/gozxing/qrcode"
)

func decode(t *testing.T, img image.Image) string {
	t.Helper()
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		t.Fatal(err)
	}
	res, err := gozxingqr.NewQRCodeReader().Decode(bmp, nil)
	if err != nil {
		t.Fatalf("QR code does not decode: %v", err)
	}
	return res.GetText()
}

// raster draws modules (x, y in Side units) at 4 pixels each, as a scanner
// sees a printed code.
func raster(side int, dark func(x, y int) bool) image.Image {
	img := image.NewGray(image.Rect(0, 0, side*4, side*4))
	for y := range side * 4 {
		for x := range side * 4 {
			img.SetGray(x, y, color.Gray{Y: 255})
			if dark(x/4, y/4) {
				img.SetGray(x, y, color.Gray{})
			}
		}
	}
	return img
}

// TestEveryFormDecodes: the PNG, the SVG and the runs all read back as the
// encoded address.
func TestEveryFormDecodes(t *testing.T) {
	for _, text := range []string{
		"https://jiandu.example.cn/v/330213100201",
		"https://fenghua.example.cn/r/330213100201",
		"http://127.0.0.1:8080/v/" + strings.Repeat("9", 12),
	} {
		t.Run(text, func(t *testing.T) {
			c, err := Encode(text)
			if err != nil {
				t.Fatal(err)
			}
			if c.Side() != c.Size()+2*Quiet {
				t.Errorf("side %d, size %d", c.Side(), c.Size())
			}
			body, err := c.PNG(8)
			if err != nil {
				t.Fatal(err)
			}
			img, err := png.Decode(bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			if img.Bounds().Dx() != c.Side()*8 {
				t.Errorf("PNG %d pixels wide, want %d", img.Bounds().Dx(), c.Side()*8)
			}
			if got := decode(t, img); got != text {
				t.Errorf("PNG: %q", got)
			}

			var doc struct {
				ViewBox string `xml:"viewBox,attr"`
				Width   int    `xml:"width,attr"`
				Path    struct {
					D string `xml:"d,attr"`
				} `xml:"path"`
			}
			if err := xml.Unmarshal(c.SVG(8), &doc); err != nil {
				t.Fatalf("SVG: %v", err)
			}
			if doc.ViewBox != fmt.Sprintf("0 0 %d %d", c.Side(), c.Side()) || doc.Width != c.Side()*8 {
				t.Errorf("SVG viewBox %q width %d", doc.ViewBox, doc.Width)
			}
			squares := map[[2]int]bool{}
			for _, sq := range strings.Split(strings.TrimSuffix(doc.Path.D, "z"), "z") {
				var x, y int
				if _, err := fmt.Sscanf(sq, "M%d %dh1v1h-1", &x, &y); err != nil {
					t.Fatalf("SVG square %q: %v", sq, err)
				}
				squares[[2]int{x, y}] = true
			}
			if got := decode(t, raster(c.Side(), func(x, y int) bool { return squares[[2]int{x, y}] })); got != text {
				t.Errorf("SVG: %q", got)
			}

			runs := map[[2]int]bool{}
			c.Runs(func(row, from, to int) {
				if from >= to || !c.Dark(from, row) || !c.Dark(to-1, row) || (to < c.Size() && c.Dark(to, row)) {
					t.Errorf("run %d [%d, %d) is not a maximal run of dark modules", row, from, to)
				}
				for x := from; x < to; x++ {
					runs[[2]int{x + Quiet, row + Quiet}] = true
				}
			})
			if got := decode(t, raster(c.Side(), func(x, y int) bool { return runs[[2]int{x, y}] })); got != text {
				t.Errorf("runs: %q", got)
			}
		})
	}
}

func TestEncodeTooLong(t *testing.T) {
	if _, err := Encode(strings.Repeat("长", 3000)); err == nil {
		t.Error("a text beyond a QR code's capacity was encoded")
	}
}
