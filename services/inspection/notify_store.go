package inspection

// The notifications' tables (migration 00011): messages, reads per
// identity, and deliveries per (message, channel, recipient).

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wuxiao/wuxiao/api/notifications"
	"github.com/wuxiao/wuxiao/services/internal/identity"
)

// insertMessageSQL records a message unless one of its event exists
// (messageArgs); a consumer's batch queues it (apply_write.go).
const insertMessageSQL = `INSERT INTO notify_messages (event_id, event_type, kind, title, body, link, roles, town, village, created_at)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10) ON CONFLICT (event_id) DO NOTHING RETURNING id`

func messageArgs(m *Message) []any {
	roles := make([]string, len(m.Roles))
	for i, r := range m.Roles {
		roles[i] = string(r)
	}
	return []any{m.EventID, m.EventType, string(m.Kind), m.Title, m.Body, m.Link, roles, m.Town, m.Village, m.CreatedAt}
}

// insertMessage records m unless a message of its event exists: false then.
func insertMessage(ctx context.Context, q querier, m *Message) (bool, error) {
	err := q.QueryRow(ctx, insertMessageSQL, messageArgs(m)...).Scan(&m.ID)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// inboxScope is whose inbox: the messages of town addressed to role, of
// village when the role is a village role.
type inboxScope struct {
	identityID, town, role, village string
}

func (s *Service) scopeOf(p identity.Principal) inboxScope {
	sc := inboxScope{identityID: p.IdentityID, town: s.Town, role: string(p.Role)}
	if p.Role.IsVillageRole() {
		sc.village = p.Village
	}
	return sc
}

// scopeSQL selects the scope's messages (alias m) for $1..$4 (identity,
// town, role, village).
const scopeSQL = `m.town = $2 AND $3 = ANY (m.roles) AND ($4 = '' OR m.village = $4)`

func (sc inboxScope) args() []any { return []any{sc.identityID, sc.town, sc.role, sc.village} }

// InboxItem is a message as the inbox lists it.
type InboxItem struct {
	ID        string             `json:"id"`
	Kind      notifications.Kind `json:"kind"`
	Title     string             `json:"title"`
	Body      string             `json:"body"`
	Link      string             `json:"link"`
	CreatedAt time.Time          `json:"createdAt"`
	Read      bool               `json:"read"`
}

// listInbox returns the scope's messages newest first, before the id
// before (0: from the newest), unread ones only when unreadOnly, and the
// scope's count of unread messages.
func listInbox(ctx context.Context, q interface {
	querier
	rowsQuerier
}, sc inboxScope, unreadOnly bool, before int64, limit int) ([]InboxItem, int, error) {
	rows, err := q.Query(ctx, `SELECT m.id::text, m.kind, m.title, m.body, m.link, m.created_at, r.message_id IS NOT NULL
		FROM notify_messages m LEFT JOIN notify_reads r ON r.message_id = m.id AND r.identity_id = $1
		WHERE `+scopeSQL+` AND ($5 = 0 OR m.id < $5) AND (NOT $6 OR r.message_id IS NULL)
		ORDER BY m.id DESC LIMIT $7`, append(sc.args(), before, unreadOnly, limit)...)
	if err != nil {
		return nil, 0, err
	}
	items, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (InboxItem, error) {
		var it InboxItem
		err := r.Scan(&it.ID, &it.Kind, &it.Title, &it.Body, &it.Link, &it.CreatedAt, &it.Read)
		return it, err
	})
	if err != nil {
		return nil, 0, err
	}
	var unread int
	err = q.QueryRow(ctx, `SELECT count(*) FROM notify_messages m
		WHERE `+scopeSQL+` AND NOT EXISTS (SELECT 1 FROM notify_reads r WHERE r.message_id = m.id AND r.identity_id = $1)`,
		sc.args()...).Scan(&unread)
	return items, unread, err
}

