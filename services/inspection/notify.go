package inspection

// Notifications: the events that concern people (a step waiting for a
// role, a deadline near or passed, an escalation, a notice or order issued
// or answered) become messages addressed to roles of the town, read in the
// console inbox (notify_handlers.go) and delivered through the district's
// channels (notify_delivery.go). One message per event, keyed by the
// event's id. A message is built only from the fields named here, never
// from a whole payload: complaint events name no reporter, and nothing a
// reporter gave could reach a message through this code.

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	"github.com/wuxiao/wuxiao/api/notifications"
	"github.com/wuxiao/wuxiao/services/internal/events"
	"github.com/wuxiao/wuxiao/services/internal/identity"
)

// Message is one notification: what happened, where to look, and who is
// told (Roles of the town; village roles only of Village).
type Message struct {
	ID        int64
	EventID   string
	EventType string
	Kind      notifications.Kind
	Title     string
	Body      string
	// Link is a console path (/console/...).
	Link      string
	Roles     []identity.Role
	Town      string
	Village   string
	CreatedAt time.Time
}

// Audiences of the messages.
var (
	// villageLeaders: who answers for a village to the town's discipline
	// office (notices and orders are addressed to them).
	villageLeaders = []identity.Role{identity.RoleSecretary, identity.RoleDirector, identity.RoleSupervisionChair}
	discipline     = []identity.Role{identity.RoleTownDiscipline}
	// escalated: the town's and the district's discipline, and the
	// village's leaders.
	escalated = []identity.Role{identity.RoleTownDiscipline, identity.RoleDistrictDiscipline, identity.RoleSecretary, identity.RoleDirector}
)

// complaintCategories names the complaint categories as the console does.
var complaintCategories = map[string]string{"funds": "村级资金", "project": "工程项目", "subsidy": "惠农补贴",
	"cadre-conduct": "干部作风", "service": "便民服务"}

var complaintStages = map[string]string{"received": "受理", "accepted": "调查", "investigating": "办结"}

// HandleNotifyEvent is an events.Handler for the consumed streams: it
// records the event's message, if the event concerns anyone, in the
// consumer's transaction (whose inbox makes it once per event).
func (s *Service) HandleNotifyEvent(ctx context.Context, tx pgx.Tx, ev eventsv1.Event) error {
	if ev.Town != s.Town {
		return nil // the stream's own handler refuses it
	}
	m, err := s.messageFor(ctx, tx, ev)
	if err != nil || m == nil {
		return err
	}
	_, err = insertMessage(ctx, tx, m)
	return err
}

// Notifying returns a handler that applies an event with h and then
// records its message, both in the consumer's transaction.
func (s *Service) Notifying(h events.Handler) events.Handler {
	return func(ctx context.Context, tx pgx.Tx, ev eventsv1.Event) error {
		if err := h(ctx, tx, ev); err != nil {
			return err
		}
		return s.HandleNotifyEvent(ctx, tx, ev)
	}
}

