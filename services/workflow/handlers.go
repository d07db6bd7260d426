package workflow

import (
	"net/http"
	"strconv"
	"time"

	"github.com/wuxiao/wuxiao/api/openapi"
	"github.com/wuxiao/wuxiao/services/internal/domainerr"
	"github.com/wuxiao/wuxiao/services/internal/flowchart"
	"github.com/wuxiao/wuxiao/services/internal/httpapi"
	"github.com/wuxiao/wuxiao/services/internal/identity"
	"github.com/wuxiao/wuxiao/services/internal/personal"
)

// Routes registers the workflow API. Catalog, flowcharts and the public
// tracker are public; everything else needs a Kratos session, and every
// handler checks the caller's town and village itself.
func (s *Service) Routes(srv *httpapi.Server) {
	srv.Handle("GET /openapi.yaml", httpapi.Public(openapi.Handler(openapi.Workflow))) // api/openapi/workflow.yaml
	srv.Handle("GET /v1/catalog", httpapi.Public(http.HandlerFunc(s.getCatalog)))
	srv.Handle("GET /v1/catalog/items/{item}/flowchart.svg", httpapi.Public(http.HandlerFunc(s.itemFlowchart)))
	srv.Handle("GET /v1/catalog/items/{item}/flowchart.mmd", httpapi.Public(http.HandlerFunc(s.itemFlowchart)))
	srv.Handle("GET /v1/public/track/{number}", httpapi.Public(http.HandlerFunc(s.track)))
	srv.Handle("GET /v1/public/track/{number}/flowchart.svg", httpapi.Public(http.HandlerFunc(s.trackFlowchart)))

	srv.HandleFunc("POST /v1/villages/{village}/instances", s.start)
	srv.HandleFunc("GET /v1/villages/{village}/instances", s.list)
	srv.HandleFunc("GET /v1/villages/{village}/warnings", s.villageWarnings)
	srv.HandleFunc("POST /v1/villages/{village}/relatives", s.recordRelative)
	srv.HandleFunc("GET /v1/instances/{id}", s.get)
	srv.HandleFunc("POST /v1/instances/{id}/steps/{step}/complete", s.complete)
	srv.HandleFunc("POST /v1/instances/{id}/evidence", s.addEvidence)
	srv.HandleFunc("POST /v1/instances/{id}/comments", s.comment)
	srv.HandleFunc("POST /v1/instances/{id}/withdraw", s.withdraw)
	srv.HandleFunc("GET /v1/instances/{id}/audit", s.audit)
	srv.HandleFunc("GET /v1/instances/{id}/flowchart.svg", s.instanceFlowchart)
	s.evidenceFileRoutes(srv) // evidence_files.go
	s.worklistRoutes(srv)     // handlers_worklist.go
	s.applicationRoutes(srv)  // application_handlers.go
}

// actor maps the authenticated principal to the engine's actor.
func actor(r *http.Request) (Actor, identity.Principal, bool) {
	p, ok := identity.FromContext(r.Context())
	if !ok {
		return Actor{}, p, false
	}
	return Actor{ID: p.IdentityID, Name: p.Name, Role: string(p.Role), Town: p.Town, Village: p.Village}, p, true
}

// writeErr turns engine refusals and not-found into problem details.
var writeErr = domainerr.Problems{Namespace: "workflow/", NotFound: ErrNotFound, NotFoundDetail: "no such process"}.Write

// readable loads an instance the caller may read; others get 404, so that
// ids of other villages' processes cannot even be confirmed.
func (s *Service) readable(w http.ResponseWriter, r *http.Request) (*Instance, Actor, bool) {
	a, p, ok := actor(r)
	if !ok {
		httpapi.WriteProblem(w, r, httpapi.Unauthenticated("sign in first"))
		return nil, a, false
	}
	inst, err := s.Get(r.Context(), r.PathValue("id"))
	// The scope is checked against this service's town, never the caller's
	// own: a principal of another town covers nothing here.
	if err == nil && (inst.Town != s.Town || !p.CanReadVillage(s.Town, inst.Village)) {
		err = ErrNotFound
	}
	if err != nil {
		writeErr(w, r, err)
		return nil, a, false
	}
	return inst, a, true
}

func (s *Service) getCatalog(w http.ResponseWriter, _ *http.Request) {
	_ = httpapi.WriteJSON(w, http.StatusOK, s.Engine.Catalog.ResolvedCatalog)
}

