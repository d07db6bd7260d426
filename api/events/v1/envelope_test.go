package eventsv1

import (
	"strings"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	ok := Event{ID: "1", Source: "/towns/xikou/workflow", Type: "cn.wuxiao.workflow.warning.raised.v1",
		Time: time.Now(), Town: "xikou", Village: "330213100201", Data: []byte(`{}`)}
	cases := []struct {
		name   string
		mutate func(*Event)
		want   string
	}{
		{"valid", func(*Event) {}, ""},
		{"no id", func(e *Event) { e.ID = "" }, "no id"},
		{"unversioned type", func(e *Event) { e.Type = "cn.wuxiao.workflow.warning.raised" }, "is not of the form"},
		{"foreign type", func(e *Event) { e.Type = "com.example.thing.v1" }, "is not of the form"},
		{"no town", func(e *Event) { e.Town = "" }, "no town"},
		{"short village", func(e *Event) { e.Village = "3302" }, "12-digit"},
		{"bad data", func(e *Event) { e.Data = []byte(`{`) }, "not valid JSON"},
		{"no time", func(e *Event) { e.Time = time.Time{} }, "no time"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := ok
			tc.mutate(&e)
			err := e.Validate()
			if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}

func TestKeyAndTopics(t *testing.T) {
	e := Event{Town: "xikou"}
	if e.Key() != "xikou" {
		t.Errorf("town event key %q", e.Key())
	}
	e.Village = "330213100201"
	if e.Key() != "330213100201" {
		t.Errorf("village event key %q", e.Key())
	}
	if got := DeadLetterTopic(Topic("xikou", StreamWorkflow)); got != "wuxiao.xikou.workflow.dlq" {
		t.Errorf("dlq topic %q", got)
	}
}
