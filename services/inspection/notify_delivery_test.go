package inspection

import (
	"context"
	"encoding/base64"
	"io"
	"mime"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	"github.com/wuxiao/wuxiao/api/notifications"
	"github.com/wuxiao/wuxiao/services/internal/events"
	"github.com/wuxiao/wuxiao/services/internal/telemetry/metricstest"
	"github.com/wuxiao/wuxiao/services/internal/testinfra"
)

var officeRecipients = []string{"jw@xikou.example.cn", "zfb@xikou.example.cn"}

// testChannels: the town's offices by e-mail (overdue steps and
// escalations) and a robot for every message.
func testChannels(ms *mailServer, rb *robot) notifications.Channels {
	return notifications.Channels{Channels: []notifications.Channel{
		{Name: "office", Type: notifications.TypeEmail, Kinds: []notifications.Kind{notifications.KindOverdue, notifications.KindEscalation},
			Email: &notifications.EmailChannel{SMTPAddr: ms.addr, From: "五小一跑 <wuxiao@xikou.example.cn>", Recipients: officeRecipients}},
		{Name: "robot", Type: notifications.TypeDingTalk, DingTalk: &notifications.DingTalkChannel{URL: rb.url, Secret: rb.secret}},
	}}
}

// deliverer is a fast-retrying worker on s (real clock).
func deliverer(s *Service, ch *ChannelSource) *Deliverer {
	return &Deliverer{Service: s, Channels: ch, BackoffMin: 5 * time.Millisecond, BackoffMax: 20 * time.Millisecond,
		Poll: 10 * time.Millisecond, Workers: 2, SendTimeout: 10 * time.Second, ConsoleURL: "https://wuxiao.example.cn"}
}

