// Package testenv starts a real kube-apiserver and etcd (controller-runtime's
// envtest) with Wuxiao's CRDs and admission policies installed. The binaries
// are built from source by hack/kube-binaries.sh and cached outside the
// checkout; KUBEBUILDER_ASSETS overrides where they are found.
package testenv

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// RepoRoot is the root of the checkout, found from this file's location so
// that tests work from any package directory.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

var (
	assetsOnce sync.Once
	assetsDir  string
	assetsErr  error
)

// BinaryAssetsDir returns the directory holding kube-apiserver and etcd,
// building them on first use when KUBEBUILDER_ASSETS is not set.
func BinaryAssetsDir() (string, error) {
	assetsOnce.Do(func() {
		if d := os.Getenv("KUBEBUILDER_ASSETS"); d != "" {
			assetsDir = d
			return
		}
		// Not one caller's context: the result, cached by the Once, is
		// every caller's.
		cmd := exec.CommandContext(context.Background(), filepath.Join(RepoRoot(), "hack", "kube-binaries.sh"))
		cmd.Stderr = os.Stderr // progress of a cold build is worth seeing
		out, err := cmd.Output()
		if err != nil {
			assetsErr = fmt.Errorf("hack/kube-binaries.sh: %w", err)
			return
		}
		assetsDir = strings.TrimSpace(string(out))
	})
	return assetsDir, assetsErr
}

// Env is a running API server with the project's CRDs.
type Env struct {
	*envtest.Environment
	Config *rest.Config
}

// Start starts an API server, installs the CRDs from config/crd/bases and the
// admission policies from config/admission, and waits until both are served.
func Start() (*Env, error) {
	dir, err := BinaryAssetsDir()
	if err != nil {
		return nil, err
	}
	root := RepoRoot()
	e := &envtest.Environment{
		BinaryAssetsDirectory:    dir,
		CRDDirectoryPaths:        []string{filepath.Join(root, "config", "crd", "bases")},
		ErrorIfCRDPathMissing:    true,
		ControlPlaneStartTimeout: 2 * time.Minute,
		ControlPlaneStopTimeout:  time.Minute,
	}
	// One API server serves a whole package's tests, and each town's four
	// Services take a cluster IP that outlives the test (envtest runs no
	// garbage collector): envtest's default range (/24, 254 addresses)
	// ran full once the package had grown to some sixty towns.
	e.ControlPlane.GetAPIServer().Configure().Set("service-cluster-ip-range", "10.0.0.0/16")
	cfg, err := e.Start()
	if err != nil {
		return nil, fmt.Errorf("starting envtest (binaries in %s): %w", dir, err)
	}
	env := &Env{Environment: e, Config: cfg}
	if err := env.ApplyDir(context.Background(), filepath.Join(root, "config", "admission")); err != nil {
		_ = e.Stop()
		return nil, err
	}
	return env, nil
}

// ApplyDir creates every object of every YAML file in dir (documents separated
// by ---), as `kubectl create -f dir` would.
func (e *Env) ApplyDir(ctx context.Context, dir string) error {
	c, err := client.New(e.Config, client.Options{})
	if err != nil {
		return err
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return err
	}
	for _, f := range files {
		objs, err := ReadObjects(f)
		if err != nil {
			return err
		}
		for _, o := range objs {
			if err := c.Create(ctx, o); err != nil {
				return fmt.Errorf("%s: creating %s %s: %w", f, o.GetKind(), o.GetName(), err)
			}
		}
	}
	return nil
}

// ReadObjects decodes every YAML document of a file into unstructured objects.
func ReadObjects(path string) ([]*unstructured.Unstructured, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return DecodeObjects(data)
}

// DecodeObjects decodes a multi-document YAML stream into unstructured objects,
// skipping empty documents.
func DecodeObjects(data []byte) ([]*unstructured.Unstructured, error) {
	dec := yaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var objs []*unstructured.Unstructured
	for {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			if err.Error() == "EOF" {
				return objs, nil
			}
			return nil, err
		}
		if len(m) == 0 {
			continue
		}
		objs = append(objs, &unstructured.Unstructured{Object: m})
	}
}
