package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/wuxiao/wuxiao/api/notifications"
	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
	"github.com/wuxiao/wuxiao/operator/internal/resources"
)

func mailChannel(name string) wuxiaov1.NotificationChannel {
	return wuxiaov1.NotificationChannel{Name: name, Type: "email", Email: &wuxiaov1.EmailChannelSpec{
		SMTPAddr: "smtp.example.cn:587", From: "奉化区纪委 <jiwei@example.cn>", Recipients: []string{"xikou@example.cn"}}}
}

func robotChannel(name, secret string) wuxiaov1.NotificationChannel {
	return wuxiaov1.NotificationChannel{Name: name, Type: "dingtalk", DingTalk: &wuxiaov1.DingTalkChannelSpec{
		URLSecretRef: wuxiaov1.NotificationSecretKeyRef{Namespace: archiveNS, Name: secret, Key: "url"}}}
}

// The District's notification channels the schema refuses, each with a
// message naming what to change.
func TestNotificationChannelsValidated(t *testing.T) {
	ctx := context.Background()
	d := fixture(t)
	cases := []struct {
		name     string
		channels func() []wuxiaov1.NotificationChannel
		msg      string // empty: accepted
	}{
		{"valid mail and robot", func() []wuxiaov1.NotificationChannel {
			return []wuxiaov1.NotificationChannel{mailChannel("mail"), robotChannel("robot", "robot")}
		}, ""},
		{"type without its section", func() []wuxiaov1.NotificationChannel {
			c := mailChannel("mail")
			c.Type = "dingtalk"
			return []wuxiaov1.NotificationChannel{c}
		}, "notification channel mail is of type dingtalk: give it a dingtalk section"},
		{"both sections", func() []wuxiaov1.NotificationChannel {
			c := mailChannel("mail")
			c.DingTalk = robotChannel("x", "robot").DingTalk
			return []wuxiaov1.NotificationChannel{c}
		}, "notification channel mail is of type email: give it an email section (smtpAddr, from, recipients) and no dingtalk section"},
		{"unknown type", func() []wuxiaov1.NotificationChannel {
			c := mailChannel("mail")
			c.Type = "sms"
			return []wuxiaov1.NotificationChannel{c}
		}, `supported values: "email", "dingtalk"`},
		{"duplicate names", func() []wuxiaov1.NotificationChannel {
			return []wuxiaov1.NotificationChannel{mailChannel("office"), robotChannel("office", "robot")}
		}, `Duplicate value: {"name":"office"}`},
		{"unknown kind", func() []wuxiaov1.NotificationChannel {
			c := mailChannel("mail")
			c.Kinds = []wuxiaov1.NotificationKind{"task", "gossip"}
			return []wuxiaov1.NotificationChannel{c}
		}, `supported values: "task", "reminder", "overdue", "escalation", "notice", "order"`},
		{"no recipient", func() []wuxiaov1.NotificationChannel {
			c := mailChannel("mail")
			c.Email.Recipients = nil
			return []wuxiaov1.NotificationChannel{c}
		}, "recipients"},
		{"recipient not an address", func() []wuxiaov1.NotificationChannel {
			c := mailChannel("mail")
			c.Email.Recipients = []string{"xikou jiwei"}
			return []wuxiaov1.NotificationChannel{c}
		}, "email recipient xikou jiwei must be a bare e-mail address"},
		{"smtpAddr without port", func() []wuxiaov1.NotificationChannel {
			c := mailChannel("mail")
			c.Email.SMTPAddr = "smtp.example.cn"
			return []wuxiaov1.NotificationChannel{c}
		}, "email.smtpAddr smtp.example.cn must be the SMTP relay as host:port"},
		{"smtpAddr port out of range", func() []wuxiaov1.NotificationChannel {
			c := mailChannel("mail")
			c.Email.SMTPAddr = "smtp.example.cn:70000"
			return []wuxiaov1.NotificationChannel{c}
		}, "has a port outside 1-65535"},
		{"from not an address", func() []wuxiaov1.NotificationChannel {
			c := mailChannel("mail")
			c.Email.From = "纪委"
			return []wuxiaov1.NotificationChannel{c}
		}, "email.from 纪委 must be an e-mail address"},
		{"bad name", func() []wuxiaov1.NotificationChannel {
			return []wuxiaov1.NotificationChannel{mailChannel("Office_Mail")}
		}, "notification channel name Office_Mail must be lower-case letters, digits and dashes"},
		{"bad role", func() []wuxiaov1.NotificationChannel {
			c := mailChannel("mail")
			c.Roles = []string{"Town Discipline"}
			return []wuxiaov1.NotificationChannel{c}
		}, "notification role Town Discipline must be a role name"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// Retried when the operator wrote the District's status in between.
			err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
				must(t, k8s.Get(ctx, client.ObjectKeyFromObject(d), d))
				d.Spec.Notifications = &wuxiaov1.NotificationsSpec{Channels: tc.channels()}
				return k8s.Update(ctx, d)
			})
			if tc.msg == "" {
				must(t, err)
				return
			}
			if !apierrors.IsInvalid(err) || !contains(err.Error(), tc.msg) {
				t.Fatalf("got %v, want Invalid with %q", err, tc.msg)
			}
		})
	}
}

