package complaint

// A complaint's lifecycle as one trace: the intake request's trace context
// is stored with the complaint (column trace_parent), and every later
// transition (accept, investigate, resolve, feedback, escalation) runs its
// database work and outbox enqueue under a span that is a child of it, with
// a link to the span of the request (or job) that made the transition. The
// outbox stores the trace context of that span with the event, so the
// consumers' spans (inspection's rating of the complaint) join the intake's
// trace too. Transition spans end when their transaction does
// (Service.change), so a rolled-back transition shows as failed.

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/wuxiao/wuxiao/services/internal/telemetry"
)

// scope names this package as the instrumentation library of its spans.
const scope = "github.com/wuxiao/wuxiao/services/complaint"

// SpanName is the name of a transition's span: "complaint <action>", e.g.
// "complaint resolve". The complaint is an attribute (AttrComplaintID): the
// tracking code is the reporter's key to the public status page and stays
// out of telemetry, and span names stay few.
func SpanName(action string) string { return "complaint " + action }

// Attributes of a transition's span.
const (
	AttrComplaintID = "wuxiao.complaint.id"
	AttrAction      = "wuxiao.complaint.action"
	AttrCategory    = "wuxiao.complaint.category"
	AttrOutcome     = "wuxiao.complaint.outcome"
	AttrTown        = "wuxiao.town"
	AttrVillage     = "wuxiao.village"
)

// ActionEscalate names the escalation job's transitions in spans.
const ActionEscalate = "escalate"

// traceParentOf is the W3C traceparent of the span in ctx, "" when ctx has
// none (telemetry.TraceParent).
func traceParentOf(ctx context.Context) string { return telemetry.TraceParent(ctx) }

// startTransition starts the span of action on c with
// telemetry.StartContinued: a child of the intake's trace context, linked
// to the span of ctx (the request or job acting). When the intake was not
// sampled it is a child of ctx's span linked to the intake instead, and
// without a stored intake context (complaints filed before it was kept)
// simply a child of ctx's span.
//
// The intake's context is the server's own root span of the public intake
// request (httpapi starts public routes as new roots, linked to what the
// client sent), so no client chooses the complaint's trace or turns its
// recording off.
func startTransition(ctx context.Context, c *Complaint, action string) (context.Context, trace.Span) {
	return telemetry.StartContinued(ctx, scope, telemetry.ParseTraceParent(c.TraceParent), SpanName(action),
		trace.WithSpanKind(trace.SpanKindInternal), trace.WithAttributes(
			attribute.String(AttrComplaintID, c.ID),
			attribute.String(AttrAction, action),
			attribute.String(AttrCategory, string(c.Category)),
			attribute.String(AttrTown, c.Town),
			attribute.String(AttrVillage, c.Village),
		))
}
