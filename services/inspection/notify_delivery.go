package inspection

// Delivery of the messages (notify.go) through the district's channels
// (api/notifications: the file in WUXIAO_NOTIFY_CHANNELS_FILE). Every
// message is fanned out once to the channels that want it, one delivery
// per (message, channel, recipient); each delivery is sent by one worker
// of one replica at a time (its row locked FOR UPDATE SKIP LOCKED while it
// is sent), retried with exponential backoff and dead-lettered after
// MaxAttempts failures. A delivery is marked sent in the transaction that
// locked it, right after the SMTP server accepted the DATA or the webhook
// answered success: a crash between the two sends that one message again
// (at-least-once).

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"mime"
	"net"
	"net/http"
	"net/mail"
	"net/smtp"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/wuxiao/wuxiao/api/notifications"
	"github.com/wuxiao/wuxiao/services/internal/store"
)

// DefaultNotifyMaxAttempts is how many failed sends dead-letter a delivery.
const DefaultNotifyMaxAttempts = 8

// EnvNotifyMaxAttempts overrides DefaultNotifyMaxAttempts.
const EnvNotifyMaxAttempts = "WUXIAO_NOTIFY_MAX_ATTEMPTS"

// webhookRecipient is a DingTalk channel's one recipient: the webhook.
const webhookRecipient = "webhook"

// ChannelSource holds the channels file, reloaded when its contents change.
// A file that cannot be read or parsed keeps the channels last loaded.
type ChannelSource struct {
	Path string
	Log  *slog.Logger

	mu   sync.Mutex
	sum  [sha256.Size]byte
	cur  atomic.Pointer[notifications.Channels]
	seen bool
}

// StaticChannels is a source that never changes (tests, benchmarks).
func StaticChannels(c notifications.Channels) *ChannelSource {
	s := &ChannelSource{}
	s.cur.Store(&c)
	return s
}

// Channels returns the channels in force.
func (c *ChannelSource) Channels() notifications.Channels {
	if p := c.cur.Load(); p != nil {
		return *p
	}
	return notifications.Channels{}
}

// Reload reads the file again and takes it when it changed and is valid.
// No path, or no file, means no channels (the inbox only).
func (c *ChannelSource) Reload() error {
	if c.Path == "" {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	b, err := os.ReadFile(c.Path)
	if errors.Is(err, os.ErrNotExist) {
		b, err = []byte(`{"channels":[]}`), nil
	}
	if err != nil {
		return fmt.Errorf("notification channels %s: %w", c.Path, err)
	}
	sum := sha256.Sum256(b)
	if c.seen && sum == c.sum {
		return nil
	}
	parsed, err := notifications.Parse(b)
	if err != nil {
		return fmt.Errorf("notification channels %s (keeping the %d channels in force): %w", c.Path, len(c.Channels().Channels), err)
	}
	c.cur.Store(&parsed)
	c.sum, c.seen = sum, true
	if c.Log != nil {
		names := make([]string, len(parsed.Channels))
		for i, ch := range parsed.Channels {
			names[i] = ch.Name + " (" + string(ch.Type) + ")"
		}
		c.Log.Info("notification channels loaded", "file", c.Path, "channels", names)
	}
	return nil
}

// Watch reloads the file every interval until ctx ends (for platform.Run's
// loops; a Secret's mounted file changes in place, without a restart).
func (c *ChannelSource) Watch(interval time.Duration) func(context.Context) error {
	return func(ctx context.Context) error {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
			}
			if err := c.Reload(); err != nil && c.Log != nil {
				c.Log.ErrorContext(ctx, "reloading notification channels", "error", err.Error())
			}
		}
	}
}

// idlePolls × Poll bounds the wait between a Deliverer's polls that find
// nothing (16 s by default, about the workflow timers' 15 s).
const idlePolls = 16

// Deliverer sends the messages through the channels. Run one in every
// replica; rows locked by one are skipped by the others.
type Deliverer struct {
	Service  *Service
	Channels *ChannelSource
	// MaxAttempts failed sends dead-letter a delivery [DefaultNotifyMaxAttempts].
	MaxAttempts int
	// BackoffMin and BackoffMax bound the wait after the n-th failure,
	// BackoffMin × 2^(n-1) [30s, 1h].
	BackoffMin, BackoffMax time.Duration
	// Workers send at once [2]; each holds a database connection while it sends.
	Workers int
	// Poll is the wait after a poll that found nothing due, doubling
	// while nothing is, up to idlePolls × Poll [1s].
	Poll time.Duration
	// SendTimeout bounds one send [30s].
	SendTimeout time.Duration
	// ConsoleURL, when set, makes the messages' console links absolute
	// (https://wuxiao.example.cn); otherwise they are paths.
	ConsoleURL string
	HTTPClient *http.Client

	deliveries metric.Int64Counter
}

