package media

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"hash/adler32"
	"io"
	"regexp"
	"strconv"
	"strings"
)

// PDF cleaning in place: every byte keeps its offset, so the file's
// cross-reference tables (or streams) stay valid without being rewritten.
//
//   - The document information dictionaries (/Info of every trailer and
//     cross-reference stream, all revisions) become empty dictionaries:
//     their contents are overwritten with spaces.
//   - Every XMP metadata stream (/Type /Metadata) is overwritten with an
//     empty XMP packet padded with spaces, stored uncompressed in a Flate
//     stream of the same length when the stream is Flate-encoded.
//   - JPEG images (/DCTDecode) lose their EXIF, XMP, IPTC and comment
//     segments: the segments stay, their contents become zeros.
//
// A document information dictionary inside a compressed object stream is
// emptied there (blankInObjectStream).
//
// Refused: an encrypted file (its strings and streams cannot be read), a
// document information dictionary in an object stream that cannot be
// rewritten in place (another filter, or one that would grow), an XMP
// stream in another filter.

var (
	reObjHeader = regexp.MustCompile(`(\d+)\s+(\d+)\s+obj\b`)
	reInfoRef   = regexp.MustCompile(`/Info\s+(\d+)\s+(\d+)\s+R\b`)
	reInfoDict  = regexp.MustCompile(`/Info\s*<<`)
	reMetadata  = regexp.MustCompile(`/Type\s*/Metadata\b`)
	reFilter    = regexp.MustCompile(`/Filter\s*(?:/([A-Za-z0-9]+)|\[\s*((?:/[A-Za-z0-9]+\s*)*)\])`)
	reLength    = regexp.MustCompile(`/Length\s+(\d+)(\s+\d+\s+R\b)?`)
	reTrailer   = regexp.MustCompile(`trailer\s*<<`)
	reEncrypt   = regexp.MustCompile(`/Encrypt\b`)
)

type pdfObject struct {
	num, gen           string
	dictStart, dictEnd int // "<<" .. ">>" inclusive; dictStart < 0: no dictionary
	dataStart, dataEnd int // stream data; dataStart < 0: no stream
}

// cleanPDF cleans out in place (Clean passes a copy).
func cleanPDF(out []byte) ([]byte, error) {
	objs, trailers := scanPDF(out)
	dicts := trailers
	for _, o := range objs {
		if o.dictStart >= 0 {
			dicts = append(dicts, [2]int{o.dictStart, o.dictEnd})
		}
	}
	// Trailers and cross-reference stream dictionaries name /Info and
	// /Encrypt; looking at every dictionary is simpler and as strict.
	type ref struct{ num, gen string }
	infos := map[ref]bool{}
	for _, d := range dicts {
		dict := out[d[0]:d[1]]
		if reEncrypt.Match(dict) && isTrailerLike(dict) {
			return nil, fail("pdf", "encrypted")
		}
		if !isTrailerLike(dict) {
			continue
		}
		for _, m := range reInfoRef.FindAllSubmatch(dict, -1) {
			infos[ref{string(m[1]), string(m[2])}] = true
		}
		for _, loc := range reInfoDict.FindAllIndex(dict, -1) {
			start := d[0] + loc[1] - 2
			if end, ok := skipDict(out, start); ok {
				blank(out[start+2 : end-2])
			}
		}
	}
	byRef := map[ref][]pdfObject{}
	for _, o := range objs {
		if o.dictStart >= 0 {
			byRef[ref{o.num, o.gen}] = append(byRef[ref{o.num, o.gen}], o)
		}
	}
	for r := range infos {
		for _, o := range byRef[r] {
			blank(out[o.dictStart+2 : o.dictEnd-2])
		}
		if len(byRef[r]) == 0 && (r.gen != "0" || !blankInObjectStream(out, objs, r.num)) {
			return nil, fail("pdf", "the document information (object %s %s) is in an object stream that cannot be rewritten in place", r.num, r.gen)
		}
	}
	for _, o := range objs {
		if o.dictStart < 0 || o.dataStart < 0 {
			continue
		}
		dict := out[o.dictStart:o.dictEnd]
		filters := pdfFilters(dict)
		data := out[o.dataStart:o.dataEnd]
		switch {
		case reMetadata.Match(dict):
			switch {
			case len(filters) == 0:
				blankXMP(data)
			case len(filters) == 1 && filters[0] == "FlateDecode":
				if !storedZlib(data) {
					return nil, fail("pdf", "metadata stream of object %s %s too short to overwrite", o.num, o.gen)
				}
			default:
				return nil, fail("pdf", "metadata stream of object %s %s in filter %v", o.num, o.gen, filters)
			}
		case len(filters) == 1 && filters[0] == "DCTDecode":
			zeroJPEGMetadata(data)
		}
	}
	return out, nil
}

var (
	reObjStm = regexp.MustCompile(`/Type\s*/ObjStm\b`)
	reFirst  = regexp.MustCompile(`/First\s+(\d+)`)
)

