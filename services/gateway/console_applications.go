package gateway

// 代办 in the console: a village cadre or the town's service desk files a
// villager's application for an item whose first step is the villager's
// (the workflow's POST /v1/villages/{village}/applications). The record
// says it was filed on the villager's behalf and by whom; the villager
// gets the tracking number and the access code on paper.

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/wuxiao/wuxiao/api/divcode"
	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
	"github.com/wuxiao/wuxiao/services/internal/identity"
	"github.com/wuxiao/wuxiao/services/internal/tz"
)

func (g *Gateway) applicationConsoleRoutes(h func(string, consoleHandler)) {
	h("GET /console/apply/{item}", g.applyOnBehalfPage)
	h("POST /console/apply/{item}", g.applyOnBehalf)
	h("GET /console/processes/{id}/application", g.applicationPage)
	h("POST /console/processes/{id}/materials-request", g.requestMaterialsForm)
	h("POST /console/processes/{id}/appointment", g.appointmentForm)
}

// mayFileOnBehalf mirrors the workflow's rule (it decides): the village's
// cadres who serve villagers and the town's service desk.
func mayFileOnBehalf(r identity.Role) bool {
	return (r.IsVillageRole() && !readOnlyRole(r)) || r == identity.RoleTownOfficial
}

type applyForm struct {
	Village, Name, Phone, Description string
}

type applyPageData struct {
	Item     *wuxiaov1.PowerItem
	Steps    []stepView
	Villages []wfVillage
	Form     applyForm
	Error    string
	CanFile  bool
}

type applyReceipt struct {
	Item           *wuxiaov1.PowerItem
	TrackingNumber string
	AccessCode     string
	InstanceID     string
	Missing        []string
}

func (g *Gateway) applyData(c *consoleReq, f applyForm, errMsg string) (applyPageData, bool) {
	cat, err := c.catalog(c.r.Context())
	if err != nil {
		c.failAPI(err)
		return applyPageData{}, false
	}
	it := cat.Item(c.r.PathValue("item"))
	if it == nil || len(it.Steps) == 0 || it.Steps[0].Role != "villager" {
		c.fail(http.StatusNotFound, "该事项不由村民申请，不能代办。")
		return applyPageData{}, false
	}
	d := applyPageData{Item: it, Steps: stepViews(it), Form: f, Error: errMsg, CanFile: mayFileOnBehalf(c.p.Role)}
	if d.CanFile && c.p.Role.IsTownRole() {
		d.Villages = c.villages(c.r.Context())
	}
	return d, true
}

func (g *Gateway) applyOnBehalfPage(c *consoleReq) {
	d, ok := g.applyData(c, applyForm{}, "")
	if ok {
		c.page(http.StatusOK, "console_apply", "代办："+d.Item.Name, "start", "", d)
	}
}

// applyOnBehalf files the application and shows what to hand the villager.
func (g *Gateway) applyOnBehalf(c *consoleReq) {
	if !c.form() {
		return
	}
	pf := c.r.PostForm
	f := applyForm{Village: pf.Get("village"), Name: strings.TrimSpace(pf.Get("applicantName")),
		Phone: strings.TrimSpace(pf.Get("applicantPhone")), Description: strings.TrimSpace(pf.Get("description"))}
	again := func(status int, msg string) {
		if d, ok := g.applyData(c, f, msg); ok {
			c.page(status, "console_apply", "代办："+d.Item.Name, "start", "", d)
		}
	}
	village := c.p.Village
	if c.p.Role.IsTownRole() {
		village = f.Village
	}
	switch {
	case !mayFileOnBehalf(c.p.Role):
		again(http.StatusForbidden, "您的角色不能代办申请。")
		return
	case !divcode.Valid(village):
		again(http.StatusUnprocessableEntity, "请选择村。")
		return
	case f.Name == "" || f.Phone == "":
		again(http.StatusUnprocessableEntity, "请填写申请人姓名和联系电话。")
		return
	}
	req := map[string]any{"itemId": c.r.PathValue("item"), "applicantName": f.Name, "applicantPhone": f.Phone,
		"description": f.Description}
	if id := strings.TrimSpace(pf.Get("applicantIdNumber")); id != "" {
		req["applicantIdNumber"] = id
	}
	var out struct {
		TrackingNumber  string     `json:"trackingNumber"`
		AccessCode      string     `json:"accessCode"`
		MissingRequired []string   `json:"missingRequired"`
		Instance        wfInstance `json:"instance"`
	}
	if err := c.svc(ServiceWorkflow).postJSON(c.r.Context(), "/v1/villages/"+village+"/applications", req, &out); err != nil {
		status, msg := explain(err)
		var e *apiError
		if errors.As(err, &e) && e.Status == http.StatusUnprocessableEntity {
			msg = "申请内容有误：请检查申请人姓名、联系电话（11位手机号，或带区号的固定电话）和身份证号（18位，可不填）。"
			if strings.HasSuffix(e.Type, "/not-a-villager-item") {
				msg = "该事项不由村民申请，不能代办。"
			}
		}
		again(status, msg)
		return
	}
	d, ok := g.applyData(c, f, "")
	if !ok {
		return
	}
	c.page(http.StatusCreated, "console_apply_receipt", "代办已提交", "start", "", applyReceipt{Item: d.Item,
		TrackingNumber: out.TrackingNumber, AccessCode: out.AccessCode, InstanceID: out.Instance.ID, Missing: out.MissingRequired})
}

