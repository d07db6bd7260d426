package inspection

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// EventRatingChanged is the span event ApplyFact adds to the active span
// (the consumer's "process" span of the event that brought the fact) when a
// village's grade changes: the trace of a complaint or a warning then shows
// the grade change it caused.
const EventRatingChanged = "rating.changed"

// Attributes of EventRatingChanged.
const (
	AttrRatingVillage      = "village"
	AttrRatingPeriod       = "period"
	AttrRatingGradeBefore  = "grade.before"
	AttrRatingGradeAfter   = "grade.after"
	AttrRatingPointsBefore = "points.before"
	AttrRatingPointsAfter  = "points.after"
	AttrRatingFact         = "fact.id"
	AttrRatingNotice       = "notice.id" // only when a notice was drafted
)

// traceGradeChange records ch (and the id of the notice it drafted, if any) on the
// span of ctx. A rolled-back attempt that the consumer retries may leave an
// event of its own; the committed one is the last.
func traceGradeChange(ctx context.Context, f Fact, ch *GradeChange, noticeID string) {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() || ch == nil {
		return
	}
	attrs := []attribute.KeyValue{
		attribute.String(AttrRatingVillage, ch.Village),
		attribute.String(AttrRatingPeriod, ch.Period.String()),
		attribute.String(AttrRatingGradeBefore, string(ch.From)),
		attribute.String(AttrRatingGradeAfter, string(ch.To)),
		attribute.Int(AttrRatingPointsBefore, ch.FromPoints),
		attribute.Int(AttrRatingPointsAfter, ch.ToPoints),
		attribute.String(AttrRatingFact, f.ID),
	}
	if noticeID != "" {
		attrs = append(attrs, attribute.String(AttrRatingNotice, noticeID))
	}
	span.AddEvent(EventRatingChanged, trace.WithAttributes(attrs...))
	// Also on the span itself, so trace search by attribute finds it.
	span.SetAttributes(attribute.String("wuxiao.rating.grade", string(ch.To)), attribute.String("wuxiao.village", ch.Village))
}