// blankInObjectStream empties the dictionary of object num where it sits
// in a Flate-encoded object stream (PDF 1.5), in place: the stream is
// inflated, the dictionary's contents overwritten with spaces (offsets
// inside the stream unchanged), and deflated again, which leaves it no
// longer than before (spaces compress better than text); its /Length,
// when direct, is rewritten with leading zeros to the same width, and the
// bytes up to endstream become line feeds. False when it is not found or
// the result would not fit.
func blankInObjectStream(out []byte, objs []pdfObject, num string) bool {
	want, err := strconv.Atoi(num)
	if err != nil {
		return false
	}
	for _, o := range objs {
		if o.dictStart < 0 || o.dataStart < 0 {
			continue
		}
		dict := out[o.dictStart:o.dictEnd]
		if !reObjStm.Match(dict) {
			continue
		}
		if f := pdfFilters(dict); len(f) != 1 || f[0] != "FlateDecode" || bytes.Contains(dict, []byte("/DecodeParms")) {
			continue
		}
		m := reFirst.FindSubmatch(dict)
		if m == nil {
			continue
		}
		first, _ := strconv.Atoi(string(m[1]))
		zr, err := zlib.NewReader(bytes.NewReader(out[o.dataStart:o.dataEnd]))
		if err != nil {
			continue
		}
		// An object stream is small (its objects are dictionaries); a
		// bound keeps a zip bomb out.
		data, err := io.ReadAll(io.LimitReader(zr, 16<<20))
		if err != nil || first > len(data) {
			continue
		}
		header := bytes.Fields(data[:first])
		at := -1
		for i := 0; i+1 < len(header); i += 2 {
			if n, err := strconv.Atoi(string(header[i])); err == nil && n == want {
				if off, err := strconv.Atoi(string(header[i+1])); err == nil && first+off < len(data) {
					at = first + off
				}
			}
		}
		if at < 0 {
			continue
		}
		p := skipSpace(data, at)
		if p+1 >= len(data) || data[p] != '<' || data[p+1] != '<' {
			return false
		}
		end, ok := skipDict(data, p)
		if !ok {
			return false
		}
		blank(data[p+2 : end-2])
		var z bytes.Buffer
		zw, _ := zlib.NewWriterLevel(&z, zlib.BestCompression)
		if _, err := zw.Write(data); err != nil {
			return false
		}
		if err := zw.Close(); err != nil {
			return false
		}
		room := o.dataEnd - o.dataStart
		if z.Len() > room {
			return false
		}
		if lm := reLength.FindSubmatchIndex(dict); lm != nil && lm[4] < 0 {
			width := lm[3] - lm[2]
			digits := strconv.Itoa(z.Len())
			if len(digits) > width {
				return false
			}
			copy(out[o.dictStart+lm[2]:o.dictStart+lm[3]], strings.Repeat("0", width-len(digits))+digits)
		}
		copy(out[o.dataStart:], z.Bytes())
		for i := o.dataStart + z.Len(); i < o.dataEnd; i++ {
			out[i] = '\n'
		}
		return true
	}
	return false
}

// isTrailerLike reports whether a dictionary is a trailer or a
// cross-reference stream's (they carry /Root).
func isTrailerLike(dict []byte) bool {
	return bytes.Contains(dict, []byte("/Root")) || bytes.Contains(dict, []byte("/XRef"))
}

// scanPDF finds the objects (their dictionary and stream data) and the
// trailer dictionaries, stepping over stream data.
func scanPDF(b []byte) ([]pdfObject, [][2]int) {
	var objs []pdfObject
	var trailers [][2]int
	headers := reObjHeader.FindAllSubmatchIndex(b, -1)
	tails := reTrailer.FindAllIndex(b, -1)
	pos, h, t := 0, 0, 0
	for {
		for h < len(headers) && headers[h][0] < pos {
			h++
		}
		for t < len(tails) && tails[t][0] < pos {
			t++
		}
		if t < len(tails) && (h == len(headers) || tails[t][0] < headers[h][0]) {
			start := tails[t][1] - 2
			t++
			end, ok := skipDict(b, start)
			if !ok {
				break // it runs to the end: nothing after it is outside it
			}
			trailers = append(trailers, [2]int{start, end})
			pos = end
			continue
		}
		if h == len(headers) {
			break
		}
		loc := headers[h]
		h++
		o := pdfObject{num: string(b[loc[2]:loc[3]]), gen: string(b[loc[4]:loc[5]]), dictStart: -1, dataStart: -1}
		p := skipSpace(b, loc[1])
		if p+1 < len(b) && b[p] == '<' && b[p+1] == '<' {
			end, ok := skipDict(b, p)
			if !ok {
				break // as above; this also keeps the scan linear
			}
			o.dictStart, o.dictEnd = p, end
			p = skipSpace(b, end)
			if bytes.HasPrefix(b[p:], []byte("stream")) {
				p += len("stream")
				if p < len(b) && b[p] == '\r' {
					p++
				}
				if p < len(b) && b[p] == '\n' {
					p++
				}
				o.dataStart = p
				o.dataEnd = -1
				if m := reLength.FindSubmatch(b[o.dictStart:o.dictEnd]); m != nil && len(m[2]) == 0 {
					if n, err := strconv.Atoi(string(m[1])); err == nil && n >= 0 && p+n <= len(b) {
						if e := skipSpace(b, p+n); bytes.HasPrefix(b[e:], []byte("endstream")) {
							o.dataEnd = p + n
						}
					}
				}
				if o.dataEnd < 0 {
					i := bytes.Index(b[p:], []byte("endstream"))
					if i < 0 {
						o.dataEnd = len(b)
					} else {
						o.dataEnd = p + i
						// The end-of-line before endstream is not data.
						for o.dataEnd > p && (b[o.dataEnd-1] == '\n' || b[o.dataEnd-1] == '\r') {
							o.dataEnd--
						}
					}
				}
				p = o.dataEnd
			}
		}
		objs = append(objs, o)
		pos = max(p, loc[1])
	}
	return objs, trailers
}

