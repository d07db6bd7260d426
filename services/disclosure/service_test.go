package disclosure

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/segmentio/kafka-go"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	"github.com/wuxiao/wuxiao/services/internal/domainerr"
	"github.com/wuxiao/wuxiao/services/internal/events"
	"github.com/wuxiao/wuxiao/services/internal/personal"
	"github.com/wuxiao/wuxiao/services/internal/store"
	"github.com/wuxiao/wuxiao/services/internal/testinfra"
	"github.com/wuxiao/wuxiao/services/internal/tz"
)

const testTown = "xikou"

// serviceNow is the service's clock in these tests.
var serviceNow = time.Date(2026, 3, 15, 10, 0, 0, 0, tz.Shanghai)

// newService opens a Service on a fresh database, as one replica would.
func newService(t testing.TB, town string) *Service {
	t.Helper()
	ctx := context.Background()
	pool, err := store.Open(ctx, testinfra.Postgres(t), "disclosure")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if err := events.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	if err := Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	return &Service{Pool: pool, Town: town, IDHashKey: testKey, Log: slog.New(slog.DiscardHandler),
		Now: func() time.Time { return serviceNow }}
}

// outboxEvents lists the enqueued events' types (without prefix and
// version) and data, in order.
func outboxEvents(t *testing.T, pool *pgxpool.Pool) (types []string, data []eventsv1.LedgerEntry) {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT headers->>'ce_type', payload FROM outbox ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var typ string
		var payload []byte
		if err := rows.Scan(&typ, &payload); err != nil {
			t.Fatal(err)
		}
		var le eventsv1.LedgerEntry
		if err := json.Unmarshal(payload, &le); err != nil {
			t.Fatal(err)
		}
		types = append(types, strings.TrimSuffix(strings.TrimPrefix(typ, "cn.wuxiao.disclosure."), ".v1"))
		data = append(data, le)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return types, data
}