func (s *Service) itemFlowchart(w http.ResponseWriter, r *http.Request) {
	item := s.Engine.Catalog.Item(r.PathValue("item"))
	if item == nil {
		httpapi.WriteProblem(w, r, httpapi.NotFound("no such item on the power list"))
		return
	}
	writeChart(w, r, flowchart.SVG(item, nil), flowchart.Mermaid(item, nil))
}

func writeChart(w http.ResponseWriter, r *http.Request, svg, mermaid string) {
	w.Header().Set("Cache-Control", "public, max-age=300")
	if len(r.URL.Path) > 4 && r.URL.Path[len(r.URL.Path)-4:] == ".mmd" {
		w.Header().Set("Content-Type", "text/vnd.mermaid; charset=utf-8")
		_, _ = w.Write([]byte(mermaid)) //nolint:gosec // drawn from the catalog (the path only picks the item), text escaped by flowchart
		return
	}
	w.Header().Set("Content-Type", "image/svg+xml")
	_, _ = w.Write([]byte(svg)) //nolint:gosec // as above: the catalog's chart, escaped by flowchart.SVG
}

// PublicStep and PublicView are what villagers see of a process
// ("流程到哪了"): no actor identities, no evidence links, public warnings only.
type PublicStep struct {
	StepID      string     `json:"stepId"`
	Name        string     `json:"name"`
	Handler     string     `json:"handler"`
	EnteredAt   time.Time  `json:"enteredAt"`
	DueAt       *time.Time `json:"dueAt,omitempty"`
	CompletedAt *time.Time `json:"completedAt,omitempty"`
	OutOfOrder  bool       `json:"outOfOrder,omitempty"`
}

type PublicWarning struct {
	StepID   string    `json:"stepId"`
	Rule     string    `json:"rule"`
	Message  string    `json:"message"`
	Basis    string    `json:"basis,omitempty"`
	RaisedAt time.Time `json:"raisedAt"`
}

type PublicView struct {
	TrackingNumber string          `json:"trackingNumber"`
	Village        string          `json:"village"`
	ItemID         string          `json:"itemId"`
	ItemName       string          `json:"itemName"`
	Title          string          `json:"title"`
	AmountFen      int64           `json:"amountFen,omitempty"`
	Status         Status          `json:"status"`
	Current        string          `json:"current,omitempty"`
	StartedAt      time.Time       `json:"startedAt"`
	EndedAt        *time.Time      `json:"endedAt,omitempty"`
	WithdrawReason string          `json:"withdrawReason,omitempty"`
	Steps          []PublicStep    `json:"steps"`
	Warnings       []PublicWarning `json:"warnings"`
	// Application: a villager's application (application_handlers.go).
	Application *PublicApplication `json:"application,omitempty"`
}

func (s *Service) track(w http.ResponseWriter, r *http.Request) {
	inst, err := s.ByTrackingNumber(r.Context(), r.PathValue("number"))
	if err != nil {
		writeErr(w, r, err)
		return
	}
	ws, err := s.Warnings(r.Context(), inst.Village, inst.ID, true, 100)
	if err != nil {
		writeErr(w, r, err)
		return
	}
	item := s.Engine.Catalog.Item(inst.ItemID)
	// Free text cadres wrote may hold ID and phone numbers: the public sees
	// it through personal.ScrubText, the masking every public output uses.
	v := PublicView{TrackingNumber: inst.TrackingNumber, Village: inst.Village, ItemID: inst.ItemID, ItemName: inst.ItemName,
		Title: personal.ScrubText(inst.Title), AmountFen: inst.AmountFen, Status: inst.Status, Current: inst.Current, StartedAt: inst.StartedAt,
		EndedAt: inst.EndedAt, WithdrawReason: personal.ScrubText(inst.WithdrawReason), Steps: []PublicStep{}, Warnings: []PublicWarning{}}
	for _, st := range inst.Steps {
		ps := PublicStep{StepID: st.StepID, EnteredAt: st.EnteredAt, DueAt: st.DueAt, CompletedAt: st.CompletedAt, OutOfOrder: st.OutOfOrder}
		if item != nil {
			if def := item.Step(st.StepID); def != nil {
				ps.Name, ps.Handler = def.Name, def.Handler
			}
		}
		v.Steps = append(v.Steps, ps)
	}
	for _, x := range ws {
		v.Warnings = append(v.Warnings, PublicWarning{StepID: x.StepID, Rule: x.Rule, Message: personal.ScrubText(x.Message),
			Basis: personal.ScrubText(x.Basis), RaisedAt: x.RaisedAt})
	}
	v.Application = s.PublicApplicationOf(r, inst)
	_ = httpapi.WriteJSON(w, http.StatusOK, v)
}