// messageFor builds an event's message; nil when it concerns nobody. A
// malformed payload is refused for good (dead-lettered with the event).
func (s *Service) messageFor(ctx context.Context, q querier, ev eventsv1.Event) (*Message, error) {
	m := &Message{EventID: ev.ID, EventType: ev.Type, Town: s.Town, Village: ev.Village, CreatedAt: s.now()}
	decode := func(v any) error {
		if err := ev.Decode(v); err != nil {
			return events.Permanent(fmt.Errorf("notification of %s: %w", ev.ID, err))
		}
		return nil
	}
	village := func(code string) (string, error) {
		if code != "" {
			m.Village = code
		}
		if m.Village == "" {
			return "", nil
		}
		return s.villageName(ctx, q, m.Village)
	}
	day := dateCN
	switch ev.Type {
	case eventsv1.TypeStepCompleted:
		var d eventsv1.StepCompleted
		if err := decode(&d); err != nil {
			return nil, err
		}
		if d.NextStep == "" || !identity.Role(d.NextRole).Valid() {
			return nil, nil // the process ended, or the event does not say who acts next
		}
		name, err := village("")
		if err != nil {
			return nil, err
		}
		m.Kind, m.Roles = notifications.KindTask, []identity.Role{identity.Role(d.NextRole)}
		m.Title = fmt.Sprintf("待办：%s", orDefault(d.NextStepName, d.NextStep))
		m.Body = fmt.Sprintf("%s“%s”（%s）已到“%s”一步，请办理。", name, d.ItemName, d.TrackingNumber, orDefault(d.NextStepName, d.NextStep))
		m.Link = "/console/processes/" + url.PathEscape(d.InstanceID)
	case eventsv1.TypeStepReminder, eventsv1.TypeStepEscalated:
		var d eventsv1.StepDeadline
		if err := decode(&d); err != nil {
			return nil, err
		}
		name, err := village("")
		if err != nil {
			return nil, err
		}
		step := orDefault(d.StepName, d.StepID)
		holder := identity.Role(d.Role)
		if !holder.Valid() {
			holder = identity.RoleSecretary // events before the role was named: the village's head answers
		}
		m.Link = "/console/processes/" + url.PathEscape(d.InstanceID)
		if ev.Type == eventsv1.TypeStepReminder {
			m.Kind, m.Roles = notifications.KindReminder, []identity.Role{holder}
			m.Title = fmt.Sprintf("即将到期：%s", step)
			m.Body = fmt.Sprintf("%s“%s”（%s）的“%s”一步将于%s到期，请及时办理。", name, d.ItemName, d.TrackingNumber, step, day(d.DueAt))
		} else {
			m.Kind, m.Roles = notifications.KindOverdue, roles(holder, identity.RoleTownOfficial)
			m.Title = fmt.Sprintf("已超期：%s", step)
			m.Body = fmt.Sprintf("%s“%s”（%s）的“%s”一步已超过办理时限（%s），仍未办结。", name, d.ItemName, d.TrackingNumber, step, day(d.DueAt))
		}
	case eventsv1.TypeComplaintEscalated:
		var d eventsv1.ComplaintEscalated
		if err := decode(&d); err != nil {
			return nil, err
		}
		name, err := village("")
		if err != nil {
			return nil, err
		}
		m.Kind, m.Roles = notifications.KindEscalation, roles(identity.RoleTownDiscipline, identity.RoleDistrictDiscipline)
		m.Title = "举报超期未处理"
		m.Body = fmt.Sprintf("%s的一件“%s”类举报未在期限（%s）内%s，已升级，请督办。", orDefault(name, s.TownName),
			orDefault(complaintCategories[d.Category], "其他"), day(d.DueAt), orDefault(complaintStages[d.Stage], "处理"))
		m.Link = "/console/complaints/" + url.PathEscape(d.ComplaintID)
	case eventsv1.TypeNoticeDrafted:
		var d eventsv1.NoticeDrafted
		if err := decode(&d); err != nil {
			return nil, err
		}
		name, err := village(d.Village)
		if err != nil {
			return nil, err
		}
		m.Kind, m.Roles = notifications.KindNotice, discipline
		m.Title = fmt.Sprintf("待签发：%s%s", name, noticeKindName(d.Kind))
		m.Body = fmt.Sprintf("%s%s期评级降为%s（%d分），已生成%s草稿，请签发或撤销。", name, d.Period, d.Grade, d.Points, noticeKindName(d.Kind))
		m.Link = "/console/notices"
	case eventsv1.TypeNoticeIssued:
		var d eventsv1.NoticeIssued
		if err := decode(&d); err != nil {
			return nil, err
		}
		name, err := village(d.Village)
		if err != nil {
			return nil, err
		}
		m.Kind, m.Roles = notifications.KindNotice, villageLeaders
		m.Title = fmt.Sprintf("收到%s %s", noticeKindName(d.Kind), d.Number)
		m.Body = fmt.Sprintf("%s收到%s（%s），请于%s前提交整改报告和佐证材料。", name, noticeKindName(d.Kind), d.Number, day(lastDay(d.Deadline)))
		m.Link = noticeLink(d.Number)
	case eventsv1.TypeNoticeAnswered, eventsv1.TypeOrderAnswered:
		var d eventsv1.NoticeAnswered
		if err := decode(&d); err != nil {
			return nil, err
		}
		name, err := village(d.Village)
		if err != nil {
			return nil, err
		}
		what, link, kind := "通知书", noticeLink(d.Number), notifications.KindNotice
		if ev.Type == eventsv1.TypeOrderAnswered {
			what, link, kind = "督查令", orderLink(d.Number), notifications.KindOrder
		}
		late := ""
		if d.Late {
			late = "（逾期）"
		}
		m.Kind, m.Roles = kind, discipline
		m.Title = fmt.Sprintf("%s已答复%s %s", name, what, d.Number)
		m.Body = fmt.Sprintf("%s已就%s %s提交整改报告%s，附佐证材料%d份，请审核。", name, what, d.Number, late, d.Evidence)
		m.Link = link
	case eventsv1.TypeNoticeReturned, eventsv1.TypeOrderReturned, eventsv1.TypeNoticeAccepted, eventsv1.TypeOrderAccepted:
		var d eventsv1.NoticeReviewed
		if err := decode(&d); err != nil {
			return nil, err
		}
		if _, err := village(d.Village); err != nil {
			return nil, err
		}
		what, link, kind := "通知书", noticeLink(d.Number), notifications.KindNotice
		if ev.Type == eventsv1.TypeOrderReturned || ev.Type == eventsv1.TypeOrderAccepted {
			what, link, kind = "督查令", orderLink(d.Number), notifications.KindOrder
		}
		m.Kind, m.Roles, m.Link = kind, villageLeaders, link
		if ev.Type == eventsv1.TypeNoticeAccepted || ev.Type == eventsv1.TypeOrderAccepted {
			m.Title = fmt.Sprintf("%s %s的答复已通过", what, d.Number)
			m.Body = fmt.Sprintf("纪委已审核通过%s %s的整改答复。", what, d.Number)
		} else {
			m.Title = fmt.Sprintf("%s %s的答复被退回", what, d.Number)
			m.Body = fmt.Sprintf("纪委退回了%s %s的整改答复，请按意见重新提交。退回理由：%s", what, d.Number, d.Reason)
		}
	case eventsv1.TypeNoticeEscalated:
		var d eventsv1.NoticeEscalated
		if err := decode(&d); err != nil {
			return nil, err
		}
		name, err := village(d.Village)
		if err != nil {
			return nil, err
		}
		m.Kind, m.Roles = notifications.KindEscalation, escalated
		m.Title = fmt.Sprintf("通知书逾期未答复：%s", d.Number)
		m.Body = fmt.Sprintf("%s未在期限（%s）内答复%s %s，已升级。", name, day(lastDay(d.Deadline)), noticeKindName(d.Kind), d.Number)
		m.Link = noticeLink(d.Number)
	case eventsv1.TypeOrderIssued:
		var d eventsv1.OrderIssued
		if err := decode(&d); err != nil {
			return nil, err
		}
		name, err := village(d.Village)
		if err != nil {
			return nil, err
		}
		m.Kind, m.Roles = notifications.KindOrder, villageLeaders
		m.Title = fmt.Sprintf("收到%s督查令 %s", Colour(d.Colour).Name(), d.Number)
		m.Body = fmt.Sprintf("%s收到%s督查令（%s），请于%s前答复整改情况。", name, Colour(d.Colour).Name(), d.Number, day(lastDay(d.Deadline)))
		m.Link = orderLink(d.Number)
	case eventsv1.TypeOrderEscalated:
		var d eventsv1.OrderEscalated
		if err := decode(&d); err != nil {
			return nil, err
		}
		name, err := village(d.Village)
		if err != nil {
			return nil, err
		}
		next := "已移送纪律审查"
		if d.To != "" {
			next = fmt.Sprintf("已升级为%s督查令 %s", Colour(d.ToColour).Name(), d.To)
		}
		m.Kind, m.Roles = notifications.KindEscalation, escalated
		m.Title = fmt.Sprintf("督查令逾期未答复：%s", d.Number)
		m.Body = fmt.Sprintf("%s未在期限（%s）内答复%s督查令 %s，%s。", name, day(lastDay(d.Deadline)), Colour(d.Colour).Name(), d.Number, next)
		m.Link = orderLink(d.Number)
	case eventsv1.TypeRectificationOverdue:
		var d eventsv1.RectificationOverdue
		if err := decode(&d); err != nil {
			return nil, err
		}
		name, err := village(d.Village)
		if err != nil {
			return nil, err
		}
		m.Kind, m.Roles = notifications.KindOverdue, roles(identity.RoleTownDiscipline, identity.RoleSecretary, identity.RoleDirector)
		m.Title = "巡察整改任务已超期"
		m.Body = fmt.Sprintf("%s的一项巡察整改任务未在期限（%s）内完成。", name, day(lastDay(d.Deadline)))
		m.Link = "/console/supervision"
	default:
		return nil, nil
	}
	if m.Village != "" && !identity.ValidVillage(m.Village) {
		return nil, events.Permanent(fmt.Errorf("notification of %s: village %q is not a village code", ev.ID, m.Village))
	}
	if m.Village == "" {
		// Without a village no village role can be told: keep the town's.
		m.Roles = slices.DeleteFunc(slices.Clone(m.Roles), func(r identity.Role) bool { return r.IsVillageRole() })
		if len(m.Roles) == 0 {
			return nil, nil
		}
	}
	m.Title, m.Body = clip(m.Title, 200), clip(m.Body, 2000)
	return m, nil
}

// roles lists distinct roles in order.
func roles(rs ...identity.Role) []identity.Role {
	var out []identity.Role
	for _, r := range rs {
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

func noticeKindName(kind string) string {
	if kind == eventsv1.NoticeKindRectification {
		return "整改通知书"
	}
	return "预警通知书"
}

func noticeLink(number string) string {
	if number == "" {
		return "/console/notices"
	}
	return "/console/notices/" + url.PathEscape(number)
}

// orderLink is the order's own console page, which the village officials it
// addresses may open too (the orders list is discipline's only).
func orderLink(number string) string {
	if number == "" {
		return "/console/notices"
	}
	return "/console/inspection/orders/" + url.PathEscape(number)
}

func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// inboxCaller: officials of this town (village and town roles) and
// district staff have an inbox here; villagers and other towns' officials
// do not. A caller sees the town's messages addressed to their role, a
// village role those of their own village only (notify_store.go's scope).
func (s *Service) inboxCaller(p identity.Principal) bool {
	return p.Role != identity.RoleVillager && p.InTown(s.Town)
}