func count(t testing.TB, pool *pgxpool.Pool, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

func wantFieldError(t *testing.T, err error, field string) {
	t.Helper()
	var fe domainerr.FieldErrors
	if !errors.As(err, &fe) || !fe.Has(field) {
		t.Fatalf("got %v, want a refusal naming %s", err, field)
	}
}

func TestServiceRecordReverseSummarize(t *testing.T) {
	ctx := context.Background()
	s := newService(t, testTown)

	income, err := s.RecordEntry(ctx, "finance-1", EntryInput{Village: village, Kind: KindIncome, Category: CategoryContractIncome,
		AmountFen: 1_200_000, Date: "2026-01-10", Description: "鱼塘发包收入", Counterparty: "张三丰"})
	if err != nil {
		t.Fatal(err)
	}
	if income.Seq != 1 || income.Counterparty != personal.MaskName("张三丰") {
		t.Errorf("income entry %+v: want seq 1 and a masked counterparty", income)
	}
	spending, err := s.RecordEntry(ctx, "finance-1", EntryInput{Village: village, Kind: KindSpending, Category: CategoryManagementExpenses,
		AmountFen: 30_000, Date: "2026-02-03", Description: "办公用品"})
	if err != nil {
		t.Fatal(err)
	}
	if spending.Seq != 2 {
		t.Errorf("spending seq %d, want 2", spending.Seq)
	}
	// Another village numbers its own entries.
	other, err := s.RecordEntry(ctx, "finance-1", EntryInput{Village: otherVillage, Kind: KindIncome, Category: CategoryOtherIncome,
		AmountFen: 500, Date: "2026-02-03", Description: "其他"})
	if err != nil || other.Seq != 1 {
		t.Fatalf("other village: %+v, %v", other, err)
	}

	reversal, err := s.ReverseEntry(ctx, spending.ID, "重复记账", "finance-2")
	if err != nil {
		t.Fatal(err)
	}
	if reversal.Seq != 3 || reversal.Reverses != spending.ID || reversal.Date != spending.Date || reversal.Reason != "重复记账" {
		t.Errorf("reversal %+v", reversal)
	}
	_, err = s.ReverseEntry(ctx, spending.ID, "again", "finance-2")
	wantFieldError(t, err, "reverses")
	_, err = s.ReverseEntry(ctx, reversal.ID, "reversing a reversal", "finance-2")
	wantFieldError(t, err, "reverses")
	if _, err := s.ReverseEntry(ctx, uuid.NewString(), "no such entry", "finance-2"); !errors.Is(err, ErrNotFound) {
		t.Errorf("reversing a missing entry: %v, want ErrNotFound", err)
	}
	if _, err := s.ReverseEntry(ctx, "not-a-uuid", "no such entry", "finance-2"); !errors.Is(err, ErrNotFound) {
		t.Errorf("reversing a malformed id: %v, want ErrNotFound", err)
	}
	// Invalid input comes back as the domain's field errors, and stores nothing.
	_, err = s.RecordEntry(ctx, "finance-1", EntryInput{Village: village, Kind: KindIncome, Category: CategoryManagementExpenses,
		AmountFen: -5, Date: "2026-02-30", Description: ""})
	wantFieldError(t, err, "amountFen")
	_, err = s.RecordEntry(ctx, "finance-1", EntryInput{Village: "33", Kind: KindIncome, Category: CategoryOtherIncome,
		AmountFen: 5, Date: "2026-02-01", Description: "x"})
	wantFieldError(t, err, "village")

	entries, err := s.Entries(ctx, village, 2026)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 3 {
		t.Fatalf("%d entries, want 3 (both the original and its reversal stay)", len(entries))
	}
	if got := entries[1]; got.ID != spending.ID || got.AmountFen != 30_000 || got.RecordedBy != "finance-1" || !got.RecordedAt.Equal(serviceNow) {
		t.Errorf("stored spending %+v, want %+v", got, spending)
	}
	if none, err := s.Entries(ctx, village, 2025); err != nil || len(none) != 0 {
		t.Errorf("2025: %v, %v", none, err)
	}

	sum, err := s.Summary(ctx, village, 2026)
	if err != nil {
		t.Fatal(err)
	}
	if sum.IncomeFen != 1_200_000 || sum.SpendingFen != 0 || sum.BalanceFen != 1_200_000 || sum.Months[1].SpendingFen != 0 {
		t.Errorf("summary income %d spending %d balance %d (Feb spending %d): the reversal must net out the spending",
			sum.IncomeFen, sum.SpendingFen, sum.BalanceFen, sum.Months[1].SpendingFen)
	}
	if len(sum.Lines) != 3 || !sum.Lines[1].Reversed || sum.Lines[1].ReversedBySeq != 3 || sum.Lines[2].ReversesSeq != 2 {
		t.Errorf("summary lines %+v", sum.Lines)
	}

	types, data := outboxEvents(t, s.Pool)
	if want := []string{"entry.published", "entry.published", "entry.published", "entry.corrected"}; !slices.Equal(types, want) {
		t.Errorf("outbox %v, want %v", types, want)
	}
	if len(data) == 4 && (data[3].EntryID != reversal.ID || data[3].Reverses != spending.ID || data[3].Seq != 3 || data[3].Reason != "重复记账") {
		t.Errorf("corrected event data %+v", data[3])
	}

	// The table refuses changes behind the service's back.
	for _, sql := range []string{
		`UPDATE ledger_entries SET amount_fen = 1 WHERE id = $1`,
		`DELETE FROM ledger_entries WHERE id = $1`,
	} {
		if _, err := s.Pool.Exec(ctx, sql, spending.ID); err == nil || !strings.Contains(err.Error(), "immutable") {
			t.Errorf("%s: accepted (%v)", sql, err)
		}
	}
	if n := count(t, s.Pool, `SELECT count(*) FROM ledger_entries WHERE id = $1 AND amount_fen = 30000`, spending.ID); n != 1 {
		t.Errorf("the entry changed")
	}
}

func TestServiceConcurrentEntriesAreNumberedWithoutGaps(t *testing.T) {
	ctx := context.Background()
	s := newService(t, testTown)
	const n = 10
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = s.RecordEntry(ctx, fmt.Sprintf("finance-%d", i), EntryInput{Village: village, Kind: KindSpending,
				Category: CategoryOtherExpenses, AmountFen: int64(100 * (i + 1)), Date: "2026-03-01", Description: fmt.Sprintf("支出 %d", i)})
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	entries, err := s.Entries(ctx, village, 2026)
	if err != nil {
		t.Fatal(err)
	}
	var seqs []int64
	var total int64
	for _, e := range entries {
		seqs = append(seqs, e.Seq)
		total += e.AmountFen
	}
	if want := []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}; !slices.Equal(seqs, want) {
		t.Errorf("seqs %v, want %v", seqs, want)
	}
	if total != 5500 {
		t.Errorf("total %d, want 5500", total)
	}
	if types, _ := outboxEvents(t, s.Pool); len(types) != n {
		t.Errorf("%d events enqueued, want %d", len(types), n)
	}
}

