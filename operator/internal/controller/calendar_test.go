package controller

import (
	"context"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/wuxiao/wuxiao/api/settings"
	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
	"github.com/wuxiao/wuxiao/api/workcalendar"
	"github.com/wuxiao/wuxiao/operator/internal/resources"
)

const (
	calendarKey = "calendar.yaml"
	// localHoliday: the district keeps Children's Day 2026 (a Monday) off
	// and works Saturday 30 May instead.
	localHoliday = "holidays:\n  - 2026-06-01\nworkdays:\n  - 2026-05-30\n"
	// plusMidAutumn adds a day to it.
	plusMidAutumn = "holidays:\n  - 2026-06-01\n  - 2026-09-24\nworkdays:\n  - 2026-05-30\n"
	// brokenCalendar has three problems, each of which the condition names
	// with its line: a day that does not exist, a day both off and worked,
	// an unknown key.
	brokenCalendar = "holidays:\n  - 2026-02-30\n  - 2026-06-01\nworkdays:\n  - 2026-06-01\nholiday: [2026-10-08]\n"
)

func calendarConfigMap(name, content string) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: archiveNS, Name: name, Labels: map[string]string{wuxiaov1.CalendarLabel: "true"}},
		Data:       map[string]string{calendarKey: content},
	}
}

// handedCalendar is the calendar in the town's working-calendar ConfigMap.
func handedCalendar(t *testing.T, town *wuxiaov1.Town) (string, error) {
	t.Helper()
	cm := &corev1.ConfigMap{}
	if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: town.NamespaceName(), Name: resources.CalendarConfigMapName}, cm); err != nil {
		return "", err
	}
	return cm.Data[resources.CalendarFileKey], nil
}

// canonical is the calendar as the operator hands it over.
func canonical(t *testing.T, content string) string {
	t.Helper()
	f, err := workcalendar.Parse([]byte(content))
	must(t, err)
	return string(f.JSON())
}

func waitCalendar(t *testing.T, town *wuxiaov1.Town, content string) {
	t.Helper()
	want := canonical(t, content)
	eventually(t, wait, func() error {
		got, err := handedCalendar(t, town)
		if err != nil {
			return err
		}
		if got != want {
			return fmt.Errorf("the town's calendar is %q, want %q", got, want)
		}
		return nil
	})
}

func expectCalendarValid(town *wuxiaov1.Town, status metav1.ConditionStatus, reason string) (*metav1.Condition, error) {
	c := meta.FindStatusCondition(town.Status.Conditions, wuxiaov1.ConditionCalendarValid)
	if c == nil || c.Status != status || c.Reason != reason || c.ObservedGeneration != town.Generation {
		return c, fmt.Errorf("town %s: CalendarValid %+v, want %s %s at generation %d", town.Name, c, status, reason, town.Generation)
	}
	return c, nil
}

