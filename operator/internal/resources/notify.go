package resources

import (
	"net/url"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	"github.com/wuxiao/wuxiao/api/notifications"
	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
)

// The town's notification channels as the inspection service reads them
// (api/notifications).
const (
	NotifyChannelsSecretName = wuxiaov1.NotifyChannelsSecretName
	NotifyChannelsMountPath  = wuxiaov1.NotifyChannelsMountPath
	NotifyChannelsKey        = notifications.SecretKey
	notifyVolume             = "notify-channels"
)

// NotifyChannelsSecret holds the town's rendered channels (the JSON of
// api/notifications.Channels, with the credentials). Like the calendar, its
// content is not in the pod template: a change reaches the running pods
// through the kubelet's update of the mounted directory.
func NotifyChannelsSecret(t *wuxiaov1.Town, doc []byte) *corev1.Secret {
	return Secret(t, NotifyChannelsSecretName, map[string][]byte{NotifyChannelsKey: doc})
}

// notifyVolumeMount mounts the Secret as a directory: a subPath mount would
// never see the kubelet's updates.
func notifyVolumeMount() corev1.VolumeMount {
	return corev1.VolumeMount{Name: notifyVolume, MountPath: NotifyChannelsMountPath, ReadOnly: true}
}

// notifyVolumeSource is optional, so that a pod starts (with the console
// inbox alone) even before the operator has written the Secret. The file is
// readable by the service's non-root user (0644 is the default mode, set
// explicitly so that the live Deployment matches the desired one).
func notifyVolumeSource() corev1.Volume {
	return corev1.Volume{Name: notifyVolume, VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
		SecretName:  NotifyChannelsSecretName,
		DefaultMode: ptr.To(corev1.SecretVolumeSourceDefaultMode),
		Optional:    ptr.To(true),
	}}}
}

// notifyEnv tells the inspection service where the file is, and the
// console's address, which makes the links of delivered messages absolute.
func notifyEnv(d *wuxiaov1.District) []corev1.EnvVar {
	return []corev1.EnvVar{
		{Name: notifications.EnvChannelsFile, Value: NotifyChannelsMountPath + "/" + NotifyChannelsKey},
		{Name: EnvConsoleURL, Value: ConsoleURL(d)},
	}
}

// EnvConsoleURL names the inspection service's setting of the console's
// address (services/inspection, WUXIAO_CONSOLE_URL).
const EnvConsoleURL = "WUXIAO_CONSOLE_URL"

// ConsoleURL is where staff reach the console through the district
// gateway: the first of spec.gateway.staffHosts with the scheme of
// spec.portalBaseURL, else the origin of spec.portalBaseURL (without staff
// hosts the gateway serves the console on every host).
func ConsoleURL(d *wuxiaov1.District) string {
	u, err := url.Parse(d.Spec.PortalBaseURL)
	if err != nil || u.Host == "" {
		return ""
	}
	host := u.Host
	if hs := d.Spec.Gateway.StaffHosts; len(hs) > 0 {
		host = string(hs[0])
	}
	return u.Scheme + "://" + host
}