// markRead marks one of the scope's messages read; ErrNotFound when the
// scope has no such message.
func markRead(ctx context.Context, q querier, sc inboxScope, id int64, now time.Time) error {
	var found bool
	err := q.QueryRow(ctx, `WITH m AS (SELECT m.id FROM notify_messages m WHERE m.id = $5 AND `+scopeSQL+`),
		ins AS (INSERT INTO notify_reads (message_id, identity_id, read_at) SELECT id, $1, $6 FROM m ON CONFLICT DO NOTHING)
		SELECT EXISTS (SELECT 1 FROM m)`, append(sc.args(), id, now)...).Scan(&found)
	if err == nil && !found {
		err = ErrNotFound
	}
	return err
}

// markAllRead marks every message of the scope read.
func markAllRead(ctx context.Context, q execer, sc inboxScope, now time.Time) error {
	_, err := q.Exec(ctx, `INSERT INTO notify_reads (message_id, identity_id, read_at)
		SELECT m.id, $1, $5 FROM notify_messages m WHERE `+scopeSQL+` ON CONFLICT DO NOTHING`, append(sc.args(), now)...)
	return err
}

// undispatched is a message waiting to be fanned out to the channels.
type undispatched struct {
	id    int64
	kind  notifications.Kind
	roles []string
}

// claimUndispatched locks up to limit messages not yet fanned out, skipping
// those another replica holds.
func claimUndispatched(ctx context.Context, tx pgx.Tx, limit int) ([]undispatched, error) {
	rows, err := tx.Query(ctx, `SELECT id, kind, roles FROM notify_messages WHERE dispatched_at IS NULL
		ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED`, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (undispatched, error) {
		var u undispatched
		err := r.Scan(&u.id, &u.kind, &u.roles)
		return u, err
	})
}

// insertDelivery adds a delivery unless the same (message, channel,
// recipient) exists.
func insertDelivery(ctx context.Context, tx pgx.Tx, message int64, ch notifications.Channel, recipient string, now time.Time) error {
	_, err := tx.Exec(ctx, `INSERT INTO notify_deliveries (message_id, channel, channel_type, recipient, next_attempt_at, created_at)
		VALUES ($1,$2,$3,$4,$5,$5) ON CONFLICT (message_id, channel, recipient) DO NOTHING`, message, ch.Name, string(ch.Type), recipient, now)
	return err
}

func markDispatched(ctx context.Context, tx pgx.Tx, ids []int64, now time.Time) error {
	_, err := tx.Exec(ctx, `UPDATE notify_messages SET dispatched_at = $2 WHERE id = ANY ($1)`, ids, now)
	return err
}

// delivery is a pending delivery with its message.
type delivery struct {
	id                 int64
	channel, recipient string
	attempts           int
	message            Message
}

// claimDue locks the oldest pending delivery that is due, skipping those
// another worker holds; nil when none is.
func claimDue(ctx context.Context, tx pgx.Tx, now time.Time) (*delivery, error) {
	var d delivery
	err := tx.QueryRow(ctx, `SELECT d.id, d.channel, d.recipient, d.attempts, m.id, m.event_id, m.kind, m.title, m.body, m.link, m.village, m.created_at
		FROM notify_deliveries d JOIN notify_messages m ON m.id = d.message_id
		WHERE d.state = 'pending' AND d.next_attempt_at <= $1
		ORDER BY d.next_attempt_at, d.id LIMIT 1 FOR UPDATE OF d SKIP LOCKED`, now).
		Scan(&d.id, &d.channel, &d.recipient, &d.attempts, &d.message.ID, &d.message.EventID, &d.message.Kind,
			&d.message.Title, &d.message.Body, &d.message.Link, &d.message.Village, &d.message.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &d, nil
}

func markSent(ctx context.Context, tx pgx.Tx, id int64, attempts int, now time.Time) error {
	_, err := tx.Exec(ctx, `UPDATE notify_deliveries SET state = 'sent', attempts = $2, sent_at = $3, last_error = '' WHERE id = $1`, id, attempts, now)
	return err
}

// markFailed records a failed attempt: retried at next, or dead.
func markFailed(ctx context.Context, tx pgx.Tx, id int64, attempts int, next time.Time, dead bool, cause string) error {
	state := "pending"
	if dead {
		state = "dead"
	}
	_, err := tx.Exec(ctx, `UPDATE notify_deliveries SET state = $2, attempts = $3, next_attempt_at = $4, last_error = $5 WHERE id = $1`,
		id, state, attempts, next, clip(cause, 1000))
	return err
}
