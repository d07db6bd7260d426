package inspection

// Applying a consumer's batch of events (events.BatchHandler; issue 18:
// the consumer's 2,000 warnings/s). One at a time, a fact costs its own
// round trips: the village's lock with the fact's insert and the reads
// (apply_read.go), the rating's save, and for a change of grade about
// eight statements more. For a batch:
//
//  1. one round trip locks the batch's villages (in code order, so that
//     two transactions cannot wait for each other), inserts the new facts,
//     and reads the facts and stored ratings of every village and period
//     they concern and the villages' names;
//  2. in memory, the facts are applied in the events' order, each rating
//     its village from the facts read and those of the batch before it —
//     what the one-at-a-time reads would have seen — and compared with
//     the rating before it, so that the grade changes are those, in the
//     order, that one at a time gives;
//  3. the changes, notices, events and messages (recordChange, the code
//     ApplyFact uses) are queued and go with the ratings' saves, one per
//     village and period (the last, which one at a time leaves), in one
//     more round trip.
//
// Events that bring no fact go to the stream's handler in their turn;
// the queue is sent before each, so that every table gets its rows in the
// events' order. Nothing those events do touches facts or ratings (only
// ApplyFact does, and every fact of the stream comes through here). A
// failure fails the batch, and the consumer applies its events one at a
// time with the handler (TestBatchSameAsOneAtATime compares both).

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	"github.com/wuxiao/wuxiao/services/internal/events"
)

// WorkflowBatch is the events.BatchHandler of the workflow stream: what
// HandleWorkflowEvent does (s.Notifying(HandleWorkflowEvent) when
// notifying) for a batch of events.
func (s *Service) WorkflowBatch(notifying bool) events.BatchHandler {
	return s.factBatch(s.HandleWorkflowEvent, s.workflowFact, notifying)
}

// ComplaintBatch is WorkflowBatch for the complaint stream
// (HandleComplaintEvent).
func (s *Service) ComplaintBatch(notifying bool) events.BatchHandler {
	return s.factBatch(s.HandleComplaintEvent, s.complaintFact, notifying)
}

// factBatch applies a batch as handler would one at a time, handler being
// the stream's handler, which applies the fact factOf finds in an event
// (ApplyFact) and does something else with the other events.
func (s *Service) factBatch(handler events.Handler, factOf func(eventsv1.Event) (Fact, bool, error), notifying bool) events.BatchHandler {
	one := handler
	if notifying {
		one = s.Notifying(handler)
	}
	return func(ctx context.Context, tx pgx.Tx, evs []events.BatchEvent) error {
		return s.applyBatch(ctx, tx, evs, factOf, one, notifying)
	}
}

// batchFact is an event of a batch that brings a fact.
type batchFact struct {
	fact   Fact
	period Period
	key    ratingKey
	// fresh: the fact was not recorded before (nor by an earlier event of
	// the batch); stored is it as recorded, as a read gives it back.
	fresh  bool
	stored Fact
}

type ratingKey struct{ village, period string }

// ratingState is a village's rating of a period as the batch goes.
type ratingState struct {
	village string
	period  Period
	// facts are those the next fact's rating counts with it: the recorded
	// ones, then the batch's, in order.
	facts []Fact
	// rating is the stored rating (what Diff reads of it), then the
	// latest one.
	rating Rating
	at     time.Time // when the latest was computed; zero: none yet
}