func TestServicePayments(t *testing.T) {
	ctx := context.Background()
	s := newService(t, testTown)
	p, err := s.RecordPayment(ctx, "finance-1", PaymentRequest{Village: village, Programme: "耕地地力保护补贴",
		HouseholdName: "张三", IDNumber: idZhang, AmountFen: 12_345, PaidOn: "2026-03-01"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.RecordPayment(ctx, "finance-1", PaymentRequest{Village: village, Programme: "耕地地力保护补贴",
		HouseholdName: "欧阳修", IDNumber: idOuyang, AmountFen: 500, PaidOn: "2026-03-02"}); err != nil {
		t.Fatal(err)
	}
	_, err = s.RecordPayment(ctx, "finance-1", PaymentRequest{Village: village, Programme: "x", HouseholdName: "李四",
		IDNumber: "330283199001011239", AmountFen: 1, PaidOn: "2026-03-01"})
	wantFieldError(t, err, "idNumber")

	// The full ID number is nowhere in the table.
	if n := count(t, s.Pool, `SELECT count(*) FROM subsidy_payments WHERE row_to_json(subsidy_payments)::text LIKE '%' || $1 || '%'`, idZhang); n != 0 {
		t.Errorf("a row holds the full ID number")
	}
	if _, err := s.Pool.Exec(ctx, `UPDATE subsidy_payments SET amount_fen = 1 WHERE id = $1`, p.ID); err == nil || !strings.Contains(err.Error(), "immutable") {
		t.Errorf("UPDATE accepted (%v)", err)
	}

	code := LookupCode(s.IDHashKey, village, p.IDHash)
	own, err := s.LookupOwn(ctx, village, idZhang, "张三", code)
	if err != nil || len(own) != 1 || own[0].ID != p.ID {
		t.Fatalf("own payments %+v, %v", own, err)
	}
	if wrong, err := s.LookupOwn(ctx, village, idZhang, "张四", code); err != nil || len(wrong) != 0 {
		t.Errorf("a wrong name found %+v (%v)", wrong, err)
	}

	r, err := s.ReversePayment(ctx, p.ID, "重复发放", "finance-2")
	if err != nil || r.Reverses != p.ID {
		t.Fatalf("reversal %+v, %v", r, err)
	}
	_, err = s.ReversePayment(ctx, p.ID, "again", "finance-2")
	wantFieldError(t, err, "reverses")
	if wrong, err := s.LookupOwn(ctx, village, idZhang, "张三", ""); err != nil || len(wrong) != 0 {
		t.Errorf("a lookup without the code found %+v (%v)", wrong, err)
	}
	own, err = s.LookupOwn(ctx, village, idZhang, "张三", code)
	if err != nil || len(own) != 2 {
		t.Fatalf("own payments after reversal %+v, %v", own, err)
	}
	ps, err := s.Payments(ctx, village)
	if err != nil || len(ps) != 3 {
		t.Fatalf("payments %d, %v", len(ps), err)
	}
}

// TestServiceConsumesWorkflowEvents runs the real consumer on the town's
// workflow topic: a completed expenditure is booked once, however often it
// is delivered and under whatever event id.
func TestServiceConsumesWorkflowEvents(t *testing.T) {
	ctx := context.Background()
	town := testinfra.UniqueName("t")
	s := newService(t, town)
	brokers := testinfra.KafkaBrokers(t)
	topic := eventsv1.Topic(town, eventsv1.StreamWorkflow)
	testinfra.CreateTopics(t, brokers, 1, topic, eventsv1.DeadLetterTopic(topic))

	instanceID := uuid.NewString()
	tracking := village + "-20260314-K7QZP"
	completed := eventsv1.InstanceCompleted{
		InstanceRef: eventsv1.InstanceRef{InstanceID: instanceID, TrackingNumber: tracking, ItemID: "funds-expenditure",
			ItemName: "村级资金支出", Category: "funds", CatalogVersion: "2026.1"},
		Title: "购买保洁工具", AmountFen: 88_000, PayeeName: "王五", CompletedAt: time.Date(2026, 3, 14, 16, 0, 0, 0, tz.Shanghai),
	}
	data, err := json.Marshal(completed)
	if err != nil {
		t.Fatal(err)
	}
	event := func(id, typ string, data []byte) eventsv1.Event {
		return eventsv1.Event{ID: id, Source: "/towns/" + town + "/workflow", Type: typ, Subject: tracking,
			Time: completed.CompletedAt.UTC(), Town: town, Village: village, Data: data}
	}
	first, redelivered := event(uuid.NewString(), eventsv1.TypeInstanceCompleted, data), uuid.NewString()
	started, _ := json.Marshal(eventsv1.InstanceStarted{InstanceRef: completed.InstanceRef, Title: completed.Title})
	last := event(uuid.NewString(), eventsv1.TypeInstanceStarted, started) // ignored; marks the end
	var msgs []kafka.Message
	for _, ev := range []eventsv1.Event{first, first, event(redelivered, eventsv1.TypeInstanceCompleted, data), last} {
		m, err := events.Encode(ctx, topic, ev)
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, m)
	}
	tr := &kafka.Transport{}
	w := &kafka.Writer{Addr: kafka.TCP(brokers...), Transport: tr, Balancer: &kafka.Murmur2Balancer{},
		RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond}
	defer tr.CloseIdleConnections()
	defer w.Close()
	for _, m := range msgs { // in this order on the one partition
		if err := w.WriteMessages(ctx, m); err != nil {
			t.Fatal(err)
		}
	}

	group := testinfra.UniqueName("disclosure-")
	c := events.NewConsumer(s.Pool, brokers, group, []string{topic}, s.HandleWorkflowEvent, events.ConsumerOptions{MaxWait: time.Second})
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- c.Run(runCtx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("consumer: %v", err)
		}
	}()

	// The deadline only keeps a broken test from hanging; nothing here
	// asserts speed.
	deadline := time.Now().Add(4 * time.Minute)
	for count(t, s.Pool, `SELECT count(*) FROM inbox WHERE consumer = $1 AND event_id = $2`, group, last.ID) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the consumer did not reach the last event; inbox holds %d rows", count(t, s.Pool, `SELECT count(*) FROM inbox`))
		}
		time.Sleep(50 * time.Millisecond)
	}

	if n := count(t, s.Pool, `SELECT count(*) FROM inbox WHERE consumer = $1 AND outcome = 'applied'`, group); n != 3 {
		t.Errorf("inbox holds %d applied events, want 3 (the duplicate ce_id skipped)", n)
	}
	if n := count(t, s.Pool, `SELECT count(*) FROM inbox WHERE consumer = $1 AND outcome <> 'applied'`, group); n != 0 {
		t.Errorf("%d events dead-lettered, want none: a redelivery under a new ce_id is a no-op, not an error", n)
	}
	entries, err := s.Entries(ctx, village, 2026)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Fatalf("%d ledger entries, want exactly 1: %+v", len(entries), entries)
	}
	e := entries[0]
	if e.TrackingNumber != tracking || e.InstanceID != instanceID || e.Seq != 1 || e.Kind != KindSpending ||
		e.Category != CategoryOtherExpenses || e.AmountFen != 88_000 || e.Date != "2026-03-14" ||
		e.Counterparty != personal.MaskName("王五") || e.RecordedBy != WorkflowRecorder {
		t.Errorf("entry %+v", e)
	}
	types, evData := outboxEvents(t, s.Pool)
	if !slices.Equal(types, []string{"entry.published"}) {
		t.Fatalf("outbox %v, want one entry.published", types)
	}
	if evData[0].EntryID != e.ID || evData[0].TrackingNumber != tracking || evData[0].Village != village {
		t.Errorf("published data %+v", evData[0])
	}
	if n := count(t, s.Pool, `SELECT count(*) FROM outbox WHERE topic = $1`, eventsv1.Topic(town, eventsv1.StreamDisclosure)); n != 1 {
		t.Errorf("%d events on the disclosure topic, want 1", n)
	}
}

