package workflow

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	"github.com/wuxiao/wuxiao/services/internal/domainerr"
	"github.com/wuxiao/wuxiao/services/internal/httpapi"
	"github.com/wuxiao/wuxiao/services/internal/personal"
	"github.com/wuxiao/wuxiao/services/internal/store"
	"github.com/wuxiao/wuxiao/services/internal/tz"
)

// Service runs the town's processes: every action is one transaction that
// changes the instance, its timers, warnings and audit trail, and enqueues
// the events, so that a crash can never separate a change from its record.
type Service struct {
	Engine *Engine
	Pool   *pgxpool.Pool
	Town   string
	// IDHashKey keys the hash of payees' ID numbers: only the hash is stored,
	// and without the key it cannot be reversed by trying every number.
	IDHashKey []byte
	// AuditKey keys the audit chain (HMAC-SHA256, auditchain.KeySize
	// bytes, WUXIAO_AUDIT_KEY): without it no entry is written.
	AuditKey []byte
	Log      *slog.Logger
	Now      func() time.Time

	// ApplicationLimits are the public application intake's rate limits
	// (application_handlers.go); zero values take the defaults.
	ApplicationLimits ApplicationLimits

	metrics  *metrics          // set by Instrument (metrics.go)
	appGuard *applicationGuard // set by Routes (applicationRoutes)
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Service) topic() string { return eventsv1.Topic(s.Town, eventsv1.StreamWorkflow) }

// HashID returns the keyed hash under which an ID number is stored: the
// district-wide personal.HashID, so that it compares equal to the hashes of
// the disclosure and inspection services.
func (s *Service) HashID(idNumber string) string {
	return personal.HashID(s.IDHashKey, idNumber)
}

// StartRequest is the API's request to start a process.
type StartRequest struct {
	ItemID    string `json:"itemId"`
	Title     string `json:"title"`
	AmountFen int64  `json:"amountFen,omitempty"`
	PayeeName string `json:"payeeName,omitempty"`
	// PayeeIDNumber is hashed at once and never stored.
	PayeeIDNumber string `json:"payeeIdNumber,omitempty"`
}

// Start opens a process in the actor's village (village is the path's).
func (s *Service) Start(ctx context.Context, actor Actor, village string, req StartRequest) (*Instance, error) {
	if actor.Town != s.Town {
		// The engine files the instance under the actor's town.
		return nil, domainerr.Refuse(403, "other-town", "Other town", "this service runs the processes of town %s only", s.Town)
	}
	now := s.now()
	var payee *Payee
	if req.PayeeName != "" || req.PayeeIDNumber != "" {
		payee = &Payee{Name: req.PayeeName}
		if req.PayeeIDNumber != "" {
			payee.IDHash = s.HashID(req.PayeeIDNumber)
		}
	}
	inst, timers, err := s.Engine.Start(actor, StartInput{ItemID: req.ItemID, Village: village, Title: req.Title,
		AmountFen: req.AmountFen, Payee: payee, Now: now})
	if err != nil {
		return nil, err
	}
	inst.ID = uuid.NewString()
	inst.TrackingNumber = trackingNumber(village, now)
	inst.Version = 1
	err = store.InTx(ctx, s.Pool, func(tx pgx.Tx) error {
		if err := refuseArchived(ctx, tx, village); err != nil {
			return err
		}
		if err := insertInstance(ctx, tx, inst); err != nil {
			return err
		}
		if err := insertTimers(ctx, tx, inst.ID, timers); err != nil {
			return err
		}
		if err := s.appendAudit(ctx, tx, inst, now, actor, "instance.started", req.redacted()); err != nil {
			return err
		}
		if err := s.publish(ctx, tx, inst, eventsv1.TypeInstanceStarted, eventsv1.InstanceStarted{
			InstanceRef: ref(inst), Title: inst.Title, AmountFen: inst.AmountFen, StartedBy: actor.ID, StartedAt: now}); err != nil {
			return err
		}
		return s.syncPostings(ctx, tx, inst, now) // postings.go
	})
	return inst, fmtErr("starting process", err)
}

