package notifications

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name, file, wantErr string
	}{
		{"empty", `{"channels":[]}`, ""},
		{"email and robot", `{"channels":[
			{"name":"office","type":"email","email":{"smtpAddr":"mail.example.cn:587","from":"wuxiao@example.cn","recipients":["jw@example.cn"]}},
			{"name":"robot","type":"dingtalk","kinds":["escalation"],"dingtalk":{"url":"https://oapi.dingtalk.com/robot/send?access_token=x"}}]}`, ""},
		{"no port", `{"channels":[{"name":"a","type":"email","email":{"smtpAddr":"mail","from":"a@b.cn","recipients":["c@d.cn"]}}]}`, "is not host:port"},
		{"bad recipient", `{"channels":[{"name":"a","type":"email","email":{"smtpAddr":"m:25","from":"a@b.cn","recipients":["nobody"]}}]}`, `recipient "nobody"`},
		{"no recipients", `{"channels":[{"name":"a","type":"email","email":{"smtpAddr":"m:25","from":"a@b.cn"}}]}`, "no recipients"},
		{"type mismatch", `{"channels":[{"name":"a","type":"dingtalk","email":{"smtpAddr":"m:25","from":"a@b.cn","recipients":["c@d.cn"]}}]}`, "needs dingtalk settings"},
		{"bad url", `{"channels":[{"name":"a","type":"dingtalk","dingtalk":{"url":"ftp://x"}}]}`, "is not an http(s) URL"},
		{"duplicate", `{"channels":[{"name":"a","type":"dingtalk","dingtalk":{"url":"http://x"}},{"name":"a","type":"dingtalk","dingtalk":{"url":"http://y"}}]}`, "used twice"},
		{"bad kind", `{"channels":[{"name":"a","type":"dingtalk","kinds":["gossip"],"dingtalk":{"url":"http://x"}}]}`, `unknown kind "gossip"`},
		{"bad name", `{"channels":[{"name":"A B","type":"dingtalk","dingtalk":{"url":"http://x"}}]}`, "lower-case"},
		{"unknown type", `{"channels":[{"name":"a","type":"sms"}]}`, `type "sms"`},
		{"not json", `{`, "notification channels"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.file))
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestWants(t *testing.T) {
	ch := Channel{Roles: []string{"town-discipline"}, Kinds: []Kind{KindEscalation, KindNotice}}
	for _, tc := range []struct {
		kind  Kind
		roles []string
		want  bool
	}{
		{KindEscalation, []string{"secretary", "town-discipline"}, true},
		{KindReminder, []string{"town-discipline"}, false},
		{KindNotice, []string{"secretary"}, false},
	} {
		if got := ch.Wants(tc.kind, tc.roles); got != tc.want {
			t.Errorf("Wants(%s, %v) = %v, want %v", tc.kind, tc.roles, got, tc.want)
		}
	}
	if !(Channel{}).Wants(KindTask, nil) {
		t.Error("a channel without filters takes every message")
	}
}
