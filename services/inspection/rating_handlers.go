package inspection

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/wuxiao/wuxiao/services/internal/httpapi"
)

func (s *Service) villageRating(w http.ResponseWriter, r *http.Request) {
	p, ok := principal(w, r)
	if !ok {
		return
	}
	village := r.PathValue("village")
	if !s.canReadRating(p, village) {
		httpapi.WriteProblem(w, r, httpapi.Forbidden("you cannot read the rating of village "+village))
		return
	}
	rating, err := s.RatingOf(r.Context(), village, s.Rules.PeriodOf(s.now()))
	if err != nil {
		writeErr(w, r, "notice", err)
		return
	}
	_ = httpapi.WriteJSON(w, http.StatusOK, RatingFor(p, rating))
}

func (s *Service) villageGradeChanges(w http.ResponseWriter, r *http.Request) {
	p, ok := principal(w, r)
	if !ok {
		return
	}
	village := r.PathValue("village")
	if !s.canReadRating(p, village) {
		httpapi.WriteProblem(w, r, httpapi.Forbidden("you cannot read the rating of village "+village))
		return
	}
	list, err := s.gradeChanges(r.Context(), village, limit(r))
	if err != nil {
		writeErr(w, r, "notice", err)
		return
	}
	_ = httpapi.WriteItems(w, GradeChangesFor(p, list))
}

// readableNotice loads a notice (by number or id) the caller may read;
// others get 404, so that numbers of other villages' notices (and drafts,
// to the village) cannot even be confirmed.
func (s *Service) readableNotice(w http.ResponseWriter, r *http.Request) (*StoredNotice, string, bool) {
	p, ok := principal(w, r)
	if !ok {
		return nil, "", false
	}
	sn, err := s.NoticeByRef(r.Context(), r.PathValue("number"))
	if err == nil && !s.canSeeNotice(p, sn) {
		err = ErrNotFound
	}
	if err != nil {
		writeErr(w, r, "notice", err)
		return nil, "", false
	}
	html := sn.html
	if !seesEverything(p) {
		c, chtml, ok, err := sn.ForCadres()
		if err != nil {
			writeErr(w, r, "notice", err)
			return nil, "", false
		}
		if ok {
			sn.Notice, html = *c, chtml
		}
	}
	return sn, html, true
}

// notice serves a notice with its status and steps.
func (s *Service) notice(w http.ResponseWriter, r *http.Request) {
	if n, _, ok := s.readableNotice(w, r); ok {
		_ = httpapi.WriteJSON(w, http.StatusOK, n)
	}
}

func (s *Service) noticeHTML(w http.ResponseWriter, r *http.Request) {
	if _, html, ok := s.readableNotice(w, r); ok {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "private, no-store")
		_, _ = w.Write([]byte(html)) //nolint:gosec // G705: rendered by Notice.HTML's html/template, which escapes every text
	}
}

// noticePDF serves a notice as PDF, to the same readers as its HTML.
func (s *Service) noticePDF(w http.ResponseWriter, r *http.Request) {
	n, _, ok := s.readableNotice(w, r)
	if !ok {
		return
	}
	if s.Integrity.NoticeFont == nil {
		httpapi.WriteStatusProblem(w, r, http.StatusServiceUnavailable, "PDF notices unavailable",
			"the service has no CJK TrueType font to render PDFs with: set --notice-font / WUXIAO_NOTICE_FONT (hack/fonts.sh installs one); the HTML notice is at "+
				strings.TrimSuffix(r.URL.Path, "/pdf")+"/html")
		return
	}
	doc, err := n.PDF(s.Integrity.NoticeFont)
	if err != nil {
		httpapi.WriteError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/pdf")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`inline; filename="notice-%d-%d.pdf"; filename*=UTF-8''%s.pdf`, n.Year, n.Seq, url.PathEscape(n.Number)))
	w.Header().Set("Cache-Control", "private, no-store")
	_, _ = w.Write(doc) //nolint:gosec // G705: PDF bytes, served as application/pdf
}

func (s *Service) districtRatings(w http.ResponseWriter, r *http.Request) {
	p, ok := principal(w, r)
	if !ok {
		return
	}
	if !s.canReadDistrict(p) {
		httpapi.WriteProblem(w, r, httpapi.Forbidden("only district staff and the town's discipline office read every village's rating"))
		return
	}
	period := s.Rules.PeriodOf(s.now())
	list, err := s.ratingsOf(r.Context(), period)
	if err != nil {
		writeErr(w, r, "notice", err)
		return
	}
	_ = httpapi.WriteJSON(w, http.StatusOK, map[string]any{"town": s.Town, "period": period.String(), "items": list})
}