// TestOverdueStepDeliveredOnceThroughRestarts: an overdue step's event,
// delivered twice by Kafka to the real consumer, is one message; it
// reaches each office mailbox of the real SMTP server once and the robot
// once, although the server and the robot refuse the first attempts and
// the delivery worker is stopped mid-delivery and replaced by two new
// workers (a restart with two replicas).
func TestOverdueStepDeliveredOnceThroughRestarts(t *testing.T) {
	ctx := context.Background()
	s := newService(t, testinfra.Postgres(t), svcTown, &testClock{})
	s.Now = nil // the real clock: backoff waits are real
	brokers := testinfra.KafkaBrokers(t)
	topic := testinfra.UniqueName("wuxiao-notify-workflow-")
	testinfra.CreateTopics(t, brokers, 1, topic, eventsv1.DeadLetterTopic(topic))

	overdue := stepEvent(t, eventsv1.TypeStepEscalated, svcVillage, "cashier", time.Now().Add(-time.Hour))
	sentinel := stepEvent(t, eventsv1.TypeStepReminder, svcVillage, "cashier", time.Now().Add(time.Hour))
	publishEvents(t, brokers, topic, overdue, overdue, sentinel) // the overdue event twice: a redelivery

	c := events.NewConsumer(s.Pool, brokers, testinfra.UniqueName("inspection-notify-"), []string{topic}, s.Notifying(s.HandleWorkflowEvent),
		events.ConsumerOptions{MaxWait: time.Second, SessionTimeout: 6 * time.Second})
	cctx, stopConsumer := context.WithCancel(ctx)
	consumed := make(chan error, 1)
	go func() { consumed <- c.Run(cctx) }()
	eventually(t, "the sentinel's message", func() bool { _, ok := messageOf(t, s, sentinel.ID); return ok })
	stopConsumer()
	if err := <-consumed; err != nil {
		t.Fatal(err)
	}
	if n := count(t, s.Pool, `SELECT count(*) FROM notify_messages WHERE event_id = $1`, overdue.ID); n != 1 {
		t.Fatalf("the redelivered event made %d messages", n)
	}

	ms := newMailServer(t, 1)               // refuses the first DATA
	rb := newRobot(t, "SEC-test-secret", 3) // answers errcode 310000 three times
	chans := StaticChannels(testChannels(ms, rb))

	// The first worker runs until something was refused and something
	// accepted, then stops (a rolling restart).
	first := deliverer(s, chans)
	wctx, stopWorker := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- first.Run(wctx) }()
	eventually(t, "a refused and an accepted send", func() bool {
		accepted, refused := ms.count()
		_, failed, _ := rb.count()
		return refused+failed > 0 && accepted > 0
	})
	stopWorker()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// Two new workers (replicas) finish the deliveries.
	a, b := deliverer(s, chans), deliverer(s, chans)
	wctx, stopWorkers := context.WithCancel(ctx)
	doneA, doneB := make(chan error, 1), make(chan error, 1)
	go func() { doneA <- a.Run(wctx) }()
	go func() { doneB <- b.Run(wctx) }()
	eventually(t, "every delivery sent", func() bool {
		return count(t, s.Pool, `SELECT count(*) FROM notify_deliveries WHERE state <> 'sent'`) == 0 &&
			count(t, s.Pool, `SELECT count(*) FROM notify_messages WHERE dispatched_at IS NULL`) == 0
	})
	stopWorkers()
	for _, done := range []chan error{doneA, doneB} {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}

	// The overdue step: once to each office address and once to the robot;
	// the reminder (kind reminder): to the robot only.
	mails := ms.mails()
	for _, to := range officeRecipients {
		if len(mails[to]) != 1 {
			t.Errorf("%s got %d e-mails, want 1", to, len(mails[to]))
		}
	}
	if accepted, _ := ms.count(); accepted != 2 {
		t.Errorf("the SMTP server accepted %d e-mails, want 2", accepted)
	}
	received, _, bad := rb.count()
	if received != 2 || len(bad) > 0 {
		t.Errorf("the robot received %d messages (%v), want 2 (the overdue step and the reminder)", received, bad)
	}
	titles := map[string]int{}
	for _, m := range rb.messages() {
		titles[m.Markdown.Title]++
		if !strings.Contains(m.Markdown.Text, "https://wuxiao.example.cn/console/processes/") {
			t.Errorf("robot text without the console link: %s", m.Markdown.Text)
		}
	}
	if titles["已超期：村党组织提议"] != 1 || titles["即将到期：村党组织提议"] != 1 {
		t.Errorf("robot titles %v", titles)
	}
	if n := count(t, s.Pool, `SELECT count(*) FROM notify_deliveries`); n != 4 {
		t.Errorf("%d deliveries, want 4 (2 addresses + robot for the overdue step, robot for the reminder)", n)
	}

	// The e-mail: From, To, an encoded-word Subject in UTF-8, a text body.
	m := mails[officeRecipients[0]][0]
	msg, err := mail.ReadMessage(strings.NewReader(string(m.data)))
	if err != nil {
		t.Fatal(err)
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil || subject != "已超期：村党组织提议" || !strings.HasPrefix(msg.Header.Get("Subject"), "=?UTF-8?b?") {
		t.Errorf("subject %q (%q, %v)", subject, msg.Header.Get("Subject"), err)
	}
	if msg.Header.Get("To") != officeRecipients[0] || msg.Header.Get("From") != "五小一跑 <wuxiao@xikou.example.cn>" ||
		m.from != "wuxiao@xikou.example.cn" || msg.Header.Get("Content-Type") != "text/plain; charset=UTF-8" {
		t.Errorf("headers %v, envelope from %s", msg.Header, m.from)
	}
	body, err := io.ReadAll(base64.NewDecoder(base64.StdEncoding, msg.Body))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(body), "已超过办理时限") || !strings.Contains(string(body), "https://wuxiao.example.cn/console/processes/") {
		t.Errorf("body %q", body)
	}
}

