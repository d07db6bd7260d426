package inspection

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	"github.com/wuxiao/wuxiao/services/internal/httpapi"
	"github.com/wuxiao/wuxiao/services/internal/testinfra"
)

// Orders persisted: issue rates and announces; an unanswered blue order
// escalates to yellow, then red, then is referred; each escalation is one
// new order, one fact and its events, once however often the loop runs.
func TestOrdersIssueAndEscalate(t *testing.T) {
	ctx := context.Background()
	clk := &testClock{}
	clk.Set(time.Date(2026, 3, 2, 9, 0, 0, 0, Shanghai))
	s := newService(t, testinfra.Postgres(t), svcTown, clk)

	blue, err := s.IssueOrder(ctx, testDisc, OrderRequest{Village: svcVillage, Situation: "duty-02", Detail: "2月财务公开未按时上墙"})
	if err != nil {
		t.Fatal(err)
	}
	if blue.Number != "奉纪督〔2026〕1号" || blue.Colour != Blue || blue.Status != OrderIssued ||
		!blue.Deadline.Equal(time.Date(2026, 4, 2, 0, 0, 0, 0, Shanghai)) || blue.IssuedBy != testDisc.IdentityID {
		t.Fatalf("blue order %+v", blue)
	}
	if r := rating(t, s, svcVillage); r.Points != 95 || r.Contributions[0].Fact.Ref != blue.Number {
		t.Fatalf("rating after a blue order %+v", r)
	}

	// To a cadre, with its own colour and deadline; bad input is a 422
	// naming every field.
	cadre, err := s.IssueOrder(ctx, testDisc, OrderRequest{Village: svcVillage2, CadreID: "cadre-42", Situation: "conduct-01",
		Colour: "yellow", Deadline: "2026-03-10"})
	if err != nil || cadre.Colour != Yellow || cadre.CadreID != "cadre-42" || !cadre.Deadline.Equal(time.Date(2026, 3, 11, 0, 0, 0, 0, Shanghai)) {
		t.Fatalf("cadre order %+v (%v)", cadre, err)
	}
	_, err = s.IssueOrder(ctx, testDisc, OrderRequest{Village: svcVillage, Situation: "no-such", Colour: "purple"})
	var p *httpapi.Problem
	if !errors.As(err, &p) || p.Status != 422 || len(p.Extensions["errors"].([]httpapi.FieldError)) != 2 {
		t.Fatalf("bad order: %v %+v", err, p)
	}

	// The cadre answers in time; the office closes the order.
	if _, err := s.ActOnOrder(ctx, cadre.Number, "close", ""); !errors.As(err, &p) || p.Status != 409 {
		t.Fatalf("closing an unanswered order: %v", err)
	}
	if _, err := s.ActOnOrder(ctx, cadre.Number, "respond", "已当面向群众道歉并整改"); err != nil {
		t.Fatal(err)
	}
	closed, err := s.ActOnOrder(ctx, cadre.Number, "close", "")
	if err != nil || closed.Status != OrderClosed || closed.Response == "" {
		t.Fatalf("closed %+v (%v)", closed, err)
	}

	// 2 April: the blue order is unanswered. It becomes yellow (−10), then
	// after 15 more days red (−20), then is referred. The closed order
	// never escalates.
	clk.Set(time.Date(2026, 4, 2, 0, 0, 0, 0, Shanghai))
	for i, want := range []int{1, 0} {
		if n, err := s.EscalateOrders(ctx, 10); err != nil || n != want {
			t.Fatalf("run %d: %d (%v), want %d", i, n, err, want)
		}
	}
	old, err := s.OrderByNumber(ctx, blue.Number)
	if err != nil || old.Status != OrderOverdue || old.EscalatedTo != "奉纪督〔2026〕3号" {
		t.Fatalf("escalated blue %+v (%v)", old, err)
	}
	if _, err := s.ActOnOrder(ctx, blue.Number, "respond", "迟到的答复"); !errors.As(err, &p) || p.Status != 409 {
		t.Fatalf("answering an escalated order: %v", err)
	}
	yellow, err := s.OrderByNumber(ctx, old.EscalatedTo)
	if err != nil || yellow.Colour != Yellow || yellow.EscalatedFrom != blue.Number || yellow.IssuedBy != "system:escalation" {
		t.Fatalf("yellow %+v (%v)", yellow, err)
	}
	clk.Set(yellow.Deadline)
	if n, err := s.EscalateOrders(ctx, 10); err != nil || n != 1 {
		t.Fatalf("yellow escalation: %d (%v)", n, err)
	}
	yellow, _ = s.OrderByNumber(ctx, yellow.Number)
	red, err := s.OrderByNumber(ctx, yellow.EscalatedTo)
	if err != nil || red.Colour != Red {
		t.Fatalf("red %+v (%v)", red, err)
	}
	clk.Set(red.Deadline.Add(time.Hour))
	for i, want := range []int{1, 0} {
		if n, err := s.EscalateOrders(ctx, 10); err != nil || n != want {
			t.Fatalf("red run %d: %d (%v), want %d", i, n, err, want)
		}
	}
	red, _ = s.OrderByNumber(ctx, red.Number)
	if red.Status != OrderOverdue || red.ReferredAt == nil || red.EscalatedTo != "" {
		t.Fatalf("referred red %+v", red)
	}
	// 100 − 5 (blue) − 10 (yellow) − 20 (red) − 5 (the red one's
	// deadline missed: referred, no order deducts for it) = 60.
	if r := rating(t, s, svcVillage); r.Points != 60 || r.Grade != GradeD {
		t.Fatalf("rating %d %s, want 60 D", r.Points, r.Grade)
	}
	if n := count(t, s.Pool, `SELECT count(*) FROM orders`); n != 4 {
		t.Fatalf("%d orders, want 4", n)
	}

	types, data := outbox(t, s.Pool)
	var issued, escalated []string
	for i, typ := range types {
		switch typ {
		case eventsv1.TypeOrderIssued:
			var e eventsv1.OrderIssued
			if err := json.Unmarshal(data[i], &e); err != nil {
				t.Fatal(err)
			}
			issued = append(issued, e.Number+"/"+e.Colour+"/"+e.EscalatedFrom)
		case eventsv1.TypeOrderEscalated:
			var e eventsv1.OrderEscalated
			if err := json.Unmarshal(data[i], &e); err != nil {
				t.Fatal(err)
			}
			to := e.To
			if e.Referred {
				to = "referred"
			}
			escalated = append(escalated, e.Number+"→"+to)
		}
	}
	wantIssued := []string{blue.Number + "/blue/", cadre.Number + "/yellow/", yellow.Number + "/yellow/" + blue.Number, red.Number + "/red/" + yellow.Number}
	wantEscalated := []string{blue.Number + "→" + yellow.Number, yellow.Number + "→" + red.Number, red.Number + "→referred"}
	if !slices.Equal(issued, wantIssued) || !slices.Equal(escalated, wantEscalated) {
		t.Fatalf("issued %v escalated %v, want %v %v", issued, escalated, wantIssued, wantEscalated)
	}
}

