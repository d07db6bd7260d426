// Package mediatest builds files with identifying metadata for tests: a
// JPEG photo with EXIF GPS position, XMP, a comment and a trailer, a PNG
// with text and eXIf chunks, a PDF with document information and XMP.
package mediatest

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
)

// Canaries found in the files' metadata; none may survive cleaning.
const (
	Author   = "CANARY-AUTHOR-王举报"
	Software = "CANARY-PHONE-SN-8837"
	Comment  = "CANARY-COMMENT"
	XMPNote  = "CANARY-XMP-GPS-29.66N"
	Trailer  = "CANARY-TRAILER"
)

// Canaries lists them all.
var Canaries = []string{Author, Software, Comment, XMPNote, Trailer}

// GPS latitude of the photo: 29°39'36" N, 121°24'36" E (Xikou).
var gpsLat, gpsLon = [3][2]uint32{{29, 1}, {39, 1}, {36, 1}}, [3][2]uint32{{121, 1}, {24, 1}, {36, 1}}

func picture(w, h int) image.Image {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, color.RGBA{uint8(x * 255 / w), uint8(y * 255 / h), 120, 255})
		}
	}
	return img
}

// Exif is an EXIF APP1 payload ("Exif\0\0" + TIFF, big-endian) with
// IFD0 (Orientation, Software, Artist, GPS pointer) and a GPS IFD.
func Exif(orientation uint16) []byte {
	be := binary.BigEndian
	// Appending to a slice, unlike binary.Write, has no error to check.
	t := be.AppendUint32([]byte("MM\x00\x2a"), 8)
	sw, artist := []byte(Software+"\x00"), []byte(Author+"\x00")
	// IFD0 at 8: 4 entries, then next-IFD offset, then the strings.
	const n0 = 4
	ifd0End := 8 + 2 + 12*n0 + 4
	swOff := ifd0End
	artistOff := swOff + len(sw)
	gpsOff := artistOff + len(artist)
	entry := func(tag, typ uint16, count, value uint32) {
		t = be.AppendUint16(t, tag)
		t = be.AppendUint16(t, typ)
		t = be.AppendUint32(t, count)
		t = be.AppendUint32(t, value)
	}
	t = be.AppendUint16(t, n0)
	entry(0x0112, 3, 1, uint32(orientation)<<16) // SHORT, left-justified
	entry(0x0131, 2, uint32(len(sw)), uint32(swOff))
	entry(0x013B, 2, uint32(len(artist)), uint32(artistOff))
	entry(0x8825, 4, 1, uint32(gpsOff))
	t = be.AppendUint32(t, 0)
	t = append(t, sw...)
	t = append(t, artist...)
	// GPS IFD: LatitudeRef, Latitude, LongitudeRef, Longitude.
	const ng = 4
	ratOff := gpsOff + 2 + 12*ng + 4
	t = be.AppendUint16(t, ng)
	entry(0x0001, 2, 2, 'N'<<24)
	entry(0x0002, 5, 3, uint32(ratOff))
	entry(0x0003, 2, 2, 'E'<<24)
	entry(0x0004, 5, 3, uint32(ratOff+24))
	t = be.AppendUint32(t, 0)
	for _, r := range append(gpsLat[:], gpsLon[:]...) {
		t = be.AppendUint32(t, r[0])
		t = be.AppendUint32(t, r[1])
	}
	return append([]byte("Exif\x00\x00"), t...)
}

func segment(marker byte, payload []byte) []byte {
	return append([]byte{0xFF, marker, byte((len(payload) + 2) >> 8), byte(len(payload) + 2)}, payload...)
}

// JPEG is a w×h photo as a phone stores it: EXIF with GPS and
// orientation 6 (rotate 90°), XMP, an IPTC segment, a comment, and data
// after the end of the image.
func JPEG(w, h int) []byte {
	var enc bytes.Buffer
	if err := jpeg.Encode(&enc, picture(w, h), &jpeg.Options{Quality: 80}); err != nil {
		panic(err)
	}
	b := enc.Bytes()
	var out bytes.Buffer
	out.Write(b[:2]) // SOI
	out.Write(segment(0xE1, Exif(6)))
	out.Write(segment(0xE1, []byte("http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta><rdf:Description exif:GPSLatitude=\""+XMPNote+"\"/></x:xmpmeta>")))
	out.Write(segment(0xED, []byte("Photoshop 3.0\x008BIM\x04\x04\x00\x00\x00\x00\x00\x10"+Author)))
	out.Write(segment(0xFE, []byte(Comment)))
	out.Write(b[2:])
	out.WriteString(Trailer)
	return out.Bytes()
}

func pngChunk(typ string, data []byte) []byte {
	c := binary.BigEndian.AppendUint32(nil, uint32(len(data)))
	c = append(c, typ...)
	c = append(c, data...)
	return binary.BigEndian.AppendUint32(c, crc32.ChecksumIEEE(append([]byte(typ), data...)))
}

// PNG is a w×h screenshot with tEXt, iTXt, eXIf (GPS) and tIME chunks and
// data after its end.
func PNG(w, h int) []byte {
	var enc bytes.Buffer
	if err := png.Encode(&enc, picture(w, h)); err != nil {
		panic(err)
	}
	b := enc.Bytes()
	// After the signature and IHDR (8 + 25 bytes).
	var out bytes.Buffer
	out.Write(b[:33])
	out.Write(pngChunk("tEXt", []byte("Author\x00"+Author)))
	out.Write(pngChunk("iTXt", []byte("XML:com.adobe.xmp\x00\x00\x00\x00\x00"+XMPNote)))
	out.Write(pngChunk("eXIf", Exif(1)[6:]))
	out.Write(pngChunk("tIME", []byte{0x07, 0xEA, 12, 6, 10, 0, 0}))
	out.Write(pngChunk("prVt", []byte(Software)))
	out.Write(b[33:])
	out.WriteString(Trailer)
	return out.Bytes()
}

