package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// job is one unit of work for the pool; it may push further jobs.
type job struct {
	what string
	do   func(ctx context.Context) error
	// urgent jobs (a town's own objects and status) go before the villages
	// already queued, as any sensible bulk program would order them.
	urgent bool
}

// pool runs jobs on a fixed number of workers from an unbounded FIFO queue,
// retrying transient API errors.
type pool struct {
	mu     sync.Mutex
	cond   *sync.Cond
	q      []job
	urgent []job
	closed bool

	failed   atomic.Int64
	errMu    sync.Mutex
	firstErr []string
}

func newPool() *pool {
	p := &pool{}
	p.cond = sync.NewCond(&p.mu)
	return p
}

func (p *pool) push(j job) {
	p.mu.Lock()
	if j.urgent {
		p.urgent = append(p.urgent, j)
	} else {
		p.q = append(p.q, j)
	}
	p.mu.Unlock()
	p.cond.Signal()
}

func (p *pool) close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.cond.Broadcast()
}

func (p *pool) start(ctx context.Context, workers int) {
	go func() { <-ctx.Done(); p.close() }()
	for range workers {
		go func() {
			for {
				p.mu.Lock()
				for len(p.q) == 0 && len(p.urgent) == 0 && !p.closed {
					p.cond.Wait()
				}
				if p.closed {
					p.mu.Unlock()
					return
				}
				var j job
				if len(p.urgent) > 0 {
					j, p.urgent[0], p.urgent = p.urgent[0], job{}, p.urgent[1:]
				} else {
					j, p.q[0], p.q = p.q[0], job{}, p.q[1:]
				}
				p.mu.Unlock()
				if err := retry(ctx, j.do); err != nil && ctx.Err() == nil {
					p.failed.Add(1)
					p.errMu.Lock()
					if len(p.firstErr) < 10 {
						p.firstErr = append(p.firstErr, fmt.Sprintf("%s: %v", j.what, err))
					}
					p.errMu.Unlock()
				}
			}
		}()
	}
}

func (p *pool) errors() []string {
	p.errMu.Lock()
	defer p.errMu.Unlock()
	return append([]string(nil), p.firstErr...)
}

// retry runs f until it succeeds, fails permanently or 30 attempts have
// failed transiently. AlreadyExists counts as success: creating is idempotent.
func retry(ctx context.Context, f func(context.Context) error) error {
	delay := 50 * time.Millisecond
	var err error
	for range 30 {
		err = f(ctx)
		if err == nil || apierrors.IsAlreadyExists(err) {
			return nil
		}
		if !transient(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
		delay = min(2*delay, 2*time.Second)
	}
	return err
}

func transient(err error) bool {
	var ne net.Error
	return apierrors.IsConflict(err) || apierrors.IsTooManyRequests(err) || apierrors.IsServerTimeout(err) ||
		apierrors.IsTimeout(err) || apierrors.IsInternalError(err) || apierrors.IsServiceUnavailable(err) ||
		apierrors.IsNotFound(err) || errors.As(err, &ne)
}
