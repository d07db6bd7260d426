package gateway

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/wuxiao/wuxiao/services/internal/identity"
	"github.com/wuxiao/wuxiao/services/internal/tz"
)

// answerUploadLimit is the answer forms' body limit: three evidence files
// of the service's 10 MiB and the form's fields.
const answerUploadLimit = 3*(10<<20) + 64<<10

// Answers to three-colour orders and notices in the console: the village's
// secretary, director or supervision chair answers with the rectification
// report, a description of the evidence, a link and evidence files (photos,
// scanned documents) in one form; discipline staff (the town's office or
// the district's, for orders) accept the answer or return it with the
// reason and, if they like, the day the new answer is due. The files go to
// the inspection service's upload route as they arrive (the gateway never
// holds a whole file), then the answer names them; the service checks who
// answers what, cleans the files' metadata and keeps them. Everyone who
// may read the order or notice opens its files through the console.

// inOrderFull is an order with its life, as GET /v1/orders/{number} serves it.
type inOrderFull struct {
	inOrder
	ReferredAt *time.Time `json:"referredAt,omitempty"`
	Steps      []ntStep   `json:"steps"`
}

// answerRoles answer for their village (the inspection service's rule).
var answerRoles = []identity.Role{identity.RoleSecretary, identity.RoleDirector, identity.RoleSupervisionChair}

// answerForm is what the village typed into an answer form.
type answerForm struct{ Report, Evidence, Link string }

type orderPageData struct {
	Tabs                                []inspTab
	O                                   inOrderFull
	VillageName, ColourName, StatusName string
	Left                                deadline
	Steps                               []ntStepView
	CanAnswer, CanReview                bool
	Error                               string
	Form                                answerForm
	Tomorrow                            string
}

var orderFlashes = map[string]string{"answer": "答复已提交，等待纪委审核。", "close": "答复已审核通过，督查令办结。",
	"return": "答复已退回，村须在新的期限内重新答复。"}

func (g *Gateway) orderPage(c *consoleReq) { g.renderOrder(c, http.StatusOK, "", answerForm{}) }

// renderOrder shows one order with its steps, files and the forms the
// user's role may use.
func (g *Gateway) renderOrder(c *consoleReq, status int, errMsg string, form answerForm) {
	ctx := c.r.Context()
	number := c.r.PathValue("number")
	var o inOrderFull
	var vs []wfVillage
	var err error
	parallel(
		func() { err = c.svc(ServiceInspection).get(ctx, "/v1/orders/"+url.PathEscape(number), &o) },
		func() { vs = c.villages(ctx) },
	)
	if err != nil {
		c.inspFail(err, "没有找到这份督查令。")
		return
	}
	d := orderPageData{O: o, VillageName: label(villageNames(vs), o.Village), ColourName: label(inColourNames, o.Colour),
		StatusName: label(inOrderStatusNames, o.Status), Error: errMsg, Form: form,
		Tomorrow: consoleNow().AddDate(0, 0, 1).In(tz.Shanghai).Format(time.DateOnly)}
	waiting := (o.Status == "issued" || o.Status == "overdue") && o.EscalatedTo == "" && o.ReferredAt == nil
	d.CanAnswer = waiting && slices.Contains(answerRoles, c.p.Role) && c.p.Village == o.Village
	d.CanReview = o.Status == "responded" && c.inspRunner()
	if waiting {
		due := o.Due()
		d.Left = deadlineOf(&due, consoleNow())
	}
	for _, st := range o.Steps {
		d.Steps = append(d.Steps, ntStepView{ntStep: st, Name: label(ntActionNames, st.Action), RoleName: stepRole(st.Role)})
	}
	nav := "notices"
	if inspReader(c.p.Role) {
		d.Tabs, nav = c.inspTabs("/console/inspection/orders"), "inspection"
	}
	c.page(status, "console_inspection_order", label(inColourNames, o.Colour)+"督查令 "+o.Number, nav,
		orderFlashes[c.r.URL.Query().Get("ok")], d)
}

// lastDay is the day a deadline (the midnight ending it) ends, as people
// name a deadline: 2026-05-31 for 2026-06-01 00:00.
func lastDay(deadline time.Time) string {
	return deadline.Add(-time.Nanosecond).In(tz.Shanghai).Format(time.DateOnly)
}

// DueDay and DeadlineDay are the last days of the answer awaited and of the
// document's own deadline.
func (o inOrder) DueDay() string      { return lastDay(o.Due()) }
func (o inOrder) DeadlineDay() string { return lastDay(o.Deadline) }
func (n ntNotice) DueDay() string     { return lastDay(n.Due()) }

