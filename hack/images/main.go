// Command images builds container images without Docker: each Go command
// package is compiled as a static linux/amd64 binary and packed, as the only
// file of a single layer, into an OCI image archive (an OCI image layout in a
// tar) that `ctr images import` and `docker load` accept. No registry and no
// daemon are involved, because neither is reachable on the machines this
// project is developed on. Output is reproducible: same sources, same digest.
//
//	go run ./hack/images [-out bin/images] [-tag dev] ./operator/cmd/wuxiao-operator ./hack/images/pause ...
//
// An argument may be NAME=./path/to/cmd; the default NAME is the package
// directory's last element. Each image is written to OUT/NAME.tar and named
// wuxiao.local/NAME:TAG; it runs as user 65532 (non-root) with the binary as
// its entrypoint.
//
// The services' images carry what they need at run time besides the binary
// (runtime.go), in layers under the binary's so that images share them:
//
//	go run ./hack/images $(hack/images/host.sh) ./services/inspection/cmd/inspection ...
//
// -runtime adds CA roots, Asia/Shanghai and UTC zoneinfo and /etc/passwd to
// every image; -notice-font adds the PDF notices' CJK font to the images
// named by -font-images (the inspection service's). Without them an image
// holds the binary alone (the cluster's pause and hello images).
package main

import (
	"archive/tar"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

const (
	registry = "wuxiao.local"
	// nonRootUID is the conventional "nonroot" user of distroless images.
	nonRootUID = 65532
	binDir     = "usr/local/bin"
)

type target struct {
	name string // image name and binary name
	pkg  string // Go package to build, ./relative
}

// extras are the layers under the binary's, built once and shared by the
// images.
type extras struct {
	runtime    []byte          // the runtime layer's tar, or nil
	font       []byte          // the font layer's tar, or nil
	fontImages map[string]bool // the images that get the font layer
}

func main() {
	out := flag.String("out", "bin/images", "directory for the image tarballs")
	tag := flag.String("tag", "dev", "image tag")
	runtime := flag.Bool("runtime", false, "add the runtime layer (CA roots, zoneinfo, /etc/passwd) to every image")
	caCerts := flag.String("ca-certs", "/usr/share/ca-certificates/mozilla", "the runtime layer's CA roots: a directory of PEM *.crt files or one bundle")
	zoneinfo := flag.String("zoneinfo", "/usr/share/zoneinfo", "tzdata directory the runtime layer's zones are read from")
	font := flag.String("notice-font", "", "TrueType CJK font or collection (face 0) for PDF notices (hack/fonts.sh prints it); empty: no font layer")
	fontLicense := flag.String("notice-font-license", "/usr/share/doc/fonts-arphic-uming/copyright", "the notice font's licence, shipped beside it")
	fontImages := flag.String("font-images", "inspection", "comma-separated images that get the font layer")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: go run ./hack/images [flags] [NAME=]./path/to/cmd ...\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	targets, err := parseTargets(flag.Args())
	if err != nil {
		log.Fatal(err)
	}
	if err := os.MkdirAll(*out, 0o750); err != nil {
		log.Fatal(err)
	}
	var ex extras
	if *runtime {
		es, err := runtimeEntries(*caCerts, *zoneinfo)
		if err != nil {
			log.Fatal(err)
		}
		if ex.runtime, err = layerTar(es); err != nil {
			log.Fatal(err)
		}
	}
	if *font != "" {
		es, err := fontEntries(*font, *fontLicense)
		if err != nil {
			log.Fatal(err)
		}
		if ex.font, err = layerTar(es); err != nil {
			log.Fatal(err)
		}
		ex.fontImages = map[string]bool{}
		for n := range strings.SplitSeq(*fontImages, ",") {
			ex.fontImages[strings.TrimSpace(n)] = true
		}
	}
	ctx := context.Background()
	for _, t := range targets {
		start := time.Now()
		file, layers, err := buildImage(ctx, t, *tag, *out, ex)
		if err != nil {
			log.Fatalf("%s: %v", t.name, err)
		}
		log.Printf("%s: %s:%s -> %s, %s (%s)", t.name, path.Join(registry, t.name), *tag, file, sizes(file, layers), time.Since(start).Round(time.Millisecond))
	}
}

// sizes reports an archive's size and its layers' uncompressed sizes.
func sizes(file string, layers []int64) string {
	fi, err := os.Stat(file)
	if err != nil {
		return err.Error()
	}
	var un int64
	parts := make([]string, 0, len(layers))
	for _, n := range layers {
		un += n
		parts = append(parts, mib(n))
	}
	return fmt.Sprintf("archive %s, uncompressed %s (layers %s)", mib(fi.Size()), mib(un), strings.Join(parts, " + "))
}

func mib(n int64) string { return fmt.Sprintf("%.2f MiB", float64(n)/(1<<20)) }

func parseTargets(args []string) ([]target, error) {
	seen := map[string]bool{}
	var ts []target
	for _, a := range args {
		n, pkg, ok := strings.Cut(a, "=")
		if !ok {
			pkg = a
			n = path.Base(strings.TrimSuffix(pkg, "/"))
		}
		if !strings.HasPrefix(pkg, "./") {
			return nil, fmt.Errorf("%q: give a package path relative to the module root, starting with ./", a)
		}
		if _, err := name.NewTag(path.Join(registry, n) + ":latest"); err != nil || n != strings.ToLower(n) {
			return nil, fmt.Errorf("%q: %q is not a valid image name", a, n)
		}
		if seen[n] {
			return nil, fmt.Errorf("image name %q given twice", n)
		}
		seen[n] = true
		ts = append(ts, target{name: n, pkg: pkg})
	}
	return ts, nil
}

func buildImage(ctx context.Context, t target, tag, outDir string, ex extras) (string, []int64, error) {
	tmp, err := os.MkdirTemp("", "wuxiao-image-")
	if err != nil {
		return "", nil, err
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, t.name)
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w", "-o", bin, t.pkg)
	// Static and reproducible: no cgo, so the image needs no libc.
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64", "GOTOOLCHAIN=local")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", nil, fmt.Errorf("go build %s: %w", t.pkg, err)
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		return "", nil, err
	}
	return writeImage(t, tag, outDir, data, ex)
}