// TextLimits bounds the start request's free text (httpapi.DecodeJSON
// answers 422 beyond): it ends up in events, pages and exports.
func (r StartRequest) TextLimits() []httpapi.TextLimit {
	return []httpapi.TextLimit{
		httpapi.Limit("itemId", r.ItemID, 128),
		httpapi.Limit("title", r.Title, httpapi.MaxShortText),
		httpapi.Limit("payeeName", r.PayeeName, httpapi.MaxShortText),
		httpapi.Limit("payeeIdNumber", r.PayeeIDNumber, 64),
	}
}

// redacted is what the audit trail keeps of a start request.
func (r StartRequest) redacted() StartRequest {
	if r.PayeeIDNumber != "" {
		r.PayeeIDNumber = "(hashed)"
	}
	return r
}

// CompleteRequest is the API's request to record a step.
type CompleteRequest struct {
	Next       string `json:"next,omitempty"`
	Note       string `json:"note,omitempty"`
	OutOfOrder bool   `json:"outOfOrder,omitempty"`
	Reason     string `json:"reason,omitempty"`
}

// TextLimits bounds the step's free text (see StartRequest.TextLimits).
func (r CompleteRequest) TextLimits() []httpapi.TextLimit {
	return []httpapi.TextLimit{
		httpapi.Limit("next", r.Next, 128),
		httpapi.Limit("note", r.Note, httpapi.MaxLongText),
		httpapi.Limit("reason", r.Reason, httpapi.MaxLongText),
	}
}

// Complete records a step of an instance: one transaction in two round
// trips (step_batch.go), retried like store.InTx after a deadlock.
func (s *Service) Complete(ctx context.Context, actor Actor, id, step string, req CompleteRequest) (*Instance, []Warning, error) {
	var inst *Instance
	var fresh []Warning
	var err error
	for attempt := 0; attempt < 4; attempt++ {
		if inst, fresh, err = s.recordStep(ctx, s.Pool, actor, id, step, req); !retriable(err) {
			break
		}
		time.Sleep(time.Duration(attempt+1) * 10 * time.Millisecond)
	}
	if err == nil {
		s.metrics.stepCompleted(ctx, inst.Category)
		s.metrics.warned(ctx, fresh)
	}
	if errors.Is(err, errConflict) {
		err = &domainerr.Error{Status: 409, Type: "conflict", Title: "Changed meanwhile", Detail: "the process changed while you were recording this step; reload and try again"}
	}
	return inst, fresh, fmtErr("completing step", err)
}

// stepCompleted is the event of step recorded by actor; wasCurrent is the
// step the instance stood at before.
func (s *Service) stepCompleted(inst *Instance, actor Actor, step, wasCurrent string, req CompleteRequest, now time.Time) eventsv1.StepCompleted {
	item := s.Engine.Catalog.Item(inst.ItemID)
	nextName, nextRole := s.stepWho(inst, inst.Current) // notify_steps.go
	return eventsv1.StepCompleted{InstanceRef: ref(inst),
		StepID: step, StepName: item.Step(step).Name, ActorID: actor.ID, ActorRole: actor.Role, CompletedAt: now,
		OutOfOrder: req.OutOfOrder && step != wasCurrent, NextStep: inst.Current, NextStepName: nextName, NextRole: nextRole}
}

// visits counts the visits of a step so far (loops revisit steps).
func visits(inst *Instance, step string) int {
	n := 0
	for _, r := range inst.Steps {
		if r.StepID == step {
			n++
		}
	}
	return max(n, 1)
}

