package main

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	wx "github.com/wuxiao/wuxiao/api/v1alpha1"
	"github.com/wuxiao/wuxiao/operator/testenv"
)

var scheme = runtime.NewScheme()

func init() {
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(wx.AddToScheme(scheme))
}

// benchEnv is one fresh API server with the district's shared objects.
type benchEnv struct {
	te      *testenv.Env
	scraper *scraper
}

// startEnv starts kube-apiserver and etcd and creates what a District needs
// (its namespace, the PostgreSQL admin Secret, a PowerCatalog) and the
// District itself. These requests happen before any measurement starts.
func startEnv(ctx context.Context) (*benchEnv, error) {
	start := time.Now()
	te, err := testenv.Start()
	if err != nil {
		return nil, err
	}
	e := &benchEnv{te: te}
	if e.scraper, err = newScraper(te.Config); err != nil {
		e.stop()
		return nil, err
	}
	c, err := client.New(te.Config, client.Options{Scheme: scheme})
	if err != nil {
		e.stop()
		return nil, err
	}
	district, err := newDistrict()
	if err != nil {
		e.stop()
		return nil, err
	}
	for _, o := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: systemNamespace}},
		newSecret(), newCatalog(), district,
	} {
		if err := c.Create(ctx, o); err != nil {
			e.stop()
			return nil, fmt.Errorf("creating %T %s: %w", o, o.GetName(), err)
		}
	}
	logf("API server up at %s in %s", te.Config.Host, time.Since(start).Round(time.Millisecond))
	return e, nil
}

func (e *benchEnv) stop() {
	if err := e.te.Stop(); err != nil {
		logf("stopping envtest: %v", err)
	}
}

// clientSet is a set of clients whose every request is counted by one counter.
type clientSet struct {
	cs  kubernetes.Interface
	dyn dynamic.Interface
	c   client.Client
	cfg *rest.Config
}

func newClientSet(cfg *rest.Config, cnt *counter) (*clientSet, error) {
	cfg = cnt.wrap(cfg)
	cfg.QPS = -1 // no client-side throttling, as controller-runtime's default
	cfg.Burst = 0
	cfg.UserAgent = "wuxiao-bench"
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, err
	}
	return &clientSet{cs: cs, dyn: dyn, c: c, cfg: cfg}, nil
}