// writeImage writes the image of binary bin as OUT/NAME.tar: the extra
// layers t gets, then the binary's. It returns the file and the layers'
// uncompressed sizes.
func writeImage(t target, tag, outDir string, bin []byte, ex extras) (string, []int64, error) {
	tmp, err := os.MkdirTemp("", "wuxiao-image-")
	if err != nil {
		return "", nil, err
	}
	defer os.RemoveAll(tmp)
	binLayer, err := layerTarball(t.name, bin)
	if err != nil {
		return "", nil, err
	}
	var tars [][]byte
	if ex.runtime != nil {
		tars = append(tars, ex.runtime)
	}
	if ex.font != nil && ex.fontImages[t.name] {
		tars = append(tars, ex.font)
	}
	tars = append(tars, binLayer)
	layers := make([]v1.Layer, 0, len(tars))
	sizes := make([]int64, 0, len(tars))
	for _, lt := range tars {
		l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(lt)), nil
		}, tarball.WithMediaType(types.OCILayer))
		if err != nil {
			return "", nil, err
		}
		layers = append(layers, l)
		sizes = append(sizes, int64(len(lt)))
	}
	base := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err := mutate.AppendLayers(base, layers...)
	if err != nil {
		return "", nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return "", nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Created = v1.Time{Time: epoch()}
	cf.Config.User = fmt.Sprintf("%d:%d", nonRootUID, nonRootUID)
	cf.Config.Entrypoint = []string{"/" + binDir + "/" + t.name}
	cf.Config.Env = []string{"PATH=/" + binDir}
	if ex.font != nil && ex.fontImages[t.name] {
		cf.Config.Env = append(cf.Config.Env, fontEnv+"=/"+fontFile)
	}
	cf.Config.WorkingDir = "/"
	cf.Config.Labels = map[string]string{
		"org.opencontainers.image.title":   t.name,
		"org.opencontainers.image.version": tag,
		"org.opencontainers.image.source":  "github.com/wuxiao/wuxiao/" + strings.TrimPrefix(t.pkg, "./"),
		"org.opencontainers.image.vendor":  "wuxiao",
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return "", nil, err
	}
	ref, err := name.NewTag(path.Join(registry, t.name) + ":" + tag)
	if err != nil {
		return "", nil, err
	}
	dir := filepath.Join(tmp, "oci")
	lp, err := layout.Write(dir, empty.Index)
	if err != nil {
		return "", nil, err
	}
	// containerd (ctr import) and Docker name the image after
	// io.containerd.image.name; other tools read the OCI ref.name (the tag).
	if err := lp.AppendImage(img, layout.WithAnnotations(map[string]string{
		"io.containerd.image.name":          ref.Name(),
		"org.opencontainers.image.ref.name": tag,
	})); err != nil {
		return "", nil, err
	}
	file := filepath.Join(outDir, t.name+".tar")
	if err := tarDir(dir, file+".tmp"); err != nil {
		return "", nil, err
	}
	return file, sizes, os.Rename(file+".tmp", file)
}

