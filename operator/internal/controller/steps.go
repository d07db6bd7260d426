package controller

import (
	"golang.org/x/sync/errgroup"
)

// townStepLimit bounds how many of one town's independent steps run at
// once (API round trips, the database, Kafka, Kratos). With TownWorkers
// towns in parallel that is at most 64 requests in flight, well within the
// API server's default 400 and the client's per-kind token buckets.
const townStepLimit = 8

// steps runs independent reconcile steps concurrently, at most limit at a
// time, and reports their errors in the order the steps were started, not
// the order they failed: a reconcile that applied them one after the other
// reported the first step's error, and the conditions a person reads stay
// as deterministic as that. A failing step does not cancel the others
// (they are idempotent and their progress is kept), so one reconcile does
// as much of the work as it can.
type steps struct {
	g    errgroup.Group
	errs []*error
}

func newSteps(limit int) *steps {
	s := &steps{}
	s.g.SetLimit(limit)
	return s
}

// Go starts f, waiting for a free slot. f must not call Go on the same
// steps (it could wait for a slot its own caller holds).
func (s *steps) Go(f func() error) {
	e := new(error)
	s.errs = append(s.errs, e)
	s.g.Go(func() error {
		*e = f()
		return nil
	})
}

// Wait waits for every step started so far and returns the error of the
// first one, in start order, that failed (nil if none did).
func (s *steps) Wait() error {
	_ = s.g.Wait()
	for _, e := range s.errs {
		if *e != nil {
			return *e
		}
	}
	return nil
}

// each runs f for every item concurrently (at most limit at a time) and
// returns the first error in item order.
func each[T any](limit int, items []T, f func(T) error) error {
	s := newSteps(limit)
	for _, it := range items {
		s.Go(func() error { return f(it) })
	}
	return s.Wait()
}
