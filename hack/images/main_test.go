package main

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/ledongthuc/pdf"
	"github.com/signintech/gopdf"

	"github.com/wuxiao/wuxiao/services/inspection"
)

// moduleRoot is where `go run ./hack/images` runs (package paths are
// relative to it).
func moduleRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// hostFlags runs hack/images/host.sh (which installs the Debian packages
// when missing) and returns the notice font it names.
func hostFont(t *testing.T) string {
	t.Helper()
	out, err := exec.Command(filepath.Join(moduleRoot(t), "hack", "images", "host.sh")).Output()
	if err != nil {
		t.Fatalf("hack/images/host.sh: %v", err)
	}
	for l := range strings.Lines(string(out)) {
		if f, ok := strings.CutPrefix(strings.TrimSpace(l), "-notice-font="); ok {
			return f
		}
	}
	t.Fatalf("hack/images/host.sh printed no -notice-font: %q", out)
	return ""
}

// readTar returns a layer tar's headers and regular files' contents by name.
func readTar(t *testing.T, r io.Reader) (map[string]*tar.Header, map[string][]byte) {
	t.Helper()
	hs, data := map[string]*tar.Header{}, map[string][]byte{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return hs, data
		}
		if err != nil {
			t.Fatal(err)
		}
		if _, dup := hs[h.Name]; dup {
			t.Errorf("%s twice in the layer", h.Name)
		}
		hs[h.Name] = h
		if h.Typeflag == tar.TypeReg {
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			data[h.Name] = b
		}
	}
}

// checkParents fails unless every entry's parent directories are in the
// layer, owned by root and not writable by others.
func checkParents(t *testing.T, hs map[string]*tar.Header) {
	t.Helper()
	for n := range hs {
		for d := filepath.Dir(strings.TrimSuffix(n, "/")); d != "."; d = filepath.Dir(d) {
			h, ok := hs[d+"/"]
			switch {
			case !ok:
				t.Errorf("%s: parent %s/ missing", n, d)
			case h.Typeflag != tar.TypeDir || h.Mode&0o022 != 0 && h.Name != "tmp/":
				t.Errorf("%s: type %c mode %o", h.Name, h.Typeflag, h.Mode)
			case h.Uid != 0 && h.Name != "home/nonroot/":
				t.Errorf("%s: owned by %d", h.Name, h.Uid)
			}
		}
	}
}

func TestRuntimeLayer(t *testing.T) {
	hostFont(t) // installs ca-certificates and tzdata when missing
	es, err := runtimeEntries("/usr/share/ca-certificates/mozilla", "/usr/share/zoneinfo")
	if err != nil {
		t.Fatal(err)
	}
	lt, err := layerTar(es)
	if err != nil {
		t.Fatal(err)
	}
	hs, data := readTar(t, bytes.NewReader(lt))
	checkParents(t, hs)
	for _, tc := range []struct {
		name string
		typ  byte
		mode int64
		uid  int
		has  string
	}{
		{"etc/passwd", tar.TypeReg, 0o644, 0, "nonroot:x:65532:65532:"},
		{"etc/group", tar.TypeReg, 0o644, 0, "nonroot:x:65532:"},
		{"etc/ssl/certs/ca-certificates.crt", tar.TypeReg, 0o644, 0, "-----BEGIN CERTIFICATE-----"},
		{"usr/share/zoneinfo/Asia/Shanghai", tar.TypeReg, 0o644, 0, "TZif"},
		{"usr/share/zoneinfo/Etc/UTC", tar.TypeReg, 0o644, 0, "TZif"},
		{"usr/share/zoneinfo/UTC", tar.TypeSymlink, 0o777, 0, ""},
		{"home/nonroot/", tar.TypeDir, 0o700, nonRootUID, ""},
	} {
		h, ok := hs[tc.name]
		if !ok {
			t.Errorf("%s missing", tc.name)
			continue
		}
		if h.Typeflag != tc.typ || h.Mode != tc.mode || h.Uid != tc.uid || h.Gid != tc.uid || !h.ModTime.Equal(epoch()) {
			t.Errorf("%s: type %c mode %o owner %d:%d time %s", tc.name, h.Typeflag, h.Mode, h.Uid, h.Gid, h.ModTime)
		}
		if !strings.Contains(string(data[tc.name]), tc.has) {
			t.Errorf("%s lacks %q", tc.name, tc.has)
		}
	}
	if l := hs["usr/share/zoneinfo/UTC"]; l != nil && l.Linkname != "Etc/UTC" {
		t.Errorf("UTC links to %q", l.Linkname)
	}
	// What the services do with them: China's time zone, and roots.
	loc, err := time.LoadLocationFromTZData("Asia/Shanghai", data["usr/share/zoneinfo/Asia/Shanghai"])
	if err != nil {
		t.Fatal(err)
	}
	if _, off := time.Date(2026, 7, 1, 0, 0, 0, 0, loc).Zone(); off != 8*3600 {
		t.Errorf("Asia/Shanghai: offset %d", off)
	}
	bundle := data["etc/ssl/certs/ca-certificates.crt"]
	n, err := countPEMCertificates(bundle)
	if err != nil || n < 100 {
		t.Errorf("CA bundle: %d certificates, %v", n, err)
	}
	if pool := x509.NewCertPool(); !pool.AppendCertsFromPEM(bundle) {
		t.Error("CA bundle: no certificate parsed")
	}
	// The build host's own CAs (a proxy's, a company's) stay out.
	local, _ := filepath.Glob("/usr/local/share/ca-certificates/*.crt")
	for _, f := range local {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if len(bytes.TrimSpace(b)) > 0 && bytes.Contains(bundle, bytes.TrimSpace(b)) {
			t.Errorf("the image's CA bundle holds the build host's local CA %s", f)
		}
	}
}