// renderedChannels is the channels file in the town's Secret, parsed and
// validated as the inspection service loads it.
func renderedChannels(town *wuxiaov1.Town) (notifications.Channels, error) {
	s := &corev1.Secret{}
	if err := k8s.Get(context.Background(), types.NamespacedName{Namespace: town.NamespaceName(), Name: resources.NotifyChannelsSecretName}, s); err != nil {
		return notifications.Channels{}, err
	}
	return notifications.Parse(s.Data[notifications.SecretKey])
}

// notifyCondition checks NotificationsReady in conds, at generation gen.
func notifyCondition(conds []metav1.Condition, gen int64, status metav1.ConditionStatus, reason string, says []string) error {
	c := meta.FindStatusCondition(conds, wuxiaov1.ConditionNotificationsReady)
	if c == nil || c.Status != status || c.Reason != reason || c.ObservedGeneration != gen {
		return fmt.Errorf("NotificationsReady %+v, want %s %s at generation %d", c, status, reason, gen)
	}
	for _, s := range says {
		if !contains(c.Message, s) {
			return fmt.Errorf("NotificationsReady says %q, not %q", c.Message, s)
		}
	}
	return nil
}

func notifySecret(name string, data map[string]string) *corev1.Secret {
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: archiveNS, Name: name,
		Labels: map[string]string{wuxiaov1.NotificationsLabel: "true"}}, StringData: data}
	return s
}