// Instrument creates the delivery counter (wuxiao_inspection_notifications_deliveries_total).
func (d *Deliverer) Instrument(mp metric.MeterProvider) error {
	c, err := mp.Meter(meterName).Int64Counter("wuxiao.inspection.notifications.deliveries",
		metric.WithDescription("Notification sends by channel and outcome: sent, failed (to be retried), dead_lettered"),
		metric.WithUnit("{delivery}"))
	d.deliveries = c
	return err
}

func (d *Deliverer) count(ctx context.Context, channel, outcome string) {
	if d.deliveries != nil {
		d.deliveries.Add(ctx, 1, metric.WithAttributes(attribute.String("channel", channel), attribute.String("outcome", outcome)))
	}
}

func (d *Deliverer) maxAttempts() int    { return positive(d.MaxAttempts, DefaultNotifyMaxAttempts) }
func (d *Deliverer) workers() int        { return positive(d.Workers, 2) }
func (d *Deliverer) poll() time.Duration { return positiveDur(d.Poll, time.Second) }
func (d *Deliverer) sendTimeout() time.Duration {
	return positiveDur(d.SendTimeout, 30*time.Second)
}

func positive(n, def int) int {
	if n > 0 {
		return n
	}
	return def
}

func positiveDur(v, def time.Duration) time.Duration {
	if v > 0 {
		return v
	}
	return def
}

// backoff is the wait after the n-th failure, with up to 10% jitter so
// that deliveries failing together do not retry together.
func (d *Deliverer) backoff(n int) time.Duration {
	lo, hi := positiveDur(d.BackoffMin, 30*time.Second), positiveDur(d.BackoffMax, time.Hour)
	w := lo
	for i := 1; i < n && w < hi; i++ {
		w *= 2
	}
	w = min(w, hi)
	if j, err := rand.Int(rand.Reader, big.NewInt(int64(w/10)+1)); err == nil {
		w += time.Duration(j.Int64())
	}
	return w
}

// Run fans out and sends until ctx ends. Failures are logged and retried.
func (d *Deliverer) Run(ctx context.Context) error {
	// Polls are background work (store.Background): at rest each gives its
	// connection back to the server, and the wait between polls grows from
	// Poll to idlePolls × Poll while nothing is found, so that a town at rest
	// opens a short-lived connection every few seconds at most instead of
	// holding one (issue 18). Work found: back to Poll.
	ctx = store.Background(ctx)
	var wg sync.WaitGroup
	for range d.workers() {
		wg.Go(func() {
			wait := d.poll()
			for ctx.Err() == nil {
				worked, err := d.step(ctx)
				if err != nil && ctx.Err() == nil {
					d.Service.log().ErrorContext(ctx, "delivering notifications", "error", err.Error())
				}
				if worked && err == nil {
					wait = d.poll()
					continue
				}
				select {
				case <-ctx.Done():
				case <-time.After(wait):
				}
				wait = min(2*wait, idlePolls*d.poll())
			}
		})
	}
	wg.Wait()
	return nil
}

// step fans out a batch of messages and sends one due delivery; it
// reports whether there was anything to do.
func (d *Deliverer) step(ctx context.Context) (bool, error) {
	n, err := d.Dispatch(ctx, 100)
	if err != nil {
		return false, err
	}
	sent, err := d.DeliverOne(ctx)
	return n > 0 || sent, err
}

// DeliverDue fans out every message and sends every due delivery, with
// the configured number of workers at once; it returns the sends tried.
func (d *Deliverer) DeliverDue(ctx context.Context) (int, error) {
	for {
		n, err := d.Dispatch(ctx, 100)
		if err != nil {
			return 0, err
		}
		if n == 0 {
			break
		}
	}
	var tried atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, d.workers())
	for i := range d.workers() {
		wg.Go(func() {
			for {
				ok, err := d.DeliverOne(ctx)
				if err != nil {
					errs[i] = err
					return
				}
				if !ok {
					return
				}
				tried.Add(1)
			}
		})
	}
	wg.Wait()
	return int(tried.Load()), errors.Join(errs...)
}