func (s *Service) applyBatch(ctx context.Context, tx pgx.Tx, evs []events.BatchEvent, factOf func(eventsv1.Event) (Fact, bool, error),
	one events.Handler, notifying bool) error {
	facts := make([]*batchFact, len(evs))
	var some []*batchFact
	for i, e := range evs {
		f, ok, err := factOf(e.Event)
		if err == nil && ok {
			err = f.check()
		}
		if err != nil {
			return events.EventFailed(e.Event.ID, err)
		}
		if ok {
			p := s.Rules.PeriodOf(f.At)
			facts[i] = &batchFact{fact: f, period: p, key: ratingKey{f.Village, p.String()}}
			some = append(some, facts[i])
		}
	}
	w := &batchWriter{s: s, tx: tx, b: &pgx.Batch{}}
	states, err := s.readBatch(ctx, tx, some, w)
	if err != nil {
		return err
	}
	for i, e := range evs {
		bf := facts[i]
		if bf == nil {
			if err := w.flush(ctx); err != nil {
				return err
			}
			if err := one(e.Ctx, tx, e.Event); err != nil {
				return events.EventFailed(e.Event.ID, err)
			}
			continue
		}
		if bf.fresh {
			st := states[bf.key]
			st.facts = append(st.facts, bf.stored)
			now := s.now()
			next := Rate(s.Rules, st.village, st.period, st.facts)
			ch := Diff(st.rating, next)
			st.rating, st.at = next, now
			if _, err := s.recordChange(e.Ctx, w, bf.fact, next, ch, now); err != nil {
				return events.EventFailed(e.Event.ID, err)
			}
		}
		if notifying {
			if err := w.notify(e.Ctx, e.Event); err != nil {
				return events.EventFailed(e.Event.ID, err)
			}
		}
	}
	var saved []ratingSave
	for _, st := range states {
		if !st.at.IsZero() {
			saved = append(saved, ratingSave{st.rating, st.at})
		}
	}
	if len(saved) > 0 {
		slices.SortFunc(saved, func(a, b ratingSave) int {
			return cmp.Or(cmp.Compare(a.r.Village, b.r.Village), cmp.Compare(a.r.Period.String(), b.r.Period.String()))
		})
		sql, args, err := saveRatingsArgs(saved)
		if err != nil {
			return err
		}
		w.b.Queue(sql, args...)
	}
	return w.flush(ctx)
}

// The statements of a batch's read (readBatch).
const (
	lockVillagesSQL = `SELECT pg_advisory_xact_lock(hashtextextended('wuxiao/inspection/village/' || v, 0))
		FROM unnest($1::text[]) WITH ORDINALITY AS l(v, i) ORDER BY i`
	insertFactsSQL = `INSERT INTO facts (id, village, town, kind, subkind, at, ref, note)
		SELECT id, village, $1, kind, subkind, at, ref, note
		FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[], $7::text[], $8::text[])
			AS f(id, village, kind, subkind, at, ref, note)
		ON CONFLICT DO NOTHING
		RETURNING id, village, kind, subkind, at, ref, note`
	loadPeriodsFactsSQL = `SELECT p.i, f.id, f.village, f.kind, f.subkind, f.at, f.ref, f.note
		FROM unnest($1::text[], $2::timestamptz[], $3::timestamptz[]) WITH ORDINALITY AS p(village, since, until, i)
		JOIN facts f ON f.village = p.village AND f.at >= p.since AND f.at < p.until`
	// What Diff reads of a stored rating, not the whole document (its
	// contributions' labels, notes and times): decoding those was a fifth
	// of the consumer's CPU.
	loadRatingsSQL = `SELECT r.village, r.period, r.doc->'period', r.doc->>'grade', (r.doc->>'points')::int,
			ARRAY(SELECT coalesce(c->'fact'->>'id', '') FROM jsonb_array_elements(r.doc->'contributions') c)
		FROM ratings r JOIN unnest($1::text[], $2::text[]) AS p(village, period) ON r.village = p.village AND r.period = p.period`
	villageNamesSQL = `SELECT code, name FROM villages WHERE town = $1 AND code = ANY ($2::text[])`
)

