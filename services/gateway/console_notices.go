package gateway

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/wuxiao/wuxiao/services/internal/identity"
	"github.com/wuxiao/wuxiao/services/internal/tz"
)

// 通知书 (console_notices.go): the warning and rectification notices' sign-off
// and reply, on one page per role. The town's discipline office sees every
// notice of the town: drafts to sign or dismiss (with the reason), answers
// to accept or return (with the reason). A village's officials see their
// own village's issued notices, the steps so far, and, for the secretary,
// the director and the supervision chair, the form to answer with the
// rectification report and evidence. Everything is the inspection
// service's answer to the user's own session: it decides who sees and does
// what; the page only shows the forms the role can use.

// noticeConsoleRoutes registers the notices' pages (called from
// consoleRoutes).
func (g *Gateway) noticeConsoleRoutes(h func(string, consoleHandler)) {
	h("GET /console/notices", g.noticesPage)
	h("POST /console/notices/{id}/{action}", g.noticeAction)
}

// ntNotice is a notice with its life as the inspection service serves it.
type ntNotice struct {
	inspNotice
	ID          string     `json:"id"`
	Village     string     `json:"village"`
	Status      string     `json:"status"`
	DraftedAt   time.Time  `json:"draftedAt"`
	EscalatedAt *time.Time `json:"escalatedAt"`
	AnswerDue   *time.Time `json:"answerDue"`
	Steps       []ntStep   `json:"steps"`
}

// Due is when the awaited answer is due: a returned answer's new
// deadline, else the notice's.
func (n ntNotice) Due() time.Time {
	if n.AnswerDue != nil {
		return *n.AnswerDue
	}
	return n.Deadline
}

type ntStep struct {
	At       time.Time `json:"at"`
	Action   string    `json:"action"`
	Role     string    `json:"role"`
	Note     string    `json:"note"`
	Evidence []struct {
		Text string `json:"text"`
		URL  string `json:"url"`
		File string `json:"file"`
	} `json:"evidence"`
}

var ntStatusNames = map[string]string{
	"draft": "草稿（待签发）", "issued": "已签发，待村回复", "dismissed": "已撤销", "answered": "村已回复，待审核",
	"returned": "已退回，待村重新回复", "accepted": "已通过，办结",
}

var ntActionNames = map[string]string{
	"drafted": "生成草稿", "signed": "签发", "issued": "签发", "dismissed": "撤销", "answered": "村回复", "accepted": "审核通过",
	"returned": "退回", "escalated": "逾期未回复，已升级",
}

var ntKindNames = map[string]string{"warning": "预警通知书", "rectification": "整改通知书"}

// ntView is one notice as the page shows it.
type ntView struct {
	N                                           ntNotice
	Title, StatusName, CSRF, Tomorrow           string
	Deadline                                    deadline
	CanSign, CanReview, CanAnswer, ShowDocument bool
	Steps                                       []ntStepView
}

type ntStepView struct {
	ntStep
	Name, RoleName string
}

func (g *Gateway) noticesPage(c *consoleReq) {
	g.renderNotices(c, http.StatusOK, "")
}