func TestReadCABundleRefusesKeys(t *testing.T) {
	dir := t.TempDir()
	key := "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n-----END PRIVATE KEY-----\n"
	for _, tc := range []struct{ name, content, want string }{
		{"key.crt", key, "PRIVATE KEY"},
		{"empty.crt", "", "no PEM certificate"},
		{"text.crt", "not a certificate\n", "not PEM"},
	} {
		f := filepath.Join(dir, tc.name)
		if err := os.WriteFile(f, []byte(tc.content), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := readCABundle(f); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error mentioning %q", tc.name, err, tc.want)
		}
	}
}

func TestFontLayer(t *testing.T) {
	font := hostFont(t)
	es, err := fontEntries(font, "/usr/share/doc/fonts-arphic-uming/copyright")
	if err != nil {
		t.Fatal(err)
	}
	lt, err := layerTar(es)
	if err != nil {
		t.Fatal(err)
	}
	hs, data := readTar(t, bytes.NewReader(lt))
	checkParents(t, hs)
	for _, n := range []string{fontFile, fontDir + "/COPYRIGHT", fontDir + "/README"} {
		if h := hs[n]; h == nil || h.Typeflag != tar.TypeReg || h.Mode != 0o644 || h.Uid != 0 {
			t.Errorf("%s: %+v", n, h)
		}
	}
	if !strings.Contains(string(data[fontDir+"/COPYRIGHT"]), "ARPHIC PUBLIC LICENSE") {
		t.Error("the font's licence is not beside it")
	}
	ttf := data[fontFile]
	t.Logf("notice font: %s, %.2f MiB (the collection: %.2f MiB)", fontFile, float64(len(ttf))/(1<<20), float64(fileSize(t, font))/(1<<20))

	// A well-formed font: no bitmap table, whole-font checksum right.
	be := binary.BigEndian
	tables := map[string]bool{}
	for i := range int(be.Uint16(ttf[4:])) {
		tables[string(ttf[12+16*i:16+16*i])] = true
	}
	for _, d := range dropTables {
		if tables[d] {
			t.Errorf("table %q left in", d)
		}
	}
	for _, k := range []string{"glyf", "loca", "cmap", "hmtx", "head", "name", "post", "OS/2"} {
		if !tables[k] {
			t.Errorf("table %q missing", k)
		}
	}
	var sum uint32
	for i := 0; i < len(ttf); i += 4 {
		sum += be.Uint32(ttf[i:])
	}
	if sum != 0xB1B0AFBA {
		t.Errorf("whole-font checksum %#x, want 0xb1b0afba", sum)
	}

	// The inspection service accepts it as its --notice-font, and a PDF
	// drawn with it carries the Chinese text.
	path := filepath.Join(t.TempDir(), "notice.ttf")
	if err := os.WriteFile(path, ttf, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := inspection.LoadNoticeFont(path, 0); err != nil {
		t.Fatal(err)
	}
	const text = "关于溪口镇测试村的预警通知书"
	var p gopdf.GoPdf
	p.Start(gopdf.Config{PageSize: *gopdf.PageSizeA4})
	p.AddPage()
	if err := p.AddTTFFontData("notice", ttf); err != nil {
		t.Fatal(err)
	}
	if err := p.SetFont("notice", "", 15); err != nil {
		t.Fatal(err)
	}
	if err := p.Text(text); err != nil {
		t.Fatal(err)
	}
	doc, err := p.GetBytesPdfReturnErr()
	if err != nil {
		t.Fatal(err)
	}
	if got := pdfText(t, doc); !strings.Contains(got, text) {
		t.Errorf("the PDF's text is %q, want %q", got, text)
	}
}

func fileSize(t *testing.T, f string) int64 {
	t.Helper()
	fi, err := os.Stat(f)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// pdfText is a PDF's text, read back through its fonts' ToUnicode maps.
func pdfText(t *testing.T, doc []byte) string {
	t.Helper()
	r, err := pdf.NewReader(bytes.NewReader(doc), int64(len(doc)))
	if err != nil {
		t.Fatal(err)
	}
	var s strings.Builder
	for i := 1; i <= r.NumPage(); i++ {
		txt, err := r.Page(i).GetPlainText(nil)
		if err != nil {
			t.Fatal(err)
		}
		s.WriteString(txt)
	}
	return s.String()
}

// TestImagesReproducible builds a real image (the cluster's hello) twice
// with both extra layers: the archives are byte for byte the same, the
// layers are in order, and the config names the font.
func TestImagesReproducible(t *testing.T) {
	font := hostFont(t)
	t.Chdir(moduleRoot(t))
	var ex extras
	rt, err := runtimeEntries("/usr/share/ca-certificates/mozilla", "/usr/share/zoneinfo")
	if err != nil {
		t.Fatal(err)
	}
	if ex.runtime, err = layerTar(rt); err != nil {
		t.Fatal(err)
	}
	fe, err := fontEntries(font, "/usr/share/doc/fonts-arphic-uming/copyright")
	if err != nil {
		t.Fatal(err)
	}
	if ex.font, err = layerTar(fe); err != nil {
		t.Fatal(err)
	}
	ex.fontImages = map[string]bool{"hello": true}
	var sums []string
	for range 2 {
		out := t.TempDir()
		file, sizes, err := buildImage(t.Context(), target{name: "hello", pkg: "./hack/images/hello"}, "test", out, ex)
		if err != nil {
			t.Fatal(err)
		}
		if len(sizes) != 3 || sizes[0] != int64(len(ex.runtime)) || sizes[1] != int64(len(ex.font)) {
			t.Errorf("layer sizes %v", sizes)
		}
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.Sum256(b)
		sums = append(sums, hex.EncodeToString(h[:]))
		checkArchive(t, file)
	}
	if sums[0] != sums[1] {
		t.Errorf("two builds differ: %s and %s", sums[0], sums[1])
	}

	// An image not named by -font-images gets the runtime layer only.
	file, sizes, err := writeImage(target{name: "gateway", pkg: "./x"}, "test", t.TempDir(), []byte("not run"), ex)
	if err != nil {
		t.Fatal(err)
	}
	if len(sizes) != 2 || sizes[0] != int64(len(ex.runtime)) {
		t.Errorf("gateway's layer sizes %v", sizes)
	}
	img := readImage(t, file)
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(strings.Join(cf.Config.Env, " "), fontEnv) {
		t.Errorf("gateway's env %v names a font", cf.Config.Env)
	}
}

// checkArchive reads hello's archive as a container runtime would: three
// layers (runtime, font, binary), the font's path in the environment, the
// non-root user.
func checkArchive(t *testing.T, file string) {
	t.Helper()
	img := readImage(t, file)
	ls, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{{caBundle, "etc/passwd"}, {fontFile}, {binDir + "/hello", "hello"}}
	if len(ls) != len(want) {
		t.Fatalf("%d layers, want %d", len(ls), len(want))
	}
	for i, l := range ls {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		hs, _ := readTar(t, rc)
		_ = rc.Close()
		for _, n := range want[i] {
			if hs[n] == nil {
				t.Errorf("layer %d lacks %s", i, n)
			}
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	env := strings.Join(cf.Config.Env, " ")
	if !strings.Contains(env, fontEnv+"=/"+fontFile) || cf.Config.User != "65532:65532" {
		t.Errorf("config: env %q user %q", env, cf.Config.User)
	}
}

// readImage opens the one image of an archive (unpacked into a temporary
// directory that lasts as long as the test).
func readImage(t *testing.T, file string) v1.Image {
	t.Helper()
	dir := t.TempDir()
	f, err := os.Open(file) //nolint:gosec // G304: the test's own archive
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	_, data := readTar(t, f)
	for n, b := range data {
		p := filepath.Join(dir, filepath.FromSlash(n))
		if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	lp, err := layout.FromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := lp.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Manifests) != 1 {
		t.Fatalf("%s holds %d images", file, len(m.Manifests))
	}
	img, err := idx.Image(m.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	return img
}
