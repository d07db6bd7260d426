package controller

import (
	"context"
	"fmt"
	"maps"

	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
)

// ensure creates desired, or brings the existing object back to it, writing
// only when something the operator owns differs: the labels and annotations
// desired sets, the controller reference, and what sync copies. Fields the API
// server defaults, or that other controllers add, are left alone, so steady
// state costs no write while drift is still corrected.
// It returns the live object as last read or written.
func ensure[T client.Object](ctx context.Context, c client.Client, scheme *runtime.Scheme, owner client.Object, desired T, sync func(existing, desired T)) (T, controllerutil.OperationResult, error) {
	// CreateOrUpdate overwrites obj with the live object when one exists;
	// otherwise it creates obj as desired.
	obj := desired.DeepCopyObject().(T)
	op, err := controllerutil.CreateOrUpdate(ctx, c, obj, func() error {
		mergeMeta(obj, desired)
		if owner != nil {
			if err := controllerutil.SetControllerReference(owner, obj, scheme); err != nil {
				return fmt.Errorf("owner reference: %w", err)
			}
		}
		if sync != nil {
			sync(obj, desired)
		}
		return nil
	})
	return obj, op, err
}

// derive sets *have to want unless every field want sets already holds the
// same value in *have (fields want leaves empty are the API server's).
func derive[V any](have *V, want V) {
	if !equality.Semantic.DeepDerivative(want, *have) {
		*have = want
	}
}

// setIfDifferent sets *have to want unless they are semantically equal:
// for fields the operator owns entirely (nothing the API server defaults).
func setIfDifferent[V any](have *V, want V) {
	if !equality.Semantic.DeepEqual(*have, want) {
		*have = want
	}
}

// mergeMeta sets desired's labels and annotations on existing, keeping keys
// that others added.
func mergeMeta(existing, desired metav1.Object) {
	if l := desired.GetLabels(); len(l) > 0 {
		m := existing.GetLabels()
		if m == nil {
			m = map[string]string{}
		}
		maps.Copy(m, l)
		existing.SetLabels(m)
	}
	if a := desired.GetAnnotations(); len(a) > 0 {
		m := existing.GetAnnotations()
		if m == nil {
			m = map[string]string{}
		}
		maps.Copy(m, a)
		existing.SetAnnotations(m)
	}
}