// TestNotificationChannelsRendered: the District's channels reach each
// town's inspection service as the Secret wuxiao-notify-channels (the file
// of api/notifications, with the credentials of the Secrets they name),
// mounted as a directory (no subPath) with WUXIAO_NOTIFY_CHANNELS_FILE
// naming the file; an edit of a labelled Secret re-renders it at once; a
// missing Secret or key, or a robot address that is no URL, is reported in
// NotificationsReady on the Town and the District, naming the channel, the
// Secret and the key, keeps the last good channels and stops nothing else;
// no credential ever appears in a status or an event.
func TestNotificationChannelsRendered(t *testing.T) {
	startManager(t)
	ctx := context.Background()
	n := seq.Add(1)
	creds := notifySecret(fmt.Sprintf("smtp-%d", n), map[string]string{"username": "jiwei", "password": "smtp-pass-" + runID})
	robot := notifySecret(fmt.Sprintf("robot-%d", n), map[string]string{
		"url": "https://oapi.dingtalk.com/robot/send?access_token=tok-" + runID, "sign": "SEC-sign-" + runID})
	must(t, k8s.Create(ctx, creds))
	must(t, k8s.Create(ctx, robot))
	secrets := []string{"smtp-pass-" + runID, "tok-" + runID, "SEC-sign-" + runID, "tok2-" + runID}

	d := fixture(t)
	mail := mailChannel("office-mail")
	mail.Kinds = []wuxiaov1.NotificationKind{"notice", "order"}
	mail.Roles = []string{"town-discipline"}
	mail.Email.StartTLS = true
	mail.Email.CredentialsSecretRef = &wuxiaov1.NotificationSecretRef{Namespace: archiveNS, Name: creds.Name}
	ding := robotChannel("robot", robot.Name)
	ding.DingTalk.SignSecretRef = &wuxiaov1.NotificationSecretKeyRef{Namespace: archiveNS, Name: robot.Name, Key: "sign"}
	update(t, d, func() {
		d.Spec.Notifications = &wuxiaov1.NotificationsSpec{Channels: []wuxiaov1.NotificationChannel{mail, ding}}
	})
	town := readyTown(t, d)

	want := func(password, url string) notifications.Channels {
		return notifications.Channels{Channels: []notifications.Channel{
			{Name: "office-mail", Type: notifications.TypeEmail, Roles: []string{"town-discipline"},
				Kinds: []notifications.Kind{notifications.KindNotice, notifications.KindOrder},
				Email: &notifications.EmailChannel{SMTPAddr: "smtp.example.cn:587", From: "奉化区纪委 <jiwei@example.cn>",
					Username: "jiwei", Password: password, StartTLS: true, Recipients: []string{"xikou@example.cn"}}},
			{Name: "robot", Type: notifications.TypeDingTalk, DingTalk: &notifications.DingTalkChannel{URL: url, Secret: "SEC-sign-" + runID}},
		}}
	}
	good := want("smtp-pass-"+runID, "https://oapi.dingtalk.com/robot/send?access_token=tok-"+runID)
	waitChannels := func(t *testing.T, want notifications.Channels) {
		t.Helper()
		eventually(t, wait, func() error {
			got, err := renderedChannels(town)
			if err != nil {
				return err
			}
			if !reflect.DeepEqual(got, want) {
				return fmt.Errorf("rendered %+v, want %+v", got, want)
			}
			return nil
		})
	}
	waitChannels(t, good)

	// Only the inspection service mounts it, as a directory, read-only.
	for _, svc := range wuxiaov1.AllServices {
		dep := deployment(t, town, svc)
		file, set := envOf(dep, notifications.EnvChannelsFile)
		var mounted bool
		for _, m := range dep.Spec.Template.Spec.Containers[0].VolumeMounts {
			if m.MountPath == resources.NotifyChannelsMountPath {
				mounted = true
				if m.SubPath != "" || !m.ReadOnly {
					t.Errorf("%s mounts the channels with subPath %q, read-only %v", svc, m.SubPath, m.ReadOnly)
				}
			}
		}
		inspection := svc == wuxiaov1.ServiceInspection
		if mounted != inspection || set != inspection {
			t.Errorf("%s: channels mounted %v, %s set %v; only the inspection service has them", svc, mounted, notifications.EnvChannelsFile, set)
		}
		if inspection && file != resources.NotifyChannelsMountPath+"/"+notifications.SecretKey {
			t.Errorf("%s = %q", notifications.EnvChannelsFile, file)
		}
		// The links of delivered messages lead to the console.
		if console, _ := envOf(dep, resources.EnvConsoleURL); inspection && console != "https://jiandu.example.cn" {
			t.Errorf("%s = %q, want the portal's origin (no staff hosts)", resources.EnvConsoleURL, console)
		}
	}
	templateBefore := deployment(t, town, wuxiaov1.ServiceInspection).Spec.Template

	steps := []struct {
		name   string
		change func()
		status metav1.ConditionStatus
		reason string
		says   []string
		want   notifications.Channels // the rendered file afterwards
	}{
		{"rendered", func() {}, metav1.ConditionTrue, wuxiaov1.ReasonNotificationsRendered,
			[]string{"2 notification channels: office-mail (email), robot (dingtalk)"}, good},
		{"a labelled Secret's edit re-renders", func() {
			update(t, robot, func() {
				robot.StringData = map[string]string{"url": "https://oapi.dingtalk.com/robot/send?access_token=tok2-" + runID}
			})
		}, metav1.ConditionTrue, wuxiaov1.ReasonNotificationsRendered, nil,
			want("smtp-pass-"+runID, "https://oapi.dingtalk.com/robot/send?access_token=tok2-"+runID)},
		{"a missing key keeps the last good channels", func() {
			update(t, creds, func() { delete(creds.Data, "password") })
		}, metav1.ConditionFalse, wuxiaov1.ReasonNotificationSecretNotFound,
			[]string{"channel office-mail: Secret " + archiveNS + "/" + creds.Name, `has no key "password"`, "(it has: username)", "keep their last good channels"},
			want("smtp-pass-"+runID, "https://oapi.dingtalk.com/robot/send?access_token=tok2-"+runID)},
		{"a missing Secret is named", func() {
			update(t, creds, func() { creds.StringData = map[string]string{"password": "smtp-pass-" + runID} })
			update(t, d, func() { d.Spec.Notifications.Channels[1].DingTalk.SignSecretRef.Name = "absent" })
		}, metav1.ConditionFalse, wuxiaov1.ReasonNotificationSecretNotFound,
			// The Town's message names the District whose field it is.
			[]string{"channel robot: Secret " + archiveNS + "/absent (", "spec.notifications.channels[1].dingtalk.signSecretRef) does not exist"},
			want("smtp-pass-"+runID, "https://oapi.dingtalk.com/robot/send?access_token=tok2-"+runID)},
		{"a robot address that is no URL", func() {
			update(t, d, func() { d.Spec.Notifications.Channels[1].DingTalk.SignSecretRef.Name = robot.Name })
			update(t, robot, func() { robot.StringData = map[string]string{"url": "tok2-" + runID} })
		}, metav1.ConditionFalse, wuxiaov1.ReasonNotificationsInvalid,
			[]string{"channel robot: Secret " + archiveNS + "/" + robot.Name + ` key "url"`, "is not an http(s) URL"},
			want("smtp-pass-"+runID, "https://oapi.dingtalk.com/robot/send?access_token=tok2-"+runID)},
		{"fixed", func() {
			update(t, robot, func() {
				robot.StringData = map[string]string{"url": "https://oapi.dingtalk.com/robot/send?access_token=tok-" + runID}
			})
		}, metav1.ConditionTrue, wuxiaov1.ReasonNotificationsRendered, []string{"office-mail (email), robot (dingtalk)"}, good},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			st.change()
			eventually(t, wait, func() error {
				got := getTown(t, town)
				if err := notifyCondition(got.Status.Conditions, got.Generation, st.status, st.reason, st.says); err != nil {
					return fmt.Errorf("town: %w", err)
				}
				dist := getDistrict(t, d)
				if err := notifyCondition(dist.Status.Conditions, dist.Generation, st.status, st.reason, st.says); err != nil {
					return fmt.Errorf("district: %w", err)
				}
				return nil
			})
			waitChannels(t, st.want)
			// The rest of the town is unaffected.
			waitTownReady(t, town)
		})
	}
	// A change of the channels never rolls the pods: the kubelet updates
	// the mounted file.
	if after := deployment(t, town, wuxiaov1.ServiceInspection).Spec.Template; !reflect.DeepEqual(after, templateBefore) {
		t.Errorf("the inspection pod template changed with the channels")
	}

	// No credential in any status or event.
	for _, o := range []client.Object{getTown(t, town), getDistrict(t, d)} {
		b, err := json.Marshal(o)
		must(t, err)
		for _, s := range secrets {
			if contains(string(b), s) {
				t.Errorf("%s %s carries a credential", o.GetObjectKind().GroupVersionKind().Kind, o.GetName())
			}
		}
	}
	evs := &corev1.EventList{}
	must(t, k8s.List(ctx, evs))
	for _, e := range evs.Items {
		for _, s := range secrets {
			if contains(e.Message, s) {
				t.Errorf("event %s about %s %s carries a credential: %s", e.Reason, e.InvolvedObject.Kind, e.InvolvedObject.Name, e.Message)
			}
		}
	}
}

