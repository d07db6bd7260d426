package complaint

// The tracking page (/r/track): a complaint's public status by its tracking
// code, and the reporter's feedback with the follow-up secret.

import (
	"errors"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/wuxiao/wuxiao/services/internal/domainerr"
)

type trackPage struct {
	Title                    string
	Code                     string
	View                     *PublicView
	CanFeedback              bool
	Satisfied, Comment, Done string
	Errors                   map[string][]string
	General                  []string
}

// trackForm is GET /r/track: the form asking for a tracking code, which it
// sends (GET ?code=) back here to be redirected to the status page.
func (a *API) trackForm(w http.ResponseWriter, r *http.Request) {
	p := &trackPage{Title: "查询办理进度", Errors: map[string][]string{}}
	if code, ok := r.URL.Query()["code"]; ok {
		c := strings.ToUpper(strings.TrimSpace(code[0]))
		if ValidTrackingCode(c) {
			http.Redirect(w, r, "/r/track/"+c, http.StatusSeeOther) //nolint:gosec // G710: a local path; c passed ValidTrackingCode
			return
		}
		p.Code = code[0]
		p.Errors["code"] = []string{"查询码格式应为TS-XXX-XXXX-XXXX（较早的查询码为TS-XXXX-XXXX），请核对后重新输入"}
		renderPage(w, http.StatusUnprocessableEntity, "trackform", p)
		return
	}
	renderPage(w, http.StatusOK, "trackform", p)
}

// trackStatus is GET /r/track/{code}.
func (a *API) trackStatus(w http.ResponseWriter, r *http.Request) {
	p := &trackPage{Title: "办理进度", Errors: map[string][]string{}}
	a.renderTrack(w, r, p, http.StatusOK)
}

func (a *API) renderTrack(w http.ResponseWriter, r *http.Request, p *trackPage, status int) {
	pv, err := a.Service.Track(r.Context(), r.PathValue("code"))
	if errors.Is(err, ErrNotFound) {
		p.Title, p.Code = "查询办理进度", r.PathValue("code")
		p.Errors["code"] = []string{"没有找到这个查询码，请核对后重新输入"}
		renderPage(w, http.StatusNotFound, "trackform", p)
		return
	}
	if err != nil {
		a.Service.logError(r, "tracking a complaint", err)
		pageError(w, http.StatusServiceUnavailable, "暂时无法查询", "系统暂时无法查询，请稍后再试。")
		return
	}
	p.View = &pv
	p.CanFeedback = pv.Status == StatusResolved
	renderPage(w, status, "track", p)
}

// trackFeedback is POST /r/track/{code}: the reporter's verdict, with the
// secret.
func (a *API) trackFeedback(w http.ResponseWriter, r *http.Request) {
	if crossSite(r) {
		pageError(w, http.StatusForbidden, "无法提交", "请直接在本页面提交评价。")
		return
	}
	p := &trackPage{Title: "办理进度", Errors: map[string][]string{}}
	if err := r.ParseForm(); err != nil {
		p.General = append(p.General, "提交的内容格式不正确，请重新填写。")
		a.renderTrack(w, r, p, http.StatusBadRequest)
		return
	}
	p.Satisfied, p.Comment = r.PostForm.Get("satisfied"), r.PostForm.Get("comment")
	secret := strings.TrimSpace(r.PostForm.Get("secret"))
	if p.Satisfied != "yes" && p.Satisfied != "no" {
		p.Errors["satisfied"] = []string{"请选择满意或不满意"}
	}
	if secret == "" {
		p.Errors["secret"] = []string{"请填写提交举报时显示的密码"}
	}
	if utf8.RuneCountInString(p.Comment) > 2000 {
		p.Errors["comment"] = []string{"意见最多2000字"}
	}
	if len(p.Errors) > 0 {
		a.renderTrack(w, r, p, http.StatusUnprocessableEntity)
		return
	}
	_, err := a.Service.Feedback(r.Context(), r.PathValue("code"), secret, p.Satisfied == "yes", strings.TrimSpace(p.Comment))
	var ce *domainerr.Error
	switch {
	case err == nil:
		p.Done, p.Satisfied, p.Comment = "感谢您的评价，已记录。", "", ""
		a.renderTrack(w, r, p, http.StatusOK)
	case errors.Is(err, ErrNotFound):
		// A wrong secret and an unknown code look alike (as in the API).
		p.Errors["secret"] = []string{"查询码或密码不正确"}
		a.renderTrack(w, r, p, http.StatusUnprocessableEntity)
	case errors.As(err, &ce) && ce.Type == "feedback-closed":
		p.General = append(p.General, "评价期限已过，无法再评价。")
		a.renderTrack(w, r, p, http.StatusConflict)
	case errors.As(err, &ce) && ce.Status < 500:
		p.General = append(p.General, "当前状态下不能评价。")
		a.renderTrack(w, r, p, ce.Status)
	default:
		a.Service.logError(r, "recording feedback from the tracking page", err)
		pageError(w, http.StatusServiceUnavailable, "暂时无法提交", "系统暂时无法记录您的评价，请稍后再试。")
	}
}
