package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
	"github.com/wuxiao/wuxiao/services/internal/identity"
	"github.com/wuxiao/wuxiao/services/internal/tz"
)

// What the console reads of the town services' answers (their JSON as
// documented in each service's openapi.yaml; only the fields shown).

type wfStepRecord struct {
	StepID      string     `json:"stepId"`
	EnteredAt   time.Time  `json:"enteredAt"`
	DueAt       *time.Time `json:"dueAt,omitempty"`
	CompletedAt *time.Time `json:"completedAt,omitempty"`
	ActorID     string     `json:"actorId,omitempty"`
	ActorName   string     `json:"actorName,omitempty"`
	ActorRole   string     `json:"actorRole,omitempty"`
	Note        string     `json:"note,omitempty"`
	OutOfOrder  bool       `json:"outOfOrder,omitempty"`
	Reason      string     `json:"reason,omitempty"`
}

type wfEvidence struct {
	ID      string    `json:"id"`
	StepID  string    `json:"stepId"`
	Kind    string    `json:"kind"`
	Name    string    `json:"name"`
	URL     string    `json:"url"`
	SHA256  string    `json:"sha256"`
	Size    int64     `json:"size"`
	AddedBy string    `json:"addedBy"`
	AddedAt time.Time `json:"addedAt"`
}

// File reports whether the evidence is a file stored by the workflow
// service (its URL is the service's download path).
func (e wfEvidence) File() bool {
	return strings.HasPrefix(e.URL, "/v1/instances/") && strings.Contains(e.URL, "/evidence/files/")
}

// FileID is the stored file's id.
func (e wfEvidence) FileID() string { return e.URL[strings.LastIndex(e.URL, "/")+1:] }

type wfInstance struct {
	ID             string `json:"id"`
	TrackingNumber string `json:"trackingNumber"`
	Town           string `json:"town"`
	Village        string `json:"village"`
	ItemID         string `json:"itemId"`
	ItemName       string `json:"itemName"`
	Category       string `json:"category"`
	Title          string `json:"title"`
	AmountFen      int64  `json:"amountFen,omitempty"`
	Payee          *struct {
		Name string `json:"name"`
	} `json:"payee,omitempty"`
	Status         string         `json:"status"`
	Current        string         `json:"current,omitempty"`
	StartedBy      string         `json:"startedBy"`
	StartedAt      time.Time      `json:"startedAt"`
	EndedAt        *time.Time     `json:"endedAt,omitempty"`
	WithdrawReason string         `json:"withdrawReason,omitempty"`
	Steps          []wfStepRecord `json:"steps"`
	Evidence       []wfEvidence   `json:"evidence,omitempty"`
}

// open is the current step's open visit.
func (i *wfInstance) open() *wfStepRecord {
	for k := len(i.Steps) - 1; k >= 0; k-- {
		if i.Steps[k].StepID == i.Current && i.Steps[k].CompletedAt == nil {
			return &i.Steps[k]
		}
	}
	return nil
}

type wfWarning struct {
	ID         string    `json:"id"`
	InstanceID string    `json:"instanceId"`
	Village    string    `json:"village"`
	ItemID     string    `json:"itemId"`
	StepID     string    `json:"stepId"`
	Rule       string    `json:"rule"`
	Message    string    `json:"message"`
	Norm       string    `json:"norm,omitempty"`
	Basis      string    `json:"basis,omitempty"`
	Public     bool      `json:"public"`
	RaisedAt   time.Time `json:"raisedAt"`
}

type wfAuditEntry struct {
	Seq       int64     `json:"seq"`
	At        time.Time `json:"at"`
	ActorID   string    `json:"actorId"`
	ActorRole string    `json:"actorRole"`
	Action    string    `json:"action"`
	Data      string    `json:"data"`
	Hash      string    `json:"hash"`
}

type wfAudit struct {
	Entries      []wfAuditEntry `json:"entries"`
	Verification struct {
		Valid    bool   `json:"valid"`
		Entries  int    `json:"entries"`
		BrokenAt int64  `json:"brokenAt,omitempty"`
		Reason   string `json:"reason,omitempty"`
	} `json:"verification"`
}

