package controller

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
	"github.com/wuxiao/wuxiao/api/workcalendar"
	"github.com/wuxiao/wuxiao/operator/internal/resources"
)

// calendarRef is the working-day calendar reference in force for a town:
// its own, else its district's; from says which field named it.
func calendarRef(town *wuxiaov1.Town, district *wuxiaov1.District) (ref *wuxiaov1.ConfigMapKeyRef, from string) {
	if town.Spec.CalendarRef != nil {
		return town.Spec.CalendarRef, "spec.calendarRef"
	}
	if district.Spec.CalendarRef != nil {
		return district.Spec.CalendarRef, "District " + district.Name + " spec.calendarRef"
	}
	return nil, ""
}

// resolveCalendar reads and validates the town's calendar with the parser
// the workflow service loads it with (api/workcalendar), and returns it in
// canonical JSON, or nil for the official schedule alone. A missing or
// invalid calendar is a problem for the condition CalendarValid, not an
// error: the caller keeps the last good calendar and reconciles the rest.
func (r *TownReconciler) resolveCalendar(ctx context.Context, town *wuxiaov1.Town, district *wuxiaov1.District) (doc []byte, source string, problem *stalled, err error) {
	ref, from := calendarRef(town, district)
	return readCalendar(ctx, r.APIReader, ref, from)
}

// readCalendar reads and validates the calendar ref names (nil: none).
func readCalendar(ctx context.Context, reader client.Reader, ref *wuxiaov1.ConfigMapKeyRef, from string) (doc []byte, source string, problem *stalled, err error) {
	if ref == nil {
		return nil, "", nil, nil
	}
	where := fmt.Sprintf("ConfigMap %s/%s key %q (named by %s)", ref.Namespace, ref.Name, ref.Key, from)
	keeps := "; the workflow service keeps its last good calendar until this is fixed"
	cm := &corev1.ConfigMap{}
	// From the API server: the manager's cache holds only the operator's
	// own ConfigMaps, and the calendar must be current when handed over.
	if err := reader.Get(ctx, types.NamespacedName{Namespace: ref.Namespace, Name: ref.Name}, cm); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, "", &stalled{wuxiaov1.ReasonCalendarNotFound, where + ": the ConfigMap does not exist; create it, or correct the reference" + keeps}, nil
		}
		return nil, "", nil, err
	}
	data, ok := cm.Data[ref.Key]
	if !ok {
		return nil, "", &stalled{wuxiaov1.ReasonCalendarNotFound, fmt.Sprintf("%s: the ConfigMap has no such key (it has: %s)%s", where,
			strings.Join(slices.Sorted(maps.Keys(cm.Data)), ", "), keeps)}, nil
	}
	f, err := workcalendar.Parse([]byte(data))
	if err != nil {
		problems := strings.ReplaceAll(err.Error(), "\n", "; ")
		if len(problems) > maxConditionProblems {
			problems = strings.ToValidUTF8(problems[:maxConditionProblems], "") + "…"
		}
		return nil, "", &stalled{wuxiaov1.ReasonCalendarInvalid, fmt.Sprintf("%s: the calendar is invalid%s: %s", where, keeps, problems)}, nil
	}
	return f.JSON(), ref.Namespace + "/" + ref.Name + ":" + ref.Key, nil, nil
}

// districtCalendar checks the District's own spec.calendarRef and reports
// it in the District's condition CalendarValid, so that whoever edits the
// District sees a bad calendar there (each Town reports the calendar in
// force for it, which may be its own). It returns when to look again: a
// minute while the calendar is missing or invalid (a person fixes it, maybe
// in a ConfigMap the operator does not watch), 10 minutes while one is set.
// A Town's CalendarValid changing also brings its District back.
func (r *DistrictReconciler) districtCalendar(ctx context.Context, d *wuxiaov1.District) (time.Duration, error) {
	_, source, problem, err := readCalendar(ctx, r.APIReader, d.Spec.CalendarRef, "spec.calendarRef")
	if err != nil {
		return 0, err
	}
	cond := metav1.Condition{Type: wuxiaov1.ConditionCalendarValid, Status: metav1.ConditionTrue,
		Reason: wuxiaov1.ReasonCalendarLoaded, Message: "the official schedule (State Council) alone", ObservedGeneration: d.Generation}
	var again time.Duration
	switch {
	case problem != nil:
		cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, problem.reason, problem.msg
		again = time.Minute
		if old := meta.FindStatusCondition(d.Status.Conditions, cond.Type); old == nil || old.Reason != cond.Reason || old.Message != cond.Message {
			r.Recorder.Eventf(d, nil, corev1.EventTypeWarning, problem.reason, "ValidateCalendar", "%s", problem.msg)
		}
	case source != "":
		cond.Message = "the calendar of " + source + " over the official schedule (towns may name their own)"
		again = RatingRulesResync
	}
	meta.SetStatusCondition(&d.Status.Conditions, cond)
	return again, nil
}

// calendarState is a Town's CalendarValid status, for the District's watch.
func calendarState(t *wuxiaov1.Town) metav1.ConditionStatus {
	if c := meta.FindStatusCondition(t.Status.Conditions, wuxiaov1.ConditionCalendarValid); c != nil {
		return c.Status
	}
	return ""
}

// calendar hands the town's calendar to its workflow service: the
// ConfigMap resources.CalendarConfigMapName in the town's namespace, which
// the workflow Deployment mounts as a directory (the kubelet updates the
// file, the service re-reads it: no restart, no rollout). It reports the
// calendar in status.calendar and the condition CalendarValid. With a
// problem the ConfigMap keeps its last good content (the official schedule
// alone when there has never been one).
func (r *TownReconciler) calendar(ctx context.Context, town *wuxiaov1.Town, district *wuxiaov1.District) error {
	doc, source, problem, err := r.resolveCalendar(ctx, town, district)
	if err != nil {
		return err
	}
	cond := metav1.Condition{Type: wuxiaov1.ConditionCalendarValid, Status: metav1.ConditionTrue,
		Reason: wuxiaov1.ReasonCalendarLoaded, Message: "the official schedule (State Council) alone", ObservedGeneration: town.Generation}
	switch {
	case problem != nil:
		live := &corev1.ConfigMap{}
		err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: town.NamespaceName(), Name: resources.CalendarConfigMapName}, live)
		switch {
		case err == nil:
			doc = []byte(live.Data[resources.CalendarFileKey])
		case apierrors.IsNotFound(err):
			town.Status.Calendar = ""
		default:
			return err
		}
		cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, problem.reason, problem.msg
		// One event per new problem, not one per periodic retry.
		if old := meta.FindStatusCondition(town.Status.Conditions, cond.Type); old == nil || old.Reason != cond.Reason || old.Message != cond.Message {
			r.Recorder.Eventf(town, nil, corev1.EventTypeWarning, problem.reason, "ValidateCalendar", "%s", problem.msg)
		}
	case source != "":
		town.Status.Calendar = source
		cond.Message = "the calendar of " + source + " over the official schedule"
	default:
		town.Status.Calendar = ""
	}
	if doc == nil {
		doc = workcalendar.File{}.JSON()
	}
	if _, err := applyChild(ctx, r, town, resources.CalendarConfigMap(town, string(doc)), func(have, want *corev1.ConfigMap) {
		setIfDifferent(&have.Data, want.Data)
	}); err != nil {
		return err
	}
	meta.SetStatusCondition(&town.Status.Conditions, cond)
	return nil
}
