// Package notifications is the contract between the operator, which renders
// a District's notification channels (spec.notifications) into one file per
// town, and the inspection service, which turns the district's supervision
// events into messages and delivers them through those channels.
//
// The file is JSON (Channels), mounted read-only into the inspection pods
// from a Secret (it carries SMTP passwords and robot tokens); the service
// reads its path from WUXIAO_NOTIFY_CHANNELS_FILE and reloads it when it
// changes. No file, or an empty list, means messages go only to the
// console inbox.
package notifications

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"regexp"
	"slices"
	"strconv"
)

// EnvChannelsFile names the environment variable carrying the file's path.
const EnvChannelsFile = "WUXIAO_NOTIFY_CHANNELS_FILE"

// SecretKey is the key of the rendered file in the per-town Secret.
const SecretKey = "channels.json"

// Kind is what a message is about. Channels may subscribe to some kinds.
type Kind string

// The message kinds.
const (
	// KindTask: a step is waiting for the recipient's role.
	KindTask Kind = "task"
	// KindReminder: a step's deadline is near.
	KindReminder Kind = "reminder"
	// KindOverdue: a step passed its deadline.
	KindOverdue Kind = "overdue"
	// KindEscalation: a complaint, notice or order was escalated.
	KindEscalation Kind = "escalation"
	// KindNotice: a notice was drafted (for discipline) or issued (for the village).
	KindNotice Kind = "notice"
	// KindOrder: a rectification order was issued or answered.
	KindOrder Kind = "order"
)

// Kinds lists every kind, in a stable order.
var Kinds = []Kind{KindTask, KindReminder, KindOverdue, KindEscalation, KindNotice, KindOrder}

// ChannelType is how a channel delivers.
type ChannelType string

// The channel types.
const (
	// TypeEmail sends e-mail over SMTP to fixed addresses (office mailboxes).
	TypeEmail ChannelType = "email"
	// TypeDingTalk posts to a webhook in the JSON shape of DingTalk (钉钉)
	// custom robot messages ({"msgtype":"markdown","markdown":{...}}).
	TypeDingTalk ChannelType = "dingtalk"
)

// Channels is the whole file.
type Channels struct {
	Channels []Channel `json:"channels"`
}

// Channel is one outbound route. A message goes through a channel when its
// kind is among Kinds (all kinds when empty) and one of its audience roles
// is among Roles (all roles when empty).
type Channel struct {
	// Name identifies the channel in delivery records and metrics.
	Name string      `json:"name"`
	Type ChannelType `json:"type"`
	// Roles filters by the roles a message is addressed to (api/identity roles).
	Roles []string `json:"roles,omitempty"`
	Kinds []Kind   `json:"kinds,omitempty"`

	Email    *EmailChannel    `json:"email,omitempty"`
	DingTalk *DingTalkChannel `json:"dingtalk,omitempty"`
}

// EmailChannel is an SMTP relay and the addresses it sends to; each
// address is one recipient (delivered once).
type EmailChannel struct {
	// SMTPAddr is host:port of the relay.
	SMTPAddr string `json:"smtpAddr"`
	From     string `json:"from"`
	// Username and Password authenticate (PLAIN) when set.
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`
	// StartTLS requires STARTTLS before authenticating or sending.
	StartTLS   bool     `json:"startTLS,omitempty"`
	Recipients []string `json:"recipients"`
}

// DingTalkChannel is one robot webhook; the webhook is the one recipient.
type DingTalkChannel struct {
	URL string `json:"url"`
	// Secret signs each request (timestamp and sign query parameters, as
	// DingTalk's "加签" robots expect) when set.
	Secret string `json:"secret,omitempty"`
}

var namePattern = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// Parse reads and validates the file's bytes.
func Parse(b []byte) (Channels, error) {
	var c Channels
	if err := json.Unmarshal(b, &c); err != nil {
		return Channels{}, fmt.Errorf("notification channels: %w", err)
	}
	return c, c.Validate()
}

// Validate reports every problem, each naming the channel.
func (c Channels) Validate() error {
	var errs []error
	seen := map[string]bool{}
	for i, ch := range c.Channels {
		where := fmt.Sprintf("channels[%d] %q", i, ch.Name)
		bad := func(format string, a ...any) {
			errs = append(errs, fmt.Errorf("%s: %s", where, fmt.Sprintf(format, a...)))
		}
		if len(ch.Name) > 63 || !namePattern.MatchString(ch.Name) {
			bad("name must be lower-case letters, digits and dashes (at most 63)")
		}
		if seen[ch.Name] {
			bad("name is used twice")
		}
		seen[ch.Name] = true
		for _, k := range ch.Kinds {
			if !slices.Contains(Kinds, k) {
				bad("unknown kind %q (one of %v)", k, Kinds)
			}
		}
		switch ch.Type {
		case TypeEmail:
			if ch.Email == nil || ch.DingTalk != nil {
				bad("type email needs email settings and no dingtalk settings")
				continue
			}
			if host, port, err := net.SplitHostPort(ch.Email.SMTPAddr); err != nil || host == "" {
				bad("smtpAddr %q is not host:port", ch.Email.SMTPAddr)
			} else if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
				bad("smtpAddr %q has no valid port", ch.Email.SMTPAddr)
			}
			if _, err := mail.ParseAddress(ch.Email.From); err != nil {
				bad("from %q is not an e-mail address", ch.Email.From)
			}
			if len(ch.Email.Recipients) == 0 {
				bad("no recipients")
			}
			for _, r := range ch.Email.Recipients {
				if _, err := mail.ParseAddress(r); err != nil {
					bad("recipient %q is not an e-mail address", r)
				}
			}
		case TypeDingTalk:
			if ch.DingTalk == nil || ch.Email != nil {
				bad("type dingtalk needs dingtalk settings and no email settings")
				continue
			}
			u, err := url.Parse(ch.DingTalk.URL)
			if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
				bad("url %q is not an http(s) URL", ch.DingTalk.URL)
			}
		default:
			bad("type %q is not email or dingtalk", ch.Type)
		}
	}
	return errors.Join(errs...)
}

// Wants reports whether the channel takes a message of kind addressed to
// roles.
func (ch Channel) Wants(kind Kind, roles []string) bool {
	if len(ch.Kinds) > 0 && !slices.Contains(ch.Kinds, kind) {
		return false
	}
	if len(ch.Roles) == 0 {
		return true
	}
	for _, r := range roles {
		if slices.Contains(ch.Roles, r) {
			return true
		}
	}
	return false
}
