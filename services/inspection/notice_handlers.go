package inspection

import (
	"net/http"

	"github.com/wuxiao/wuxiao/services/internal/httpapi"
	"github.com/wuxiao/wuxiao/services/internal/identity"
)

// The notices' sign-off and reply (notice_lifecycle.go). GET of one notice
// (by number or id), its HTML and PDF are in rating_handlers.go.
func (s *Service) noticeRoutes(srv *httpapi.Server) {
	srv.HandleFunc("GET /v1/notices", s.getNotices)
	srv.HandleFunc("POST /v1/notices/{id}/sign", s.postNoticeSign)
	srv.HandleFunc("POST /v1/notices/{id}/dismiss", s.postNoticeDismiss)
	srv.HandleFunc("POST /v1/notices/{id}/answer", s.postNoticeAnswer)
	srv.HandleFunc("POST /v1/notices/{id}/accept", s.postNoticeAccept)
	srv.HandleFunc("POST /v1/notices/{id}/return", s.postNoticeReturn)
	srv.Handle("POST /v1/notices/{id}/files", httpapi.WithBodyLimit(MaxAnswerFileBytes+1, http.HandlerFunc(s.postNoticeFile))) // supervision_files.go
	srv.HandleFunc("GET /v1/notices/{id}/files/{file}", s.getNoticeFile)                                                       // supervision_files.go
}

// getNotices lists notices: discipline staff covering the town every one
// (?village=, ?status= narrow it), a village's officials their own
// village's issued ones.
func (s *Service) getNotices(w http.ResponseWriter, r *http.Request) {
	p, ok := principal(w, r)
	if !ok {
		return
	}
	village, prob := villageParam(r)
	if prob != nil {
		httpapi.WriteProblem(w, r, prob)
		return
	}
	f := NoticeFilter{Village: village, Status: NoticeStatus(r.URL.Query().Get("status"))}
	switch f.Status {
	case "", NoticeDraft, NoticeIssued, NoticeDismissed, NoticeAnswered, NoticeReturned, NoticeAccepted:
	default:
		httpapi.WriteProblem(w, r, httpapi.ValidationFailed(httpapi.FieldError{Field: "status",
			Detail: "must be draft, issued, dismissed, answered, returned or accepted"}))
		return
	}
	switch {
	case p.IsDiscipline() && p.InTown(s.Town):
	case p.Role.IsVillageRole() && p.Town == s.Town && (village == "" || village == p.Village):
		f.Village, f.VillageView = p.Village, true
	default:
		httpapi.WriteProblem(w, r, httpapi.Forbidden("you read only your own village's notices"))
		return
	}
	list, err := s.ListNotices(r.Context(), f, limit(r))
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	if !seesEverything(p) {
		for i := range list {
			if c, _, ok, err := list[i].ForCadres(); err == nil && ok {
				list[i].Notice = *c
			}
		}
	}
	_ = httpapi.WriteItems(w, list)
}

// noticeStep answers a step's result: the notice as the caller may read it.
func (s *Service) noticeStep(w http.ResponseWriter, r *http.Request, step func(identity.Principal) (*StoredNotice, error)) {
	p, ok := principal(w, r)
	if !ok {
		return
	}
	n, err := step(p)
	if err != nil {
		writeErr(w, r, "notice", err)
		return
	}
	if !seesEverything(p) {
		if c, _, ok, err := n.ForCadres(); err == nil && ok {
			n.Notice = *c
		}
	}
	_ = httpapi.WriteJSON(w, http.StatusOK, n)
}

func (s *Service) postNoticeSign(w http.ResponseWriter, r *http.Request) {
	s.noticeStep(w, r, func(p identity.Principal) (*StoredNotice, error) {
		return s.SignNotice(r.Context(), p, r.PathValue("id"))
	})
}

func (s *Service) postNoticeDismiss(w http.ResponseWriter, r *http.Request) {
	var in Review
	if !httpapi.DecodeJSON(w, r, &in) {
		return
	}
	s.noticeStep(w, r, func(p identity.Principal) (*StoredNotice, error) {
		return s.DismissNotice(r.Context(), p, r.PathValue("id"), in)
	})
}

func (s *Service) postNoticeAnswer(w http.ResponseWriter, r *http.Request) {
	var in Answer
	if !httpapi.DecodeJSON(w, r, &in) {
		return
	}
	s.noticeStep(w, r, func(p identity.Principal) (*StoredNotice, error) {
		return s.AnswerNotice(r.Context(), p, r.PathValue("id"), in)
	})
}

func (s *Service) postNoticeAccept(w http.ResponseWriter, r *http.Request) {
	var in Review
	if r.ContentLength != 0 && !httpapi.DecodeJSON(w, r, &in) {
		return
	}
	s.noticeStep(w, r, func(p identity.Principal) (*StoredNotice, error) {
		return s.ReviewNotice(r.Context(), p, r.PathValue("id"), true, in)
	})
}

func (s *Service) postNoticeReturn(w http.ResponseWriter, r *http.Request) {
	var in Review
	if !httpapi.DecodeJSON(w, r, &in) {
		return
	}
	s.noticeStep(w, r, func(p identity.Principal) (*StoredNotice, error) {
		return s.ReviewNotice(r.Context(), p, r.PathValue("id"), false, in)
	})
}