// orderURL is an order's console page.
func orderURL(number string) string { return "/console/inspection/orders/" + url.PathEscape(number) }

// answerOrder: the village's answer to an order, with its files.
func (g *Gateway) answerOrder(c *consoleReq) {
	number := c.r.PathValue("number")
	base := "/v1/orders/" + url.PathEscape(number)
	fail := func(status int, msg string, f answerForm) { g.renderOrder(c, status, msg, f) }
	f, evidence, ok := readAnswer(c, base, "督查令", fail)
	if !ok {
		return
	}
	if err := c.svc(ServiceInspection).postJSON(c.r.Context(), base+"/respond", map[string]any{"response": f.Report, "evidence": evidence}, nil); err != nil {
		answerFailed(c, err, "督查令", f, fail)
		return
	}
	http.Redirect(c.w, c.r, orderURL(number)+"?ok=answer", http.StatusSeeOther)
}

// reviewOrder: discipline accepts (close) or returns an order's answer.
func (g *Gateway) reviewOrder(c *consoleReq) {
	if !c.form() {
		return
	}
	number, action := c.r.PathValue("number"), c.r.PathValue("action")
	if action != "close" && action != "return" {
		c.fail(http.StatusNotFound, "没有这种办理方式。")
		return
	}
	body := map[string]string{}
	if action == "return" {
		body["reason"] = strings.TrimSpace(c.r.PostForm.Get("reason"))
		if body["reason"] == "" {
			g.renderOrder(c, http.StatusUnprocessableEntity, "请填写退回的理由。", answerForm{})
			return
		}
		if d := strings.TrimSpace(c.r.PostForm.Get("deadline")); d != "" {
			body["deadline"] = d
		}
	}
	if err := c.svc(ServiceInspection).postJSON(c.r.Context(), "/v1/orders/"+url.PathEscape(number)+"/"+action, body, nil); err != nil {
		reviewFailed(c, err, "督查令", func(status int, msg string) { g.renderOrder(c, status, msg, answerForm{}) })
		return
	}
	http.Redirect(c.w, c.r, orderURL(number)+"?ok="+action, http.StatusSeeOther)
}

// answerNotice: the village's answer to a notice, with its files.
func (g *Gateway) answerNotice(c *consoleReq) {
	id := c.r.PathValue("id")
	if _, err := uuid.Parse(id); err != nil {
		c.fail(http.StatusNotFound, "没有找到这份通知书。")
		return
	}
	base := "/v1/notices/" + id
	fail := func(status int, msg string, _ answerForm) { g.renderNotices(c, status, msg) }
	f, evidence, ok := readAnswer(c, base, "通知书", fail)
	if !ok {
		return
	}
	if err := c.svc(ServiceInspection).postJSON(c.r.Context(), base+"/answer", map[string]any{"report": f.Report, "evidence": evidence}, nil); err != nil {
		answerFailed(c, err, "通知书", f, fail)
		return
	}
	http.Redirect(c.w, c.r, "/console/notices?ok=answer", http.StatusSeeOther)
}

// readAnswer reads an answer form (multipart: the CSRF token first, then
// the report, the evidence's description and link, then the files) and
// uploads each file to the document (base) as it arrives. It returns the
// form and the answer's evidence; on failure it has answered.
func readAnswer(c *consoleReq, base, what string, fail func(int, string, answerForm)) (answerForm, []map[string]string, bool) {
	var f answerForm
	expired := "页面已过期或登录已变更，请返回上一页刷新后重新提交。"
	mr, err := c.r.MultipartReader()
	if err != nil {
		c.fail(http.StatusBadRequest, "无法读取提交的表单。")
		return f, nil, false
	}
	first, err := mr.NextPart()
	if err != nil || first.FormName() != "csrf" {
		c.fail(http.StatusForbidden, expired)
		return f, nil, false
	}
	token, _ := io.ReadAll(io.LimitReader(first, 256))
	if !c.csrfOK(string(token)) {
		c.fail(http.StatusForbidden, expired)
		return f, nil, false
	}
	var files []map[string]string
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			fail(http.StatusBadRequest, "表单没有完整提交，请重试。", f)
			return f, nil, false
		}
		switch part.FormName() {
		case "report", "evidence", "link":
			v, err := io.ReadAll(io.LimitReader(part, 8<<10))
			if err != nil {
				fail(http.StatusBadRequest, "表单没有完整提交，请重试。", f)
				return f, nil, false
			}
			s := strings.TrimSpace(string(v))
			switch part.FormName() {
			case "report":
				f.Report = s
			case "evidence":
				f.Evidence = s
			default:
				f.Link = s
			}
		case "file":
			if part.FileName() == "" {
				continue // no file chosen: browsers send an empty, nameless part
			}
			if f.Report == "" {
				fail(http.StatusUnprocessableEntity, "请填写整改情况报告。", f)
				return f, nil, false
			}
			id, err := uploadAnswerFile(c.r.Context(), c, base, part.FileName(), part)
			if err != nil {
				answerFailed(c, err, what, f, fail)
				return f, nil, false
			}
			files = append(files, map[string]string{"file": id})
		}
	}
	if f.Report == "" {
		fail(http.StatusUnprocessableEntity, "请填写整改情况报告。", f)
		return f, nil, false
	}
	var evidence []map[string]string
	if f.Evidence != "" {
		evidence = append(evidence, map[string]string{"text": f.Evidence})
	}
	if f.Link != "" {
		evidence = append(evidence, map[string]string{"url": f.Link})
	}
	evidence = append(evidence, files...)
	if len(evidence) == 0 {
		fail(http.StatusUnprocessableEntity, "请写明佐证材料，或上传佐证文件（照片、扫描件）。", f)
		return f, nil, false
	}
	return f, evidence, true
}

