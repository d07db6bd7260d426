package controller

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
)

// A Town named before the 54-character limit cannot have its recovery
// namespace: it is told so, and why, before any request is made (the
// reconciler has no client here). At 54 the namespace is valid, so the
// CRD's limit and this check agree.
func TestRecoveryNamespaceOfTooLongTownName(t *testing.T) {
	at54 := &wuxiaov1.Town{ObjectMeta: metav1.ObjectMeta{Name: strings.Repeat("a", 54)}}
	if errs := validation.IsDNS1123Label(at54.RecoveryNamespaceName()); len(errs) > 0 {
		t.Fatalf("a 54-character Town's recovery namespace is invalid: %v", errs)
	}
	for _, n := range []int{55, 58} {
		t.Run(fmt.Sprintf("%d characters", n), func(t *testing.T) {
			town := &wuxiaov1.Town{ObjectMeta: metav1.ObjectMeta{Name: strings.Repeat("b", n)}}
			err := (&TownReconciler{}).ensureRecovery(context.Background(), town)
			var s *stalled
			if !errors.As(err, &s) {
				t.Fatalf("err = %v, want Stalled", err)
			}
			if s.reason != wuxiaov1.ReasonInvalidSpec || !strings.Contains(s.msg, town.RecoveryNamespaceName()) || !strings.Contains(s.msg, "at most 54") {
				t.Errorf("reason %s, message %q: should name the namespace and the limit", s.reason, s.msg)
			}
		})
	}
}
