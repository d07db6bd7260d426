package disclosure

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/wuxiao/wuxiao/api/divcode"
	"github.com/wuxiao/wuxiao/services/internal/httpapi"
	"github.com/wuxiao/wuxiao/services/internal/personal"
	"github.com/wuxiao/wuxiao/services/internal/tz"
)

// The public portal each village's QR code points to
// (<PortalBaseURL>/v/<village>): four sections in Simplified Chinese,
// rendered on the server (no scripts, no external resources: it must work
// on any phone, offline once loaded), cached per village version (see
// portal_cache.go).

// PortalMaxAge is how long browsers and proxies may reuse a public page
// without asking again; after it, a conditional GET costs a version lookup
// (in memory while the replica's listener runs, see portal_listen.go).
const PortalMaxAge = 60 * time.Second

func (s *Service) portalRoutes(srv *httpapi.Server) {
	pub := func(pattern string, h http.HandlerFunc) { srv.Handle(pattern, httpapi.Public(h)) }
	pub("GET /v/{village}", s.portalWallet)
	pub("GET /v/{village}/subsidies", s.portalSubsidies)
	pub("POST /v/{village}/subsidies/lookup", s.portalLookup)
	pub("GET /v/{village}/processes", s.portalProcessForm)
	pub("GET /v/{village}/processes/{tracking}", s.portalProcess)
	pub("GET /v/{village}/postings", s.portalPostings) // postings.go
	pub("GET /v/{village}/powers", s.portalPowers)
	pub("GET /v/{village}/powers/{item}", s.portalPower)
	pub("GET /v/{village}/qr.png", s.portalQR)
	pub("GET /v/{village}/qr.svg", s.portalQR)
	pub("GET /v/{village}/{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/v/"+url.PathEscape(r.PathValue("village")), http.StatusMovedPermanently)
	})
	// Anything else under a village is a page that does not exist: answered
	// in Chinese HTML, not the API's JSON problem.
	pub("GET /v/{village}/{rest...}", func(w http.ResponseWriter, r *http.Request) {
		if village, ok := s.knownVillage(w, r); ok {
			s.writeNotFound(w, village, "没有这个页面", "您要找的页面不存在。")
		}
	})
}

// portalHeaders hardens every portal response: no scripts or external
// resources can run or load, and the page cannot be framed.
func portalHeaders(h http.Header) {
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
}

func (s *Service) cache() *portalState {
	s.portalOnce.Do(func() {
		tag := buildTag
		if c := s.Catalog; c != nil {
			tag += "\x00" + c.Name + "\x00" + c.Version
		}
		s.portal = &portalState{pages: newPageCache(), versions: newVersionBook(), contentTag: tag}
	})
	return s.portal
}

// portalState is a Service's portal cache.
type portalState struct {
	pages *pageCache
	// versions is the villages' versions as notified (see portal_listen.go).
	versions *versionBook
	// contentTag names everything besides the village's data that a page
	// depends on: the templates and the power list.
	contentTag string
}

func (p *portalState) etag(k pageKey, version int64) string { return etagOf(p.contentTag, k, version) }

// errBadRequest carries a message shown to the villager with status 400.
type errBadRequest string

func (e errBadRequest) Error() string { return string(e) }

// portalYear reads ?year=; empty is the current year in Shanghai.
func (s *Service) portalYear(r *http.Request) (int, error) {
	now := s.now().In(tz.Shanghai).Year()
	raw := r.URL.Query().Get("year")
	if raw == "" {
		return now, nil
	}
	y, err := strconv.Atoi(raw)
	if err != nil || len(raw) != 4 || y < 1949 || y > now+1 {
		return 0, errBadRequest(fmt.Sprintf("年份“%s”无效，请输入 1949 至 %d 之间的四位年份。", raw, now+1))
	}
	return y, nil
}

// yearKey is the cache key of a page of year; it includes the current
// year, which decides the links to the next year.
func (s *Service) yearKey(page string, year int) string {
	return fmt.Sprintf("%s?year=%d&now=%d", page, year, s.now().In(tz.Shanghai).Year())
}

func (s *Service) portalWallet(w http.ResponseWriter, r *http.Request) {
	year, err := s.portalYear(r)
	s.servePage(w, r, s.yearKey("wallet", year), err, func(ctx context.Context, village string) (view, error) {
		return s.walletView(ctx, village, year)
	})
}