// uploadAnswerFile streams one evidence file to the document's upload
// route and returns its id.
func uploadAnswerFile(ctx context.Context, c *consoleReq, base, name string, body io.Reader) (string, error) {
	var out struct {
		ID string `json:"id"`
	}
	err := c.svc(ServiceInspection).do(ctx, http.MethodPost, base+"/files?name="+url.QueryEscape(name), "application/octet-stream", body, &out)
	return out.ID, err
}

// answerFailed says why an answer or its file was refused, on the form.
func answerFailed(c *consoleReq, err error, what string, f answerForm, fail func(int, string, answerForm)) {
	var e *apiError
	if !errors.As(err, &e) || e.Status == http.StatusUnauthorized || e.Status >= 500 {
		c.failAPI(err)
		return
	}
	msg := "提交没有成功：" + e.Detail
	switch {
	case e.Status == http.StatusRequestEntityTooLarge:
		msg = "文件太大：每个佐证文件最大 10 MiB。"
	case e.Status == http.StatusUnprocessableEntity && strings.HasPrefix(e.Detail, "file:"):
		msg = "佐证文件只收 JPEG、PNG 照片和 PDF 文件。"
	case e.Status == http.StatusUnprocessableEntity:
		msg = "提交的内容不完整：" + e.Detail
	case e.Status == http.StatusConflict:
		msg = "这份" + what + "的状态已变化（可能已答复、已升级或已办结），请刷新后查看。"
	case e.Status == http.StatusForbidden:
		msg = "由本村党组织书记、村委会主任或村务监督委员会主任答复" + what + "。"
	case e.Status == http.StatusNotFound:
		msg = "没有找到这份" + what + "。"
	}
	fail(e.Status, msg, f)
}

// reviewFailed says why a review was refused.
func reviewFailed(c *consoleReq, err error, what string, fail func(int, string)) {
	var e *apiError
	if !errors.As(err, &e) || e.Status == http.StatusUnauthorized || e.Status >= 500 {
		c.failAPI(err)
		return
	}
	msg := "操作没有成功：" + e.Detail
	switch e.Status {
	case http.StatusUnprocessableEntity:
		msg = "请检查退回理由和新的答复期限（须晚于今天）。"
	case http.StatusConflict:
		msg = "这份" + what + "的状态已变化，请刷新后查看。"
	case http.StatusForbidden, http.StatusNotFound:
		msg = "您的角色不能审核这份" + what + "的答复。"
	}
	fail(e.Status, msg)
}

// orderFile and noticeFile open an evidence file through the service's
// route (its readers only).
func (g *Gateway) orderFile(c *consoleReq) {
	file := c.r.PathValue("file")
	if !validID(file) {
		c.fail(http.StatusNotFound, "没有找到这个文件。")
		return
	}
	if err := c.svc(ServiceInspection).stream(c.w, c.r, "/v1/orders/"+url.PathEscape(c.r.PathValue("number"))+"/files/"+file); err != nil {
		c.failAPI(err)
	}
}

func (g *Gateway) noticeFile(c *consoleReq) {
	id, file := c.r.PathValue("id"), c.r.PathValue("file")
	if _, err := uuid.Parse(id); err != nil || !validID(file) {
		c.fail(http.StatusNotFound, "没有找到这个文件。")
		return
	}
	if err := c.svc(ServiceInspection).stream(c.w, c.r, "/v1/notices/"+id+"/files/"+file); err != nil {
		c.failAPI(err)
	}
}
