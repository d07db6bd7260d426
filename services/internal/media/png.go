package media

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
)

// pngKeep are the chunks a PNG keeps: the critical ones, colour and
// transparency information, and animation. Text (tEXt, zTXt, iTXt),
// EXIF (eXIf), the modification time (tIME) and every private or unknown
// chunk are dropped.
var pngKeep = map[string]bool{
	"IHDR": true, "PLTE": true, "IDAT": true, "IEND": true,
	"tRNS": true, "cHRM": true, "gAMA": true, "iCCP": true, "sBIT": true, "sRGB": true, "cICP": true,
	"mDCV": true, "cLLI": true, "bKGD": true, "hIST": true, "pHYs": true, "sPLT": true,
	"acTL": true, "fcTL": true, "fdAT": true,
}

func filterPNG(w *bufio.Writer, r *bufio.Reader) error {
	sig := make([]byte, len(pngSignature))
	if _, err := io.ReadFull(r, sig); err != nil || string(sig) != string(pngSignature) {
		return fail("png", "no PNG signature")
	}
	if err := write(w, sig); err != nil {
		return err
	}
	first := true
	for {
		var h [8]byte
		if _, err := io.ReadFull(r, h[:]); err != nil {
			return pngTruncated(err)
		}
		n := binary.BigEndian.Uint32(h[:4])
		if n > 1<<31-1 {
			return fail("png", "chunk length %d", n)
		}
		typ := string(h[4:])
		for _, c := range h[4:] {
			if (c < 'A' || c > 'Z') && (c < 'a' || c > 'z') {
				return fail("png", "chunk type %q", typ)
			}
		}
		if first && typ != "IHDR" {
			return fail("png", "first chunk is %s, not IHDR", typ)
		}
		first = false
		if !pngKeep[typ] {
			if _, err := r.Discard(int(n) + 4); err != nil {
				return pngTruncated(err)
			}
			continue
		}
		if err := write(w, h[:]); err != nil {
			return err
		}
		if _, err := io.CopyN(w, r, int64(n)+4); err != nil { // data and CRC
			return pngTruncated(err)
		}
		if typ == "IEND" {
			return nil // anything after the end is dropped
		}
	}
}

func pngTruncated(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fail("png", "truncated")
	}
	return err
}
