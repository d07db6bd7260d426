package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// 消息 (console_inbox.go): the signed-in person's notifications, as the
// town inspection service keeps them (GET /v1/inbox, POST
// /v1/inbox/{id}/read, POST /v1/inbox/read-all; services/inspection
// "Notifications"). Tabs 未读 and 全部, newest first, 20 a page with a link
// to older ones; an unread message opens through a form that marks it read
// and goes on to its console page; 全部标为已读. A district account has an
// inbox in every town it can see: the page lists each town's unread count
// and shows one town at a time (?town=, like the other district pages'
// town choice). The header shows the unread count on every console page
// (unreadCount, cached briefly per session).

// inboxPage is how many messages the page shows at once.
const inboxPage = 20

// inboxCountTTL: how long a session's unread count is reused for the
// header, so that browsing the console does not ask every town each time.
// Marking messages read here forgets it at once.
const inboxCountTTL = 20 * time.Second

// inboxRoutes registers the inbox's pages (called from consoleRoutes).
func (g *Gateway) inboxConsoleRoutes(h func(string, consoleHandler)) {
	h("GET /console/inbox", g.inboxPage)
	h("POST /console/inbox/read-all", g.inboxReadAll)
	h("POST /console/inbox/{id}/read", g.inboxRead)
}

// inboxItem is a message as the inspection service lists it.
type inboxItem struct {
	ID        string    `json:"id"`
	Kind      string    `json:"kind"`
	Title     string    `json:"title"`
	Body      string    `json:"body"`
	Link      string    `json:"link"`
	CreatedAt time.Time `json:"createdAt"`
	Read      bool      `json:"read"`
}

type inboxList struct {
	Items  []inboxItem `json:"items"`
	Unread int         `json:"unread"`
}

var inboxKindNames = map[string]string{
	"task": "待办", "reminder": "即将到期", "overdue": "已超期", "escalation": "升级督办", "notice": "通知书", "order": "督查令",
}

// inboxView is one message as the page shows it.
type inboxView struct {
	inboxItem
	KindName string
	// Link is the message's console page, empty when the service gave
	// none that is a console path (never a link off this site).
	Link string
}

// inboxTown is a town of a district account, with its unread count.
type inboxTown struct {
	Town
	Unread  int
	Failed  bool // its service could not be asked
	Current bool
}

// consolePath reports whether link is a path of the console on this site.
func consolePath(link string) bool {
	if link != "/console" && !strings.HasPrefix(link, "/console/") {
		return false
	}
	u, err := url.Parse(link)
	return err == nil && u.Scheme == "" && u.Host == "" && !strings.Contains(link, "\\") && !strings.Contains(link, "//")
}

// inboxID reports whether id can be a message id (the service's are
// decimal numbers); anything else never reaches a path.
func inboxID(id string) bool {
	n, err := strconv.ParseInt(id, 10, 64)
	return err == nil && n > 0 && strconv.FormatInt(n, 10) == id
}

// inboxTownOf applies ?town= (a district account's choice among the towns
// it can see; anyone else has one town) to c, and reports the choice.
func (c *consoleReq) inboxTownOf(name string) string {
	if !c.p.Role.IsDistrictRole() || name == "" {
		return ""
	}
	for _, t := range c.towns {
		if t.Name == name {
			c.town = t
			return name
		}
	}
	return ""
}

// inboxURL is the page with its state: tab, town, older-than.
func inboxURL(state, town, before, ok string) string {
	q := url.Values{}
	if state == "all" {
		q.Set("state", "all")
	}
	if town != "" {
		q.Set("town", town)
	}
	if before != "" {
		q.Set("before", before)
	}
	if ok != "" {
		q.Set("ok", ok)
	}
	if len(q) == 0 {
		return "/console/inbox"
	}
	return "/console/inbox?" + q.Encode()
}

var inboxFlashes = map[string]string{"read": "已标为已读。", "all": "已全部标为已读。"}

func (g *Gateway) inboxPage(c *consoleReq) {
	q := c.r.URL.Query()
	state := "unread"
	if q.Get("state") == "all" {
		state = "all"
	}
	town := c.inboxTownOf(q.Get("town"))
	before := q.Get("before")
	if before != "" && !inboxID(before) {
		before = ""
	}
	path := "/v1/inbox?state=" + state + "&limit=" + strconv.Itoa(inboxPage)
	if before != "" {
		path += "&before=" + before
	}
	ctx := c.r.Context()
	var list inboxList
	var towns []inboxTown
	var err error
	parallel(
		func() { err = c.svc(ServiceInspection).get(ctx, path, &list) },
		func() {
			if c.p.Role.IsDistrictRole() {
				towns = c.inboxTowns(ctx)
			}
		},
	)
	if err != nil {
		c.failAPI(err)
		return
	}
	d := struct {
		State, Town, Older, AllURL, UnreadURL string
		Before                                bool
		Unread, TotalUnread                   int
		Items                                 []inboxView
		Towns                                 []inboxTown
	}{State: state, Town: town, Before: before != "", Unread: list.Unread, Towns: towns,
		AllURL: inboxURL("all", town, "", ""), UnreadURL: inboxURL("unread", town, "", "")}
	for _, it := range list.Items {
		v := inboxView{inboxItem: it, KindName: label(inboxKindNames, it.Kind)}
		if consolePath(it.Link) {
			v.Link = it.Link
		}
		d.Items = append(d.Items, v)
	}
	if n := len(list.Items); n == inboxPage && inboxID(list.Items[n-1].ID) {
		d.Older = inboxURL(state, town, list.Items[n-1].ID, "")
	}
	// The header's count is this page's (the current town's) or, for a
	// district account, every town's: fresh, since the page asked anyway.
	total := list.Unread
	if towns != nil {
		total = 0
		for _, t := range towns {
			total += t.Unread
		}
	}
	d.TotalUnread = total
	inboxCounts.put(c.countKey(), total)
	c.page(http.StatusOK, "console_inbox", "消息", "inbox", inboxFlashes[q.Get("ok")], d)
}

