package inspection

// Where applying a fact writes (the change of grade, its notice, their
// events and messages: recordChange): straight into the transaction, one
// statement at a time (ApplyFact), or queued in a pgx.Batch that goes to
// PostgreSQL with the other writes of a consumer's batch in one round trip
// (apply_batch.go). One code path writes both ways, so both write the same
// rows in the same order.

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	"github.com/wuxiao/wuxiao/services/internal/events"
)

// applyWriter takes the writes of applying a fact.
type applyWriter interface {
	execer  // a statement whose result is not read
	querier // a read, which sees every write before it
	// enqueue adds ev to the outbox (events.Enqueue).
	enqueue(ctx context.Context, topic string, ev eventsv1.Event) error
	// notify records ev's message, if it concerns people
	// (HandleNotifyEvent).
	notify(ctx context.Context, ev eventsv1.Event) error
}

// publishTo enqueues an event of the service's stream through w, with its
// message.
func (s *Service) publishTo(ctx context.Context, w applyWriter, id, typ, village, subject string, data any) error {
	raw, err := json.Marshal(data)
	if err != nil {
		return err
	}
	ev := eventsv1.Event{
		ID: id, Source: "/towns/" + s.Town + "/inspection", Type: typ, Subject: subject,
		Time: s.now().UTC(), Town: s.Town, Village: village, Data: raw,
	}
	if err := w.enqueue(ctx, s.topic(), ev); err != nil {
		return err
	}
	return w.notify(ctx, ev) // its message, if it concerns people (notify.go)
}

// txWriter writes into tx at once.
type txWriter struct {
	s  *Service
	tx pgx.Tx
}

func (w txWriter) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	return w.tx.Exec(ctx, sql, args...)
}

func (w txWriter) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	return w.tx.QueryRow(ctx, sql, args...)
}

func (w txWriter) enqueue(ctx context.Context, topic string, ev eventsv1.Event) error {
	return events.Enqueue(ctx, w.tx, topic, ev)
}

func (w txWriter) notify(ctx context.Context, ev eventsv1.Event) error {
	return w.s.HandleNotifyEvent(ctx, w.tx, ev)
}

// batchWriter queues writes in a pgx.Batch, sent to tx by flush, and
// before any read it cannot answer itself: the statements run in the
// order they were made, as with txWriter. Village names it answers from
// names, read by the batch after locking its villages (nothing in the
// consumer's transaction writes them).
type batchWriter struct {
	s     *Service
	tx    pgx.Tx
	b     *pgx.Batch
	names map[string]string // code → name as villageNameSQL reads it ("" for none)
}

func (w *batchWriter) Exec(_ context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	w.b.Queue(sql, args...)
	return pgconn.CommandTag{}, nil
}

func (w *batchWriter) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	if sql == villageNameSQL && len(args) == 2 && args[1] == w.s.Town {
		if code, ok := args[0].(string); ok {
			if name, ok := w.names[code]; ok {
				return nameRow(name)
			}
		}
	}
	if err := w.flush(ctx); err != nil {
		return errRow{err}
	}
	return w.tx.QueryRow(ctx, sql, args...)
}

func (w *batchWriter) enqueue(ctx context.Context, topic string, ev eventsv1.Event) error {
	return events.QueueEnqueue(ctx, w.b, topic, ev)
}

// notify is HandleNotifyEvent with the message's insert queued.
func (w *batchWriter) notify(ctx context.Context, ev eventsv1.Event) error {
	if ev.Town != w.s.Town {
		return nil
	}
	m, err := w.s.messageFor(ctx, w, ev)
	if err != nil || m == nil {
		return err
	}
	w.b.Queue(insertMessageSQL, messageArgs(m)...)
	return nil
}

// flush sends what is queued, in one round trip.
func (w *batchWriter) flush(ctx context.Context) error {
	if w.b.Len() == 0 {
		return nil
	}
	b := w.b
	w.b = &pgx.Batch{}
	return w.tx.SendBatch(ctx, b).Close()
}

// nameRow is a village's name read before (batchWriter.QueryRow).
type nameRow string

func (r nameRow) Scan(dest ...any) error {
	if len(dest) != 1 {
		return fmt.Errorf("a village's name scanned into %d values", len(dest))
	}
	p, ok := dest[0].(*string)
	if !ok {
		return fmt.Errorf("a village's name scanned into %T", dest[0])
	}
	*p = string(r)
	return nil
}

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }
