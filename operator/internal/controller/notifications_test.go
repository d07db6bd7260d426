package controller

import (
	"context"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
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
			must(t, k8s.Get(ctx, client.ObjectKeyFromObject(d), d))
			d.Spec.Notifications = &wuxiaov1.NotificationsSpec{Channels: tc.channels()}
			err := k8s.Update(ctx, d)
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
