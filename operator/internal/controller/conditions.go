package controller

import (
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
)

// The three predeclared conditions always move together, so that Ready,
// Reconciling and Stalled never contradict each other (kstatus semantics).

func setConditions(conds *[]metav1.Condition, gen int64, ready metav1.ConditionStatus, reconciling, stalled bool, reason, msg string) {
	b := func(v bool) metav1.ConditionStatus {
		if v {
			return metav1.ConditionTrue
		}
		return metav1.ConditionFalse
	}
	meta.SetStatusCondition(conds, metav1.Condition{Type: wuxiaov1.ConditionReady, Status: ready, Reason: reason, Message: msg, ObservedGeneration: gen})
	meta.SetStatusCondition(conds, metav1.Condition{Type: wuxiaov1.ConditionReconciling, Status: b(reconciling), Reason: reason, Message: msgIf(reconciling, msg), ObservedGeneration: gen})
	meta.SetStatusCondition(conds, metav1.Condition{Type: wuxiaov1.ConditionStalled, Status: b(stalled), Reason: reason, Message: msgIf(stalled, msg), ObservedGeneration: gen})
}

func msgIf(ok bool, msg string) string {
	if ok {
		return msg
	}
	return ""
}

// markReady: everything is as the spec asks.
func markReady(conds *[]metav1.Condition, gen int64, msg string) {
	setConditions(conds, gen, metav1.ConditionTrue, false, false, wuxiaov1.ReasonReconciled, msg)
}

// markProgressing: work is under way and will finish without anyone acting.
func markProgressing(conds *[]metav1.Condition, gen int64, reason, msg string) {
	setConditions(conds, gen, metav1.ConditionFalse, true, false, reason, msg)
}

// markStalled: nothing will change until a person fixes something; msg says what.
func markStalled(conds *[]metav1.Condition, gen int64, reason, msg string) {
	setConditions(conds, gen, metav1.ConditionFalse, false, true, reason, msg)
}

// markPaused: the pause annotation is set; the operator changes nothing.
func markPaused(conds *[]metav1.Condition, gen int64) {
	setConditions(conds, gen, metav1.ConditionUnknown, false, false, wuxiaov1.ReasonPaused,
		"reconciliation is paused by the annotation "+wuxiaov1.PausedAnnotation+"=true; remove it to resume")
}

func isPaused(o metav1.Object) bool {
	return o.GetAnnotations()[wuxiaov1.PausedAnnotation] == "true"
}

func isReady(conds []metav1.Condition) bool {
	return meta.IsStatusConditionTrue(conds, wuxiaov1.ConditionReady)
}

// waiting is a condition that resolves by itself (a Town still starting, a catalog not yet validated); the object reports
// Reconciling instead of Stalled, and a watch brings the next reconcile.
type waiting struct{ reason, msg string }

func (w *waiting) Error() string { return w.msg }