// PDF is a one-page document with an /Info dictionary and an XMP stream
// (flate-encoded when flate), written with a correct xref table.
func PDF(flateXMP []byte) []byte {
	var b bytes.Buffer
	var offs []int
	obj := func(body string) {
		offs = append(offs, b.Len())
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", len(offs), body)
	}
	b.WriteString("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
	obj("<< /Type /Catalog /Pages 2 0 R /Metadata 5 0 R >>")
	obj("<< /Type /Pages /Kids [3 0 R] /Count 1 >>")
	obj("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] /Contents 4 0 R >>")
	content := "BT /F1 12 Tf 20 100 Td (hello) Tj ET"
	obj(fmt.Sprintf("<< /Length %d >>\nstream\n%s\nendstream", len(content), content))
	xmp := `<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/"><dc:creator>` + XMPNote + `</dc:creator></x:xmpmeta>` + string(bytes.Repeat([]byte(" "), 200)) + `<?xpacket end="w"?>`
	if flateXMP != nil {
		obj(fmt.Sprintf("<< /Type /Metadata /Subtype /XML /Filter /FlateDecode /Length %d >>\nstream\n%s\nendstream", len(flateXMP), flateXMP))
	} else {
		obj(fmt.Sprintf("<< /Type /Metadata /Subtype /XML /Length %d >>\nstream\n%s\nendstream", len(xmp), xmp))
	}
	obj("<< /Author (" + Author + ") /Producer (" + Software + ") /Title (a \\(nested\\) title) /Keywords <4341> >>")
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(offs)+1)
	for _, o := range offs {
		fmt.Fprintf(&b, "%010d 00000 n \n", o)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R /Info 6 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(offs)+1, xref)
	return b.Bytes()
}

// XMPPacket is the XMP of PDF, for a caller that flate-encodes it.
func XMPPacket() []byte {
	return []byte(`<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/"><dc:creator>` + XMPNote + `</dc:creator></x:xmpmeta><?xpacket end="w"?>`)
}

// HasGPS reports whether b holds an EXIF GPS pointer (tag 0x8825) or the
// GPS rationals of the sample photo, in either byte order.
func HasGPS(b []byte) bool {
	for _, bo := range []binary.ByteOrder{binary.BigEndian, binary.LittleEndian} {
		var tag [2]byte
		bo.PutUint16(tag[:], 0x8825)
		var lat [24]byte
		for i, r := range gpsLat {
			bo.PutUint32(lat[8*i:], r[0])
			bo.PutUint32(lat[8*i+4:], r[1])
		}
		if bytes.Contains(b, lat[:]) || (bytes.Contains(b, []byte("Exif\x00\x00")) && bytes.Contains(b, append(tag[:], 0, 4))) {
			return true
		}
	}
	return false
}

// PDFObjectStream is a PDF 1.5 whose /Info dictionary (object 6) is
// compressed in an object stream (object 5) beside a font (object 7).
func PDFObjectStream() []byte {
	var b bytes.Buffer
	var offs []int
	obj := func(body string) {
		offs = append(offs, b.Len())
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", len(offs), body)
	}
	b.WriteString("%PDF-1.5\n%\xe2\xe3\xcf\xd3\n")
	obj("<< /Type /Catalog /Pages 2 0 R >>")
	obj("<< /Type /Pages /Kids [3 0 R] /Count 1 >>")
	obj("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] /Contents 4 0 R /Resources << /Font << /F1 7 0 R >> >> >>")
	content := "BT /F1 12 Tf 20 100 Td (hello) Tj ET"
	obj(fmt.Sprintf("<< /Length %d >>\nstream\n%s\nendstream", len(content), content))
	info := "<< /Author (" + Author + ") /Producer (" + Software + ") /Creator <FEFF738B> >>"
	font := "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"
	objects := info + "\n" + font
	header := fmt.Sprintf("6 0 7 %d ", len(info)+1)
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	if _, err := zw.Write([]byte(header + objects)); err != nil {
		panic(err)
	}
	if err := zw.Close(); err != nil {
		panic(err)
	}
	obj(fmt.Sprintf("<< /Type /ObjStm /N 2 /First %d /Filter /FlateDecode /Length %d >>\nstream\n%s\nendstream", len(header), z.Len(), z.Bytes()))
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(offs)+1)
	for _, o := range offs {
		fmt.Fprintf(&b, "%010d 00000 n \n", o)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size 8 /Root 1 0 R /Info 6 0 R >>\nstartxref\n%d\n%%%%EOF\n", xref)
	return b.Bytes()
}

// ObjectStreamText inflates the object stream of PDFObjectStream's output.
func ObjectStreamText(pdf []byte) (string, error) {
	i := bytes.Index(pdf, []byte("/Type /ObjStm"))
	if i < 0 {
		return "", fmt.Errorf("no object stream")
	}
	j := bytes.Index(pdf[i:], []byte("stream\n"))
	zr, err := zlib.NewReader(bytes.NewReader(pdf[i+j+len("stream\n"):]))
	if err != nil {
		return "", err
	}
	out, err := io.ReadAll(zr)
	return string(out), err
}