type wfVillage struct {
	Code     string `json:"code"`
	Name     string `json:"name"`
	Archived bool   `json:"archived,omitempty"`
}

type items[T any] struct {
	Items []T `json:"items"`
}

type inspRating struct {
	Village string `json:"village"`
	Period  struct {
		Year    int `json:"year"`
		Quarter int `json:"quarter,omitempty"`
	} `json:"period"`
	Start         int       `json:"start"`
	Points        int       `json:"points"`
	Grade         string    `json:"grade"`
	AsOf          time.Time `json:"asOf"`
	Contributions []struct {
		Fact struct {
			Kind string    `json:"kind"`
			At   time.Time `json:"at"`
			Ref  string    `json:"ref,omitempty"`
			Note string    `json:"note,omitempty"`
		} `json:"fact"`
		Label   string `json:"label"`
		Points  int    `json:"points"`
		Capped  bool   `json:"capped,omitempty"`
		Unrated bool   `json:"unrated,omitempty"`
	} `json:"contributions"`
}

// PeriodName is the rating period in Chinese.
func (r inspRating) PeriodName() string {
	if r.Period.Quarter > 0 {
		return fmt.Sprintf("%d年第%d季度", r.Period.Year, r.Period.Quarter)
	}
	return fmt.Sprintf("%d年度", r.Period.Year)
}

type inspGradeChange struct {
	ID         string    `json:"id"`
	From       string    `json:"from"`
	To         string    `json:"to"`
	FromPoints int       `json:"fromPoints"`
	ToPoints   int       `json:"toPoints"`
	At         time.Time `json:"at"`
	Notice     string    `json:"notice,omitempty"`
}

type inspNotice struct {
	Number      string    `json:"number"`
	Kind        string    `json:"kind"`
	VillageName string    `json:"villageName"`
	TownName    string    `json:"townName"`
	IssuedAt    time.Time `json:"issuedAt"`
	Grade       string    `json:"grade"`
	Points      int       `json:"points"`
	Reasons     []string  `json:"reasons"`
	Deadline    time.Time `json:"deadline"`
	Text        string    `json:"text"`
}

type dsWallet struct {
	Year        int   `json:"year"`
	IncomeFen   int64 `json:"incomeFen"`
	SpendingFen int64 `json:"spendingFen"`
	BalanceFen  int64 `json:"balanceFen"`
	Entries     []struct {
		Seq            int64  `json:"seq"`
		Date           string `json:"date"`
		Kind           string `json:"kind"`
		KindLabel      string `json:"kindLabel"`
		CategoryName   string `json:"categoryName"`
		Amount         string `json:"amount"`
		Description    string `json:"description"`
		Counterparty   string `json:"counterparty,omitempty"`
		TrackingNumber string `json:"trackingNumber,omitempty"`
		Reversed       bool   `json:"reversed,omitempty"`
		Reverses       string `json:"reverses,omitempty"`
		Reason         string `json:"reason,omitempty"`
	} `json:"entries"`
}

type dsSubsidies struct {
	Programmes []struct {
		Programme  string `json:"programme"`
		Payments   int    `json:"payments"`
		Households int    `json:"households"`
		AmountFen  int64  `json:"amountFen"`
	} `json:"programmes"`
	Items []struct {
		Programme string `json:"programme"`
		Name      string `json:"name"`
		IDNumber  string `json:"idNumber"`
		Amount    string `json:"amount"`
		PaidOn    string `json:"paidOn"`
		Reversed  bool   `json:"reversed,omitempty"`
		Reverses  string `json:"reverses,omitempty"`
	} `json:"items"`
}

// The power list changes rarely (a new catalog rolls the pods): each
// town's is kept for a minute rather than fetched on every page.
type cachedCatalog struct {
	c       *wuxiaov1.ResolvedCatalog
	fetched time.Time
}

var (
	catalogMu    sync.Mutex
	catalogCache = map[string]cachedCatalog{}
)

const catalogTTL = time.Minute