// tarDir archives an OCI layout directory: regular files and directories in
// lexical order, with fixed owners and times.
func tarDir(dir, file string) (err error) {
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	// Walked and read through an os.Root: nothing outside dir is read, even
	// through a symbolic link.
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer func() { _ = root.Close() }()
	tw := tar.NewWriter(f)
	mt := epoch()
	err = fs.WalkDir(root.FS(), ".", func(rel string, d fs.DirEntry, err error) error {
		if err != nil || rel == "." {
			return err
		}
		if d.IsDir() {
			return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: rel + "/", Mode: 0o755, ModTime: mt, Format: tar.FormatPAX})
		}
		data, err := root.ReadFile(rel)
		if err != nil {
			return err
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: rel, Mode: 0o644, Size: int64(len(data)), ModTime: mt, Format: tar.FormatPAX}); err != nil {
			return err
		}
		_, err = tw.Write(data)
		return err
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

// layerTarball holds the binary (and a /NAME symlink to it) plus a world-writable /tmp, owned by root so
// the non-root user cannot replace the binary.
func layerTarball(binName string, bin []byte) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mt := epoch()
	dirs := []struct {
		name string
		mode int64
	}{{"tmp/", 0o1777}, {"usr/", 0o755}, {"usr/local/", 0o755}, {binDir + "/", 0o755}}
	for _, d := range dirs {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d.name, Mode: d.mode, ModTime: mt, Format: tar.FormatPAX}); err != nil {
			return nil, err
		}
	}
	hdr := &tar.Header{Typeflag: tar.TypeReg, Name: binDir + "/" + binName, Mode: 0o755, Size: int64(len(bin)), ModTime: mt, Format: tar.FormatPAX}
	if err := tw.WriteHeader(hdr); err != nil {
		return nil, err
	}
	if _, err := tw.Write(bin); err != nil {
		return nil, err
	}
	// /NAME as well, where Kubebuilder-style manifests (and this project's
	// chart: command /wuxiao-operator) expect the binary.
	link := &tar.Header{Typeflag: tar.TypeSymlink, Name: binName, Linkname: binDir + "/" + binName, Mode: 0o777, ModTime: mt, Format: tar.FormatPAX}
	if err := tw.WriteHeader(link); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// epoch makes image digests reproducible; SOURCE_DATE_EPOCH overrides it.
func epoch() time.Time {
	var s int64
	if v := os.Getenv("SOURCE_DATE_EPOCH"); v != "" {
		if _, err := fmt.Sscan(v, &s); err != nil {
			log.Fatalf("SOURCE_DATE_EPOCH=%q: %v", v, err) //nolint:gosec // G706: %q quotes the value, so it cannot forge a log line
		}
	}
	return time.Unix(s, 0).UTC()
}
