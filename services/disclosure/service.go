package disclosure

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/wuxiao/wuxiao/api/divcode"
	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
	"github.com/wuxiao/wuxiao/services/internal/domainerr"
	"github.com/wuxiao/wuxiao/services/internal/events"
	"github.com/wuxiao/wuxiao/services/internal/httpapi"
	"github.com/wuxiao/wuxiao/services/internal/personal"
	"github.com/wuxiao/wuxiao/services/internal/store"
)

// Service keeps the town's village ledgers ("Our Wallet") and subsidy
// payments. Every write is one transaction that locks the village's row,
// reads what the domain rule needs, stores the domain's result and enqueues
// its event, so that entries are numbered without gaps and no change is
// ever separated from its announcement.
type Service struct {
	Pool *pgxpool.Pool
	Town string
	// IDHashKey keys the hash of households' ID numbers (see HashID).
	IDHashKey []byte
	Log       *slog.Logger
	Now       func() time.Time

	// TownCode is the town's 12-digit division code: the portal knows every
	// village code under it (its first 9 digits), even before anything is
	// published for the village. Empty: only villages with records.
	TownCode string
	// Catalog is the town's power list (权力清单) the portal shows; nil
	// shows an empty list.
	Catalog *wuxiaov1.ResolvedCatalog
	// PortalBaseURL is the public address the villages' QR codes point to
	// (<PortalBaseURL>/v/<village>); empty uses the request's host.
	PortalBaseURL string
	// LookupLimits bound the own-payments lookup per client and per
	// village (see lookup_limit.go); zero values are the defaults.
	LookupLimits LookupLimits

	portalOnce sync.Once
	portal     *portalState
	limitOnce  sync.Once
	limiter    *lookupLimiter
}

// allowLookup spends a lookup attempt of r's client (httpapi.ClientIP, an
// IPv6 address counted as its /64), of village and of the household whose
// ID number was typed, or says how long to wait.
func (s *Service) allowLookup(r *http.Request, village, idNumber string) (bool, time.Duration) {
	s.limitOnce.Do(func() { s.limiter = newLookupLimiter(s.LookupLimits) })
	household := ""
	if personal.ValidIDNumber(idNumber) {
		// Keyed hash: the limiter's memory holds no ID number.
		household = village + "/" + personal.HashID(s.IDHashKey, idNumber)
	}
	return s.limiter.allow(httpapi.ClientRateKey(r), village, household, s.now())
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Service) topic() string { return eventsv1.Topic(s.Town, eventsv1.StreamDisclosure) }

// EntryInput is what town finance staff enter for a wallet entry.
type EntryInput struct {
	Village     string   `json:"village"`
	Kind        Kind     `json:"kind"`
	Category    Category `json:"category"`
	AmountFen   int64    `json:"amountFen"`
	Date        string   `json:"date"`
	Description string   `json:"description"`
	// Counterparty is masked here if it is a person's name.
	Counterparty   string `json:"counterparty,omitempty"`
	InstanceID     string `json:"instanceId,omitempty"`
	TrackingNumber string `json:"trackingNumber,omitempty"`
}

// RecordEntry appends an entry to its village's wallet; the domain's
// FieldErrors come back unchanged.
func (s *Service) RecordEntry(ctx context.Context, recordedBy string, in EntryInput) (Entry, error) {
	e := Entry{
		ID: uuid.NewString(), Village: in.Village, Kind: in.Kind, Category: in.Category, AmountFen: in.AmountFen,
		Date: in.Date, Description: strings.TrimSpace(in.Description), Counterparty: MaskCounterparty(strings.TrimSpace(in.Counterparty)),
		InstanceID: in.InstanceID, TrackingNumber: in.TrackingNumber, RecordedBy: recordedBy, RecordedAt: s.now(),
	}
	if !divcode.Valid(e.Village) {
		// Refused before a village row is created for it.
		_, err := Append(nil, e)
		return Entry{}, err
	}
	var stored Entry
	err := store.InTx(ctx, s.Pool, func(tx pgx.Tx) error {
		var err error
		stored, _, err = s.append(ctx, tx, e, s.Town)
		return err
	})
	return stored, fmtErr("recording entry", err)
}

// ReverseEntry records the reversal (冲销) of entry id with a mandatory
// reason; the original stays, flagged. Reversing twice is refused.
func (s *Service) ReverseEntry(ctx context.Context, id, reason, by string) (Entry, error) {
	var stored Entry
	err := store.InTx(ctx, s.Pool, func(tx pgx.Tx) error {
		orig, err := loadEntry(ctx, tx, id)
		if err != nil {
			return err
		}
		r, err := Reverse(orig, reason, by, s.now())
		if err != nil {
			return err
		}
		stored, _, err = s.append(ctx, tx, r, s.Town)
		return err
	})
	return stored, fmtErr("reversing entry", err)
}