func (c *consoleReq) catalog(ctx context.Context) (*wuxiaov1.ResolvedCatalog, error) {
	catalogMu.Lock()
	e, ok := catalogCache[c.town.Name]
	catalogMu.Unlock()
	if ok && time.Since(e.fetched) < catalogTTL {
		return e.c, nil
	}
	var cat wuxiaov1.ResolvedCatalog
	if err := (townCall{g: c.g, town: c.town.Name, service: ServiceWorkflow}).get(ctx, "/v1/catalog", &cat); err != nil {
		return nil, err
	}
	catalogMu.Lock()
	catalogCache[c.town.Name] = cachedCatalog{&cat, time.Now()}
	catalogMu.Unlock()
	return &cat, nil
}

// villages lists the town's villages this user may see (names for codes;
// empty on failure: pages then show codes). The list is kept a minute per
// session: it changes when town IT onboards a village, not per page.
func (c *consoleReq) villages(ctx context.Context) []wfVillage {
	key := sha256.Sum256([]byte(c.town.Name + "\x00" + c.cookie))
	villagesMu.Lock()
	e, ok := villagesCache[key]
	villagesMu.Unlock()
	if ok && time.Since(e.fetched) < villagesTTL {
		return e.list
	}
	var out items[wfVillage]
	if err := c.svc(ServiceWorkflow).get(ctx, "/v1/villages", &out); err != nil {
		return nil
	}
	villagesMu.Lock()
	if len(villagesCache) >= 10000 {
		clear(villagesCache) // bounded; refetched on the next page
	}
	villagesCache[key] = cachedVillages{out.Items, time.Now()}
	villagesMu.Unlock()
	return out.Items
}

type cachedVillages struct {
	list    []wfVillage
	fetched time.Time
}

var (
	villagesMu    sync.Mutex
	villagesCache = map[[32]byte]cachedVillages{}
)

const villagesTTL = time.Minute

// explain turns a service's answer into a status and a sentence in Chinese.
func explain(err error) (int, string) {
	var e *apiError
	if !errors.As(err, &e) {
		if errors.Is(err, errUnavailable) {
			return http.StatusBadGateway, "镇（街道）的业务系统暂时无法访问，请稍后再试。"
		}
		return http.StatusBadGateway, "业务系统返回了无法识别的结果，请稍后再试。"
	}
	slug := e.Type[strings.LastIndex(e.Type, "/")+1:]
	msg := map[string]string{
		"wrong-role":            "这一步不由您的角色办理。",
		"other-town":            "该流程属于其他镇（街道）。",
		"other-village":         "该流程属于其他村。",
		"out-of-order":          "这不是当前应办理的步骤。",
		"step-done":             "这一步已经办理过了。",
		"not-running":           "流程已经结束，不能再办理。",
		"conflict":              "流程刚被他人更新，请刷新页面后重试。",
		"choose-next":           "请选择下一步。",
		"not-on-the-list":       "该事项不在权力清单上（清单之外无权力）。",
		"village-archived":      "该村已撤并或归档，不能发起新流程。",
		"unsupported-file-type": "文件类型不支持。可上传 PDF、JPEG、PNG、Word、Excel、PowerPoint 文件。",
		"file-too-large":        "文件超过 10 MB，请压缩或拆分后上传。",
		"unknown-step":          "没有这个步骤。",
		"item-withdrawn":        "该事项已从权力清单移除，流程只能撤回。",
	}[slug]
	if msg == "" {
		switch e.Status {
		case http.StatusUnauthorized:
			msg = "登录已失效，请重新登录。"
		case http.StatusForbidden:
			msg = "您无权进行此操作。"
		case http.StatusNotFound:
			msg = "没有找到，或您无权查看。"
		case http.StatusConflict:
			msg = "当前状态下不能这样办理。"
		case http.StatusRequestEntityTooLarge:
			msg = "提交的内容太大。"
		case http.StatusBadRequest, http.StatusUnprocessableEntity:
			msg = "填写的内容不符合要求。"
		default:
			msg = "业务系统出错，请稍后再试。"
		}
	}
	if e.Detail != "" && e.Status < 500 {
		msg += "（" + e.Detail + "）"
	}
	status := e.Status
	if status < 400 || status >= 500 {
		status = http.StatusBadGateway
	}
	return status, msg
}

// Days, deadlines and money.