func (g *Gateway) renderNotices(c *consoleReq, status int, errMsg string) {
	discipline := c.p.IsDiscipline()
	if !c.needRole(discipline || c.p.Role.IsVillageRole(), "镇（街道）纪委、村干部") {
		return
	}
	path := "/v1/notices?limit=100"
	if c.p.Role.IsVillageRole() {
		path += "&village=" + c.p.Village
	}
	var list items[ntNotice]
	var orders items[inOrder]
	var errO error
	var vs []wfVillage
	ctx := c.r.Context()
	err := c.svc(ServiceInspection).get(ctx, path, &list)
	if err == nil && c.p.Role.IsVillageRole() {
		// The village's three-colour orders, to answer on their pages
		// (discipline staff have them under 巡察监督).
		parallel(
			func() { errO = c.svc(ServiceInspection).get(ctx, "/v1/orders?village="+c.p.Village, &orders) },
			func() { vs = c.villages(ctx) },
		)
	}
	if err == nil {
		err = errO
	}
	if err != nil {
		c.failAPI(err)
		return
	}
	now := consoleNow()
	tomorrow := now.AddDate(0, 0, 1).In(tz.Shanghai).Format(time.DateOnly)
	townDiscipline := c.p.Role == identity.RoleTownDiscipline
	answerer := slices.Contains([]identity.Role{identity.RoleSecretary, identity.RoleDirector, identity.RoleSupervisionChair}, c.p.Role)
	d := struct {
		Open, Closed []ntView
		Orders       []orderView
		VillageRole  bool
		Error        string
	}{Error: errMsg, VillageRole: c.p.Role.IsVillageRole()}
	names := villageNames(vs)
	for _, o := range orders.Items {
		ov := orderView{inOrder: o, VillageName: label(names, o.Village), ColourName: label(inColourNames, o.Colour),
			StatusName: label(inOrderStatusNames, o.Status)}
		if o.Status == "issued" || o.Status == "overdue" {
			due := o.Due()
			ov.Left = deadlineOf(&due, now)
		}
		d.Orders = append(d.Orders, ov)
	}
	for _, n := range list.Items {
		v := ntView{N: n, Title: label(ntKindNames, n.Kind), StatusName: label(ntStatusNames, n.Status), CSRF: c.csrf, Tomorrow: tomorrow,
			CanSign:      townDiscipline && n.Status == "draft",
			CanReview:    townDiscipline && n.Status == "answered",
			CanAnswer:    answerer && (n.Status == "issued" || n.Status == "returned"),
			ShowDocument: n.Number != ""}
		if n.Status == "issued" || n.Status == "returned" {
			due := n.Due()
			v.Deadline = deadlineOf(&due, now)
		}
		for _, st := range n.Steps {
			v.Steps = append(v.Steps, ntStepView{ntStep: st, Name: label(ntActionNames, st.Action), RoleName: stepRole(st.Role)})
		}
		if n.Status == "accepted" || n.Status == "dismissed" {
			d.Closed = append(d.Closed, v)
		} else {
			d.Open = append(d.Open, v)
		}
	}
	c.page(status, "console_notices", "通知书", "notices", c.flashOf(), d)
}

// stepRole is a step's role in Chinese; the service's own steps have none.
func stepRole(r string) string {
	if r == "" {
		return "系统"
	}
	return roleName(identity.Role(r))
}

var ntFlashes = map[string]string{
	"sign": "通知书已签发。", "dismiss": "草稿已撤销。", "answer": "回复已提交。", "accept": "回复已审核通过，通知书办结。",
	"return": "回复已退回，等待村重新回复。",
}

func (c *consoleReq) flashOf() string { return ntFlashes[c.r.URL.Query().Get("ok")] }

// noticeAction signs, dismisses, accepts or returns a notice through the
// inspection service, then shows the list again (answers, with their
// files, are answerNotice's: console_inspection_answers.go).
func (g *Gateway) noticeAction(c *consoleReq) {
	if !c.form() {
		return
	}
	id, action := c.r.PathValue("id"), c.r.PathValue("action")
	if _, err := uuid.Parse(id); err != nil || ntFlashes[action] == "" {
		c.fail(http.StatusNotFound, "没有找到这份通知书。")
		return
	}
	var body any
	switch action {
	case "dismiss", "return":
		reason := strings.TrimSpace(c.r.PostForm.Get("reason"))
		if reason == "" {
			g.renderNotices(c, http.StatusUnprocessableEntity, "请填写"+map[string]string{"dismiss": "撤销", "return": "退回"}[action]+"的理由。")
			return
		}
		b := map[string]string{"reason": reason}
		if d := strings.TrimSpace(c.r.PostForm.Get("deadline")); d != "" && action == "return" {
			b["deadline"] = d
		}
		body = b
	}
	if err := c.svc(ServiceInspection).postJSON(c.r.Context(), "/v1/notices/"+id+"/"+action, body, nil); err != nil {
		var e *apiError
		if errors.As(err, &e) && (e.Status == http.StatusConflict || e.Status == http.StatusUnprocessableEntity) {
			msg := "通知书的状态已变化，请刷新后重试。"
			if e.Status == http.StatusUnprocessableEntity {
				msg = "提交的内容不完整：" + e.Detail
			}
			g.renderNotices(c, e.Status, msg)
			return
		}
		c.failAPI(err)
		return
	}
	http.Redirect(c.w, c.r, "/console/notices?ok="+action, http.StatusSeeOther)
}
