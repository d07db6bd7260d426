package inspection

import (
	"net/http"
	"time"

	"github.com/wuxiao/wuxiao/services/internal/httpapi"
)

func (s *Service) orderRoutes(srv *httpapi.Server) {
	srv.HandleFunc("GET /v1/order-situations", s.getSituations)
	srv.HandleFunc("POST /v1/orders", s.postOrder)
	srv.HandleFunc("GET /v1/orders", s.getOrders)
	srv.HandleFunc("GET /v1/orders/{number}", s.getOrder)
	srv.HandleFunc("POST /v1/orders/{number}/{action}", s.postOrderAction)
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
	p, ok := need(w, r, s.isTownDiscipline, whyWrite)
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

func (s *Service) getOrders(w http.ResponseWriter, r *http.Request) {
	if _, ok := need(w, r, s.canReadInspection, whyRead); !ok {
		return
	}
	f, prob := listFilterOf(r)
	if prob != nil {
		httpapi.WriteProblem(w, r, prob)
		return
	}
	f.Status = r.URL.Query().Get("status")
	list, err := s.ListOrders(r.Context(), f)
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	_ = httpapi.WriteItems(w, list)
}

func (s *Service) getOrder(w http.ResponseWriter, r *http.Request) {
	serveReadable(s, w, r, "order", s.OrderByNumber, "number")
}

func (s *Service) postOrderAction(w http.ResponseWriter, r *http.Request) {
	p, ok := principal(w, r)
	if !ok {
		return
	}
	action := r.PathValue("action")
	if !s.isTownDiscipline(p) || (action != "respond" && action != "close") {
		writeErr(w, r, "order", ErrNotFound)
		return
	}
	var in struct {
		Response string `json:"response,omitempty"`
	}
	if !httpapi.DecodeJSON(w, r, &in) {
		return
	}
	o, err := s.ActOnOrder(r.Context(), r.PathValue("number"), action, in.Response)
	if err != nil {
		writeErr(w, r, "order", err)
		return
	}
	_ = httpapi.WriteJSON(w, http.StatusOK, o)
}

func (s *Service) postInterview(w http.ResponseWriter, r *http.Request) {
	p, ok := need(w, r, s.isTownDiscipline, whyWrite)
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
