package inspection

import (
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/wuxiao/wuxiao/services/internal/httpapi"
	"github.com/wuxiao/wuxiao/services/internal/store"
)

func (s *Service) orderRoutes(srv *httpapi.Server) {
	srv.HandleFunc("GET /v1/order-situations", s.getSituations)
	srv.HandleFunc("POST /v1/orders", s.postOrder)
	srv.HandleFunc("GET /v1/orders", s.getOrders)
	srv.HandleFunc("GET /v1/orders/{number}", s.getOrder)
	srv.HandleFunc("POST /v1/orders/{number}/{action}", s.postOrderAction)
	srv.Handle("POST /v1/orders/{number}/files", httpapi.WithBodyLimit(MaxAnswerFileBytes+1, http.HandlerFunc(s.postOrderFile)))
	srv.HandleFunc("GET /v1/orders/{number}/files/{file}", s.getOrderFile)
	srv.HandleFunc("POST /v1/interviews", s.postInterview)
	srv.HandleFunc("GET /v1/interviews", s.getInterviews)
	srv.HandleFunc("GET /v1/interviews/{id}", s.getInterview)
}

func (s *Service) getSituations(w http.ResponseWriter, r *http.Request) {
	if _, ok := need(w, r, s.canReadInspection, whyRead); !ok {
		return
	}
	_ = httpapi.WriteJSON(w, http.StatusOK, map[string]any{"situations": s.situations(), "config": s.orderConfig()})
}

func (s *Service) postOrder(w http.ResponseWriter, r *http.Request) {
	p, ok := need(w, r, s.canRunInspection, whyRun)
	if !ok {
		return
	}
	var in OrderRequest
	if !httpapi.DecodeJSON(w, r, &in) {
		return
	}
	o, err := s.IssueOrder(r.Context(), p, in)
	if err != nil {
		writeErr(w, r, "order", err)
		return
	}
	_ = httpapi.WriteJSON(w, http.StatusCreated, o)
}

// getOrders lists orders: the inspection readers any village's (?village=
// optional), a village's officials only their own village's.
func (s *Service) getOrders(w http.ResponseWriter, r *http.Request) {
	p, ok := principal(w, r)
	if !ok {
		return
	}
	f, prob := listFilterOf(r)
	if prob != nil {
		httpapi.WriteProblem(w, r, prob)
		return
	}
	switch {
	case s.canReadInspection(p):
	case p.Role.IsVillageRole() && p.Town == s.Town && (f.Village == "" || f.Village == p.Village):
		f.Village = p.Village
	default:
		httpapi.WriteProblem(w, r, httpapi.Forbidden("you read only your own village's supervision orders"))
		return
	}
	f.Status = r.URL.Query().Get("status")
	list, err := s.ListOrders(r.Context(), f)
	if err == nil {
		err = s.orderSteps(r.Context(), list)
	}
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	_ = httpapi.WriteItems(w, list)
}

// getOrder serves an order, with its steps, to the inspection readers and
// to the addressed village's officials; others get 404.
func (s *Service) getOrder(w http.ResponseWriter, r *http.Request) {
	p, ok := principal(w, r)
	if !ok {
		return
	}
	o, err := s.OrderByNumber(r.Context(), r.PathValue("number"))
	if err == nil && !s.canSeeOrder(p, o) {
		err = ErrNotFound
	}
	if err == nil {
		o.Steps, err = steps(r.Context(), s.Pool, "order", o.Number)
	}
	if err != nil {
		writeErr(w, r, "order", err)
		return
	}
	_ = httpapi.WriteJSON(w, http.StatusOK, o)
}

// postOrderAction: respond (the addressed village's secretary, director or
// supervision chair with evidence, or the office), close or return (the
// office). Who may not see the order gets 404.
func (s *Service) postOrderAction(w http.ResponseWriter, r *http.Request) {
	p, ok := principal(w, r)
	if !ok {
		return
	}
	action := r.PathValue("action")
	if action != "respond" && action != "close" && action != "return" {
		writeErr(w, r, "order", ErrNotFound)
		return
	}
	if !s.canRunInspection(p) && (!p.Role.IsVillageRole() || p.Town != s.Town) {
		writeErr(w, r, "order", ErrNotFound)
		return
	}
	var in OrderAction
	if !httpapi.DecodeJSON(w, r, &in) {
		return
	}
	o, err := s.ActOnOrderBy(r.Context(), p, r.PathValue("number"), action, in)
	if err != nil {
		writeErr(w, r, "order", err)
		return
	}
	_ = httpapi.WriteJSON(w, http.StatusOK, o)
}

