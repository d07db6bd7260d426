package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/wuxiao/wuxiao/api/notifications"
	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
	"github.com/wuxiao/wuxiao/operator/internal/resources"
)

// The District's notification channels (spec.notifications) reach each
// town's inspection service as the Secret resources.NotifyChannelsSecretName,
// the file of api/notifications with the credentials read from the Secrets
// the channels name. Nothing read from those Secrets is ever written to a
// status, an event or a log: problems name the channel, the Secret and the
// key.

// noChannels is the NotificationsReady message without channels.
const noChannels = "no notification channels: messages reach the console inbox alone"

// channelsRender is the outcome of reading a District's channels.
type channelsRender struct {
	doc []byte // the file, when there is no problem
	// summary names the channels, for the condition.
	summary string
	// secrets says whether any channel names a Secret (then a periodic
	// re-read picks up edits of Secrets without the watch label).
	secrets bool
}

// channelsOf is the channels in force for a town: its own, else its
// District's; from names the field, for messages.
func channelsOf(town *wuxiaov1.Town, d *wuxiaov1.District) (spec *wuxiaov1.NotificationsSpec, from string) {
	if town.Spec.Notifications != nil {
		return town.Spec.Notifications, "spec.notifications"
	}
	return d.Spec.Notifications, "District " + d.Name + " spec.notifications"
}

// renderChannels builds the channels file of ns (named by the field from),
// reading the Secrets its channels name from the API server (the manager's
// cache holds only the operator's own Secrets). A missing Secret or key, or
// a value that makes no valid channel, is a problem for the condition
// NotificationsReady, not an error: the caller keeps the last good file and
// reconciles the rest.
func renderChannels(ctx context.Context, reader client.Reader, ns *wuxiaov1.NotificationsSpec, from string) (channelsRender, *stalled, error) {
	var spec []wuxiaov1.NotificationChannel
	if ns != nil {
		spec = ns.Channels
	}
	out := channelsRender{summary: noChannels}
	file := notifications.Channels{Channels: []notifications.Channel{}}
	secrets := map[types.NamespacedName]*corev1.Secret{}
	var values []string // everything read, to keep it out of messages
	var missing, invalid []string
	var failed error // a Secret that could not be read: retried, not reported
	// read returns the value of key in the Secret ns/name, or notes why not.
	read := func(channel, field, ns, name, key string) (string, bool) {
		out.secrets = true
		nn := types.NamespacedName{Namespace: ns, Name: name}
		s, seen := secrets[nn]
		if !seen {
			s = &corev1.Secret{}
			if err := reader.Get(ctx, nn, s); err != nil {
				if !apierrors.IsNotFound(err) {
					failed = err
					return "", false
				}
				s = nil
			}
			secrets[nn] = s
		}
		where := fmt.Sprintf("channel %s: Secret %s/%s (%s)", channel, ns, name, field)
		if s == nil {
			missing = append(missing, where+" does not exist; create it, or correct the reference")
			return "", false
		}
		v := strings.TrimSpace(string(s.Data[key]))
		if v == "" {
			missing = append(missing, fmt.Sprintf("%s has no key %q, or it is empty (it has: %s)", where, key,
				strings.Join(slices.Sorted(maps.Keys(s.Data)), ", ")))
			return "", false
		}
		values = append(values, v)
		return v, true
	}
	var names []string
	for i, c := range spec {
		ch := notifications.Channel{Name: c.Name, Type: notifications.ChannelType(c.Type), Roles: c.Roles}
		for _, k := range c.Kinds {
			ch.Kinds = append(ch.Kinds, notifications.Kind(k))
		}
		field := fmt.Sprintf("%s.channels[%d]", from, i)
		switch {
		case c.Email != nil:
			e := c.Email
			ch.Email = &notifications.EmailChannel{SMTPAddr: e.SMTPAddr, From: e.From, StartTLS: e.StartTLS, Recipients: e.Recipients}
			if ref := e.CredentialsSecretRef; ref != nil {
				f := field + ".email.credentialsSecretRef"
				ch.Email.Username, _ = read(c.Name, f, ref.Namespace, ref.Name, "username")
				ch.Email.Password, _ = read(c.Name, f, ref.Namespace, ref.Name, "password")
			}
		case c.DingTalk != nil:
			ch.DingTalk = &notifications.DingTalkChannel{}
			ref := c.DingTalk.URLSecretRef
			f := field + ".dingtalk.urlSecretRef"
			if v, ok := read(c.Name, f, ref.Namespace, ref.Name, ref.Key); ok {
				ch.DingTalk.URL = v
				if u, err := url.Parse(v); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
					invalid = append(invalid, fmt.Sprintf("channel %s: Secret %s/%s key %q (%s) is not an http(s) URL; it holds the robot's webhook address, e.g. https://oapi.dingtalk.com/robot/send?access_token=…",
						c.Name, ref.Namespace, ref.Name, ref.Key, f))
				}
			}
			if ref := c.DingTalk.SignSecretRef; ref != nil {
				ch.DingTalk.Secret, _ = read(c.Name, field+".dingtalk.signSecretRef", ref.Namespace, ref.Name, ref.Key)
			}
		}
		file.Channels = append(file.Channels, ch)
		names = append(names, c.Name+" ("+c.Type+")")
	}
	if failed != nil {
		return out, nil, failed
	}
	if len(missing) == 0 && len(invalid) == 0 {
		// The schema checks the spec; this checks it as the service will
		// (the same Validate it loads the file with).
		if err := file.Validate(); err != nil {
			invalid = append(invalid, redact(strings.ReplaceAll(err.Error(), "\n", "; "), values))
		}
	}
	keeps := "; the inspection services keep their last good channels until this is fixed (the console inbox works regardless)"
	switch {
	case len(missing) > 0:
		return out, &stalled{wuxiaov1.ReasonNotificationSecretNotFound, bounded(strings.Join(missing, "; ")) + keeps}, nil
	case len(invalid) > 0:
		return out, &stalled{wuxiaov1.ReasonNotificationsInvalid, bounded(strings.Join(invalid, "; ")) + keeps}, nil
	}
	doc, err := json.Marshal(file)
	if err != nil {
		return out, nil, err
	}
	out.doc = doc
	if len(names) > 0 {
		plural := "s"
		if len(names) == 1 {
			plural = ""
		}
		out.summary = fmt.Sprintf("%d notification channel%s: %s", len(names), plural, strings.Join(names, ", "))
	}
	return out, nil, nil
}