func (s *Service) trackFlowchart(w http.ResponseWriter, r *http.Request) {
	inst, err := s.ByTrackingNumber(r.Context(), r.PathValue("number"))
	if err != nil {
		writeErr(w, r, err)
		return
	}
	item := s.Engine.Catalog.Item(inst.ItemID)
	if item == nil {
		httpapi.WriteProblem(w, r, httpapi.NotFound("the item is no longer on the power list"))
		return
	}
	writeChart(w, r, flowchart.SVG(item, StatesOf(inst)), flowchart.Mermaid(item, StatesOf(inst)))
}

func (s *Service) start(w http.ResponseWriter, r *http.Request) {
	a, p, _ := actor(r)
	village := r.PathValue("village")
	// This service's town, not the caller's: an official of another town
	// must not start processes here (and lower this town's ratings).
	if !p.CanActInVillage(s.Town, village) {
		httpapi.WriteProblem(w, r, httpapi.Forbidden("you cannot start processes in village "+village))
		return
	}
	var req StartRequest
	if !httpapi.DecodeJSON(w, r, &req) {
		return
	}
	inst, err := s.Start(r.Context(), a, village, req)
	if err != nil {
		writeErr(w, r, err)
		return
	}
	w.Header().Set("Location", "/v1/instances/"+inst.ID)
	_ = httpapi.WriteJSON(w, http.StatusCreated, inst)
}

func limit(r *http.Request) int {
	n, err := strconv.Atoi(r.URL.Query().Get("limit"))
	if err != nil || n <= 0 || n > 200 {
		return 50
	}
	return n
}

func (s *Service) list(w http.ResponseWriter, r *http.Request) {
	_, p, _ := actor(r)
	village := r.PathValue("village")
	if !p.CanReadVillage(s.Town, village) {
		httpapi.WriteProblem(w, r, httpapi.Forbidden("you cannot read village "+village))
		return
	}
	status := r.URL.Query().Get("status")
	if status != "" && status != string(StatusRunning) && status != string(StatusCompleted) && status != string(StatusWithdrawn) {
		httpapi.WriteProblem(w, r, httpapi.ValidationFailed(httpapi.FieldError{Field: "status", Detail: "running, completed or withdrawn"}))
		return
	}
	list, err := s.List(r.Context(), village, status, limit(r))
	if err != nil {
		writeErr(w, r, err)
		return
	}
	_ = httpapi.WriteItems(w, list)
}

func (s *Service) villageWarnings(w http.ResponseWriter, r *http.Request) {
	_, p, _ := actor(r)
	village := r.PathValue("village")
	if !p.CanReadVillage(s.Town, village) {
		httpapi.WriteProblem(w, r, httpapi.Forbidden("you cannot read village "+village))
		return
	}
	// Conflict-of-interest warnings name family relations: discipline only.
	ws, err := s.Warnings(r.Context(), village, "", !p.IsDiscipline(), limit(r))
	if err != nil {
		writeErr(w, r, err)
		return
	}
	_ = httpapi.WriteItems(w, ws)
}

