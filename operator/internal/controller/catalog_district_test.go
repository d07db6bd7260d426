package controller

import (
	"context"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
)

func TestPowerCatalogStatusAndFlowChecks(t *testing.T) {
	startManager(t)
	ctx := context.Background()
	d := fixture(t)
	town := readyTown(t, d)

	cat := &wuxiaov1.PowerCatalog{}
	must(t, k8s.Get(ctx, client.ObjectKey{Name: d.Spec.CatalogRef}, cat))
	if cat.Status.Items != 1 || len(cat.Status.Categories) != 6 || cat.Status.Categories[1] != (wuxiaov1.CategoryCount{Category: wuxiaov1.CategoryFunds, Items: 1}) {
		t.Errorf("catalog status %+v", cat.Status)
	}

	// A step nobody can reach passes the schema but not the operator; the
	// towns using the catalog stop (and keep running what they had).
	update(t, cat, func() {
		cat.Spec.Items[0].Steps = append(cat.Spec.Items[0].Steps, wuxiaov1.Step{ID: "orphan", Name: "孤立步骤", Handler: "村委会", Role: "director", Method: "无"})
	})
	eventually(t, wait, func() error {
		got := &wuxiaov1.PowerCatalog{}
		must(t, k8s.Get(ctx, client.ObjectKeyFromObject(cat), got))
		if err := expectReady(got.Status.Conditions, got.Generation, got.Status.ObservedGeneration, metav1.ConditionFalse, wuxiaov1.ReasonCatalogInvalid); err != nil {
			return err
		}
		if len(got.Status.Problems) != 1 || !contains(got.Status.Problems[0], "step orphan cannot be reached") {
			return fmt.Errorf("problems %q", got.Status.Problems)
		}
		return nil
	})
	eventually(t, wait, func() error {
		got := &wuxiaov1.Town{}
		must(t, k8s.Get(ctx, client.ObjectKeyFromObject(town), got))
		return expectReady(got.Status.Conditions, got.Generation, got.Status.ObservedGeneration, metav1.ConditionFalse, wuxiaov1.ReasonCatalogInvalid)
	})
	eventually(t, wait, func() error {
		got := &wuxiaov1.District{}
		must(t, k8s.Get(ctx, client.ObjectKeyFromObject(d), got))
		return expectReady(got.Status.Conditions, got.Generation, got.Status.ObservedGeneration, metav1.ConditionFalse, wuxiaov1.ReasonCatalogInvalid)
	})

	// Fixing it brings everything back.
	update(t, cat, func() { cat.Spec.Items[0].Steps[1].Next = []string{"orphan"} })
	waitTownReady(t, town)
}

func TestDistrictStatus(t *testing.T) {
	startManager(t)
	ctx := context.Background()
	d := fixture(t)
	readyTown(t, d)
	readyTown(t, d)
	eventually(t, wait, func() error {
		got := &wuxiaov1.District{}
		must(t, k8s.Get(ctx, client.ObjectKeyFromObject(d), got))
		if got.Status.Towns != 2 || got.Status.ReadyTowns != 2 || got.Status.TownsOnVersion != 2 {
			return fmt.Errorf("counts %+v", got.Status)
		}
		return expectReady(got.Status.Conditions, got.Generation, got.Status.ObservedGeneration, metav1.ConditionTrue, wuxiaov1.ReasonReconciled)
	})

	// A missing admin Secret stalls the District with a message that names it.
	update(t, d, func() { d.Spec.Postgres.AdminPasswordSecret.Name = "missing" })
	eventually(t, wait, func() error {
		got := &wuxiaov1.District{}
		must(t, k8s.Get(ctx, client.ObjectKeyFromObject(d), got))
		if err := expectReady(got.Status.Conditions, got.Generation, got.Status.ObservedGeneration, metav1.ConditionFalse, wuxiaov1.ReasonSecretNotFound); err != nil {
			return err
		}
		if _, _, m := readyOf(got.Status.Conditions); !contains(m, "Secret "+archiveNS+"/missing") {
			return fmt.Errorf("message %q", m)
		}
		return nil
	})
	// A Secret without the key is reported too.
	must(t, k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: archiveNS, Name: "missing"}, Data: map[string][]byte{"user": []byte("x")}}))
	patchAnnotation(t, d, "touch", "1") // Secrets are not watched; nudge it
	eventually(t, wait, func() error {
		got := &wuxiaov1.District{}
		must(t, k8s.Get(ctx, client.ObjectKeyFromObject(d), got))
		if _, _, m := readyOf(got.Status.Conditions); !contains(m, `has no key "password"`) {
			return fmt.Errorf("message %q", m)
		}
		return nil
	})
}
