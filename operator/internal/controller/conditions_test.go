package controller

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"

	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
)

// TestErrorPolicyReport: every kind turns an error into conditions, one
// event and the next step the same way; the policies differ only in their
// requeues, how a transient error shows, and the events' action. Wrapped
// errors keep their class.
func TestErrorPolicyReport(t *testing.T) {
	ready := func(conds *[]metav1.Condition) { markReady(conds, 1, "all well") }
	stalledBefore := func(conds *[]metav1.Condition) { markStalled(conds, 1, wuxiaov1.ReasonTownNotFound, "old") }
	transient := errors.New("the object has been modified")
	cases := []struct {
		name    string
		policy  errorPolicy
		before  func(*[]metav1.Condition)
		err     error
		requeue time.Duration
		retried bool
		// Ready's status and reason afterwards; reconciling, stalled the
		// other two conditions' status.
		status      metav1.ConditionStatus
		reason, msg string
		reconciling bool
		stalled     bool
		event       string // "" for none, else "<reason> <action>"
	}{
		{name: "nil changes nothing", policy: townErrors, before: ready, err: nil,
			status: metav1.ConditionTrue, reason: wuxiaov1.ReasonReconciled, msg: "all well"},
		{name: "town waiting", policy: townErrors, before: ready, err: &waiting{wuxiaov1.ReasonProgressing, "catalog being validated"},
			status: metav1.ConditionFalse, reason: wuxiaov1.ReasonProgressing, msg: "catalog being validated", reconciling: true},
		{name: "village waiting looks again", policy: villageErrors, before: ready, err: &waiting{wuxiaov1.ReasonDistrictNotFound, "waiting for District"},
			requeue: 30 * time.Second, status: metav1.ConditionFalse, reason: wuxiaov1.ReasonDistrictNotFound, msg: "waiting for District", reconciling: true},
		{name: "town stalled, wrapped", policy: townErrors, before: ready, err: fmt.Errorf("step: %w", stall(wuxiaov1.ReasonCodeMismatch, "code %s", "1")),
			requeue: time.Minute, status: metav1.ConditionFalse, reason: wuxiaov1.ReasonCodeMismatch, msg: "code 1", stalled: true,
			event: wuxiaov1.ReasonCodeMismatch + " Validate"},
		{name: "village stalled, not requeued", policy: villageErrors, before: ready, err: stall(wuxiaov1.ReasonDuplicateCode, "taken"),
			status: metav1.ConditionFalse, reason: wuxiaov1.ReasonDuplicateCode, msg: "taken", stalled: true,
			event: wuxiaov1.ReasonDuplicateCode + " Validate"},
		{name: "district stalled again: no second event", policy: districtErrors, before: stalledBefore, err: stall(wuxiaov1.ReasonTownNotFound, "new"),
			requeue: time.Minute, status: metav1.ConditionFalse, reason: wuxiaov1.ReasonTownNotFound, msg: "new", stalled: true},
		{name: "unavailable, wrapped, retried", policy: villageErrors, before: ready,
			err:     fmt.Errorf("identities: %w", &unavailable{wuxiaov1.ReasonIdentityUnavailable, "Kratos refused"}),
			retried: true, status: metav1.ConditionFalse, reason: wuxiaov1.ReasonIdentityUnavailable, msg: "Kratos refused", stalled: true,
			event: wuxiaov1.ReasonIdentityUnavailable + " Provision"},
		{name: "archive unavailable", policy: archiveErrors, before: ready, err: &unavailable{wuxiaov1.ReasonKafkaUnavailable, "no Kafka"},
			retried: true, status: metav1.ConditionFalse, reason: wuxiaov1.ReasonKafkaUnavailable, msg: "no Kafka", stalled: true,
			event: wuxiaov1.ReasonKafkaUnavailable + " Archive"},
		{name: "town transient shows", policy: townErrors, before: ready, err: transient,
			retried: true, status: metav1.ConditionFalse, reason: wuxiaov1.ReasonApplyFailed, msg: transient.Error(), reconciling: true},
		{name: "village transient keeps Ready", policy: villageErrors, before: ready, err: transient,
			retried: true, status: metav1.ConditionTrue, reason: wuxiaov1.ReasonReconciled, msg: "all well"},
		{name: "district transient keeps Ready", policy: districtErrors, before: ready, err: transient,
			retried: true, status: metav1.ConditionTrue, reason: wuxiaov1.ReasonReconciled, msg: "all well"},
		{name: "archive transient", policy: archiveErrors, before: ready, err: fmt.Errorf("cannot archive: %w", transient),
			retried: true, status: metav1.ConditionFalse, reason: wuxiaov1.ReasonArchiving, msg: "cannot archive: " + transient.Error(), reconciling: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := events.NewFakeRecorder(4)
			rec.Verbose = true
			v := &wuxiaov1.Village{}
			c.before(&v.Status.Conditions)
			result, err := c.policy.report(rec, v, &v.Status.Conditions, 2, c.err)
			if result.RequeueAfter != c.requeue {
				t.Errorf("requeue after %s, want %s", result.RequeueAfter, c.requeue)
			}
			if (err != nil) != c.retried || (err != nil && !errors.Is(err, c.err)) {
				t.Errorf("returned %v, want retried %v", err, c.retried)
			}
			got := meta.FindStatusCondition(v.Status.Conditions, wuxiaov1.ConditionReady)
			if got.Status != c.status || got.Reason != c.reason || got.Message != c.msg {
				t.Errorf("Ready %s %s %q, want %s %s %q", got.Status, got.Reason, got.Message, c.status, c.reason, c.msg)
			}
			if r := meta.IsStatusConditionTrue(v.Status.Conditions, wuxiaov1.ConditionReconciling); r != c.reconciling {
				t.Errorf("Reconciling %v, want %v", r, c.reconciling)
			}
			if s := meta.IsStatusConditionTrue(v.Status.Conditions, wuxiaov1.ConditionStalled); s != c.stalled {
				t.Errorf("Stalled %v, want %v", s, c.stalled)
			}
			var evs []string
			for len(rec.Events) > 0 {
				evs = append(evs, <-rec.Events)
			}
			switch {
			case c.event == "" && len(evs) > 0:
				t.Errorf("events %q, want none", evs)
			case c.event != "" && (len(evs) != 1 || !strings.HasPrefix(evs[0], "Warning "+c.event+" ")):
				t.Errorf("events %q, want one Warning %s", evs, c.event)
			}
		})
	}
}
