package workflow

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// knownVillages remembers for a while what the registry said of a village
// the public intake files applications in: whether it is open and its
// amount thresholds. Reading them took a pooled connection twice per
// application (the early check that refuses an unknown village before its
// upload is read, and the transaction's first round trip), and the
// transaction held its connection while the Go side, busy with other
// uploads, got round to the next one (issue 16's benchmark: at 20
// applicants most of a submission's time was spent waiting for one of the
// pool's few connections). What is remembered is never trusted: the
// transaction's first statement (villageGuardSQL) reads the registry again
// and fails with errVillageChanged when it differs, and the application is
// filed again with what it read. Only an open village is remembered; a
// refusal is always read afresh.
type knownVillages struct {
	mu   sync.Mutex
	seen map[string]villageState
}

// villageState is what the registry says of a village.
type villageState struct {
	Known, Archived, Closed bool // villageOpenSQL
	// Thresholds are the known village's, else DefaultThresholds.
	Thresholds Thresholds
	at         time.Time
}

const (
	knownVillageTTL = 30 * time.Second
	maxKnownVillage = 4096 // a town has some dozens; a flood of made-up codes is never remembered
)

// errVillageChanged is the guard's SQLSTATE (migration 00010): the
// registry changed between what was remembered and the transaction.
const errVillageChanged = "WXV01"

func isVillageChanged(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == errVillageChanged
}

// villageGuardSQL fails the transaction (errVillageChanged) unless the
// registry still says what st says (migration 00010).
const villageGuardSQL = `SELECT application_village_unchanged($1, $2, $3, $4, $5, $6)`

func villageGuardArgs(village string, st villageState) []any {
	return []any{village, st.Known, st.Archived, st.Closed,
		st.Thresholds.RepresentativesResolutionAboveYuan, st.Thresholds.TownApprovalAboveYuan}
}

// state returns the village's remembered state, read afresh when not
// remembered, older than knownVillageTTL or fresh is set.
func (k *knownVillages) state(ctx context.Context, s *Service, village string, fresh bool) (villageState, error) {
	now := time.Now()
	if !fresh {
		k.mu.Lock()
		st, ok := k.seen[village]
		k.mu.Unlock()
		if ok && now.Sub(st.at) < knownVillageTTL {
			return st, nil
		}
	}
	st := villageState{Thresholds: DefaultThresholds, at: now}
	b := &pgx.Batch{}
	b.Queue(villageOpenSQL, village).QueryRow(func(row pgx.Row) error {
		return row.Scan(&st.Known, &st.Archived, &st.Closed)
	})
	b.Queue(villageThresholdsSQL, village).QueryRow(func(row pgx.Row) error {
		err := row.Scan(&st.Thresholds.RepresentativesResolutionAboveYuan, &st.Thresholds.TownApprovalAboveYuan)
		if errors.Is(err, pgx.ErrNoRows) {
			st.Thresholds = DefaultThresholds
			return nil
		}
		return err
	})
	if err := s.Pool.SendBatch(ctx, b).Close(); err != nil {
		return st, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if st.Archived || (st.Closed && !st.Known) {
		delete(k.seen, village) // a refusal is read afresh every time
		return st, nil
	}
	if k.seen == nil || len(k.seen) >= maxKnownVillage {
		k.seen = map[string]villageState{}
	}
	k.seen[village] = st
	return st, nil
}

// forget drops what is remembered of village (the guard found it changed).
func (k *knownVillages) forget(village string) {
	k.mu.Lock()
	delete(k.seen, village)
	k.mu.Unlock()
}

// here is villageHere, remembered: an unknown village's upload is refused
// before it is read.
func (k *knownVillages) here(ctx context.Context, s *Service, village string) (bool, error) {
	st, err := k.state(ctx, s, village, false)
	return st.Known || !st.Closed, err
}

// knownVillages is the intake's memory of villages (none before the
// routes are set up: every call reads the registry).
func (s *Service) knownVillages() *knownVillages {
	if s.appGuard == nil {
		return &knownVillages{}
	}
	return &s.appGuard.known
}