func TestInterviews(t *testing.T) {
	ctx := context.Background()
	clk := &testClock{}
	clk.Set(time.Date(2026, 3, 2, 9, 0, 0, 0, Shanghai))
	s := newService(t, testinfra.Postgres(t), svcTown, clk)
	o, err := s.IssueOrder(ctx, testDisc, OrderRequest{Village: svcVillage, Situation: "duty-02"})
	if err != nil {
		t.Fatal(err)
	}
	iv, err := s.RecordInterview(ctx, testDisc, Interview{Village: svcVillage, CadreName: "张某", CadrePost: "村党组织书记",
		HeldAt: clk.Now().Add(-time.Hour), Interviewers: []string{"镇纪委书记"}, Reason: "财务公开不及时", Outcome: "提醒谈话，限期整改", OrderNumber: o.Number})
	if err != nil || iv.ID == "" {
		t.Fatalf("interview %+v (%v)", iv, err)
	}
	_, err = s.RecordInterview(ctx, testDisc, Interview{Village: svcVillage, HeldAt: clk.Now().Add(time.Hour), OrderNumber: "奉纪督〔2026〕99号"})
	var p *httpapi.Problem
	if !errors.As(err, &p) || p.Status != 422 || len(p.Extensions["errors"].([]httpapi.FieldError)) != 6 {
		t.Fatalf("bad interview: %v", err)
	}
	list, err := s.Interviews(ctx, "village = $2", svcVillage)
	if err != nil || len(list) != 1 || list[0].CadreName != "张某" || list[0].OrderNumber != o.Number {
		t.Fatalf("interviews %+v (%v)", list, err)
	}
}
