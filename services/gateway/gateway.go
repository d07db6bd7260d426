package gateway

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/wuxiao/wuxiao/services/internal/httpapi"
	"github.com/wuxiao/wuxiao/services/internal/identity"
)

// Config is what the gateway needs to know besides where the towns are.
type Config struct {
	// District is the District object's name.
	District string
	// DistrictName is the district's name as people know it, e.g. 奉化区.
	DistrictName string
	// KratosPublicURL is where the gateway reaches Kratos' public API
	// (inside the cluster). Browsers never see it: they reach Kratos
	// through the gateway at KratosPathPrefix.
	KratosPublicURL string
	// PublicHosts and StaffHosts, when set, restrict which Host headers
	// the public pages and the staff pages (/auth, /console) answer on; a
	// request for the other kind on a host that is not its own gets 404.
	// Empty: every host serves both (a single-host district, `make dev`).
	PublicHosts []string
	StaffHosts  []string
	// TownGroups is the district's 片组, town → group (ParseTownGroups of
	// api/gateway's EnvTownGroups): a district official limited to a group
	// sees only its towns in the console.
	TownGroups identity.TownGroups
}

// ParseTownGroups reads the operator's group map (api/gateway
// EnvTownGroups: JSON, group name → town names) into town → group. Empty
// is no groups; a town in two groups or a name that is not a DNS label is
// an error naming it.
func ParseTownGroups(s string) (identity.TownGroups, error) {
	out := identity.TownGroups{}
	if strings.TrimSpace(s) == "" {
		return out, nil
	}
	var groups map[string][]string
	if err := json.Unmarshal([]byte(s), &groups); err != nil {
		return nil, fmt.Errorf(`not a JSON object of group names to lists of town names, e.g. {"pian-1":["xikou","jinping"]}: %w`, err)
	}
	for _, g := range slices.Sorted(maps.Keys(groups)) {
		if !identity.ValidTown(g) {
			return nil, fmt.Errorf("group %q is not a group name (a DNS label, e.g. pian-1)", g)
		}
		for _, t := range groups[g] {
			if !identity.ValidTown(t) {
				return nil, fmt.Errorf("group %s: %q is not a town name (a DNS label, e.g. xikou)", g, t)
			}
			if o, dup := out[t]; dup && o != g {
				return nil, fmt.Errorf("town %s is in two groups, %s and %s", t, o, g)
			}
			out[t] = g
		}
	}
	return out, nil
}

// KratosPathPrefix is where browsers reach Kratos' public API through the
// gateway (Kratos' serve.public.base_url must be <gateway origin>/.ory/kratos/).
const KratosPathPrefix = "/.ory/kratos/"

// Gateway serves the district's public routing, sign-in and console.
type Gateway struct {
	cfg      Config
	backends Backends
	auth     *identity.Authenticator
	kratos   *url.URL
	log      *slog.Logger
}

// New returns a gateway. log may be nil.
func New(cfg Config, backends Backends, log *slog.Logger) (*Gateway, error) {
	if log == nil {
		log = slog.Default()
	}
	if backends == nil {
		return nil, errors.New("gateway: no backends")
	}
	k, err := url.Parse(strings.TrimRight(cfg.KratosPublicURL, "/") + "/")
	if err != nil || k.Scheme == "" || k.Host == "" {
		return nil, errors.New("gateway: the Kratos public URL must be an absolute http(s) URL")
	}
	g := &Gateway{cfg: cfg, backends: backends, kratos: k, log: log}
	g.auth = identity.New(cfg.KratosPublicURL, identity.WithLogger(log), identity.WithErrorWriter(g.identityErrorPage),
		identity.WithTownGroups(cfg.TownGroups))
	return g, nil
}

// identityErrorPage answers a browser whose session could not be resolved
// with a page in Chinese instead of the services' problem JSON: Kratos
// unreachable (503) or an account without a valid role or scope (403).
func (g *Gateway) identityErrorPage(w http.ResponseWriter, _ *http.Request, status int, _, _ string) {
	msg := "登录状态无法确认，请重新登录。"
	switch status {
	case http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", "5")
		msg = "登录服务暂时无法连接，请稍后刷新重试。"
	case http.StatusForbidden:
		msg = "此账号尚未设置好角色或所属村镇，请联系镇（街道）信息员。"
	}
	g.render(w, status, page{Template: "console_error", Title: "无法完成", Data: consoleData{D: msg}})
}

// Register adds every route of the gateway to srv. The gateway's routes are
// all Public for srv: the console authenticates itself (redirecting a
// browser to the sign-in page instead of answering 401), and the town
// services authorise every call it makes.
func (g *Gateway) Register(srv *httpapi.Server) {
	g.publicRoutes(srv)
	g.authRoutes(srv)
	g.consoleRoutes(srv)
}

// hostAllowed reports whether host (a request's Host, maybe with a port)
// is one of hosts; an empty list allows every host.
func hostAllowed(hosts []string, host string) bool {
	if len(hosts) == 0 {
		return true
	}
	if h, _, ok := strings.Cut(host, ":"); ok {
		host = h
	}
	return slices.Contains(hosts, strings.ToLower(host))
}

func sortedTowns(m map[string]Town) []Town {
	out := make([]Town, 0, len(m))
	for _, t := range m {
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b Town) int { return strings.Compare(a.Name, b.Name) })
	return out
}
