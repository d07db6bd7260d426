package main

// The files a service needs at run time besides its binary, taken from the
// build host's Debian packages (hack/images/host.sh installs them) and never
// fetched when a pod starts:
//
//   - the runtime layer (-runtime, every image of the run): CA roots for
//     outbound TLS (Kratos, OTLP, PostgreSQL with sslmode=verify-full),
//     zoneinfo for Asia/Shanghai and UTC, and /etc/passwd and /etc/group
//     naming the non-root user;
//   - the font layer (-notice-font, only the images of -font-images): the
//     TrueType CJK font the inspection service renders PDF notices with,
//     named by the image's WUXIAO_NOTICE_FONT.

import (
	"archive/tar"
	"bytes"
	"crypto/x509"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/wuxiao/wuxiao/api/pdffont"
)

const (
	// caBundle is where Go's crypto/x509 looks first on Linux (and where
	// Debian's update-ca-certificates writes its bundle).
	caBundle = "etc/ssl/certs/ca-certificates.crt"
	zoneDir  = "usr/share/zoneinfo"
	fontDir  = "usr/share/fonts/truetype/wuxiao"
	// fontFile is named by fontEnv, the inspection service's --notice-font
	// setting (services/inspection/cmd/inspection/integrity.go).
	fontFile = fontDir + "/notice.ttf"
	fontEnv  = "WUXIAO_NOTICE_FONT"
)

// zones are the time zones the images carry: the services count days in
// China (services/internal/tz loads Asia/Shanghai) and log in UTC. Other
// zones are left out on purpose; TZ set to one falls back to UTC.
var zones = []string{"Asia/Shanghai", "Etc/UTC"}

// zoneLinks are aliases, as Debian's tzdata has them.
var zoneLinks = map[string]string{"UTC": "Etc/UTC"}

// dropTables are the font tables a PDF cannot use: embedded bitmap strikes
// (EBDT/EBLC/EBSC) and FontForge's BDF properties. gopdf embeds outlines
// (glyf) only; for AR PL UMing they are 3 MB of 21.
var dropTables = []string{"BDF ", "EBDT", "EBLC", "EBSC"}

// entry is one file, directory or symbolic link of a layer.
type entry struct {
	name     string // relative, no leading slash; directories end in /
	mode     int64
	uid      int
	data     []byte
	linkname string
}