// append numbers e under its village's lock, stores it and enqueues its
// event. An entry whose id is stored already (a redelivered workflow event)
// is left alone: inserted is false and nothing is enqueued.
func (s *Service) append(ctx context.Context, tx pgx.Tx, e Entry, town string) (stored Entry, inserted bool, err error) {
	if err := lockVillage(ctx, tx, e.Village, town); err != nil {
		return Entry{}, false, err
	}
	existing, err := villageEntries(ctx, tx, e.Village)
	if err != nil {
		return Entry{}, false, err
	}
	// A reversal's derived id already stored means "reversed twice": the
	// domain refuses it below. Any other id already stored is a redelivery.
	if i := slices.IndexFunc(existing, func(x Entry) bool { return x.ID == e.ID }); i >= 0 && !e.IsReversal() {
		return existing[i], false, nil
	}
	stored, err = Append(existing, e)
	if err != nil {
		return Entry{}, false, err
	}
	// ON CONFLICT (id) DO NOTHING: the id stored under another village
	// (which the lock above does not cover) is a redelivery too.
	if inserted, err = insertEntry(ctx, tx, stored); err != nil || !inserted {
		return stored, inserted, err
	}
	if err := touchVillage(ctx, tx, stored.Village); err != nil {
		return Entry{}, false, err
	}
	typ, data := eventsv1.TypeEntryPublished, any(eventsv1.EntryPublished{LedgerEntry: publicEntry(stored)})
	if stored.IsReversal() {
		typ, data = eventsv1.TypeEntryCorrected, eventsv1.EntryCorrected{LedgerEntry: publicEntry(stored)}
	}
	return stored, true, s.publish(ctx, tx, town, stored.Village, stored.ID, typ, data)
}

func publicEntry(e Entry) eventsv1.LedgerEntry {
	return eventsv1.LedgerEntry{EntryID: e.ID, Village: e.Village, Seq: e.Seq, Kind: string(e.Kind), Category: string(e.Category),
		AmountFen: e.AmountFen, Date: e.Date, TrackingNumber: e.TrackingNumber, Reverses: e.Reverses, Reason: e.Reason}
}

func (s *Service) publish(ctx context.Context, tx pgx.Tx, town, village, subject, typ string, data any) error {
	raw, err := json.Marshal(data)
	if err != nil {
		return err
	}
	return events.Enqueue(ctx, tx, s.topic(), eventsv1.Event{
		ID: uuid.NewString(), Source: "/towns/" + s.Town + "/disclosure", Type: typ, Subject: subject,
		Time: s.now().UTC(), Town: town, Village: village, Data: raw,
	})
}

// HandleWorkflowEvent is the consumer handler of the town's workflow
// stream, in the consumer's transaction. Every process event of a village
// updates the 流程到哪了 projection (see projectProcess); a completed process
// that moves money also becomes a wallet entry (see FromInstanceCompleted)
// whose id is derived from the instance, so the same completion delivered
// again, even under another event id, adds nothing and publishes nothing.
// Other event types are ignored; an event that can never be applied
// (another town's, undecodable, refused by the domain) is a Permanent error.
func (s *Service) HandleWorkflowEvent(ctx context.Context, tx pgx.Tx, ev eventsv1.Event) error {
	if !projectedTypes[ev.Type] && !postingTypes[ev.Type] && !applicationTypes[ev.Type] {
		return nil
	}
	if s.Town != "" && ev.Town != s.Town {
		return events.Permanent(fmt.Errorf("event %s is about town %q, not %q", ev.ID, ev.Town, s.Town))
	}
	if postingTypes[ev.Type] {
		return s.projectPosting(ctx, tx, ev) // the notice board, postings.go
	}
	if applicationTypes[ev.Type] {
		return s.projectApplication(ctx, tx, ev) // 办理进度, applications.go
	}
	if err := s.projectProcess(ctx, tx, ev); err != nil {
		return err
	}
	if ev.Type != eventsv1.TypeInstanceCompleted {
		return nil
	}
	var data eventsv1.InstanceCompleted
	if err := ev.Decode(&data); err != nil {
		return events.Permanent(err)
	}
	e, booked := FromInstanceCompleted(data, ev.Village)
	if !booked {
		return nil
	}
	if !divcode.Valid(e.Village) {
		return events.Permanent(fmt.Errorf("event %s: village %q is not a 12-digit code", ev.ID, ev.Village))
	}
	_, _, err := s.append(ctx, tx, e, ev.Town)
	var invalid domainerr.FieldErrors
	if errors.As(err, &invalid) {
		return events.Permanent(fmt.Errorf("event %s: %w", ev.ID, err))
	}
	return err
}