// Dispatch fans out up to limit messages to the channels in force: one
// delivery per (message, channel, recipient) the channel wants. It returns
// how many messages it fanned out.
func (d *Deliverer) Dispatch(ctx context.Context, limit int) (int, error) {
	chans := d.Channels.Channels()
	n := 0
	err := store.InTx(ctx, d.Service.Pool, func(tx pgx.Tx) error {
		n = 0
		msgs, err := claimUndispatched(ctx, tx, limit)
		if err != nil || len(msgs) == 0 {
			return err
		}
		now := d.Service.now()
		ids := make([]int64, len(msgs))
		for i, m := range msgs {
			ids[i] = m.id
			for _, ch := range chans.Channels {
				if !ch.Wants(m.kind, m.roles) {
					continue
				}
				for _, r := range recipients(ch) {
					if err := insertDelivery(ctx, tx, m.id, ch, r, now); err != nil {
						return err
					}
				}
			}
		}
		n = len(msgs)
		return markDispatched(ctx, tx, ids, now)
	})
	return n, err
}

func recipients(ch notifications.Channel) []string {
	switch {
	case ch.Type == notifications.TypeEmail && ch.Email != nil:
		return ch.Email.Recipients
	case ch.Type == notifications.TypeDingTalk:
		return []string{webhookRecipient}
	}
	return nil
}

// DeliverOne sends the oldest due delivery, if any, holding its row locked
// while it sends; false when none is due (or all due are being sent).
func (d *Deliverer) DeliverOne(ctx context.Context) (bool, error) {
	tx, err := d.Service.Pool.Begin(ctx)
	if err != nil {
		return false, err
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	del, err := claimDue(ctx, tx, d.Service.now())
	if err != nil || del == nil {
		return false, err
	}
	ch, ok := d.channel(del.channel)
	var sendErr error
	if !ok {
		sendErr = fmt.Errorf("channel %q is no longer configured", del.channel)
	} else {
		// A send once begun is finished, not cut by a stop: a request cut
		// after the server took it would be rolled back here and sent
		// again by the next worker (TestNoDuplicatesAcrossRestarts saw a
		// second robot post). The stop waits at most the send timeout.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.sendTimeout())
		sendErr = d.send(sctx, ch, del)
		cancel()
	}
	if sendErr != nil && ctx.Err() != nil {
		// Stopped mid-send (shutdown): not the channel's failure. The
		// rollback frees the row for the next worker, attempt uncounted.
		return false, ctx.Err()
	}
	// Record the outcome even when ctx ended during the send: a send the
	// server accepted must be marked, or it is sent again.
	mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	attempts := del.attempts + 1
	now := d.Service.now()
	outcome := "sent"
	switch {
	case sendErr == nil:
		err = markSent(mctx, tx, del.id, attempts, now)
	case !ok || attempts >= d.maxAttempts():
		outcome = "dead_lettered"
		err = markFailed(mctx, tx, del.id, attempts, now, true, sendErr.Error())
	default:
		outcome = "failed"
		err = markFailed(mctx, tx, del.id, attempts, now.Add(d.backoff(attempts)), false, sendErr.Error())
	}
	if err == nil {
		err = tx.Commit(mctx)
	}
	if err != nil {
		return false, fmt.Errorf("recording delivery %d (%s): %w", del.id, outcome, err)
	}
	d.count(ctx, del.channel, outcome)
	if sendErr != nil {
		d.Service.log().WarnContext(ctx, "notification not delivered", "delivery", del.id, "channel", del.channel,
			"attempts", attempts, "outcome", outcome, "error", sendErr.Error())
	}
	return true, nil
}

func (d *Deliverer) channel(name string) (notifications.Channel, bool) {
	for _, ch := range d.Channels.Channels().Channels {
		if ch.Name == name {
			return ch, true
		}
	}
	return notifications.Channel{}, false
}

func (d *Deliverer) send(ctx context.Context, ch notifications.Channel, del *delivery) error {
	switch {
	case ch.Type == notifications.TypeEmail && ch.Email != nil:
		return d.sendMail(ctx, ch.Email, del)
	case ch.Type == notifications.TypeDingTalk && ch.DingTalk != nil:
		return d.postDingTalk(ctx, ch.DingTalk, del)
	}
	return fmt.Errorf("channel %q has no settings for its type %q", ch.Name, ch.Type)
}

// link is the message's console link, absolute when ConsoleURL is set.
func (d *Deliverer) link(m *Message) string {
	if d.ConsoleURL == "" {
		return m.Link
	}
	return strings.TrimRight(d.ConsoleURL, "/") + m.Link
}

// mailText is the e-mail: headers (Subject as a UTF-8 encoded-word) and a
// base64 text body, CRLF line ends.
func (d *Deliverer) mailText(from, to string, del *delivery) []byte {
	m := &del.message
	var b bytes.Buffer
	header := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	header("From", from)
	header("To", to)
	header("Subject", mime.BEncoding.Encode("UTF-8", m.Title))
	header("Date", d.Service.now().Format(time.RFC1123Z))
	header("Message-ID", fmt.Sprintf("<wuxiao-%d-%d@%s>", m.ID, del.id, d.Service.Town))
	header("MIME-Version", "1.0")
	header("Content-Type", "text/plain; charset=UTF-8")
	header("Content-Transfer-Encoding", "base64")
	b.WriteString("\r\n")
	body := m.Body + "\n\n在控制台查看：" + d.link(m) + "\n"
	enc := base64.StdEncoding.EncodeToString([]byte(strings.ReplaceAll(body, "\n", "\r\n")))
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc + "\r\n")
	return b.Bytes()
}