// readBatch locks the villages of facts, records the facts, and reads
// what applying them needs, in one round trip: PostgreSQL runs the
// statements in order, so the reads come after the lock and see the new
// facts. It marks the facts recorded now (fresh) and returns the state of
// each village and period before the batch; w learns the villages' names.
func (s *Service) readBatch(ctx context.Context, tx pgx.Tx, facts []*batchFact, w *batchWriter) (map[ratingKey]*ratingState, error) {
	states := map[ratingKey]*ratingState{}
	if len(facts) == 0 {
		return states, nil
	}
	first := map[string]*batchFact{} // by fact id: the first event recording it
	var ins []*batchFact
	var villages []string
	var keys []ratingKey
	for _, bf := range facts {
		if first[bf.fact.ID] == nil {
			first[bf.fact.ID] = bf
			ins = append(ins, bf)
		}
		if states[bf.key] == nil {
			states[bf.key] = &ratingState{village: bf.fact.Village, period: bf.period}
			keys = append(keys, bf.key)
			villages = append(villages, bf.fact.Village)
		}
	}
	slices.Sort(villages)
	villages = slices.Compact(villages)

	b := &pgx.Batch{}
	b.Queue(lockVillagesSQL, villages)
	cols := make([][]string, 6) // id, village, kind, subkind, ref, note
	ats := make([]time.Time, len(ins))
	for i, bf := range ins {
		f := bf.fact
		for c, v := range []string{f.ID, f.Village, string(f.Kind), f.Subkind, f.Ref, f.Note} {
			cols[c] = append(cols[c], v)
		}
		ats[i] = f.At
	}
	b.Queue(insertFactsSQL, s.Town, cols[0], cols[1], cols[2], cols[3], ats, cols[4], cols[5]).Query(func(rows pgx.Rows) error {
		recorded, err := pgx.CollectRows(rows, scanFact)
		for _, f := range recorded {
			if bf := first[f.ID]; bf != nil {
				bf.fresh, bf.stored = true, f
			}
		}
		return err
	})
	pv, ps, starts, ends := make([]string, len(keys)), make([]string, len(keys)), make([]time.Time, len(keys)), make([]time.Time, len(keys))
	for i, k := range keys {
		st := states[k]
		pv[i], ps[i], starts[i], ends[i] = k.village, k.period, st.period.Start(), st.period.End()
	}
	var loaded []struct {
		key  int
		fact Fact
	}
	b.Queue(loadPeriodsFactsSQL, pv, starts, ends).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var f Fact
			var i int
			var kind string
			if err := rows.Scan(&i, &f.ID, &f.Village, &kind, &f.Subkind, &f.At, &f.Ref, &f.Note); err != nil {
				return err
			}
			f.Kind = FactKind(kind)
			loaded = append(loaded, struct {
				key  int
				fact Fact
			}{i - 1, f})
		}
		return rows.Err()
	})
	b.Queue(loadRatingsSQL, pv, ps).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var k ratingKey
			var period []byte
			var grade string
			var points int
			var counted []string
			if err := rows.Scan(&k.village, &k.period, &period, &grade, &points, &counted); err != nil {
				return err
			}
			st := states[k]
			if st == nil {
				continue
			}
			// The stored rating as Diff sees it: grade, points, period and
			// the ids of the facts it counted.
			r := Rating{Village: k.village, Grade: Grade(grade), Points: points, Contributions: make([]Contribution, len(counted))}
			if err := json.Unmarshal(period, &r.Period); err != nil {
				return fmt.Errorf("rating of %s %s: %w", k.village, k.period, err)
			}
			for i, id := range counted {
				r.Contributions[i].Fact.ID = id
			}
			st.rating = r
		}
		return rows.Err()
	})
	w.names = make(map[string]string, len(villages))
	for _, v := range villages {
		w.names[v] = ""
	}
	b.Queue(villageNamesSQL, s.Town, villages).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var code, name string
			if err := rows.Scan(&code, &name); err != nil {
				return err
			}
			w.names[code] = name
		}
		return rows.Err()
	})
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return nil, err
	}
	// The facts recorded before the batch; the batch's own join them one
	// by one as they are applied.
	for _, l := range loaded {
		if bf := first[l.fact.ID]; bf != nil && bf.fresh {
			continue
		}
		st := states[keys[l.key]]
		st.facts = append(st.facts, l.fact)
	}
	return states, nil
}