// Entries lists a village's entries dated in year, in seq order.
func (s *Service) Entries(ctx context.Context, village string, year int) ([]Entry, error) {
	es, err := yearEntries(ctx, s.Pool, village, year)
	return es, fmtErr("reading entries", err)
}

// Summary is a village's wallet for year (see Summarize).
func (s *Service) Summary(ctx context.Context, village string, year int) (Summary, error) {
	es, err := s.Entries(ctx, village, year)
	if err != nil {
		return Summary{}, err
	}
	return Summarize(es, year), nil
}

// PaymentRequest is what town finance staff enter for a subsidy payment.
// IDNumber is hashed and masked at once and never stored.
type PaymentRequest struct {
	Village       string `json:"village"`
	Programme     string `json:"programme"`
	HouseholdName string `json:"householdName"`
	IDNumber      string `json:"idNumber"`
	AmountFen     int64  `json:"amountFen"`
	PaidOn        string `json:"paidOn"`
}

// RecordPayment stores a subsidy payment under its village's lock.
func (s *Service) RecordPayment(ctx context.Context, recordedBy string, req PaymentRequest) (Payment, error) {
	p, err := NewPayment(s.IDHashKey, PaymentInput{ID: uuid.NewString(), Village: req.Village, Programme: req.Programme,
		HouseholdName: req.HouseholdName, IDNumber: req.IDNumber, AmountFen: req.AmountFen, PaidOn: req.PaidOn,
		RecordedBy: recordedBy, RecordedAt: s.now()})
	if err != nil {
		return Payment{}, err
	}
	if !divcode.Valid(p.Village) {
		return Payment{}, ValidatePayment(p, nil)
	}
	err = store.InTx(ctx, s.Pool, func(tx pgx.Tx) error {
		if err := s.storePayment(ctx, tx, p); err != nil {
			return err
		}
		return s.publishPayment(ctx, tx, p)
	})
	if err != nil {
		return Payment{}, fmtErr("recording payment", err)
	}
	return p, nil
}

// publishPayment announces a new payment to the inspection service's
// cross-checks, in the transaction that stores it. The event carries the
// masked name and the keyed ID hash only; its id is derived from the
// payment's, so the announcement of one payment is one event wherever it is
// replayed from.
func (s *Service) publishPayment(ctx context.Context, tx pgx.Tx, p Payment) error {
	raw, err := json.Marshal(eventsv1.PaymentRecorded{PaymentID: p.ID, Village: p.Village, Programme: p.Programme,
		PayeeNameMasked: personal.MaskName(p.HouseholdName), PayeeIDHash: p.IDHash, AmountFen: p.AmountFen, Date: p.PaidOn})
	if err != nil {
		return err
	}
	return events.Enqueue(ctx, tx, s.topic(), eventsv1.Event{
		ID: derivedID("event", eventsv1.TypePaymentRecorded, p.ID), Source: "/towns/" + s.Town + "/disclosure",
		Type: eventsv1.TypePaymentRecorded, Subject: p.ID, Time: s.now().UTC(), Town: s.Town, Village: p.Village, Data: raw,
	})
}

// ReversePayment records the reversal of payment id with a reason.
func (s *Service) ReversePayment(ctx context.Context, id, reason, by string) (Payment, error) {
	var r Payment
	err := store.InTx(ctx, s.Pool, func(tx pgx.Tx) error {
		orig, err := loadPayment(ctx, tx, id)
		if err != nil {
			return err
		}
		if r, err = ReversePayment(orig, reason, by, s.now()); err != nil {
			return err
		}
		return s.storePayment(ctx, tx, r)
	})
	if err != nil {
		return Payment{}, fmtErr("reversing payment", err)
	}
	return r, nil
}

func (s *Service) storePayment(ctx context.Context, tx pgx.Tx, p Payment) error {
	if err := lockVillage(ctx, tx, p.Village, s.Town); err != nil {
		return err
	}
	existing, err := villagePayments(ctx, tx, p.Village)
	if err != nil {
		return err
	}
	if err := ValidatePayment(p, existing); err != nil {
		return err
	}
	if err := insertPayment(ctx, tx, p); err != nil {
		return err
	}
	return touchVillage(ctx, tx, p.Village)
}

// Payments lists a village's payments, reversals included (the public
// portal passes them through PublicPayments).
func (s *Service) Payments(ctx context.Context, village string) ([]Payment, error) {
	ps, err := villagePayments(ctx, s.Pool, village)
	return ps, fmtErr("reading payments", err)
}

// LookupOwn finds a villager's own payments in village by ID number and
// name and the household's lookup code; see the domain's LookupOwn for
// why a miss tells nothing.
func (s *Service) LookupOwn(ctx context.Context, village, idNumber, name, code string) ([]Payment, error) {
	ps, err := s.Payments(ctx, village)
	if err != nil {
		return nil, err
	}
	return LookupOwn(ps, s.IDHashKey, idNumber, name, code), nil
}
