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

	"github.com/wuxiao/wuxiao/api/divcode"
	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
	"github.com/wuxiao/wuxiao/services/internal/identity"
)

func (g *Gateway) applicationConsoleRoutes(h func(string, consoleHandler)) {
	h("GET /console/apply/{item}", g.applyOnBehalfPage)
	h("POST /console/apply/{item}", g.applyOnBehalf)
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