// sendMail sends one e-mail; it succeeds only when the server accepted the DATA.
func (d *Deliverer) sendMail(ctx context.Context, e *notifications.EmailChannel, del *delivery) error {
	host, _, err := net.SplitHostPort(e.SMTPAddr)
	if err != nil {
		return err
	}
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", e.SMTPAddr)
	if err != nil {
		return err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Hello("wuxiao-inspection"); err != nil {
		return err
	}
	if e.StartTLS {
		if err := c.StartTLS(&tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}); err != nil {
			return fmt.Errorf("STARTTLS: %w", err)
		}
	}
	if e.Username != "" {
		if err := c.Auth(smtp.PlainAuth("", e.Username, e.Password, host)); err != nil {
			return fmt.Errorf("AUTH: %w", err)
		}
	}
	from, err := mailAddr(e.From)
	if err != nil {
		return err
	}
	to, err := mailAddr(del.recipient)
	if err != nil {
		return err
	}
	if err := c.Mail(from); err != nil {
		return fmt.Errorf("MAIL FROM: %w", err)
	}
	if err := c.Rcpt(to); err != nil {
		return fmt.Errorf("RCPT TO: %w", err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	if _, err := w.Write(d.mailText(e.From, del.recipient, del)); err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	if err := w.Close(); err != nil { // the server's answer to the DATA
		return fmt.Errorf("DATA: %w", err)
	}
	_ = c.Quit() // accepted already: a failing QUIT does not unsend it
	return nil
}

// mailAddr is the bare address of "Name <addr>" or "addr".
func mailAddr(s string) (string, error) {
	a, err := mail.ParseAddress(s)
	if err != nil {
		return "", fmt.Errorf("address %q: %w", s, err)
	}
	return a.Address, nil
}

// dingTalkMessage is a DingTalk custom robot's markdown message.
type dingTalkMessage struct {
	MsgType  string `json:"msgtype"`
	Markdown struct {
		Title string `json:"title"`
		Text  string `json:"text"`
	} `json:"markdown"`
}

// postDingTalk posts the message to the robot; success is a 2xx answer
// whose JSON body, if any, has errcode 0.
func (d *Deliverer) postDingTalk(ctx context.Context, dt *notifications.DingTalkChannel, del *delivery) error {
	m := &del.message
	var msg dingTalkMessage
	msg.MsgType = "markdown"
	msg.Markdown.Title = m.Title
	msg.Markdown.Text = fmt.Sprintf("#### %s\n\n%s\n\n[在控制台查看](%s)", m.Title, m.Body, d.link(m))
	body, err := json.Marshal(msg)
	if err != nil {
		return err
	}
	target := dt.URL
	if dt.Secret != "" {
		target, err = signDingTalk(dt.URL, dt.Secret, d.Service.now())
		if err != nil {
			return err
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	client := d.HTTPClient
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return redactURL(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("webhook answered %s: %.200s", resp.Status, raw)
	}
	var answer struct {
		ErrCode *int   `json:"errcode"`
		ErrMsg  string `json:"errmsg"`
	}
	if json.Unmarshal(raw, &answer) == nil && answer.ErrCode != nil && *answer.ErrCode != 0 {
		return fmt.Errorf("webhook answered errcode %d: %.200s", *answer.ErrCode, answer.ErrMsg)
	}
	return nil
}

// signDingTalk adds DingTalk's 加签 parameters: timestamp (ms) and sign =
// base64(HMAC-SHA256(secret, timestamp + "\n" + secret)).
func signDingTalk(raw, secret string, now time.Time) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", err
	}
	ts := strconv.FormatInt(now.UnixMilli(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "\n" + secret))
	q := u.Query()
	q.Set("timestamp", ts)
	q.Set("sign", base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// redactURL keeps a robot's access token out of errors (they are stored
// in last_error and logged).
func redactURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		if u, perr := url.Parse(ue.URL); perr == nil {
			u.RawQuery = ""
			return fmt.Errorf("%s %s: %w", ue.Op, u.String(), ue.Err)
		}
	}
	return err
}