// TestCalendarHandedToWorkflow: the District's working-day calendar is
// validated and handed to each town's workflow service as a ConfigMap in
// the town's namespace, mounted as a directory (no subPath) so that the
// kubelet updates the file and the service re-reads it: an edit changes
// the ConfigMap, never the Deployment. An invalid or missing calendar is
// reported in CalendarValid (every bad line named) and a Warning event, is
// not handed over (the last good one stays), and stops nothing else; a
// Town's own calendar overrides the District's.
func TestCalendarHandedToWorkflow(t *testing.T) {
	startManager(t)
	ctx := context.Background()
	cm := calendarConfigMap(fmt.Sprintf("calendar-%d", seq.Add(1)), localHoliday)
	must(t, k8s.Create(ctx, cm))
	d := fixture(t, func(d *wuxiaov1.District) {
		d.Spec.CalendarRef = &wuxiaov1.ConfigMapKeyRef{Namespace: cm.Namespace, Name: cm.Name, Key: calendarKey}
	})
	town := readyTown(t, d)
	waitCalendar(t, town, localHoliday)
	eventually(t, wait, func() error {
		town = getTown(t, town)
		_, err := expectCalendarValid(town, metav1.ConditionTrue, wuxiaov1.ReasonCalendarLoaded)
		return err
	})
	if want := cm.Namespace + "/" + cm.Name + ":" + calendarKey; town.Status.Calendar != want {
		t.Errorf("status.calendar %q, want %q", town.Status.Calendar, want)
	}
	waitDistrictCalendar(t, d, metav1.ConditionTrue, wuxiaov1.ReasonCalendarLoaded, cm.Name)

	// Only the workflow mounts it: the whole ConfigMap as a directory.
	for _, svc := range wuxiaov1.AllServices {
		pod := deployment(t, town, svc).Spec.Template.Spec
		file, set := envOf(deployment(t, town, svc), settings.EnvCalendarFile)
		var mounted bool
		for _, m := range pod.Containers[0].VolumeMounts {
			if m.MountPath == resources.CalendarMountPath {
				mounted = true
				if m.SubPath != "" || !m.ReadOnly {
					t.Errorf("%s mounts the calendar with subPath %q, read-only %v: the kubelet would not update it", svc, m.SubPath, m.ReadOnly)
				}
			}
		}
		want := svc == wuxiaov1.ServiceWorkflow
		if mounted != want || set != want || (want && file != resources.CalendarMountPath+"/"+resources.CalendarFileKey) {
			t.Errorf("%s: calendar mounted %v, %s=%q (set %v)", svc, mounted, settings.EnvCalendarFile, file, set)
		}
	}

	// An edit reaches the town's ConfigMap without rolling the workflow.
	before := deployment(t, town, wuxiaov1.ServiceWorkflow)
	update(t, cm, func() { cm.Data[calendarKey] = plusMidAutumn })
	waitCalendar(t, town, plusMidAutumn)
	if after := deployment(t, town, wuxiaov1.ServiceWorkflow); after.Generation != before.Generation {
		t.Errorf("a calendar edit changed the workflow Deployment: generation %d -> %d", before.Generation, after.Generation)
	}

	// A broken calendar: the town stays Ready, CalendarValid names every
	// bad line, a Warning event says it, the last good calendar stays.
	update(t, cm, func() { cm.Data[calendarKey] = brokenCalendar })
	eventually(t, wait, func() error {
		c, err := expectCalendarValid(getTown(t, town), metav1.ConditionFalse, wuxiaov1.ReasonCalendarInvalid)
		if err != nil {
			return err
		}
		for _, what := range []string{`line 2: holiday "2026-02-30" is not a date`, "line 3 and line 5: 2026-06-01 is both a holiday and a working day",
			`line 6: unknown key "holiday"`, cm.Name, "keeps its last good calendar"} {
			if !contains(c.Message, what) {
				return fmt.Errorf("message %q does not say %q", c.Message, what)
			}
		}
		return nil
	})
	waitTownReady(t, town)
	if isStalled(town.Status.Conditions) {
		t.Errorf("a bad calendar stalled the town: %+v", town.Status.Conditions)
	}
	waitWarning(t, town, wuxiaov1.ReasonCalendarInvalid, `unknown key "holiday"`)
	// The District says it too, and stays Ready.
	waitDistrictCalendar(t, d, metav1.ConditionFalse, wuxiaov1.ReasonCalendarInvalid, `line 6: unknown key "holiday"`)
	if got := getDistrict(t, d); !isReady(got.Status.Conditions) {
		t.Errorf("a bad calendar made the District not Ready: %+v", got.Status.Conditions)
	}
	if got, _ := handedCalendar(t, town); got != canonical(t, plusMidAutumn) {
		t.Errorf("the broken calendar was handed over: %q", got)
	}
	if want := cm.Namespace + "/" + cm.Name + ":" + calendarKey; town.Status.Calendar != want {
		t.Errorf("status.calendar %q, want the last good %q", town.Status.Calendar, want)
	}

	// A new town under the broken calendar is provisioned all the same,
	// with the official schedule alone.
	fresh := readyTown(t, d)
	waitCalendar(t, fresh, "")
	if _, err := expectCalendarValid(fresh, metav1.ConditionFalse, wuxiaov1.ReasonCalendarInvalid); err != nil {
		t.Error(err)
	}

	// The town names a calendar of its own: missing at first, then created.
	own := calendarConfigMap(fmt.Sprintf("calendar-%d", seq.Add(1)), localHoliday)
	update(t, town, func() {
		town.Spec.CalendarRef = &wuxiaov1.ConfigMapKeyRef{Namespace: own.Namespace, Name: own.Name, Key: calendarKey}
	})
	eventually(t, wait, func() error {
		_, err := expectCalendarValid(getTown(t, town), metav1.ConditionFalse, wuxiaov1.ReasonCalendarNotFound)
		return err
	})
	waitWarning(t, town, wuxiaov1.ReasonCalendarNotFound, own.Name)
	if got, _ := handedCalendar(t, town); got != canonical(t, plusMidAutumn) {
		t.Errorf("with its own calendar missing the town has %q, want the last good one", got)
	}
	must(t, k8s.Create(ctx, own))
	waitCalendar(t, town, localHoliday)
	eventually(t, wait, func() error {
		town = getTown(t, town)
		_, err := expectCalendarValid(town, metav1.ConditionTrue, wuxiaov1.ReasonCalendarLoaded)
		return err
	})

	// Without any reference, the official schedule alone.
	update(t, d, func() { d.Spec.CalendarRef = nil })
	update(t, town, func() { town.Spec.CalendarRef = nil })
	waitCalendar(t, town, "")
	waitDistrictCalendar(t, d, metav1.ConditionTrue, wuxiaov1.ReasonCalendarLoaded, "official schedule")
	eventually(t, wait, func() error {
		town = getTown(t, town)
		if town.Status.Calendar != "" {
			return fmt.Errorf("status.calendar %q, want empty", town.Status.Calendar)
		}
		_, err := expectCalendarValid(town, metav1.ConditionTrue, wuxiaov1.ReasonCalendarLoaded)
		return err
	})
}

// waitDistrictCalendar waits for the District's condition CalendarValid,
// at its current generation, with a message containing text.
func waitDistrictCalendar(t *testing.T, d *wuxiaov1.District, status metav1.ConditionStatus, reason, text string) {
	t.Helper()
	eventually(t, wait, func() error {
		got := getDistrict(t, d)
		c := meta.FindStatusCondition(got.Status.Conditions, wuxiaov1.ConditionCalendarValid)
		if c == nil || c.Status != status || c.Reason != reason || c.ObservedGeneration != got.Generation || !contains(c.Message, text) {
			return fmt.Errorf("District %s: CalendarValid %+v, want %s %s saying %q", got.Name, c, status, reason, text)
		}
		return nil
	})
}