func skipSpace(b []byte, p int) int {
	for p < len(b) {
		switch b[p] {
		case ' ', '\t', '\r', '\n', '\f', 0:
			p++
		case '%':
			for p < len(b) && b[p] != '\n' && b[p] != '\r' {
				p++
			}
		default:
			return p
		}
	}
	return p
}

// skipDict returns the offset just past the dictionary starting at p
// ("<<"), minding nested dictionaries, strings and comments.
func skipDict(b []byte, p int) (int, bool) {
	depth := 0
	for p < len(b) {
		switch c := b[p]; {
		case c == '<' && p+1 < len(b) && b[p+1] == '<':
			depth++
			p += 2
		case c == '>' && p+1 < len(b) && b[p+1] == '>':
			depth--
			p += 2
			if depth == 0 {
				return p, true
			}
		case c == '<': // hex string
			i := bytes.IndexByte(b[p:], '>')
			if i < 0 {
				return 0, false
			}
			p += i + 1
		case c == '(':
			nest := 0
			for p < len(b) {
				switch b[p] {
				case '\\':
					p++
				case '(':
					nest++
				case ')':
					nest--
				}
				p++
				if nest == 0 {
					break
				}
			}
		case c == '%':
			for p < len(b) && b[p] != '\n' && b[p] != '\r' {
				p++
			}
		default:
			p++
		}
	}
	return 0, false
}

func pdfFilters(dict []byte) []string {
	m := reFilter.FindSubmatch(dict)
	if m == nil {
		return nil
	}
	if len(m[1]) > 0 {
		return []string{string(m[1])}
	}
	var out []string
	for _, f := range bytes.Fields(bytes.ReplaceAll(m[2], []byte("/"), []byte(" "))) {
		out = append(out, string(f))
	}
	return out
}

func blank(b []byte) {
	for i := range b {
		b[i] = ' '
	}
}

// emptyXMP is an XMP packet that says nothing.
const emptyXMP = `<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/"/><?xpacket end="w"?>`

func blankXMP(b []byte) {
	blank(b)
	if len(b) >= len(emptyXMP) {
		copy(b, emptyXMP)
	}
}

// storedZlib overwrites b with a zlib stream of exactly len(b) bytes whose
// content, in stored (uncompressed) deflate blocks, is an empty XMP packet
// padded with spaces. False when b is too short for any.
func storedZlib(b []byte) bool {
	const maxBlock = 65535
	n := len(b)
	var data, blocks int
	for blocks = 1; ; blocks++ {
		data = n - 2 - 4 - 5*blocks
		if data < 0 {
			return false
		}
		if (data+maxBlock-1)/maxBlock <= blocks {
			break
		}
	}
	content := make([]byte, data)
	blankXMP(content)
	out := b[:0]
	out = append(out, 0x78, 0x01)
	for i := 0; i < blocks; i++ {
		chunk := content[min(i*maxBlock, data):min((i+1)*maxBlock, data)]
		final := byte(0)
		if i == blocks-1 {
			final = 1
		}
		out = append(out, final, byte(len(chunk)), byte(len(chunk)>>8), ^byte(len(chunk)), ^byte(len(chunk)>>8))
		out = append(out, chunk...)
	}
	out = binary.BigEndian.AppendUint32(out, adler32.Checksum(content))
	return len(out) == n
}

// zeroJPEGMetadata zeroes, in place, the contents of a JPEG's metadata
// segments (those filterJPEG drops) up to its first scan.
func zeroJPEGMetadata(b []byte) {
	if len(b) < 4 || b[0] != 0xFF || b[1] != mSOI {
		return
	}
	p := 2
	for p+4 <= len(b) {
		if b[p] != 0xFF {
			return
		}
		for p < len(b) && b[p] == 0xFF {
			p++
		}
		if p+3 > len(b) {
			return
		}
		marker := b[p]
		if marker == mSOS || marker == mEOI {
			return
		}
		if marker == mTEM || (marker >= 0xD0 && marker <= 0xD7) {
			p++
			continue
		}
		n := int(b[p+1])<<8 | int(b[p+2])
		if n < 2 || p+1+n > len(b) {
			return
		}
		payload := b[p+3 : p+1+n]
		if (marker >= mAPP0 && marker <= mAP15 && !keepAPP(marker, payload)) || marker == mCOM {
			clear(payload)
		}
		p += 1 + n
	}
}
