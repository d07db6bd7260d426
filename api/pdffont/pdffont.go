// Package pdffont loads a TrueType CJK font for PDFs drawn with gopdf,
// which embeds (subsets of) TrueType-outlined fonts only: CFF/OpenType
// fonts such as Debian's fonts-noto-cjk cannot be used. It is shared by
// the operator's tools (kubectl wuxiao's QR posters) and the services (the
// inspection service's notices), which may not import each other.
//
// hack/fonts.sh installs Debian's fonts-arphic-uming (AR PL UMing, a
// Song/Ming face, Arphic Public License), a TrueType collection whose face
// 0 is the simplified Chinese one.
package pdffont

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
)

// DefaultPath is where hack/fonts.sh puts the font.
const DefaultPath = "/usr/share/fonts/truetype/arphic/uming.ttc"

// Candidates are TrueType CJK fonts commonly found on the machines of town
// IT staff (Debian/Ubuntu, Windows, macOS), tried in order when no font is
// named.
var Candidates = []string{
	DefaultPath,
	"/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
	"/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
	`C:\Windows\Fonts\simsun.ttc`,
	`C:\Windows\Fonts\simhei.ttf`,
	`C:\Windows\Fonts\msyh.ttf`,
	"/Library/Fonts/Arial Unicode.ttf",
	"/System/Library/Fonts/Supplemental/Arial Unicode.ttf",
}

// Load reads a TrueType font (.ttf) or face index of a TrueType collection
// (.ttc) as a standalone font gopdf can embed.
func Load(path string, index int) ([]byte, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	data, err := Face(raw, index)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return data, nil
}

// Face returns a standalone TrueType font: the font itself, or face index
// of a collection rebuilt as a font of its own.
func Face(raw []byte, index int) ([]byte, error) {
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