func TestHandleWorkflowEventIgnoresAndRefuses(t *testing.T) {
	ctx := context.Background()
	s := newService(t, testTown)
	apply := func(ev eventsv1.Event) error {
		tx, err := s.Pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = tx.Rollback(ctx) }()
		if err := s.HandleWorkflowEvent(ctx, tx, ev); err != nil {
			return err
		}
		return tx.Commit(ctx)
	}
	mk := func(itemID string, fen int64, town string) eventsv1.Event {
		data, _ := json.Marshal(eventsv1.InstanceCompleted{InstanceRef: eventsv1.InstanceRef{InstanceID: uuid.NewString(),
			TrackingNumber: village + "-20260314-AAAAA", ItemID: itemID, Category: "funds"}, Title: "t", AmountFen: fen,
			CompletedAt: serviceNow})
		return eventsv1.Event{ID: uuid.NewString(), Source: "/towns/" + town + "/workflow", Type: eventsv1.TypeInstanceCompleted,
			Time: serviceNow, Town: town, Village: village, Data: data}
	}
	for _, ev := range []eventsv1.Event{
		mk("funds-borrowing", 5000, testTown),                                           // not booked
		mk("funds-expenditure", 0, testTown),                                            // no amount
		{ID: "x", Type: eventsv1.TypeWarningRaised, Town: testTown, Data: []byte(`{}`)}, // another type
	} {
		if err := apply(ev); err != nil {
			t.Errorf("%s: %v", ev.Type, err)
		}
	}
	if n := count(t, s.Pool, `SELECT count(*) FROM ledger_entries`); n != 0 {
		t.Errorf("%d entries booked, want 0", n)
	}
	if err := apply(mk("funds-expenditure", 5000, "jinping")); err == nil {
		t.Errorf("an event of another town was accepted: %v", err)
	}
	bad := mk("funds-expenditure", 5000, testTown)
	bad.Data = []byte(`{"amountFen": "many"}`)
	if err := apply(bad); err == nil {
		t.Errorf("undecodable data accepted")
	}
}