// postOrderFile uploads an evidence file to an order waiting for an
// answer, by an official who may answer it (supervision_files.go).
func (s *Service) postOrderFile(w http.ResponseWriter, r *http.Request) {
	p, ok := principal(w, r)
	if !ok {
		return
	}
	data, ok := readUpload(w, r)
	if !ok {
		return
	}
	var out *AnswerFile
	err := store.InTx(r.Context(), s.Pool, func(tx pgx.Tx) error {
		list, err := s.queryOrders(r.Context(), tx, `number = $2 FOR UPDATE`, r.PathValue("number"))
		if err != nil {
			return err
		}
		if len(list) == 0 || !s.canSeeOrder(p, &list[0]) {
			return ErrNotFound
		}
		o := &list[0]
		if !s.canAnswer(p, o.Village) {
			return httpapi.Forbidden("the village's secretary, director or supervision chair answers its orders")
		}
		if (o.Status != OrderIssued && o.Status != OrderOverdue) || o.EscalatedTo != "" || o.ReferredAt != nil {
			return httpapi.Conflict(ErrOrderState.Error() + ": files are added to an order waiting for its answer")
		}
		out, err = s.storeAnswerFile(r.Context(), tx, p, "order", o.Number, o.Village, r.URL.Query().Get("name"), data, s.now())
		return err
	})
	if err != nil {
		writeErr(w, r, "order", err)
		return
	}
	w.Header().Set("Location", out.URL)
	_ = httpapi.WriteJSON(w, http.StatusCreated, out)
}

// getOrderFile serves an evidence file to the order's readers.
func (s *Service) getOrderFile(w http.ResponseWriter, r *http.Request) {
	p, ok := principal(w, r)
	if !ok {
		return
	}
	o, err := s.OrderByNumber(r.Context(), r.PathValue("number"))
	if err == nil && !s.canSeeOrder(p, o) {
		err = ErrNotFound
	}
	if err != nil {
		writeErr(w, r, "order", err)
		return
	}
	s.serveFile(w, r, "order", o.Number)
}

func (s *Service) postInterview(w http.ResponseWriter, r *http.Request) {
	p, ok := need(w, r, s.canRunInspection, whyRun)
	if !ok {
		return
	}
	var in struct {
		Village      string    `json:"village"`
		CadreID      string    `json:"cadreId,omitempty"`
		CadreName    string    `json:"cadreName"`
		CadrePost    string    `json:"cadrePost,omitempty"`
		HeldAt       time.Time `json:"heldAt"`
		Interviewers []string  `json:"interviewers"`
		Reason       string    `json:"reason"`
		Outcome      string    `json:"outcome"`
		OrderNumber  string    `json:"orderNumber,omitempty"`
	}
	if !httpapi.DecodeJSON(w, r, &in) {
		return
	}
	iv, err := s.RecordInterview(r.Context(), p, Interview{Village: in.Village, CadreID: in.CadreID, CadreName: in.CadreName, CadrePost: in.CadrePost,
		HeldAt: in.HeldAt, Interviewers: in.Interviewers, Reason: in.Reason, Outcome: in.Outcome, OrderNumber: in.OrderNumber})
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	w.Header().Set("Location", "/v1/interviews/"+iv.ID)
	_ = httpapi.WriteJSON(w, http.StatusCreated, iv)
}

func (s *Service) getInterviews(w http.ResponseWriter, r *http.Request) {
	if _, ok := need(w, r, s.canReadInspection, whyRead); !ok {
		return
	}
	f, prob := listFilterOf(r)
	if prob != nil {
		httpapi.WriteProblem(w, r, prob)
		return
	}
	list, err := s.ListInterviews(r.Context(), f)
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	_ = httpapi.WriteItems(w, list)
}

func (s *Service) getInterview(w http.ResponseWriter, r *http.Request) {
	p, ok := principal(w, r)
	if !ok {
		return
	}
	var iv *Interview
	err := ErrNotFound
	if s.canReadInspection(p) {
		iv, err = s.InterviewByID(r.Context(), r.PathValue("id"))
	}
	if err != nil {
		writeErr(w, r, "interview", err)
		return
	}
	_ = httpapi.WriteJSON(w, http.StatusOK, iv)
}

// listFilterOf reads ?village= and ?year=.
func listFilterOf(r *http.Request) (ListFilter, *httpapi.Problem) {
	v, prob := villageParam(r)
	if prob != nil {
		return ListFilter{}, prob
	}
	year, prob := yearParam(r)
	if prob != nil {
		return ListFilter{}, prob
	}
	return ListFilter{Village: v, Year: year}, nil
}