// redact replaces every value read from a Secret in msg.
func redact(msg string, values []string) string {
	for _, v := range values {
		msg = strings.ReplaceAll(msg, v, "…")
	}
	return msg
}

// bounded cuts a condition message to maxConditionProblems bytes.
func bounded(msg string) string {
	if len(msg) > maxConditionProblems {
		return strings.ToValidUTF8(msg[:maxConditionProblems], "") + "…"
	}
	return msg
}

// notifications hands the District's channels to the town's inspection
// service (resources.NotifyChannelsSecret, mounted as a directory: the
// kubelet updates the file and the service re-reads it, no restart) and
// reports the condition NotificationsReady. With a problem the Secret keeps
// its last good content (no channels when there has never been one).
func (r *TownReconciler) notifications(ctx context.Context, town *wuxiaov1.Town, district *wuxiaov1.District) error {
	spec, from := channelsOf(town, district)
	out, problem, err := renderChannels(ctx, r.APIReader, spec, from)
	if err != nil {
		return err
	}
	cond := metav1.Condition{Type: wuxiaov1.ConditionNotificationsReady, Status: metav1.ConditionTrue,
		Reason: wuxiaov1.ReasonNotificationsRendered, Message: out.summary, ObservedGeneration: town.Generation}
	doc := out.doc
	if problem != nil {
		live := &corev1.Secret{}
		err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: town.NamespaceName(), Name: resources.NotifyChannelsSecretName}, live)
		switch {
		case err == nil:
			doc = live.Data[resources.NotifyChannelsKey]
		case !apierrors.IsNotFound(err):
			return err
		}
		cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, problem.reason, problem.msg
		// One event per new problem, not one per periodic retry.
		if old := meta.FindStatusCondition(town.Status.Conditions, cond.Type); old == nil || old.Reason != cond.Reason || old.Message != cond.Message {
			r.Recorder.Eventf(town, nil, corev1.EventTypeWarning, problem.reason, "RenderNotifications", "%s", problem.msg)
		}
	}
	if doc == nil {
		doc = []byte(`{"channels":[]}`)
	}
	if _, err := applyChild(ctx, r, town, resources.NotifyChannelsSecret(town, doc), func(have, want *corev1.Secret) {
		setIfDifferent(&have.Data, want.Data)
	}); err != nil {
		return err
	}
	meta.SetStatusCondition(&town.Status.Conditions, cond)
	return nil
}

