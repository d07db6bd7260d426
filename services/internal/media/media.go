// Package media removes what uploaded photos and documents say about the
// people who made them before they are stored: EXIF (GPS position, time,
// camera serial number), XMP, IPTC and comments in JPEG, text and eXIf
// chunks in PNG, and the document information and XMP metadata of PDF. A
// reporter's photo must not tell the village's cadres where it was taken.
//
// JPEG and PNG are filtered as streams, segment by segment or chunk by
// chunk, and never decoded: the pixels are untouched and nothing is held
// in memory beyond one segment header (at most 64 KiB). A JPEG's EXIF
// orientation survives as a new, minimal EXIF segment holding it alone, so
// that photos are not shown on their side. PDF is cleaned in place (the
// bytes keep their offsets, so the cross-reference table stays valid) and
// needs the whole file in memory; a PDF whose metadata this package cannot
// reach (an encrypted file, document information in an object stream that
// cannot be rewritten in place, an XMP stream in a filter other than
// Flate) is refused with an *Error rather than stored as it is.
//
// Other types pass unchanged: callers decide which types they accept.
package media

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// ErrUnclean is what every *Error matches (errors.Is).
var ErrUnclean = errors.New("media: the file's metadata cannot be removed")

// Error is a file refused because it is malformed where metadata is
// sought, or keeps metadata where this package cannot remove it.
type Error struct {
	Type   string // "jpeg", "png" or "pdf"
	Reason string
}

func (e *Error) Error() string { return "media: " + e.Type + ": " + e.Reason }

// Is makes errors.Is(err, ErrUnclean) true.
func (e *Error) Is(target error) bool { return target == ErrUnclean }

func fail(typ, format string, args ...any) error {
	return &Error{Type: typ, Reason: fmt.Sprintf(format, args...)}
}

// Kind is what a file's first bytes say it is.
type Kind int

// The kinds of file this package cleans; Other passes unchanged.
const (
	Other Kind = iota
	JPEG
	PNG
	PDF
)

var pngSignature = []byte("\x89PNG\r\n\x1a\n")

// Sniff tells a file's kind from its first bytes (8 suffice).
func Sniff(head []byte) Kind {
	switch {
	case len(head) >= 3 && head[0] == 0xFF && head[1] == 0xD8 && head[2] == 0xFF:
		return JPEG
	case bytes.HasPrefix(head, pngSignature):
		return PNG
	case bytes.HasPrefix(head, []byte("%PDF-")):
		return PDF
	}
	return Other
}

// Clean returns data without its metadata (data itself when there is
// nothing to clean), or an *Error.
func Clean(data []byte) ([]byte, error) {
	return CleanInto(nil, data)
}

// CleanInto is Clean writing a cleaned JPEG or PNG into dst's memory (from
// dst[:0], grown when it is short), for a caller that reuses its buffers:
// a fresh one costs zeroing as many bytes again. The result is in dst's
// memory, a new slice, or data itself.
func CleanInto(dst, data []byte) ([]byte, error) {
	switch k := Sniff(data); k {
	case JPEG, PNG:
		out := bytes.NewBuffer(dst[:0])
		out.Grow(len(data))
		if err := filter(out, bytes.NewReader(data), k); err != nil {
			return nil, err
		}
		return out.Bytes(), nil
	case PDF:
		return cleanPDF(bytes.Clone(data))
	}
	return data, nil
}

// NewReader returns the bytes of r without their metadata, cleaned as they
// are read (a PDF is first read whole, up to maxPDF bytes). A PDF larger
// than maxPDF is passed unchanged: the caller must refuse files over that
// size, as the complaint service does with its per-file limit. Reading
// returns an *Error for a file that cannot be cleaned. Close it when done.
func NewReader(r io.Reader, maxPDF int64) io.ReadCloser {
	pr, pw := io.Pipe()
	go func() {
		pw.CloseWithError(clean(pw, r, maxPDF))
	}()
	return pr
}

func clean(w io.Writer, r io.Reader, maxPDF int64) error {
	br := bufio.NewReaderSize(r, 64<<10)
	head, _ := br.Peek(8)
	switch k := Sniff(head); k {
	case JPEG, PNG:
		if err := filter(w, br, k); err != nil {
			return err
		}
		// What follows the image's end is not kept but still read, so
		// that the caller counts the whole upload against its limits.
		_, err := io.Copy(io.Discard, br)
		return err
	case PDF:
		data, err := io.ReadAll(io.LimitReader(br, maxPDF+1))
		if err != nil {
			return err
		}
		if int64(len(data)) > maxPDF {
			// Over the caller's limit: refused there, not cleaned here.
			if _, err := w.Write(data); err != nil {
				return err
			}
			_, err := io.Copy(w, br)
			return err
		}
		out, err := cleanPDF(data)
		if err != nil {
			return err
		}
		_, err = w.Write(out)
		return err
	}
	_, err := io.Copy(w, br)
	return err
}

func filter(w io.Writer, r io.Reader, k Kind) error {
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReaderSize(r, 64<<10)
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	var err error
	if k == JPEG {
		err = filterJPEG(bw, br)
	} else {
		err = filterPNG(bw, br)
	}
	if err != nil {
		return err
	}
	return bw.Flush()
}