// TestNotificationDeadLettered: a robot that always fails gets exactly
// MaxAttempts tries, then the delivery is dead with the last error; the
// e-mail of the same message is unaffected.
func TestNotificationDeadLettered(t *testing.T) {
	ctx := context.Background()
	s := newService(t, testinfra.Postgres(t), svcTown, &testClock{})
	s.Now = nil
	ms := newMailServer(t, 0)
	rb := newRobot(t, "SEC-test-secret", 0)
	rb.broken = true
	d := deliverer(s, StaticChannels(testChannels(ms, rb)))
	d.MaxAttempts = 3
	mp, scrape := metricstest.Endpoint(t, svcTown, "fenghua")
	if err := d.Instrument(mp); err != nil {
		t.Fatal(err)
	}
	ev := anEvent(t, eventsv1.TypeComplaintEscalated, svcVillage, eventsv1.ComplaintEscalated{
		ComplaintRef: eventsv1.ComplaintRef{ComplaintID: "c-1", Category: "funds"}, Stage: "received", DueAt: time.Now(), At: time.Now()})
	notifyOf(t, s, ev)
	eventually(t, "the robot's delivery dead", func() bool {
		if _, err := d.DeliverDue(ctx); err != nil {
			t.Fatal(err)
		}
		return count(t, s.Pool, `SELECT count(*) FROM notify_deliveries WHERE channel = 'robot' AND state = 'dead'`) == 1
	})
	var attempts int
	var lastError string
	if err := s.Pool.QueryRow(ctx, `SELECT attempts, last_error FROM notify_deliveries WHERE channel = 'robot'`).Scan(&attempts, &lastError); err != nil {
		t.Fatal(err)
	}
	_, failed, _ := rb.count()
	if attempts != 3 || failed != 3 || !strings.Contains(lastError, "500") || strings.Contains(lastError, "test-token") {
		t.Fatalf("attempts %d, robot hit %d times, last error %q", attempts, failed, lastError)
	}
	// Dead is final: more runs send nothing.
	if _, err := d.DeliverDue(ctx); err != nil {
		t.Fatal(err)
	}
	if _, failed, _ := rb.count(); failed != 3 {
		t.Fatalf("the dead delivery was tried again (%d)", failed)
	}
	if n := count(t, s.Pool, `SELECT count(*) FROM notify_deliveries WHERE channel = 'office' AND state = 'sent'`); n != 2 {
		t.Fatalf("%d e-mails sent, want 2", n)
	}
	metricstest.Check(t, "dead letter", scrape(), []metricstest.Want{
		{Name: "wuxiao_inspection_notifications_deliveries_total", Labels: map[string]string{"channel": "robot", "outcome": "failed"}, Value: 2},
		{Name: "wuxiao_inspection_notifications_deliveries_total", Labels: map[string]string{"channel": "robot", "outcome": "dead_lettered"}, Value: 1},
		{Name: "wuxiao_inspection_notifications_deliveries_total", Labels: map[string]string{"channel": "office", "outcome": "sent"}, Value: 2},
	})
}

// TestChannelsFileReloaded: the file is read again when it changes; an
// invalid file keeps the channels in force; a missing one is none.
func TestChannelsFileReloaded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "channels.json")
	src := &ChannelSource{Path: path}
	write := func(s string) {
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	names := func() []string {
		var out []string
		for _, ch := range src.Channels().Channels {
			out = append(out, ch.Name)
		}
		return out
	}
	for _, step := range []struct {
		name, file string
		wantErr    bool
		want       string
	}{
		{"missing", "", false, ""},
		{"one robot", `{"channels":[{"name":"robot","type":"dingtalk","dingtalk":{"url":"http://r.example/send"}}]}`, false, "robot"},
		{"invalid keeps it", `{"channels":[{"name":"Bad Name","type":"sms"}]}`, true, "robot"},
		{"two", `{"channels":[{"name":"robot","type":"dingtalk","dingtalk":{"url":"http://r.example/send"}},
			{"name":"office","type":"email","email":{"smtpAddr":"mail:25","from":"a@b.cn","recipients":["c@d.cn"]}}]}`, false, "robot,office"},
	} {
		if step.file != "" {
			write(step.file)
		}
		err := src.Reload()
		if (err != nil) != step.wantErr || strings.Join(names(), ",") != step.want {
			t.Fatalf("%s: channels %v, error %v", step.name, names(), err)
		}
	}
}

