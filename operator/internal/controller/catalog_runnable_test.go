package controller

import (
	"context"
	"fmt"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
)

// TestPowerCatalogItemsRunnable: the ItemsRunnable condition names the item
// and step that cannot be run as written and what to change; a control its
// own process cannot meet leaves the catalog Ready, an unreachable step does
// not; fixing the catalog clears the condition. A role nobody holds never
// gets that far: the API server refuses it.
func TestPowerCatalogItemsRunnable(t *testing.T) {
	startManager(t)
	ctx := context.Background()
	cat := validCatalog(fmt.Sprintf("runnable-%d", seq.Add(1)))
	must(t, k8s.Create(ctx, cat))
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), cat) })

	// expect waits for the current generation's ItemsRunnable and Ready.
	expect := func(runnable metav1.ConditionStatus, reason, message string, ready metav1.ConditionStatus, readyReason string) {
		t.Helper()
		eventually(t, wait, func() error {
			got := &wuxiaov1.PowerCatalog{}
			must(t, k8s.Get(ctx, client.ObjectKeyFromObject(cat), got))
			if err := expectReady(got.Status.Conditions, got.Generation, got.Status.ObservedGeneration, ready, readyReason); err != nil {
				return err
			}
			c := meta.FindStatusCondition(got.Status.Conditions, wuxiaov1.ConditionItemsRunnable)
			switch {
			case c == nil:
				return fmt.Errorf("no %s condition in %+v", wuxiaov1.ConditionItemsRunnable, got.Status.Conditions)
			case c.ObservedGeneration != got.Generation || c.Status != runnable || c.Reason != reason || !contains(c.Message, message):
				return fmt.Errorf("%s is %s/%s (generation %d of %d): %q; want %s/%s containing %q",
					c.Type, c.Status, c.Reason, c.ObservedGeneration, got.Generation, c.Message, runnable, reason, message)
			}
			return nil
		})
	}
	expect(metav1.ConditionTrue, wuxiaov1.ReasonEveryItemRuns, "all 1 items can be started and finished", metav1.ConditionTrue, wuxiaov1.ReasonReconciled)

	// A posting that must stay up 7 days on a step due in 5: every instance
	// would be warned. The processes still run, so the catalog stays Ready.
	update(t, cat, func() {
		it := &cat.Spec.Items[0]
		it.Steps[1].Next = []string{"posting"}
		it.Steps = append(it.Steps, wuxiaov1.Step{ID: "posting", Name: "公示", Handler: "村委会", Role: "director", Method: "公示栏张贴",
			TimeLimit: &wuxiaov1.TimeLimit{Days: 5, Calendar: "calendar"}})
		it.Controls = append(it.Controls, wuxiaov1.Control{ID: "posted-7-days", Step: "posting", Type: wuxiaov1.ControlPostingDuration,
			Description: "公示不少于7天", Norm: "n1", MinDays: ptr.To[int32](7)})
	})
	expect(metav1.ConditionFalse, wuxiaov1.ReasonItemNotRunnable,
		"1 problem(s): item funds-expenditure: step posting's time limit (5 calendar days) can end before the posting of control posted-7-days has been up for its minimum 7 days",
		metav1.ConditionTrue, wuxiaov1.ReasonReconciled)

	// A step no path reaches: instances could never do it, the catalog is
	// not Ready either.
	update(t, cat, func() {
		cat.Spec.Items[0].Steps = append(cat.Spec.Items[0].Steps, wuxiaov1.Step{ID: "orphan", Name: "孤立步骤", Handler: "村委会", Role: "director", Method: "无"})
	})
	expect(metav1.ConditionFalse, wuxiaov1.ReasonItemNotRunnable,
		"item funds-expenditure: step orphan cannot be reached from the first step apply: list it in the next steps of a step before it, or remove it",
		metav1.ConditionFalse, wuxiaov1.ReasonCatalogInvalid)

	// A first step whose role nobody holds is refused by the API server.
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		bad := &wuxiaov1.PowerCatalog{}
		must(t, k8s.Get(ctx, client.ObjectKeyFromObject(cat), bad))
		bad.Spec.Items[0].Steps[0].Role = "town-it"
		return k8s.Update(ctx, bad)
	})
	if !apierrors.IsInvalid(err) || !contains(err.Error(), `spec.items[0].steps[0].role: Unsupported value: "town-it"`) {
		t.Fatalf("a step of town IT: got %v, want the API server to refuse the role", err)
	}

	// Fixed: the posting gets the days to publish plus its own, the orphan goes.
	update(t, cat, func() {
		it := &cat.Spec.Items[0]
		it.Steps = it.Steps[:3]
		it.Steps[2].TimeLimit.Days = 12
	})
	expect(metav1.ConditionTrue, wuxiaov1.ReasonEveryItemRuns, "all 1 items", metav1.ConditionTrue, wuxiaov1.ReasonReconciled)
}
