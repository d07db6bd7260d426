package controller

import (
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"

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

// readyReasonIs reports whether the Ready condition already carries reason,
// so that a repeated failure does not emit an event (a write) on every
// retry.
func readyReasonIs(conds []metav1.Condition, reason string) bool {
	if c := meta.FindStatusCondition(conds, wuxiaov1.ConditionReady); c != nil {
		return c.Reason == reason
	}
	return false
}

// A reconcile step reports why it could not finish with one of the error
// classes below, or with any other error (the API server, a conflict: a
// transient failure). errorPolicy.report is the one place where they become
// conditions, events and the work queue's next step; it tells them apart
// with errors.As, so wrapping with %w keeps the class.

// waiting resolves by itself (a Town still starting, a catalog not yet
// validated): the object reports Reconciling instead of Stalled, no error is
// returned, and a watch (or the policy's requeue) brings the next reconcile.
type waiting struct{ reason, msg string }

func (w *waiting) Error() string { return w.msg }

// stalled is an error a person has to fix: the object reports Stalled, one
// Warning event says what to do, and no error is returned, so there is no
// retry loop with backoff.
type stalled struct{ reason, msg string }

func (s *stalled) Error() string { return s.reason + ": " + s.msg }

func stall(reason, format string, args ...any) error {
	return &stalled{reason: reason, msg: fmt.Sprintf(format, args...)}
}

// unavailable is a dependency outside the cluster (PostgreSQL, Kafka,
// Kratos) that cannot be reached or refuses: the object reports Stalled with
// a message naming the server, and the error is returned so that the work
// queue retries with exponential backoff, since the cause may go away
// without anyone touching the object.
type unavailable struct{ reason, msg string }

func (u *unavailable) Error() string { return u.reason + ": " + u.msg }

// errorPolicy is what differs between the kinds in reporting an error: how
// soon an object that waits or is stalled is looked at again, and how a
// transient error shows. Everything else is the same for every kind.
type errorPolicy struct {
	// stalledRequeue looks at a Stalled object again after this long, for
	// causes no watch reports (0: only a watch brings it back).
	stalledRequeue time.Duration
	// waitingRequeue likewise for an object waiting on something.
	waitingRequeue time.Duration
	// transientReason, when set, shows a transient error as Reconciling
	// with this reason and the error as message; when empty, the conditions
	// stay as last reported (the error is retried either way).
	transientReason string
	// action names the step in Warning events: by default Validate for
	// stalled and Provision for unavailable.
	action string
}

// report sets conds (of obj, at generation gen) for err and returns what the
// reconcile returns. A nil err changes nothing: the reconciler reports
// success itself. The Warning event of a stalled or unavailable object is
// emitted once, when the Ready reason changes, not on every retry.
func (p errorPolicy) report(rec events.EventRecorder, obj runtime.Object, conds *[]metav1.Condition, gen int64, err error) (ctrl.Result, error) {
	var (
		w *waiting
		s *stalled
		u *unavailable
	)
	warnOnce := func(reason, action, msg string) {
		if p.action != "" {
			action = p.action
		}
		if !readyReasonIs(*conds, reason) {
			rec.Eventf(obj, nil, corev1.EventTypeWarning, reason, action, "%s", msg)
		}
	}
	switch {
	case err == nil:
		return ctrl.Result{}, nil
	case errors.As(err, &w):
		markProgressing(conds, gen, w.reason, w.msg)
		return ctrl.Result{RequeueAfter: p.waitingRequeue}, nil
	case errors.As(err, &s):
		warnOnce(s.reason, "Validate", s.msg)
		markStalled(conds, gen, s.reason, s.msg)
		return ctrl.Result{RequeueAfter: p.stalledRequeue}, nil
	case errors.As(err, &u):
		warnOnce(u.reason, "Provision", u.msg)
		markStalled(conds, gen, u.reason, u.msg)
		return ctrl.Result{}, err
	default:
		if p.transientReason != "" {
			markProgressing(conds, gen, p.transientReason, err.Error())
		}
		return ctrl.Result{}, err
	}
}