func (s *Service) portalSubsidies(w http.ResponseWriter, r *http.Request) {
	year, err := s.portalYear(r)
	s.servePage(w, r, s.yearKey("subsidies", year), err, func(ctx context.Context, village string) (view, error) {
		return s.subsidiesView(ctx, village, year)
	})
}

// portalProcessForm is the lookup form; ?tracking= (what the form submits)
// redirects to the process's own page.
func (s *Service) portalProcessForm(w http.ResponseWriter, r *http.Request) {
	if t := strings.TrimSpace(r.URL.Query().Get("tracking")); t != "" {
		village := r.PathValue("village")
		if divcode.Valid(village) {
			http.Redirect(w, r, "/v/"+village+"/processes/"+url.PathEscape(t), http.StatusSeeOther) //nolint:gosec // G710: a local path; village passed divcode.Valid, t is path-escaped
			return
		}
	}
	s.servePage(w, r, "processes", nil, func(context.Context, string) (view, error) {
		return view{Template: "processes", Title: "流程到哪了", Tab: tabProcesses}, nil
	})
}

func (s *Service) portalProcess(w http.ResponseWriter, r *http.Request) {
	tracking := r.PathValue("tracking")
	s.servePage(w, r, "process/"+tracking, nil, func(ctx context.Context, village string) (view, error) {
		return s.processView(ctx, village, tracking)
	})
}

func (s *Service) portalPowers(w http.ResponseWriter, r *http.Request) {
	s.servePage(w, r, "powers", nil, func(context.Context, string) (view, error) { return s.powersView(), nil })
}

func (s *Service) portalPower(w http.ResponseWriter, r *http.Request) {
	item := r.PathValue("item")
	s.servePage(w, r, "power/"+item, nil, func(context.Context, string) (view, error) { return s.powerView(item) })
}

// portalLookup answers the own-payments form (ID number, name and the
// lookup code printed on the household's payment notice). The answer is
// about the person who asked: never cached, and it repeats nothing typed in.
func (s *Service) portalLookup(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	village, ok := s.knownVillage(w, r)
	if !ok {
		return
	}
	if err := r.ParseForm(); err != nil {
		s.writeMessage(w, village, http.StatusBadRequest, "无法读取表单", "请返回重新填写身份证号、姓名和查询码后再查询。")
		return
	}
	idNumber, name := strings.TrimSpace(r.PostForm.Get("idNumber")), strings.TrimSpace(r.PostForm.Get("name"))
	code := strings.TrimSpace(r.PostForm.Get("lookupCode"))
	if ok, wait := s.allowLookup(r, village, idNumber); !ok {
		secs := httpapi.RetryAfterSeconds(wait)
		w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
		s.writeMessage(w, village, http.StatusTooManyRequests, "查询太频繁",
			fmt.Sprintf("为保护大家的个人信息，补贴查询的次数有限制。请在%s后再查询。", waitText(secs)))
		return
	}
	lv := lookupView{Asked: true}
	status := http.StatusOK
	if idNumber == "" || name == "" || code == "" {
		lv.Problem, status = "请同时填写身份证号、姓名和查询码。", http.StatusBadRequest
	} else if !personal.ValidIDNumber(idNumber) {
		// Says nothing about any household: the check character is public
		// arithmetic (GB 11643).
		lv.Problem, status = "身份证号格式不正确，请核对 18 位身份证号（最后一位可能是 X）。", http.StatusBadRequest
	} else {
		// A wrong code answers like a wrong name or an unknown person.
		found, err := s.LookupOwn(r.Context(), village, idNumber, name, code)
		if err != nil {
			s.writeError(w, r, village, err)
			return
		}
		lv.Items = PublicPayments(found)
		for _, p := range found {
			lv.TotalFen += p.NetFen()
		}
	}
	s.writeView(w, village, status, view{Template: "lookup", Title: "我的补贴查询结果", Tab: tabSubsidies, Data: lv})
}

// knownVillage reads the route's village; an unknown one gets the 404 page.
func (s *Service) knownVillage(w http.ResponseWriter, r *http.Request) (string, bool) {
	village, _, ok := s.portalVillage(w, r)
	return village, ok
}

