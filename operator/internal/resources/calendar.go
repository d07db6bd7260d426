package resources

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
)

// The town's working-day calendar as the workflow service reads it.
const (
	CalendarConfigMapName = wuxiaov1.CalendarConfigMapName
	CalendarFileKey       = wuxiaov1.CalendarFileKey
	CalendarMountPath     = wuxiaov1.CalendarMountPath
	calendarVolume        = "calendar"
)

// CalendarConfigMap holds the town's validated calendar (canonical JSON,
// api/workcalendar). Its content is not in the pod template: a change
// reaches the running pods through the kubelet's update of the mounted
// directory, and the service re-reads the file (no rollout).
func CalendarConfigMap(t *wuxiaov1.Town, doc string) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: CalendarConfigMapName, Namespace: t.NamespaceName(), Labels: TownLabels(t.Name)},
		Data:       map[string]string{CalendarFileKey: doc},
	}
}

// calendarVolumeMount mounts the calendar ConfigMap as a directory: a
// subPath mount would never see the kubelet's updates.
func calendarVolumeMount() corev1.VolumeMount {
	return corev1.VolumeMount{Name: calendarVolume, MountPath: CalendarMountPath, ReadOnly: true}
}

// calendarVolumeSource is optional, so that a pod starts (with the official
// schedule) even before the operator has written the ConfigMap.
func calendarVolumeSource() corev1.Volume {
	return corev1.Volume{Name: calendarVolume, VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
		LocalObjectReference: corev1.LocalObjectReference{Name: CalendarConfigMapName},
		DefaultMode:          ptr.To(corev1.ConfigMapVolumeSourceDefaultMode),
		Optional:             ptr.To(true),
	}}}
}
