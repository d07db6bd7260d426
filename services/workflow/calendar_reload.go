package workflow

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// DefaultCalendarReload is how often a CalendarWatcher looks at its file.
// The kubelet takes up to about a minute to update a mounted ConfigMap, so
// polling more often gains little.
const DefaultCalendarReload = 30 * time.Second

// Results of looking at a calendar file (the result label of
// wuxiao_workflow_calendar_reloads_total).
const (
	CalendarLoaded     = "loaded"     // new content, in force now
	CalendarInvalid    = "invalid"    // new content that does not parse: the last good calendar stays
	CalendarUnreadable = "unreadable" // the file cannot be read: the last good calendar stays
	calendarUnchanged  = ""
)

// CalendarWatcher keeps a Calendar in step with its file: it reads the file
// every Interval and, when the content changed, parses it and replaces the
// calendar's days. A file that does not parse, or cannot be read, leaves the
// last good calendar in force; it is logged and counted once per change.
// It polls the content rather than watching for file events: a ConfigMap
// volume is updated by swapping a symbolic link, which content polling sees
// whatever the file system.
type CalendarWatcher struct {
	Path     string
	Calendar *Calendar
	Interval time.Duration
	Log      *slog.Logger

	mu      sync.Mutex
	seen    [sha256.Size]byte // content last looked at (good or bad)
	state   string            // CalendarLoaded, CalendarInvalid or CalendarUnreadable
	reloads metric.Int64Counter
}

// Instrument creates the watcher's metrics in mp: the reloads counter by
// result, and the gauge saying whether the file's current content is in
// force. Call it once, before Run.
func (w *CalendarWatcher) Instrument(mp metric.MeterProvider) error {
	m := mp.Meter(meterName)
	reloads, err1 := m.Int64Counter("wuxiao.workflow.calendar.reloads",
		metric.WithDescription("Changes of the working-day calendar file seen, by result (loaded, invalid, unreadable)"), metric.WithUnit("{reload}"))
	valid, err2 := m.Int64ObservableGauge("wuxiao.workflow.calendar.file_valid",
		metric.WithDescription("1 when the calendar file's current content is the calendar in force, 0 when it is invalid or unreadable (the last good calendar is used)"))
	if err := errors.Join(err1, err2); err != nil {
		return fmt.Errorf("calendar metrics: %w", err)
	}
	_, err := m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		w.mu.Lock()
		defer w.mu.Unlock()
		v := int64(0)
		if w.state == CalendarLoaded {
			v = 1
		}
		o.ObserveInt64(valid, v)
		return nil
	}, valid)
	if err != nil {
		return err
	}
	for _, r := range []string{CalendarLoaded, CalendarInvalid, CalendarUnreadable} {
		reloads.Add(context.Background(), 0, metric.WithAttributes(attribute.String("result", r)))
	}
	w.mu.Lock()
	w.reloads = reloads
	w.mu.Unlock()
	return nil
}

// Check looks at the file once and returns what it found: CalendarLoaded
// when new content is now in force, CalendarInvalid or CalendarUnreadable
// (with the error) when the last good calendar stays, "" when nothing
// changed since the last look.
func (w *CalendarWatcher) Check(ctx context.Context) (string, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	log := w.Log
	if log == nil {
		log = slog.Default()
	}
	data, err := os.ReadFile(w.Path)
	if err != nil {
		if w.state == CalendarUnreadable {
			return calendarUnchanged, err
		}
		w.state, w.seen = CalendarUnreadable, [sha256.Size]byte{}
		log.Error("working-day calendar file cannot be read; the last good calendar stays in force", "file", w.Path, "error", err)
		w.count(ctx, CalendarUnreadable)
		return CalendarUnreadable, err
	}
	sum := sha256.Sum256(data)
	if w.state != CalendarUnreadable && w.state != "" && sum == w.seen {
		return calendarUnchanged, nil
	}
	w.seen = sum
	cal, err := ParseCalendar(data)
	if err != nil {
		w.state = CalendarInvalid
		log.Error("working-day calendar file is invalid; the last good calendar stays in force", "file", w.Path, "error", err)
		w.count(ctx, CalendarInvalid)
		return CalendarInvalid, err
	}
	w.Calendar.Replace(cal)
	w.state = CalendarLoaded
	log.Info("working-day calendar loaded", "file", w.Path, "sha256", fmt.Sprintf("%x", sum[:8]))
	w.count(ctx, CalendarLoaded)
	return CalendarLoaded, nil
}

func (w *CalendarWatcher) count(ctx context.Context, result string) {
	if w.reloads != nil {
		w.reloads.Add(ctx, 1, metric.WithAttributes(attribute.String("result", result)))
	}
}

// Run checks the file every Interval (DefaultCalendarReload when unset)
// until ctx ends. The first check is at once.
func (w *CalendarWatcher) Run(ctx context.Context) error {
	every := w.Interval
	if every <= 0 {
		every = DefaultCalendarReload
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		_, _ = w.Check(ctx) // logged and counted by Check
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