// portalVillage reads the route's village and its version; a malformed or
// unknown village gets the 404 page.
func (s *Service) portalVillage(w http.ResponseWriter, r *http.Request) (string, villageVersion, bool) {
	village := r.PathValue("village")
	if !divcode.Valid(village) {
		s.writeNotFound(w, "", "没有这个村", "村代码应为 12 位数字，请重新扫描村务公开二维码。")
		return "", villageVersion{}, false
	}
	// A database cut off (a partition, half-open connections) must not hold
	// a villager's page until TCP gives up: a 503 after a few seconds.
	ctx, cancel := context.WithTimeout(r.Context(), portalDatabaseWait)
	v, err := s.currentVersion(ctx, village)
	cancel()
	if err != nil {
		s.writeError(w, r, village, err)
		return "", v, false
	}
	if !v.Known {
		s.writeNotFound(w, "", "没有这个村", "没有找到村代码为 "+village+" 的村，请重新扫描村务公开二维码。")
		return "", v, false
	}
	return village, v, true
}

// servePage serves a cached public page: the village's version is read
// first (never after the data: a page is never labelled newer than what it
// shows), a conditional GET is answered from it without rendering, and
// otherwise the page for that version is rendered once and kept.
func (s *Service) servePage(w http.ResponseWriter, r *http.Request, key string, inputErr error,
	build func(ctx context.Context, village string) (view, error)) {
	village, v, ok := s.portalVillage(w, r)
	if !ok {
		return
	}
	if inputErr != nil {
		s.writeError(w, r, village, inputErr)
		return
	}
	s.serveCached(w, r, pageKey{village: village, page: key}, v, build) // portal_cache.go
}

// portalDatabaseWait bounds a page's wait for the village's version.
const portalDatabaseWait = 5 * time.Second

// writeError shows an error as a page: bad input 400, a missing record 404,
// a database that cannot answer now 503 with Retry-After (as the APIs do),
// anything else 500 (logged; the page says nothing of the cause).
func (s *Service) writeError(w http.ResponseWriter, r *http.Request, village string, err error) {
	var bad errBadRequest
	var nf notFoundError
	switch {
	case errors.As(err, &bad):
		s.writeMessage(w, village, http.StatusBadRequest, "请求有误", string(bad))
	case errors.As(err, &nf):
		s.writeNotFound(w, village, nf.title, nf.detail)
	case errors.Is(err, ErrNotFound):
		s.writeNotFound(w, village, "没有找到", "没有找到您要的内容。")
	case httpapi.DatabaseUnavailable(err) || errors.Is(err, context.DeadlineExceeded) && r.Context().Err() == nil:
		if s.Log != nil {
			s.Log.WarnContext(r.Context(), "portal page: database unavailable", "path", r.URL.Path, "error", err)
		}
		w.Header().Set("Retry-After", "5")
		s.writeMessage(w, village, http.StatusServiceUnavailable, "系统繁忙", "页面暂时无法显示，请稍后再试。")
	default:
		if s.Log != nil {
			s.Log.ErrorContext(r.Context(), "portal page failed", "path", r.URL.Path, "error", err)
		}
		s.writeMessage(w, village, http.StatusInternalServerError, "系统繁忙", "页面暂时无法显示，请稍后再试。")
	}
}

// notFoundError is a missing record with the message the villager sees.
type notFoundError struct{ title, detail string }

func (e notFoundError) Error() string { return e.title }

func (s *Service) writeNotFound(w http.ResponseWriter, village, title, detail string) {
	s.writeMessage(w, village, http.StatusNotFound, title, detail)
}

func (s *Service) writeMessage(w http.ResponseWriter, village string, status int, title, detail string) {
	if w.Header().Get("Cache-Control") == "" {
		w.Header().Set("Cache-Control", "no-cache")
	}
	s.writeView(w, village, status, view{Template: "message", Title: title, Data: detail})
}

func (s *Service) writeView(w http.ResponseWriter, village string, status int, v view) {
	body, err := s.render(village, s.villageName(context.Background(), village), v)
	if err != nil {
		if s.Log != nil {
			s.Log.Error("portal template failed", "template", v.Template, "error", err)
		}
		http.Error(w, "页面暂时无法显示，请稍后再试。", http.StatusInternalServerError)
		return
	}
	portalHeaders(w.Header())
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(body) //nolint:gosec // G705: rendered by html/template, which escapes
}

// waitText says a wait of secs seconds in Chinese, in minutes when longer
// than one (rounded up).
func waitText(secs int64) string {
	if secs <= 60 {
		return fmt.Sprintf("%d秒", secs)
	}
	return fmt.Sprintf("%d分钟", (secs+59)/60)
}
