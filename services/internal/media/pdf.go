package media

import (
	"bytes"
	"encoding/binary"
	"hash/adler32"
	"regexp"
	"strconv"
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
// Refused: an encrypted file (its strings and streams cannot be read), a
// document information dictionary in a compressed object stream (it
// cannot be changed in place), an XMP stream in another filter.

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
		if len(byRef[r]) == 0 {
			return nil, fail("pdf", "the document information (object %s %s) is in a compressed object stream", r.num, r.gen)
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
