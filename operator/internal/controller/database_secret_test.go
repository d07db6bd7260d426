package controller

import (
	"context"
	"sync"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"

	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
	"github.com/wuxiao/wuxiao/operator/internal/resources"
)

// deletedAfterRead is a client whose first read of one object is followed
// by that object's deletion on the API server: a reconcile that read a
// Secret (from its cache) just before somebody deleted it.
type deletedAfterRead struct {
	client.Client
	key  types.NamespacedName
	once sync.Once
	err  error
}

func (c *deletedAfterRead) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	err := c.Client.Get(ctx, key, obj, opts...)
	if err == nil && key == c.key {
		c.once.Do(func() { c.err = c.Delete(ctx, obj.DeepCopyObject().(client.Object)) })
	}
	return err
}

// A database Secret deleted while a reconcile is under way (it read the
// password, then the Secret vanished, then the reconcile wrote it back) must
// not come back with the lost password: CI once saw the recreated Secret
// carry it.
func TestDatabaseSecretLostMidReconcileGetsNewPassword(t *testing.T) {
	ctx := context.Background()
	startManager(t)
	d := fixture(t)
	town := readyTown(t, d)
	ns := town.NamespaceName()
	// The manager must stay out of it: only the reconcile below acts.
	patchAnnotation(t, town, wuxiaov1.PausedAnnotation, "true")
	eventually(t, wait, func() error {
		got := &wuxiaov1.Town{}
		must(t, k8s.Get(ctx, client.ObjectKeyFromObject(town), got))
		return expectReady(got.Status.Conditions, got.Generation, got.Status.ObservedGeneration, metav1.ConditionUnknown, wuxiaov1.ReasonPaused)
	})

	lost := getSecret(t, ns, resources.DatabaseSecretName)
	lostURL := string(lost.Data[resources.DatabaseSecretKey])
	c := &deletedAfterRead{Client: k8s, key: client.ObjectKeyFromObject(lost)}
	r := &TownReconciler{Client: c, APIReader: k8s, Scheme: k8s.Scheme(), Recorder: events.NewFakeRecorder(100)}
	must(t, r.ensureDatabase(ctx, town, d, false))
	must(t, c.err)

	got := getSecret(t, ns, resources.DatabaseSecretName)
	if got.UID == lost.UID {
		t.Fatal("the Secret was not deleted and recreated: the test did not set up the race")
	}
	newURL := string(got.Data[resources.DatabaseSecretKey])
	if newURL == lostURL {
		t.Fatal("the recreated Secret has the lost password")
	}
	if p := string(got.Data[resources.DatabasePasswordKey]); p == "" || p == string(lost.Data[resources.DatabasePasswordKey]) {
		t.Fatalf("password key: %q", p)
	}
	conn, err := connect(ctx, newURL)
	if err != nil {
		t.Fatalf("the new URL does not work: %v", err)
	}
	_ = conn.Close(ctx)
	// The test server trusts 127.0.0.1: check the role's password itself.
	role := "wuxiao_" + town.Name
	if !rolePasswordIs(t, role, string(got.Data[resources.DatabasePasswordKey])) ||
		rolePasswordIs(t, role, string(lost.Data[resources.DatabasePasswordKey])) {
		t.Error("the role's password is not the recreated Secret's")
	}
}
