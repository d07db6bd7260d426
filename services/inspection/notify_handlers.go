package inspection

// The inbox API (README "Notifications"): a caller's messages, read and
// unread, per identity. The scope is this service's town and the caller's
// role (and village, for village roles), never a town the caller names.

import (
	"net/http"
	"strconv"

	"github.com/wuxiao/wuxiao/services/internal/httpapi"
)

func (s *Service) notifyRoutes(srv *httpapi.Server) {
	srv.HandleFunc("GET /v1/inbox", s.inbox)
	srv.HandleFunc("POST /v1/inbox/{id}/read", s.inboxRead)
	srv.HandleFunc("POST /v1/inbox/read-all", s.inboxReadAll)
}

const whyInbox = "only this town's officials and the district's staff have an inbox here"

// inboxResponse is GET /v1/inbox's answer.
type inboxResponse struct {
	Items  []InboxItem `json:"items"`
	Unread int         `json:"unread"`
}

func (s *Service) inbox(w http.ResponseWriter, r *http.Request) {
	p, ok := need(w, r, s.inboxCaller, whyInbox)
	if !ok {
		return
	}
	q := r.URL.Query()
	unreadOnly := false
	switch q.Get("state") {
	case "", "all":
	case "unread":
		unreadOnly = true
	default:
		httpapi.WriteProblem(w, r, httpapi.ValidationFailed(httpapi.FieldError{Field: "state", Detail: "must be unread or all"}))
		return
	}
	var before int64
	if b := q.Get("before"); b != "" {
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n <= 0 {
			httpapi.WriteProblem(w, r, httpapi.ValidationFailed(httpapi.FieldError{Field: "before", Detail: "must be a message id"}))
			return
		}
		before = n
	}
	items, unread, err := listInbox(r.Context(), s.Pool, s.scopeOf(p), unreadOnly, before, limit(r))
	if err != nil {
		writeErr(w, r, "message", err)
		return
	}
	if items == nil {
		items = []InboxItem{}
	}
	_ = httpapi.WriteJSON(w, http.StatusOK, inboxResponse{Items: items, Unread: unread})
}

func (s *Service) inboxRead(w http.ResponseWriter, r *http.Request) {
	p, ok := need(w, r, s.inboxCaller, whyInbox)
	if !ok {
		return
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err == nil && id > 0 {
		err = markRead(r.Context(), s.Pool, s.scopeOf(p), id, s.now())
	} else {
		err = ErrNotFound // not an id: no such message
	}
	if err != nil {
		writeErr(w, r, "message", err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Service) inboxReadAll(w http.ResponseWriter, r *http.Request) {
	p, ok := need(w, r, s.inboxCaller, whyInbox)
	if !ok {
		return
	}
	if err := markAllRead(r.Context(), s.Pool, s.scopeOf(p), s.now()); err != nil {
		writeErr(w, r, "message", err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