// wfApplication is the workflow's application of a process, as the
// village's cadres see it (GET /v1/instances/{id}/application).
type wfApplication struct {
	TrackingNumber  string    `json:"trackingNumber"`
	ItemID          string    `json:"itemId"`
	ItemName        string    `json:"itemName"`
	ApplicantName   string    `json:"applicantName"`
	ApplicantPhone  string    `json:"applicantPhone"`
	Description     string    `json:"description"`
	Channel         string    `json:"channel"`
	FiledByName     string    `json:"filedByName"`
	FiledAt         time.Time `json:"filedAt"`
	MissingAtFiling []string  `json:"missingAtFiling"`
	Provided        []struct {
		Material string `json:"material"`
		FileID   string `json:"fileId"`
		FileName string `json:"fileName"`
	} `json:"provided"`
	Request *struct {
		Missing         []string  `json:"missing"`
		Note            string    `json:"note"`
		RequestedByName string    `json:"requestedByName"`
		RequestedAt     time.Time `json:"requestedAt"`
	} `json:"materialsRequest"`
	Supplements []struct {
		Files int       `json:"files"`
		Note  string    `json:"note"`
		At    time.Time `json:"at"`
	} `json:"supplements"`
	Appointment *struct {
		VisitNeeded bool       `json:"visitNeeded"`
		At          *time.Time `json:"at"`
		Place       string     `json:"place"`
		Note        string     `json:"note"`
	} `json:"appointment"`
}

type applicationPageData struct {
	ID        string
	App       wfApplication
	Materials []wuxiaov1.Material
	MayHandle bool
	Error     string
}

// applicationPage shows a process's application: the applicant's contact,
// the materials given, the one request for what is missing and the
// appointment, with their forms for who may handle it.
func (g *Gateway) applicationPage(c *consoleReq) {
	flash := ""
	if c.r.URL.Query().Get("ok") == "1" {
		flash = "已保存，申请人可在村务公开页面查看。"
	}
	g.showApplication(c, http.StatusOK, flash, "")
}

func (g *Gateway) showApplication(c *consoleReq, status int, flash, errMsg string) {
	id := c.r.PathValue("id")
	if !validID(id) {
		c.fail(http.StatusNotFound, "没有找到，或您无权查看。")
		return
	}
	d := applicationPageData{ID: id, MayHandle: mayFileOnBehalf(c.p.Role), Error: errMsg}
	if err := c.svc(ServiceWorkflow).get(c.r.Context(), "/v1/instances/"+id+"/application", &d.App); err != nil {
		c.failAPI(err)
		return
	}
	if cat, err := c.catalog(c.r.Context()); err == nil {
		if it := cat.Item(d.App.ItemID); it != nil {
			d.Materials = it.Materials
		}
	}
	c.page(status, "console_application", "申请："+d.App.ItemName, "processes", flash, d)
}

// requestMaterialsForm sends the one request for every missing material.
func (g *Gateway) requestMaterialsForm(c *consoleReq) {
	if !c.form() {
		return
	}
	pf := c.r.PostForm
	missing := pf["missing"]
	for _, o := range strings.FieldsFunc(pf.Get("other"), func(r rune) bool { return r == '、' || r == ',' || r == '，' || r == '\n' }) {
		if o = strings.TrimSpace(o); o != "" {
			missing = append(missing, o)
		}
	}
	if len(missing) == 0 {
		g.showApplication(c, http.StatusUnprocessableEntity, "", "请勾选或填写缺少的材料（一次列全）。")
		return
	}
	g.applicationCall(c, "/materials-request", map[string]any{"missing": missing, "note": strings.TrimSpace(pf.Get("note"))})
}

// appointmentForm records when and where to come, or that no visit is
// needed.
func (g *Gateway) appointmentForm(c *consoleReq) {
	if !c.form() {
		return
	}
	pf := c.r.PostForm
	req := map[string]any{"visitNeeded": pf.Get("visit") == "yes", "place": strings.TrimSpace(pf.Get("place")),
		"note": strings.TrimSpace(pf.Get("note"))}
	if pf.Get("visit") == "yes" {
		at, err := time.ParseInLocation("2006-01-02T15:04", pf.Get("at"), tz.Shanghai)
		if err != nil || req["place"] == "" {
			g.showApplication(c, http.StatusUnprocessableEntity, "", "需要到场的，请填写时间和地点。")
			return
		}
		req["at"] = at
	}
	g.applicationCall(c, "/appointment", req)
}

func (g *Gateway) applicationCall(c *consoleReq, action string, req map[string]any) {
	id := c.r.PathValue("id")
	if !validID(id) {
		c.fail(http.StatusNotFound, "没有找到，或您无权查看。")
		return
	}
	if err := c.svc(ServiceWorkflow).postJSON(c.r.Context(), "/v1/instances/"+id+action, req, nil); err != nil {
		status, msg := explain(err)
		var e *apiError
		if errors.As(err, &e) && strings.HasSuffix(e.Type, "/materials-already-requested") {
			msg = "缺少的材料已经告知过一次（最多跑一次：只能一次性告知全部缺少的材料），请改为告知办理安排。"
		}
		g.showApplication(c, status, "", msg)
		return
	}
	http.Redirect(c.w, c.r, "/console/processes/"+id+"/application?ok=1", http.StatusSeeOther)
}