// notificationsAgain is when a town should be looked at again for its
// channels: a minute while they have a problem (a person fixes a Secret the
// operator may not watch), RatingRulesResync while they name Secrets, else
// never (0).
func notificationsAgain(town *wuxiaov1.Town) time.Duration {
	c := meta.FindStatusCondition(town.Status.Conditions, wuxiaov1.ConditionNotificationsReady)
	switch {
	case c == nil:
		return 0
	case c.Status == metav1.ConditionFalse:
		return time.Minute
	case c.Message != noChannels:
		return RatingRulesResync
	}
	return 0
}

// districtNotifications reports the District's channels in its own
// condition NotificationsReady, so that whoever edits spec.notifications
// sees a missing Secret there. It returns when to look again (as
// notificationsAgain); a Town's condition changing also brings the District
// back.
func (r *DistrictReconciler) districtNotifications(ctx context.Context, d *wuxiaov1.District) (time.Duration, error) {
	out, problem, err := renderChannels(ctx, r.APIReader, d.Spec.Notifications, "spec.notifications")
	if err != nil {
		return 0, err
	}
	cond := metav1.Condition{Type: wuxiaov1.ConditionNotificationsReady, Status: metav1.ConditionTrue,
		Reason: wuxiaov1.ReasonNotificationsRendered, Message: out.summary, ObservedGeneration: d.Generation}
	var again time.Duration
	if out.secrets {
		again = RatingRulesResync
	}
	if problem != nil {
		cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, problem.reason, problem.msg
		again = time.Minute
		if old := meta.FindStatusCondition(d.Status.Conditions, cond.Type); old == nil || old.Reason != cond.Reason || old.Message != cond.Message {
			r.Recorder.Eventf(d, nil, corev1.EventTypeWarning, problem.reason, "RenderNotifications", "%s", problem.msg)
		}
	}
	meta.SetStatusCondition(&d.Status.Conditions, cond)
	return again, nil
}

// notificationsState is a Town's NotificationsReady condition, for the
// District's watch: its message too, since a Secret the District's channels
// name changed when the town's verdict did (the District reads the Secrets
// again then; it does not watch them itself), even from one problem to
// another.
func notificationsState(t *wuxiaov1.Town) string {
	if c := meta.FindStatusCondition(t.Status.Conditions, wuxiaov1.ConditionNotificationsReady); c != nil {
		return string(c.Status) + "/" + c.Reason + "/" + c.Message
	}
	return ""
}

// notificationSecretSource watches the Secrets labelled
// wuxiaov1.NotificationsLabel in a cache of their own, without their data
// (read from the API server when a town is reconciled), and enqueues the
// towns of the Districts whose channels name one.
func (r *TownReconciler) notificationSecretSource(mgr ctrl.Manager) (source.Source, error) {
	return labelledSource(mgr, &corev1.Secret{}, wuxiaov1.NotificationsLabel,
		func(s *corev1.Secret) { s.Data, s.StringData = nil, nil }, r.townsNotifyingWith)
}

// townsNotifyingWith enqueues the towns whose channels in force name s:
// their own, or their District's when they have none.
func (r *TownReconciler) townsNotifyingWith(ctx context.Context, s *corev1.Secret) []reconcile.Request {
	districts := &wuxiaov1.DistrictList{}
	towns := &wuxiaov1.TownList{}
	if err := r.List(ctx, districts); err != nil {
		return nil
	}
	if err := r.List(ctx, towns); err != nil {
		return nil
	}
	byDistrict := map[string]*wuxiaov1.NotificationsSpec{}
	for i := range districts.Items {
		byDistrict[districts.Items[i].Name] = districts.Items[i].Spec.Notifications
	}
	var reqs []reconcile.Request
	for i := range towns.Items {
		t := &towns.Items[i]
		spec := t.Spec.Notifications
		if spec == nil {
			spec = byDistrict[t.Spec.District]
		}
		if namesSecret(spec, s.Namespace, s.Name) {
			reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Name: t.Name}})
		}
	}
	return reqs
}

// namesSecret reports whether a channel of spec names the Secret ns/name.
func namesSecret(spec *wuxiaov1.NotificationsSpec, ns, name string) bool {
	if spec == nil {
		return false
	}
	is := func(refNS, refName string) bool { return refNS == ns && refName == name }
	for _, c := range spec.Channels {
		if e := c.Email; e != nil && e.CredentialsSecretRef != nil && is(e.CredentialsSecretRef.Namespace, e.CredentialsSecretRef.Name) {
			return true
		}
		if t := c.DingTalk; t != nil && (is(t.URLSecretRef.Namespace, t.URLSecretRef.Name) ||
			(t.SignSecretRef != nil && is(t.SignSecretRef.Namespace, t.SignSecretRef.Name))) {
			return true
		}
	}
	return false
}
