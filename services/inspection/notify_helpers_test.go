package inspection

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	"github.com/wuxiao/wuxiao/services/internal/identity"
	"github.com/wuxiao/wuxiao/services/internal/store"
)

// sentMail is one message the SMTP server accepted.
type sentMail struct {
	from string
	to   []string
	data []byte
}

// mailServer is a real SMTP server (github.com/emersion/go-smtp) on a
// local port that keeps what it accepts; it refuses the DATA of the first
// failFirst messages (451, try again later).
type mailServer struct {
	addr string

	mu        sync.Mutex
	accepted  []sentMail
	refused   int
	failFirst int
	// user and pass, when set, are required (AUTH PLAIN) before MAIL.
	user, pass string
}

func newMailServer(t testing.TB, failFirst int) *mailServer {
	t.Helper()
	ms := &mailServer{failFirst: failFirst}
	srv := smtp.NewServer(ms)
	srv.Domain = "mail.test.wuxiao.invalid"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	srv.AllowInsecureAuth = true // on loopback only: net/smtp sends PLAIN without TLS to 127.0.0.1 alone
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ms.addr = l.Addr().String()
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ms
}

func (ms *mailServer) NewSession(*smtp.Conn) (smtp.Session, error) {
	return &mailSession{server: ms}, nil
}

// mails returns the accepted messages by recipient.
func (ms *mailServer) mails() map[string][]sentMail {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	out := map[string][]sentMail{}
	for _, m := range ms.accepted {
		for _, to := range m.to {
			out[to] = append(out[to], m)
		}
	}
	return out
}

func (ms *mailServer) count() (accepted, refused int) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return len(ms.accepted), ms.refused
}

type mailSession struct {
	server *mailServer
	cur    sentMail
	authed bool
}

func (s *mailSession) AuthMechanisms() []string { return []string{sasl.Plain} }
func (s *mailSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != s.server.user || pass != s.server.pass {
			return errors.New("invalid credentials")
		}
		s.authed = true
		return nil
	}), nil
}

func (s *mailSession) Reset()        { s.cur = sentMail{} }
func (s *mailSession) Logout() error { return nil }
func (s *mailSession) Mail(from string, _ *smtp.MailOptions) error {
	if s.server.user != "" && !s.authed {
		return smtp.ErrAuthRequired
	}
	s.cur.from = from
	return nil
}
func (s *mailSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.cur.to = append(s.cur.to, to)
	return nil
}
func (s *mailSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	ms := s.server
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if ms.refused < ms.failFirst {
		ms.refused++
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
	}
	m := s.cur
	m.data = b
	ms.accepted = append(ms.accepted, m)
	return nil
}

// robot is a real HTTP server acting as a DingTalk custom robot with 加签:
// it checks the signature and the message's shape, answers errcode 310000
// (as DingTalk does for a bad sign) to the first failFirst requests, or
// HTTP 500 to every request when broken.
type robot struct {
	url, secret string

	mu        sync.Mutex
	received  []dingTalkMessage
	failed    int
	failFirst int
	broken    bool
	bad       []string
}

func newRobot(t testing.TB, secret string, failFirst int) *robot {
	t.Helper()
	rb := &robot{secret: secret, failFirst: failFirst}
	ts := httptest.NewServer(http.HandlerFunc(rb.serve))
	t.Cleanup(ts.Close)
	rb.url = ts.URL + "/robot/send?access_token=test-token"
	return rb
}

func (rb *robot) serve(w http.ResponseWriter, r *http.Request) {
	rb.mu.Lock()
	defer rb.mu.Unlock()
	if rb.broken {
		rb.failed++
		http.Error(w, "robot down", http.StatusInternalServerError)
		return
	}
	q := r.URL.Query()
	mac := hmac.New(sha256.New, []byte(rb.secret))
	mac.Write([]byte(q.Get("timestamp") + "\n" + rb.secret))
	ts, _ := strconv.ParseInt(q.Get("timestamp"), 10, 64)
	var msg dingTalkMessage
	err := json.NewDecoder(r.Body).Decode(&msg)
	switch {
	case q.Get("access_token") != "test-token" || q.Get("sign") != base64.StdEncoding.EncodeToString(mac.Sum(nil)) ||
		time.Since(time.UnixMilli(ts)).Abs() > time.Hour:
		rb.bad = append(rb.bad, "bad sign: "+r.URL.RawQuery)
	case err != nil || msg.MsgType != "markdown" || msg.Markdown.Title == "" || msg.Markdown.Text == "":
		rb.bad = append(rb.bad, "bad message")
	}
	if rb.failed < rb.failFirst {
		rb.failed++
		_, _ = w.Write([]byte(`{"errcode":310000,"errmsg":"sign not match"}`))
		return
	}
	rb.received = append(rb.received, msg)
	_, _ = w.Write([]byte(`{"errcode":0,"errmsg":"ok"}`))
}

func (rb *robot) count() (received, failed int, bad []string) {
	rb.mu.Lock()
	defer rb.mu.Unlock()
	return len(rb.received), rb.failed, rb.bad
}

func (rb *robot) messages() []dingTalkMessage {
	rb.mu.Lock()
	defer rb.mu.Unlock()
	return append([]dingTalkMessage(nil), rb.received...)
}

// stepEvent is a workflow deadline event as the workflow service publishes it.
func stepEvent(t testing.TB, typ, village, role string, due time.Time) eventsv1.Event {
	t.Helper()
	raw, err := json.Marshal(eventsv1.StepDeadline{InstanceRef: eventsv1.InstanceRef{InstanceID: uuid.NewString(),
		TrackingNumber: village + "-20260302-ABCDE", ItemID: "decision-major-matters", ItemName: "重大事项决策"},
		StepID: "propose", StepName: "村党组织提议", Role: role, DueAt: due})
	if err != nil {
		t.Fatal(err)
	}
	return eventsv1.Event{ID: uuid.NewString(), Source: "/towns/" + svcTown + "/workflow", Type: typ, Subject: village + "-20260302-ABCDE",
		Time: due.UTC(), Town: svcTown, Village: village, Data: raw}
}

// notifyOf records ev's message as the consumer would.
func notifyOf(t testing.TB, s *Service, ev eventsv1.Event) {
	t.Helper()
	if err := store.InTx(context.Background(), s.Pool, func(tx pgx.Tx) error {
		return s.HandleNotifyEvent(context.Background(), tx, ev)
	}); err != nil {
		t.Fatalf("notifying %s: %v", ev.Type, err)
	}
}

// messageOf reads the message recorded for an event.
func messageOf(t testing.TB, s *Service, eventID string) (*Message, bool) {
	t.Helper()
	var m Message
	var roles []string
	err := s.Pool.QueryRow(context.Background(), `SELECT id, event_id, event_type, kind, title, body, link, roles, town, village, created_at
		FROM notify_messages WHERE event_id = $1`, eventID).Scan(&m.ID, &m.EventID, &m.EventType, &m.Kind, &m.Title, &m.Body, &m.Link,
		&roles, &m.Town, &m.Village, &m.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, false
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range roles {
		m.Roles = append(m.Roles, identity.Role(r))
	}
	return &m, true
}