// EvidenceRequest attaches a document by hash and link.
type EvidenceRequest struct {
	StepID string `json:"stepId"`
	Kind   string `json:"kind"`
	Name   string `json:"name"`
	URL    string `json:"url"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// AddEvidence attaches a document to a running instance. Only officials who
// may act in the village may attach.
func (s *Service) AddEvidence(ctx context.Context, actor Actor, id string, req EvidenceRequest) (*Evidence, error) {
	if err := req.validate(); err != nil {
		return nil, err
	}
	var ev *Evidence
	err := store.InTx(ctx, s.Pool, func(tx pgx.Tx) error {
		inst, err := s.evidenceTarget(ctx, tx, actor, id, req.StepID)
		if err != nil {
			return err
		}
		now := s.now()
		ev = &Evidence{ID: uuid.NewString(), StepID: req.StepID, Kind: req.Kind, Name: req.Name, URL: req.URL,
			SHA256: strings.ToLower(req.SHA256), Size: req.Size, AddedBy: actor.ID, AddedAt: now}
		inst.Evidence = append(inst.Evidence, *ev)
		if err := saveInstance(ctx, tx, inst, now); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, inst, now, actor, "evidence.added", ev)
	})
	return ev, fmtErr("adding evidence", err)
}

func (r EvidenceRequest) validate() error {
	var problems []string
	if r.StepID == "" {
		problems = append(problems, "stepId is required")
	}
	if r.Kind == "" || len(r.Kind) > 64 {
		problems = append(problems, "kind is required (at most 64 characters), e.g. "+EvidenceResolution)
	}
	if r.Name == "" || len(r.Name) > 200 {
		problems = append(problems, "name is required (at most 200 characters)")
	}
	if !strings.HasPrefix(r.URL, "https://") && !strings.HasPrefix(r.URL, "http://") {
		problems = append(problems, "url must be an http(s) link to the document")
	}
	if b, err := hex.DecodeString(r.SHA256); err != nil || len(b) != sha256.Size {
		problems = append(problems, "sha256 must be the document's SHA-256, 64 hexadecimal characters")
	}
	if r.Size < 0 {
		problems = append(problems, "size must not be negative")
	}
	if len(problems) > 0 {
		return domainerr.Refuse(400, "invalid-request", "Invalid evidence", "%s", strings.Join(problems, "; "))
	}
	return nil
}

// mayActOn: officials of the instance's village, and town roles of its town.
func mayActOn(a Actor, inst *Instance) error {
	if a.Town != inst.Town {
		return domainerr.Refuse(403, "other-town", "Other town", "this process belongs to another town")
	}
	if isTownRole(a.Role) {
		return nil
	}
	if a.Village != inst.Village || a.Role == "villager" {
		return domainerr.Refuse(403, "forbidden", "Not allowed", "only officials of village %s may do this", inst.Village)
	}
	return nil
}

// Comment adds a comment to an instance.
func (s *Service) Comment(ctx context.Context, actor Actor, id, body string) error {
	body = strings.TrimSpace(body)
	if body == "" || len([]rune(body)) > 2000 {
		return domainerr.Refuse(400, "invalid-request", "Invalid comment", "a comment needs 1 to 2000 characters")
	}
	return fmtErr("commenting", store.InTx(ctx, s.Pool, func(tx pgx.Tx) error {
		inst, err := loadInstance(ctx, tx, "id = $1", id, true)
		if err != nil {
			return err
		}
		if err := mayActOn(actor, inst); err != nil {
			return err
		}
		now := s.now()
		if _, err := tx.Exec(ctx, `INSERT INTO comments (id, instance_id, author_id, author_role, body, created_at) VALUES ($1,$2,$3,$4,$5,$6)`,
			uuid.NewString(), inst.ID, actor.ID, actor.Role, body, now); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, inst, now, actor, "comment.added", map[string]string{"body": body})
	}))
}

// Withdraw ends a running instance with a published reason.
func (s *Service) Withdraw(ctx context.Context, actor Actor, id, reason string) (*Instance, error) {
	var inst *Instance
	err := store.InTx(ctx, s.Pool, func(tx pgx.Tx) error {
		var err error
		if inst, err = loadInstance(ctx, tx, "id = $1", id, true); err != nil {
			return err
		}
		if err := mayActOn(actor, inst); err != nil {
			return err
		}
		now := s.now()
		if err := s.Engine.Withdraw(inst, actor, strings.TrimSpace(reason), now); err != nil {
			return err
		}
		if err := cancelTimers(ctx, tx, inst.ID, ""); err != nil {
			return err
		}
		if err := saveInstance(ctx, tx, inst, now); err != nil {
			return err
		}
		if err := s.appendAudit(ctx, tx, inst, now, actor, "instance.withdrawn", map[string]string{"reason": reason}); err != nil {
			return err
		}
		if err := s.publish(ctx, tx, inst, eventsv1.TypeInstanceWithdrawn, eventsv1.InstanceWithdrawn{InstanceRef: ref(inst),
			Reason: inst.WithdrawReason, WithdrawnBy: actor.ID, WithdrawnAt: now}); err != nil {
			return err
		}
		return s.syncPostings(ctx, tx, inst, now)
	})
	return inst, fmtErr("withdrawing", err)
}

// Get returns an instance by id.
func (s *Service) Get(ctx context.Context, id string) (*Instance, error) {
	if _, err := uuid.Parse(id); err != nil {
		return nil, ErrNotFound
	}
	var inst *Instance
	err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		var err error
		inst, err = loadInstance(ctx, tx, "id = $1", id, false)
		return err
	})
	return inst, fmtErr("reading instance", err)
}

// ByTrackingNumber returns an instance by its public tracking number.
func (s *Service) ByTrackingNumber(ctx context.Context, number string) (*Instance, error) {
	var inst *Instance
	err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		var err error
		inst, err = loadInstance(ctx, tx, "tracking_number = $1", number, false)
		return err
	})
	return inst, fmtErr("reading instance", err)
}

// List returns a village's instances, newest first.
func (s *Service) List(ctx context.Context, village, status string, limit int) ([]*Instance, error) {
	rows, err := s.Pool.Query(ctx, `SELECT doc FROM instances WHERE village = $1 AND ($2 = '' OR status = $2)
		ORDER BY started_at DESC LIMIT $3`, village, status, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (*Instance, error) {
		var doc []byte
		if err := r.Scan(&doc); err != nil {
			return nil, err
		}
		inst := &Instance{}
		return inst, json.Unmarshal(doc, inst)
	})
}

// Warnings lists warnings of a village (or of one instance), newest first.
func (s *Service) Warnings(ctx context.Context, village, instanceID string, publicOnly bool, limit int) ([]Warning, error) {
	rows, err := s.Pool.Query(ctx, `SELECT `+warningColumns+` FROM warnings
		WHERE ($1 = '' OR village = $1) AND ($2 = '' OR instance_id::text = $2) AND (NOT $3 OR public)
		ORDER BY raised_at DESC LIMIT $4`, village, instanceID, publicOnly, limit)
	if err != nil {
		return nil, err
	}
	return scanWarnings(rows)
}

// Audit returns an instance's audit trail and whether its chain holds.
func (s *Service) Audit(ctx context.Context, id string) ([]AuditEntry, ChainCheck, error) {
	entries, err := readAudit(ctx, s.Pool, id)
	if err != nil {
		return nil, ChainCheck{}, err
	}
	return entries, VerifyChain(entries, s.AuditKey), nil
}

// RecordRelative records that a cadre's relative has the given ID number.
func (s *Service) RecordRelative(ctx context.Context, actor Actor, village, cadreID, idNumber, relation string) error {
	_, err := s.Pool.Exec(ctx, `INSERT INTO relatives (village, cadre_id, relative_id_hash, relation, recorded_by, recorded_at)
		VALUES ($1,$2,$3,$4,$5,$6) ON CONFLICT (village, cadre_id, relative_id_hash) DO UPDATE SET relation = EXCLUDED.relation`,
		village, cadreID, s.HashID(idNumber), relation, actor.ID, s.now())
	return err
}

// SetVillage registers a village with its thresholds (from the Village resource).
func (s *Service) SetVillage(ctx context.Context, code, name string, t Thresholds) error {
	_, err := s.Pool.Exec(ctx, `INSERT INTO villages (code, town, name, representatives_resolution_above_yuan, town_approval_above_yuan)
		VALUES ($1,$2,$3,$4,$5) ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name,
		representatives_resolution_above_yuan = EXCLUDED.representatives_resolution_above_yuan,
		town_approval_above_yuan = EXCLUDED.town_approval_above_yuan, archived_at = NULL, updated_at = now()`,
		code, s.Town, name, t.RepresentativesResolutionAboveYuan, t.TownApprovalAboveYuan)
	return err
}

// FireTimers fires the due timers once each: reminders publish an event,
// escalations raise an overdue warning when the step is still open. Safe
// to call from every replica at once.
func (s *Service) FireTimers(ctx context.Context, limit int) (int, error) {
	fired := 0
	var warned []Warning
	err := store.InTx(ctx, s.Pool, func(tx pgx.Tx) error {
		fired, warned = 0, nil // InTx retries this function after a deadlock
		now := s.now()
		due, err := claimDueTimers(ctx, tx, now, limit)
		if err != nil {
			return err
		}
		// Lock instances in one global order, so that replicas firing
		// different timers of the same instances cannot deadlock.
		slices.SortStableFunc(due, func(a, b timerRow) int { return strings.Compare(a.InstanceID, b.InstanceID) })
		for _, t := range due {
			inst, err := loadInstance(ctx, tx, "id = $1", t.InstanceID, true)
			if err != nil {
				return err
			}
			rec := inst.open(t.StepID)
			if rec != nil && rec.DueAt != nil && inst.Current == t.StepID {
				evType := eventsv1.TypeStepReminder
				if t.Kind == TimerEscalation {
					evType = eventsv1.TypeStepEscalated
				}
				name, role := s.stepWho(inst, t.StepID) // notify_steps.go
				if err := s.publish(ctx, tx, inst, evType, eventsv1.StepDeadline{InstanceRef: ref(inst), StepID: t.StepID, DueAt: *rec.DueAt,
					StepName: name, Role: role}); err != nil {
					return err
				}
				if t.Kind == TimerEscalation {
					if w := s.Engine.Overdue(inst, t.Timer); w != nil {
						w.ID = uuid.NewString()
						fresh, err := insertWarnings(ctx, tx, []Warning{*w}, visits(inst, t.StepID))
						if err != nil {
							return err
						}
						if err := s.publishWarnings(ctx, tx, inst, fresh); err != nil {
							return err
						}
						warned = append(warned, fresh...)
						if len(fresh) > 0 {
							if err := s.appendAudit(ctx, tx, inst, now, Actor{ID: "system", Role: "system"}, "warning.raised", fresh[0]); err != nil {
								return err
							}
						}
					}
				}
			}
			if err := markFired(ctx, tx, t.ID, now); err != nil {
				return err
			}
			fired++
		}
		return nil
	})
	if err == nil {
		s.metrics.warned(ctx, warned)
	}
	return fired, fmtErr("firing timers", err)
}

// RunTimers fires due timers every interval until ctx ends. Its database
// uses are background work: at rest the connection goes back to the
// server after each run (store.Background; issue 18).
func (s *Service) RunTimers(ctx context.Context, interval time.Duration) error {
	ctx = store.Background(ctx)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if n, err := s.FireTimers(ctx, 100); err != nil && ctx.Err() == nil {
			s.Log.Error("timers", "error", err)
		} else if n > 0 {
			s.Log.Info("timers fired", "count", n)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (s *Service) publish(ctx context.Context, tx pgx.Tx, inst *Instance, typ string, data any) error {
	return s.publishTo(ctx, txWriter{tx}, inst, typ, data)
}

func (s *Service) publishWarnings(ctx context.Context, tx pgx.Tx, inst *Instance, ws []Warning) error {
	return s.publishWarningsTo(ctx, txWriter{tx}, inst, ws)
}

func ref(inst *Instance) eventsv1.InstanceRef {
	return eventsv1.InstanceRef{InstanceID: inst.ID, TrackingNumber: inst.TrackingNumber, ItemID: inst.ItemID,
		ItemName: inst.ItemName, Category: inst.Category, CatalogVersion: inst.CatalogVersion}
}

// trackingNumber is public and printed on notices: the village code, the
// date, and four characters that cannot be confused (no 0/O, 1/I).
func trackingNumber(village string, now time.Time) string {
	const alphabet = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	suffix := make([]byte, 5)
	for i := range suffix {
		suffix[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return fmt.Sprintf("%s-%s-%s", village, now.In(tz.Shanghai).Format("20060102"), suffix)
}

// evidenceTarget locks the running process id that actor may act on and
// checks that its item has stepID: what attaching evidence, as a link or
// as a file, needs.
func (s *Service) evidenceTarget(ctx context.Context, tx pgx.Tx, actor Actor, id, stepID string) (*Instance, error) {
	inst, err := loadInstance(ctx, tx, "id = $1", id, true)
	if err != nil {
		return nil, err
	}
	if err := mayActOn(actor, inst); err != nil {
		return nil, err
	}
	if inst.Status != StatusRunning {
		return nil, domainerr.Refuse(409, "not-running", "Process not running", "evidence can only be added while the process runs")
	}
	if s.Engine.Catalog.Item(inst.ItemID).Step(stepID) == nil {
		return nil, domainerr.Refuse(400, "unknown-step", "Unknown step", "item %s has no step %q", inst.ItemID, stepID)
	}
	return inst, nil
}
