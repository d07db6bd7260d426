package qrcode_test

import (
	"bytes"
	"image/png"
	"strconv"
	"strings"
	"testing"

	"github.com/wuxiao/wuxiao/api/qrcode"
	"github.com/wuxiao/wuxiao/api/qrcode/qrcodetest"
)

// TestEveryFormDecodes: the PNG, the SVG and the runs all read back as the
// encoded address.
func TestEveryFormDecodes(t *testing.T) {
	for _, text := range []string{
		"https://jiandu.example.cn/v/330213100201",
		"https://fenghua.example.cn/r/330213100201",
		"http://127.0.0.1:8080/v/" + strings.Repeat("9", 12) + "?a=1&b=2",
	} {
		t.Run(text, func(t *testing.T) {
			c, err := qrcode.Encode(text)
			if err != nil {
				t.Fatal(err)
			}
			if c.Side() != c.Size()+2*qrcode.Quiet {
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
			if got, err := qrcodetest.Decode(img); got != text {
				t.Errorf("PNG: %q %v", got, err)
			}
			svg := c.SVG(8, text)
			if !bytes.Contains(svg, []byte(`width="`+strconv.Itoa(c.Side()*8)+`"`)) {
				t.Errorf("SVG's nominal size is not 8 pixels a module: %.200s", svg)
			}
			if !bytes.Contains(svg, []byte("<title>"+strings.ReplaceAll(text, "&", "&amp;")+"</title>")) || bytes.Contains(c.SVG(8, ""), []byte("<title>")) {
				t.Errorf("SVG title: %.300s", svg)
			}
			if got, err := qrcodetest.DecodeSVG(svg); got != text {
				t.Errorf("SVG: %q %v", got, err)
			}

			runs := map[[2]int]bool{}
			c.Runs(func(row, from, to int) {
				if from >= to || !c.Dark(from, row) || !c.Dark(to-1, row) || (to < c.Size() && c.Dark(to, row)) {
					t.Errorf("run %d [%d, %d) is not a maximal run of dark modules", row, from, to)
				}
				for x := from; x < to; x++ {
					runs[[2]int{x + qrcode.Quiet, row + qrcode.Quiet}] = true
				}
			})
			if got, err := qrcodetest.Decode(qrcodetest.Raster(c.Side(), func(x, y int) bool { return runs[[2]int{x, y}] })); got != text {
				t.Errorf("runs: %q %v", got, err)
			}
		})
	}
}

func TestEncodeTooLong(t *testing.T) {
	if _, err := qrcode.Encode(strings.Repeat("长", 3000)); err == nil {
		t.Error("a text beyond a QR code's capacity was encoded")
	}
}
