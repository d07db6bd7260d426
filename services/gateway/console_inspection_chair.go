package gateway

import (
	"errors"
	"net/http"
	"sort"
)

// supervisionPage (村务监督): what the village's supervision committee
// watches, on one page: the village's violation warnings, its running
// processes (overdue first), its rectification tasks from inspection
// tours, and the complaints about the village the complaint service shows
// the committee (never those about cadre conduct, which go to the liaison
// officer and discipline). Each part is its service's answer to the
// chair; a part a service refuses or cannot give says so and leaves the
// others. Village officials see it for their own village.
func (g *Gateway) supervisionPage(c *consoleReq) {
	if !c.needRole(c.p.Role.IsVillageRole(), "村干部（村务监督委员会主任）") {
		return
	}
	ctx := c.r.Context()
	village := c.p.Village
	var ws items[wfWarning]
	var procs items[*wfInstance]
	var tasks items[inTask]
	var cps items[*cpComplaint]
	var vs []wfVillage
	var errW, errP, errT, errC error
	parallel(
		func() { errW = c.svc(ServiceWorkflow).get(ctx, "/v1/villages/"+village+"/warnings?limit=50", &ws) },
		func() {
			errP = c.svc(ServiceWorkflow).get(ctx, "/v1/instances?status=running&limit=200&village="+village, &procs)
		},
		func() { errT = c.svc(ServiceInspection).get(ctx, "/v1/rectifications?village="+village, &tasks) },
		func() {
			errC = c.svc(ServiceComplaint).get(ctx, "/v1/villages/"+village+"/complaints?limit=100", &cps)
		},
		func() { vs = c.villages(ctx) },
	)
	for _, err := range []error{errW, errP, errT, errC} {
		var e *apiError
		if errors.As(err, &e) && e.Status == http.StatusUnauthorized {
			c.failAPI(err)
			return
		}
	}
	now := consoleNow()
	d := struct {
		VillageName string
		Warnings    []warningView
		Processes   []task
		Overdue     int
		Tasks       []taskView
		OpenTasks   int
		Complaints  []complaintRow
		Unavailable []string
	}{VillageName: label(villageNames(vs), village)}
	if errW == nil {
		for _, w := range ws.Items {
			d.Warnings = append(d.Warnings, warningView{wfWarning: w, RuleName: label(ruleNames, w.Rule)})
		}
	} else {
		d.Unavailable = append(d.Unavailable, "违规预警")
	}
	if errP == nil {
		for _, p := range procs.Items {
			t := task{Inst: p, Status: label(statusNames, p.Status)}
			if rec := p.open(); rec != nil {
				t.Deadline = deadlineOf(rec.DueAt, now)
			}
			if t.Deadline.Overdue {
				d.Overdue++
			}
			d.Processes = append(d.Processes, t)
		}
		sort.SliceStable(d.Processes, func(i, j int) bool {
			return d.Processes[i].Deadline.Overdue && !d.Processes[j].Deadline.Overdue
		})
	} else {
		d.Unavailable = append(d.Unavailable, "流程")
	}
	if errT == nil {
		for _, t := range tasks.Items {
			tv := taskView{inTask: t, StatusName: label(inTaskStatusNames, t.Status)}
			if t.Status != "accepted" {
				due := t.Deadline
				tv.Deadline = deadlineOf(&due, now)
				d.OpenTasks++
			}
			d.Tasks = append(d.Tasks, tv)
		}
	} else {
		d.Unavailable = append(d.Unavailable, "巡察整改任务")
	}
	if errC == nil {
		for _, cp := range cps.Items {
			row := complaintRow{C: cp, Category: cpCategoryName(cp.Category), Status: label(cpStatusNames, cp.Status),
				Excerpt: excerpt(cp.Description, 60)}
			if cp.open() && cp.DueAt != nil {
				row.Deadline = deadlineOf(cp.DueAt, now)
			}
			d.Complaints = append(d.Complaints, row)
		}
		sort.SliceStable(d.Complaints, func(i, j int) bool {
			a, b := d.Complaints[i].C, d.Complaints[j].C
			if a.open() != b.open() {
				return a.open()
			}
			return a.FiledAt.After(b.FiledAt)
		})
	} else {
		d.Unavailable = append(d.Unavailable, "举报")
	}
	flash := map[string]string{"task-submit": "整改情况已提交，等待镇（街道）纪委验收"}[c.r.URL.Query().Get("ok")]
	c.page(http.StatusOK, "console_supervision", "村务监督 · "+d.VillageName, "supervision", flash, d)
}