// layerTar writes entries as a tar in name order, with the parent
// directories not listed (root's, mode 0755) added, fixed owners and times.
func layerTar(entries []entry) ([]byte, error) {
	byName := map[string]entry{}
	for _, e := range entries {
		if _, dup := byName[e.name]; dup {
			return nil, fmt.Errorf("%s listed twice", e.name)
		}
		byName[e.name] = e
	}
	for _, e := range entries {
		for d := path.Dir(strings.TrimSuffix(e.name, "/")); d != "."; d = path.Dir(d) {
			if _, ok := byName[d+"/"]; !ok {
				byName[d+"/"] = entry{name: d + "/", mode: 0o755}
			}
		}
	}
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mt := epoch()
	for _, n := range names {
		e := byName[n]
		h := &tar.Header{Name: e.name, Mode: e.mode, Uid: e.uid, Gid: e.uid, ModTime: mt, Format: tar.FormatPAX}
		switch {
		case strings.HasSuffix(e.name, "/"):
			h.Typeflag = tar.TypeDir
		case e.linkname != "":
			h.Typeflag, h.Linkname = tar.TypeSymlink, e.linkname
		default:
			h.Typeflag, h.Size = tar.TypeReg, int64(len(e.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write(e.data); err != nil {
				return nil, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// runtimeEntries are the runtime layer's files. caCerts is Debian's
// ca-certificates directory of PEM files (/usr/share/ca-certificates/mozilla)
// or one bundle file; zoneinfo is the tzdata directory.
//
// The bundle is built from the package's own certificates rather than
// copied from /etc/ssl/certs: the host's bundle also holds whatever local
// CAs the build machine trusts (/usr/local/share/ca-certificates), which
// have no business in a production image. A site with a private CA passes
// its own bundle file.
func runtimeEntries(caCerts, zoneinfo string) ([]entry, error) {
	bundle, err := readCABundle(caCerts)
	if err != nil {
		return nil, err
	}
	es := []entry{
		{name: "etc/passwd", mode: 0o644, data: []byte("root:x:0:0:root:/root:/sbin/nologin\n" +
			fmt.Sprintf("nonroot:x:%d:%d:nonroot:/home/nonroot:/sbin/nologin\n", nonRootUID, nonRootUID))},
		{name: "etc/group", mode: 0o644, data: []byte(fmt.Sprintf("root:x:0:\nnonroot:x:%d:\n", nonRootUID))},
		{name: "home/nonroot/", mode: 0o700, uid: nonRootUID},
		{name: caBundle, mode: 0o644, data: bundle},
	}
	for _, z := range zones {
		data, err := os.ReadFile(filepath.Join(zoneinfo, filepath.FromSlash(z)))
		if err != nil {
			return nil, fmt.Errorf("zoneinfo: %w (install Debian's tzdata: hack/images/host.sh)", err)
		}
		if !bytes.HasPrefix(data, []byte("TZif")) {
			return nil, fmt.Errorf("zoneinfo: %s is not a TZif file", z)
		}
		es = append(es, entry{name: zoneDir + "/" + z, mode: 0o644, data: data})
	}
	for l, target := range zoneLinks {
		es = append(es, entry{name: zoneDir + "/" + l, mode: 0o777, linkname: target})
	}
	return es, nil
}

// readCABundle concatenates the PEM certificates of dir's *.crt files in
// name order, or reads a bundle file as is; it must hold certificates only.
func readCABundle(src string) ([]byte, error) {
	fi, err := os.Stat(src)
	if err != nil {
		return nil, fmt.Errorf("CA certificates: %w (install Debian's ca-certificates: hack/images/host.sh)", err)
	}
	files := []string{src}
	if fi.IsDir() {
		if files, err = filepath.Glob(filepath.Join(src, "*.crt")); err != nil {
			return nil, err
		}
		slices.Sort(files)
	}
	var out bytes.Buffer
	for _, f := range files {
		data, err := os.ReadFile(f) //nolint:gosec // G304: the build's own -ca-certs setting
		if err != nil {
			return nil, err
		}
		n, err := countPEMCertificates(data)
		if err != nil {
			return nil, fmt.Errorf("CA certificates: %s: %w", f, err)
		}
		if n == 0 {
			return nil, fmt.Errorf("CA certificates: %s holds no PEM certificate", f)
		}
		out.Write(bytes.TrimSpace(data))
		out.WriteByte('\n')
	}
	if out.Len() == 0 {
		return nil, fmt.Errorf("CA certificates: no *.crt in %s", src)
	}
	return out.Bytes(), nil
}

// fontEntries are the font layer's files: face 0 of font (a TrueType font
// or collection) without its bitmap tables, the font's licence, and a note
// saying how the file was made (the Arphic Public License asks that
// modified versions say so).
func fontEntries(font, license string) ([]entry, error) {
	raw, err := os.ReadFile(font) //nolint:gosec // G304: the build's own -notice-font setting
	if err != nil {
		return nil, fmt.Errorf("notice font: %w (hack/fonts.sh installs it)", err)
	}
	face, err := pdffont.Face(raw, 0)
	if err != nil {
		return nil, fmt.Errorf("notice font %s: %w", font, err)
	}
	slim, err := dropFontTables(face, dropTables)
	if err != nil {
		return nil, fmt.Errorf("notice font %s: %w", font, err)
	}
	lic, err := os.ReadFile(license) //nolint:gosec // G304: the build's own -notice-font-license setting
	if err != nil {
		return nil, fmt.Errorf("notice font licence: %w", err)
	}
	note := fmt.Sprintf("notice.ttf is face 0 of %s (the build host's copy), rebuilt as a font of its own\n"+
		"without the tables %s (bitmap strikes a PDF does not use) by hack/images of\n"+
		"github.com/wuxiao/wuxiao. Its outlines, metrics and names are unchanged. Licence: COPYRIGHT.\n",
		path.Base(filepath.ToSlash(font)), strings.Join(dropTables, ", "))
	return []entry{
		{name: fontFile, mode: 0o644, data: slim},
		{name: fontDir + "/COPYRIGHT", mode: 0o644, data: lic},
		{name: fontDir + "/README", mode: 0o644, data: []byte(note)},
	}, nil
}

// dropFontTables rebuilds a TrueType font without the named tables: the
// table directory is rewritten (tables stay in their order, 4-byte
// aligned) and head.checkSumAdjustment recomputed.
func dropFontTables(ttf []byte, drop []string) ([]byte, error) {
	be := binary.BigEndian
	if len(ttf) < 12 {
		return nil, errors.New("truncated font")
	}
	n := int(be.Uint16(ttf[4:]))
	if len(ttf) < 12+16*n {
		return nil, errors.New("truncated table directory")
	}
	type table struct {
		rec  []byte
		data []byte
	}
	var keep []table
	for i := range n {
		rec := ttf[12+16*i : 28+16*i]
		off, ln := int(be.Uint32(rec[8:])), int(be.Uint32(rec[12:]))
		if off < 0 || ln < 0 || off+ln > len(ttf) {
			return nil, fmt.Errorf("table %q lies outside the font", rec[:4])
		}
		if !slices.Contains(drop, string(rec[:4])) {
			keep = append(keep, table{rec: rec, data: ttf[off : off+ln]})
		}
	}
	m := len(keep)
	// searchRange, entrySelector, rangeShift as the OpenType spec has them.
	sel := 0
	for 1<<(sel+1) <= m {
		sel++
	}
	hdr := make([]byte, 12, 12+16*m)
	copy(hdr, ttf[:4])
	be.PutUint16(hdr[4:], uint16(m))             //nolint:gosec // G115: at most n, a uint16
	be.PutUint16(hdr[6:], uint16(16<<sel))       //nolint:gosec // G115: at most 16*m
	be.PutUint16(hdr[8:], uint16(sel))           //nolint:gosec // G115: small
	be.PutUint16(hdr[10:], uint16(16*m-16<<sel)) //nolint:gosec // G115: at most 16*m
	var body []byte
	headAt := -1
	for _, t := range keep {
		var rec [16]byte
		copy(rec[:8], t.rec[:8])                         // tag and checksum: the table is unchanged
		be.PutUint32(rec[8:], uint32(12+16*m+len(body))) //nolint:gosec // G115: fonts are far below 4 GiB
		be.PutUint32(rec[12:], uint32(len(t.data)))      //nolint:gosec // G115: likewise
		if string(t.rec[:4]) == "head" {
			headAt = 12 + 16*m + len(body)
		}
		hdr = append(hdr, rec[:]...)
		body = append(body, t.data...)
		for len(body)%4 != 0 {
			body = append(body, 0)
		}
	}
	out := append(hdr, body...)
	if headAt < 0 || headAt+12 > len(out) {
		return nil, errors.New("no head table")
	}
	// checkSumAdjustment: 0xB1B0AFBA minus the sum of the whole font
	// computed with the field set to zero.
	be.PutUint32(out[headAt+8:], 0)
	var sum uint32
	for i := 0; i < len(out); i += 4 {
		sum += be.Uint32(out[i:])
	}
	be.PutUint32(out[headAt+8:], 0xB1B0AFBA-sum)
	return out, nil
}

// countPEMCertificates counts the certificates of data and refuses any
// other PEM block (a private key must never end up in an image).
func countPEMCertificates(data []byte) (int, error) {
	n := 0
	for {
		b, rest := pem.Decode(data)
		if b == nil {
			if len(bytes.TrimSpace(rest)) > 0 && n == 0 {
				return 0, errors.New("not PEM")
			}
			return n, nil
		}
		if b.Type != "CERTIFICATE" {
			return n, fmt.Errorf("a %q block", b.Type)
		}
		if _, err := x509.ParseCertificate(b.Bytes); err != nil {
			return n, err
		}
		n++
		data = rest
	}
}
