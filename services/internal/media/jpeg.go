package media

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
)

// JPEG markers (ITU T.81 B.1.1.3).
const (
	mSOI  = 0xD8
	mEOI  = 0xD9
	mSOS  = 0xDA
	mAPP0 = 0xE0
	mAPP1 = 0xE1
	mAPP2 = 0xE2
	mAP14 = 0xEE
	mAP15 = 0xEF
	mCOM  = 0xFE
	mTEM  = 0x01
)

// keepAPP reports whether an application segment carries what decoding
// needs rather than metadata: JFIF (APP0), an ICC colour profile (APP2
// "ICC_PROFILE"), Adobe's colour transform (APP14 "Adobe"). EXIF and XMP
// (APP1), IPTC (APP13), multi-picture indexes (APP2 "MPF") and every
// vendor segment are dropped.
func keepAPP(marker byte, payload []byte) bool {
	switch marker {
	case mAPP0:
		return bytes.HasPrefix(payload, []byte("JFIF\x00")) || bytes.HasPrefix(payload, []byte("JFXX\x00"))
	case mAPP2:
		return bytes.HasPrefix(payload, []byte("ICC_PROFILE\x00"))
	case mAP14:
		return bytes.HasPrefix(payload, []byte("Adobe"))
	}
	return false
}

func truncated(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fail("jpeg", "truncated")
	}
	return err
}

// filterJPEG copies a JPEG from r to w without its metadata segments and
// without anything after its end (trailers, appended images).
func filterJPEG(w *bufio.Writer, r *bufio.Reader) error {
	var soi [2]byte
	if _, err := io.ReadFull(r, soi[:]); err != nil || soi != [2]byte{0xFF, mSOI} {
		return fail("jpeg", "no start of image")
	}
	if err := write(w, soi[:]); err != nil {
		return err
	}
	orientation := 0
	pendingOrientation := true // written before the first frame segment
	next := -1                 // a marker a scan ended on
	for {
		var marker byte
		if next >= 0 {
			marker, next = byte(next), -1
		} else {
			m, err := nextMarker(r)
			if err != nil {
				return truncated(err)
			}
			marker = m
		}
		switch {
		case marker == mEOI:
			// Whatever follows the image (a vendor trailer, a second
			// picture with its own EXIF) is dropped.
			return write(w, []byte{0xFF, mEOI})
		case marker == mTEM || (marker >= 0xD0 && marker <= 0xD7):
			if err := write(w, []byte{0xFF, marker}); err != nil {
				return err
			}
			continue
		case marker == mSOI:
			return fail("jpeg", "start of image inside the image")
		}
		var lb [2]byte
		if _, err := io.ReadFull(r, lb[:]); err != nil {
			return truncated(err)
		}
		n := int(binary.BigEndian.Uint16(lb[:]))
		if n < 2 {
			return fail("jpeg", "segment %#x with length %d", marker, n)
		}
		isAPP := marker >= mAPP0 && marker <= mAP15
		if isAPP || marker == mCOM {
			payload := make([]byte, n-2)
			if _, err := io.ReadFull(r, payload); err != nil {
				return truncated(err)
			}
			if marker == mAPP1 && orientation == 0 && bytes.HasPrefix(payload, []byte("Exif\x00\x00")) {
				orientation = exifOrientation(payload[6:])
			}
			if isAPP && keepAPP(marker, payload) {
				if err := write(w, []byte{0xFF, marker}, lb[:], payload); err != nil {
					return err
				}
			}
			continue
		}
		if pendingOrientation {
			pendingOrientation = false
			if orientation > 1 {
				if err := write(w, orientationSegment(orientation)); err != nil {
					return err
				}
			}
		}
		if err := write(w, []byte{0xFF, marker}, lb[:]); err != nil {
			return err
		}
		if _, err := io.CopyN(w, r, int64(n-2)); err != nil {
			return truncated(err)
		}
		if marker == mSOS {
			m, err := copyScan(w, r)
			if err != nil {
				return truncated(err)
			}
			next = int(m)
		}
	}
}