// inboxTowns asks every town a district account can see for its unread
// count, at once.
func (c *consoleReq) inboxTowns(ctx context.Context) []inboxTown {
	out := make([]inboxTown, len(c.towns))
	fs := make([]func(), len(c.towns))
	for i, t := range c.towns {
		out[i] = inboxTown{Town: t, Current: t.Name == c.town.Name}
		fs[i] = func() {
			var l inboxList
			call := townCall{g: c.g, town: t.Name, cookie: c.cookie, service: ServiceInspection}
			if err := call.get(ctx, "/v1/inbox?state=unread&limit=1", &l); err != nil {
				out[i].Failed = true
				return
			}
			out[i].Unread = l.Unread
		}
	}
	parallel(fs...)
	return out
}

// inboxRead marks one message read; with next (the message's console
// page) it goes on there, else back to the list.
func (g *Gateway) inboxRead(c *consoleReq) {
	if !c.form() {
		return
	}
	id := c.r.PathValue("id")
	if !inboxID(id) {
		c.fail(http.StatusNotFound, "没有找到这条消息。")
		return
	}
	f := c.r.PostForm
	town := c.inboxTownOf(f.Get("town"))
	if err := c.svc(ServiceInspection).do(c.r.Context(), http.MethodPost, "/v1/inbox/"+id+"/read", "", nil, nil); err != nil {
		c.failAPI(err)
		return
	}
	inboxCounts.forget(c.countKey())
	if next := f.Get("next"); consolePath(next) {
		http.Redirect(c.w, c.r, next, http.StatusSeeOther)
		return
	}
	http.Redirect(c.w, c.r, inboxURL(f.Get("state"), town, "", "read"), http.StatusSeeOther)
}

// inboxReadAll marks every message of the town read.
func (g *Gateway) inboxReadAll(c *consoleReq) {
	if !c.form() {
		return
	}
	f := c.r.PostForm
	town := c.inboxTownOf(f.Get("town"))
	if err := c.svc(ServiceInspection).do(c.r.Context(), http.MethodPost, "/v1/inbox/read-all", "", nil, nil); err != nil {
		c.failAPI(err)
		return
	}
	inboxCounts.forget(c.countKey())
	http.Redirect(c.w, c.r, inboxURL(f.Get("state"), town, "", "all"), http.StatusSeeOther)
}

// unreadCount is the header's 未读 count: the person's unread messages in
// their town, or in every town a district account can see. A service that
// cannot be asked counts nothing (the header is no place for an error).
func (c *consoleReq) unreadCount() int {
	key := c.countKey()
	if n, ok := inboxCounts.get(key); ok {
		return n
	}
	ctx, cancel := context.WithTimeout(c.r.Context(), 2*time.Second)
	defer cancel()
	total := 0
	if c.p.Role.IsDistrictRole() {
		for _, t := range c.inboxTowns(ctx) {
			total += t.Unread
		}
	} else {
		var l inboxList
		// A failure counts nothing and is kept like a count: a service
		// that does not answer must not slow every page by the timeout.
		if err := c.svc(ServiceInspection).get(ctx, "/v1/inbox?state=unread&limit=1", &l); err == nil {
			total = l.Unread
		}
	}
	inboxCounts.put(key, total)
	return total
}

// countKey identifies the session (a digest of its cookie, never the
// cookie itself) and, for a person of one town, that town.
func (c *consoleReq) countKey() string {
	h := sha256.Sum256([]byte(c.cookie))
	k := hex.EncodeToString(h[:16])
	if !c.p.Role.IsDistrictRole() {
		k += "/" + c.town.Name
	}
	return k
}

// countCache keeps sessions' unread counts for inboxCountTTL.
type countCache struct {
	mu sync.Mutex
	m  map[string]countEntry
}

type countEntry struct {
	n  int
	at time.Time
}

var inboxCounts = &countCache{m: map[string]countEntry{}}

func (cc *countCache) get(k string) (int, bool) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	e, ok := cc.m[k]
	if !ok || time.Since(e.at) > inboxCountTTL {
		return 0, false
	}
	return e.n, true
}

func (cc *countCache) put(k string, n int) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	now := time.Now()
	// Expired entries go when the map grows: it holds at most the
	// sessions of the last inboxCountTTL.
	if len(cc.m) >= 1024 {
		for key, e := range cc.m {
			if now.Sub(e.at) > inboxCountTTL {
				delete(cc.m, key)
			}
		}
	}
	cc.m[k] = countEntry{n: n, at: now}
}

func (cc *countCache) forget(k string) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	// A district account's key has no town; a town person's one town.
	delete(cc.m, k)
}