// TestMailRelayAuthenticates: a relay that requires AUTH gets the
// channel's credentials (PLAIN); wrong ones fail the send, which is
// retried, not marked sent.
func TestMailRelayAuthenticates(t *testing.T) {
	ctx := context.Background()
	s := newService(t, testinfra.Postgres(t), svcTown, &testClock{})
	s.Now = nil
	ms := newMailServer(t, 0)
	ms.user, ms.pass = "wuxiao", "relay-secret"
	for _, tc := range []struct {
		name, pass, state string
	}{
		{"wrong password", "nope", "pending"},
		{"right password", "relay-secret", "sent"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			chans := notifications.Channels{Channels: []notifications.Channel{{Name: "office-" + tc.state, Type: notifications.TypeEmail,
				Email: &notifications.EmailChannel{SMTPAddr: ms.addr, From: "wuxiao@xikou.example.cn", Username: "wuxiao", Password: tc.pass,
					Recipients: []string{"jw@xikou.example.cn"}}}}}
			d := deliverer(s, StaticChannels(chans))
			d.BackoffMin, d.BackoffMax = time.Hour, time.Hour // one attempt in this test
			notifyOf(t, s, stepEvent(t, eventsv1.TypeStepEscalated, svcVillage, "cashier", time.Now()))
			if _, err := d.DeliverDue(ctx); err != nil {
				t.Fatal(err)
			}
			var state, lastError string
			if err := s.Pool.QueryRow(ctx, `SELECT state, last_error FROM notify_deliveries WHERE channel = $1`, "office-"+tc.state).Scan(&state, &lastError); err != nil {
				t.Fatal(err)
			}
			if state != tc.state || (tc.state == "pending") != strings.Contains(lastError, "AUTH") {
				t.Fatalf("state %s, last error %q", state, lastError)
			}
		})
	}
	if accepted, _ := ms.count(); accepted != 1 {
		t.Fatalf("%d e-mails accepted, want 1", accepted)
	}
}

// TestNoDuplicatesAcrossRestarts: 40 messages, each to two mailboxes and
// the robot; the worker is stopped after a few sends and replaced by two
// workers, twice. Every (message, recipient) arrives exactly once.
func TestNoDuplicatesAcrossRestarts(t *testing.T) {
	ctx := context.Background()
	s := newService(t, testinfra.Postgres(t), svcTown, &testClock{})
	s.Now = nil
	ms := newMailServer(t, 0)
	rb := newRobot(t, "SEC-test-secret", 0)
	chans := StaticChannels(testChannels(ms, rb))
	const n = 40
	for range n {
		notifyOf(t, s, stepEvent(t, eventsv1.TypeStepEscalated, svcVillage, "cashier", time.Now()))
	}
	sends := func() int { a, _ := ms.count(); r, _, _ := rb.count(); return a + r }
	for round, stopAt := range []int{10, 50} {
		var stops []func()
		var dones []chan error
		for range round + 1 { // one worker, then two (replicas)
			wctx, stop := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() { done <- deliverer(s, chans).Run(wctx) }()
			stops, dones = append(stops, stop), append(dones, done)
		}
		eventually(t, "some sends", func() bool { return sends() >= stopAt })
		for i, stop := range stops {
			stop()
			if err := <-dones[i]; err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := deliverer(s, chans).DeliverDue(ctx); err != nil { // the rest
		t.Fatal(err)
	}
	perMessage := map[string]int{}
	for to, mails := range ms.mails() {
		for _, m := range mails {
			msg, err := mail.ReadMessage(strings.NewReader(string(m.data)))
			if err != nil {
				t.Fatal(err)
			}
			perMessage[to+" "+msg.Header.Get("Message-ID")]++
		}
	}
	for k, c := range perMessage {
		if c != 1 {
			t.Errorf("%s arrived %d times", k, c)
		}
	}
	received, _, _ := rb.count()
	if len(perMessage) != 2*n || received != n {
		t.Fatalf("%d distinct e-mails (want %d), %d robot posts (want %d)", len(perMessage), 2*n, received, n)
	}
	if c := count(t, s.Pool, `SELECT count(*) FROM notify_deliveries WHERE state = 'sent'`); c != 3*n {
		t.Fatalf("%d deliveries sent, want %d", c, 3*n)
	}
}