// write writes each of bs to w in turn and stops at the first error.
func write(w *bufio.Writer, bs ...[]byte) error {
	for _, b := range bs {
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	return nil
}

// nextMarker reads a marker: 0xFF, fill bytes (0xFF), the marker code.
func nextMarker(r *bufio.Reader) (byte, error) {
	b, err := r.ReadByte()
	if err != nil {
		return 0, err
	}
	if b != 0xFF {
		return 0, fail("jpeg", "%#x where a marker should be", b)
	}
	for {
		b, err = r.ReadByte()
		if err != nil {
			return 0, err
		}
		if b != 0xFF {
			return b, nil
		}
	}
}

// copyScan copies entropy-coded data up to the next marker that is not a
// restart marker or a stuffed 0xFF00, and returns that marker's code
// (consumed).
func copyScan(w *bufio.Writer, r *bufio.Reader) (byte, error) {
	for {
		// The run up to the next 0xFF (nearly all of a photo) is copied
		// at once from the reader's buffer: byte by byte it cost tens of
		// milliseconds per MiB.
		if n := r.Buffered(); n > 0 {
			buf, _ := r.Peek(n)
			i := bytes.IndexByte(buf, 0xFF)
			if i < 0 {
				i = n
			}
			if i > 0 {
				if _, err := w.Write(buf[:i]); err != nil {
					return 0, err
				}
				if _, err := r.Discard(i); err != nil {
					return 0, err
				}
				continue
			}
		}
		b, err := r.ReadByte()
		if err != nil {
			return 0, err
		}
		if b != 0xFF {
			if err := w.WriteByte(b); err != nil {
				return 0, err
			}
			continue
		}
		c, err := r.ReadByte()
		for err == nil && c == 0xFF { // fill bytes before a marker
			c, err = r.ReadByte()
		}
		if err != nil {
			return 0, err
		}
		if c == 0x00 || (c >= 0xD0 && c <= 0xD7) {
			if err := write(w, []byte{0xFF, c}); err != nil {
				return 0, err
			}
			continue
		}
		return c, nil
	}
}

// exifOrientation reads tag 0x0112 (Orientation) of IFD0 in a TIFF
// structure; 0 when absent or malformed.
func exifOrientation(t []byte) int {
	if len(t) < 8 {
		return 0
	}
	var bo binary.ByteOrder
	switch string(t[:2]) {
	case "II":
		bo = binary.LittleEndian
	case "MM":
		bo = binary.BigEndian
	default:
		return 0
	}
	if bo.Uint16(t[2:]) != 42 {
		return 0
	}
	off := int64(bo.Uint32(t[4:]))
	if off < 8 || off+2 > int64(len(t)) {
		return 0
	}
	n := int64(bo.Uint16(t[off:]))
	for i := int64(0); i < n; i++ {
		e := off + 2 + 12*i
		if e+12 > int64(len(t)) {
			return 0
		}
		if bo.Uint16(t[e:]) == 0x0112 && bo.Uint16(t[e+2:]) == 3 && bo.Uint32(t[e+4:]) == 1 {
			if v := int(bo.Uint16(t[e+8:])); v >= 1 && v <= 8 {
				return v
			}
			return 0
		}
	}
	return 0
}

// orientationSegment is an APP1 EXIF segment holding only the orientation.
func orientationSegment(o int) []byte {
	seg := []byte{0xFF, mAPP1, 0, 34, 'E', 'x', 'i', 'f', 0, 0,
		'M', 'M', 0, 42, 0, 0, 0, 8, // TIFF header, IFD0 at 8
		0, 1, // one entry
		0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, byte(o), 0, 0, // Orientation, SHORT, 1
		0, 0, 0, 0} // no next IFD
	return seg
}