// TestNotificationSecretMissingFromTheStart: a town of a District whose
// channel names a Secret that does not exist is provisioned all the same,
// its inspection service gets no channels (the console inbox alone) and the
// condition says which Secret to create.
func TestNotificationSecretMissingFromTheStart(t *testing.T) {
	startManager(t)
	d := fixture(t, func(d *wuxiaov1.District) {
		d.Spec.Notifications = &wuxiaov1.NotificationsSpec{Channels: []wuxiaov1.NotificationChannel{robotChannel("robot", "nowhere")}}
	})
	town := readyTown(t, d)
	eventually(t, wait, func() error {
		got := getTown(t, town)
		return notifyCondition(got.Status.Conditions, got.Generation, metav1.ConditionFalse, wuxiaov1.ReasonNotificationSecretNotFound,
			[]string{"channel robot: Secret " + archiveNS + "/nowhere (District " + d.Name + " spec.notifications.channels[0].dingtalk.urlSecretRef) does not exist; create it"})
	})
	got, err := renderedChannels(town)
	must(t, err)
	if len(got.Channels) != 0 {
		t.Errorf("rendered %+v, want no channels", got)
	}
	waitWarning(t, town, wuxiaov1.ReasonNotificationSecretNotFound, "nowhere")
}

// TestTownNotificationsOverride: a Town's own spec.notifications replace
// the District's channels for it (the District's broken one does not
// matter to it), and removing them brings the District's back.
func TestTownNotificationsOverride(t *testing.T) {
	startManager(t)
	d := fixture(t, func(d *wuxiaov1.District) {
		d.Spec.Notifications = &wuxiaov1.NotificationsSpec{Channels: []wuxiaov1.NotificationChannel{robotChannel("robot", "missing-robot")}}
	})
	own := mailChannel("town-mail")
	town := readyTown(t, d, func(t *wuxiaov1.Town) {
		t.Spec.Notifications = &wuxiaov1.NotificationsSpec{Channels: []wuxiaov1.NotificationChannel{own}}
	})
	steps := []struct {
		name   string
		change func()
		status metav1.ConditionStatus
		reason string
		says   string
		names  []string // the rendered channels
	}{
		{"the town's own channels", func() {}, metav1.ConditionTrue, wuxiaov1.ReasonNotificationsRendered,
			"1 notification channel: town-mail (email)", []string{"town-mail"}},
		{"none of its own: the District's", func() { update(t, town, func() { town.Spec.Notifications = nil }) },
			metav1.ConditionFalse, wuxiaov1.ReasonNotificationSecretNotFound,
			"channel robot: Secret " + archiveNS + "/missing-robot (District " + d.Name + " spec.notifications.channels[0].dingtalk.urlSecretRef)",
			[]string{"town-mail"}}, // the last good ones
		{"an empty list of its own: the inbox alone", func() {
			update(t, town, func() { town.Spec.Notifications = &wuxiaov1.NotificationsSpec{} })
		}, metav1.ConditionTrue, wuxiaov1.ReasonNotificationsRendered, noChannels, nil},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			st.change()
			eventually(t, wait, func() error {
				got := getTown(t, town)
				if err := notifyCondition(got.Status.Conditions, got.Generation, st.status, st.reason, []string{st.says}); err != nil {
					return err
				}
				file, err := renderedChannels(town)
				if err != nil {
					return err
				}
				var names []string
				for _, c := range file.Channels {
					names = append(names, c.Name)
				}
				if !reflect.DeepEqual(names, st.names) {
					return fmt.Errorf("rendered channels %v, want %v", names, st.names)
				}
				return nil
			})
		})
	}
	// The District reports its own channels all along.
	got := getDistrict(t, d)
	must(t, notifyCondition(got.Status.Conditions, got.Generation, metav1.ConditionFalse, wuxiaov1.ReasonNotificationSecretNotFound,
		[]string{"(spec.notifications.channels[0].dingtalk.urlSecretRef)"}))
}