// dayDiff is the number of Shanghai calendar days from a to b.
func dayDiff(a, b time.Time) int {
	ay, am, ad := a.In(tz.Shanghai).Date()
	by, bm, bd := b.In(tz.Shanghai).Date()
	return int(time.Date(by, bm, bd, 0, 0, 0, 0, time.UTC).Sub(time.Date(ay, am, ad, 0, 0, 0, 0, time.UTC)).Hours() / 24)
}

// deadline describes a due date relative to now.
type deadline struct {
	Due     *time.Time
	Overdue bool
	Label   string // 已超期 3 天 / 今天到期 / 剩余 2 天 / 无时限
}

func deadlineOf(due *time.Time, now time.Time) deadline {
	if due == nil {
		return deadline{Label: "无时限"}
	}
	d := deadline{Due: due}
	switch days := dayDiff(now, *due); {
	case now.After(*due):
		d.Overdue = true
		d.Label = fmt.Sprintf("已超期 %d 天", max(1, -days))
	case days == 0:
		d.Label = "今天到期"
	default:
		d.Label = fmt.Sprintf("剩余 %d 天", days)
	}
	return d
}

var yuanPattern = regexp.MustCompile(`^[0-9]{1,12}(\.[0-9]{1,2})?$`)

// parseYuan reads an amount in 元 (at most two decimals) as fen.
func parseYuan(s string) (int64, bool) {
	s = strings.TrimSpace(strings.ReplaceAll(strings.ReplaceAll(s, ",", ""), "，", ""))
	if s == "" {
		return 0, true
	}
	if !yuanPattern.MatchString(s) {
		return 0, false
	}
	whole, frac, _ := strings.Cut(s, ".")
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil {
		return 0, false
	}
	for len(frac) < 2 {
		frac += "0"
	}
	f, _ := strconv.ParseInt(frac, 10, 64)
	return w*100 + f, true
}

func validID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, r := range s {
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if r != '-' {
				return false
			}
		case (r >= '0' && r <= '9') || (r >= 'a' && r <= 'f'):
		default:
			return false
		}
	}
	return true
}

// Labels in Chinese.

var statusNames = map[string]string{"running": "办理中", "completed": "已办结", "withdrawn": "已撤回"}

var categoryNames = map[string]string{
	"decision": "小决策", "funds": "小资金（资产、资源）", "project": "小项目", "duty": "小职责",
	"organisation": "小组织建设", "service": "一跑（最多跑一次）",
}

var ruleNames = map[string]string{
	"order": "未按顺序办理", "deadline": "超过办理时限", "posting-duration": "公示时间不足",
	"amount-threshold": "金额超过限额", "conflict-of-interest": "利益冲突未回避", "evidence-required": "缺少佐证材料",
}

var actionNames = map[string]string{
	"instance.started": "发起流程", "step.completed": "办理步骤", "evidence.added": "上传佐证材料",
	"comment.added": "发表意见", "instance.withdrawn": "撤回流程", "warning.raised": "系统预警",
}

var evidenceKinds = []struct{ ID, Name string }{
	{"voucher", "原始凭证（发票、收据）"},
	{"minutes", "会议记录"},
	{"representatives-resolution", "村民代表会议决议"},
	{"town-approval", "镇（街道）审批意见"},
	{"posting-photo", "公示照片"},
	{"contract", "合同协议"},
	{"document", "其他材料"},
}

func evidenceKindName(k string) string {
	for _, e := range evidenceKinds {
		if e.ID == k {
			return e.Name
		}
	}
	return k
}

func label(m map[string]string, k string) string {
	if v, ok := m[k]; ok {
		return v
	}
	return k
}

func roleLabel(r string) string {
	switch r {
	case "system":
		return "系统"
	case "":
		return ""
	}
	return roleName(identity.Role(r))
}

func timeLimitLabel(s wuxiaov1.Step) string {
	if s.TimeLimit == nil {
		return "无时限"
	}
	if s.TimeLimit.Calendar == "calendar" {
		return fmt.Sprintf("%d 个自然日", s.TimeLimit.Days)
	}
	return fmt.Sprintf("%d 个工作日", s.TimeLimit.Days)
}

func sizeLabel(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.0f KB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d 字节", n)
}

func jsonUnmarshalString(s string, v any) error { return json.Unmarshal([]byte(s), v) }

func itoa(n int) string { return strconv.Itoa(n) }