func (s *Service) recordRelative(w http.ResponseWriter, r *http.Request) {
	a, p, _ := actor(r)
	village := r.PathValue("village")
	if !p.IsDiscipline() || !p.CanReadVillage(s.Town, village) {
		httpapi.WriteProblem(w, r, httpapi.Forbidden("only the discipline office of this town records cadres' relatives"))
		return
	}
	if here, err := s.villageHere(r.Context(), village); err != nil || !here {
		if err == nil {
			err = domainerr.Refuse(404, "unknown-village", "Unknown village", "village %s is not a village of this town", village)
		}
		writeErr(w, r, err)
		return
	}
	var req struct {
		CadreID  string `json:"cadreId"`
		IDNumber string `json:"idNumber"`
		Relation string `json:"relation"`
	}
	if !httpapi.DecodeJSON(w, r, &req) || !httpapi.CheckText(w, r,
		httpapi.Limit("cadreId", req.CadreID, 128), httpapi.Limit("relation", req.Relation, 32)) {
		return
	}
	if req.CadreID == "" || len(req.IDNumber) != 18 || req.Relation == "" {
		httpapi.WriteProblem(w, r, httpapi.ValidationFailed(
			httpapi.FieldError{Field: "cadreId", Detail: "the cadre's identity id"},
			httpapi.FieldError{Field: "idNumber", Detail: "the relative's 18-character ID number"},
			httpapi.FieldError{Field: "relation", Detail: "e.g. 配偶, 子女"}))
		return
	}
	if err := s.RecordRelative(r.Context(), a, village, req.CadreID, req.IDNumber, req.Relation); err != nil {
		writeErr(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Service) get(w http.ResponseWriter, r *http.Request) {
	if inst, _, ok := s.readable(w, r); ok {
		_ = httpapi.WriteJSON(w, http.StatusOK, inst)
	}
}

func (s *Service) complete(w http.ResponseWriter, r *http.Request) {
	_, a, ok := s.readable(w, r)
	if !ok {
		return
	}
	var req CompleteRequest
	if !httpapi.DecodeJSON(w, r, &req) {
		return
	}
	inst, warnings, err := s.Complete(r.Context(), a, r.PathValue("id"), r.PathValue("step"), req)
	if err != nil {
		writeErr(w, r, err)
		return
	}
	if warnings == nil {
		warnings = []Warning{}
	}
	_ = httpapi.WriteJSON(w, http.StatusOK, map[string]any{"instance": inst, "warnings": warnings})
}

func (s *Service) addEvidence(w http.ResponseWriter, r *http.Request) {
	_, a, ok := s.readable(w, r)
	if !ok {
		return
	}
	var req EvidenceRequest
	if !httpapi.DecodeJSON(w, r, &req) {
		return
	}
	ev, err := s.AddEvidence(r.Context(), a, r.PathValue("id"), req)
	if err != nil {
		writeErr(w, r, err)
		return
	}
	_ = httpapi.WriteJSON(w, http.StatusCreated, ev)
}

func (s *Service) comment(w http.ResponseWriter, r *http.Request) {
	_, a, ok := s.readable(w, r)
	if !ok {
		return
	}
	var req struct {
		Body string `json:"body"`
	}
	if !httpapi.DecodeJSON(w, r, &req) || !httpapi.CheckText(w, r, httpapi.Limit("body", req.Body, 2000)) {
		return
	}
	if err := s.Comment(r.Context(), a, r.PathValue("id"), req.Body); err != nil {
		writeErr(w, r, err)
		return
	}
	w.WriteHeader(http.StatusCreated)
}

func (s *Service) withdraw(w http.ResponseWriter, r *http.Request) {
	_, a, ok := s.readable(w, r)
	if !ok {
		return
	}
	var req struct {
		Reason string `json:"reason"`
	}
	if !httpapi.DecodeJSON(w, r, &req) || !httpapi.CheckText(w, r, httpapi.Limit("reason", req.Reason, httpapi.MaxLongText)) {
		return
	}
	inst, err := s.Withdraw(r.Context(), a, r.PathValue("id"), req.Reason)
	if err != nil {
		writeErr(w, r, err)
		return
	}
	_ = httpapi.WriteJSON(w, http.StatusOK, inst)
}

func (s *Service) audit(w http.ResponseWriter, r *http.Request) {
	inst, _, ok := s.readable(w, r)
	if !ok {
		return
	}
	entries, check, err := s.Audit(r.Context(), inst.ID)
	if err != nil {
		writeErr(w, r, err)
		return
	}
	_ = httpapi.WriteJSON(w, http.StatusOK, map[string]any{"entries": entries, "verification": check})
}

func (s *Service) instanceFlowchart(w http.ResponseWriter, r *http.Request) {
	inst, _, ok := s.readable(w, r)
	if !ok {
		return
	}
	item := s.Engine.Catalog.Item(inst.ItemID)
	if item == nil {
		httpapi.WriteProblem(w, r, httpapi.NotFound("the item is no longer on the power list"))
		return
	}
	writeChart(w, r, flowchart.SVG(item, StatesOf(inst)), flowchart.Mermaid(item, StatesOf(inst)))
}
