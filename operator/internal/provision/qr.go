package provision

import (
	"fmt"

	"github.com/wuxiao/wuxiao/api/qrcode"
)

// QR renders url as a QR code (api/qrcode): a PNG of 8 pixels per module
// and an SVG of the same modules titled with the url, both with the
// 4-module quiet zone scanners need. The output is deterministic, so an
// unchanged URL never rewrites the ConfigMap.
func QR(url string) (pngData []byte, svg string, err error) {
	code, err := qrcode.Encode(url)
	if err != nil {
		return nil, "", fmt.Errorf("encoding %s as a QR code: %w", url, err)
	}
	if pngData, err = code.PNG(8); err != nil {
		return nil, "", err
	}
	return pngData, string(code.SVG(8, url)), nil
}
