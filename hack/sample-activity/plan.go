package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"time"

	"github.com/wuxiao/wuxiao/services/complaint"
	"github.com/wuxiao/wuxiao/services/disclosure"
	"github.com/wuxiao/wuxiao/services/workflow"
)

// Village is a sample village as config/samples/villages.yaml names it.
type Village struct {
	Code string
	Name string // 岩头村
	Town string // xikou: the Town's name, its namespace is town-<name>
}

// Plan is the illustrative year of one village: what the tool books, in
// the order it books it. Everything but the dates is a function of the
// village code alone, so a rerun recognises what an earlier run booked
// (descriptions, titles and amounts are the keys; dates move with the day
// of the run, which is why they are never part of a key).
type Plan struct {
	Village Village
	Today   string // YYYY-MM-DD in Shanghai; the year booked ends here

	Processes []Process
	Payments  []disclosure.PaymentRequest
	// Complaints are filed anonymously through the public report API.
	Complaints []Complaint
	// Entries are booked after the processes (one carries a tracking
	// number), in date order; Entries[Correction.Index] is reversed last.
	Entries    []Entry
	Correction Correction
}

// Entry is a wallet entry; LinkProcess names the Process whose tracking
// number it carries (the entry is the money that process moved).
type Entry struct {
	disclosure.EntryInput
	LinkProcess string `json:"linkProcess,omitempty"`
}

// Correction is the one mistake of the year and its reversal (冲销).
type Correction struct {
	Index  int
	Reason string
}

// Process is one process of the power list, driven to a step: Steps are
// recorded in order, each by its role (with its evidence attached first);
// afterwards the process is completed (WantCurrent empty) or waits at
// WantCurrent.
type Process struct {
	Key       string // stable name within the plan: procurement, contract, …
	Start     workflow.StartRequest
	StartRole string
	Steps     []Step
	// WantCurrent is the step the process waits at; empty: completed.
	WantCurrent string
	// Shows says, for the progress output, what a newcomer finds there.
	Shows string
}

// Step records one step of a Process.
type Step struct {
	ID       string
	Role     string
	Next     string // when the step may be followed by several
	Evidence *workflow.EvidenceRequest
}

// Complaint is a report filed through the public intake.
type Complaint struct {
	Category    complaint.Category
	Description string
	// ClientAddr is the illustrative villager's address (TEST-NET-3,
	// RFC 5737), sent as X-Forwarded-For: each reporter is their own client
	// for the intake's per-client rate limit, as villagers on their own
	// phones are. The services believe it only from a trusted proxy.
	ClientAddr string
}

// Roles the plan acts with.
const (
	roleSecretary        = "secretary"
	roleDirector         = "director"
	roleCommitteeMember  = "committee-member"
	roleAccountant       = "accountant"
	roleSupervisionChair = "supervision-chair"
	roleTownOfficial     = "town-official"
	roleTownFinance      = "town-finance"
	roleTownDiscipline   = "town-discipline"
)

// isTownRole: roles scoped to the town, not to a village.
func isTownRole(r string) bool {
	return r == roleTownOfficial || r == roleTownFinance || r == roleTownDiscipline
}

// seedOf derives the village's random stream from its code.
func seedOf(code string) *rand.Rand {
	h := fnv.New64a()
	_, _ = h.Write([]byte("wuxiao/sample-activity/" + code))
	s := h.Sum64()
	return rand.New(rand.NewPCG(s, s^0x9e3779b97f4a7c15)) //nolint:gosec // G404: reproducible sample data from a fixed seed, not secrets
}

// yuanBetween is a random amount in fen between lo and hi yuan, rounded to
// step yuan (1: whole yuan).
func yuanBetween(r *rand.Rand, lo, hi, step int64) int64 {
	n := (hi - lo) / step
	return (lo + r.Int64N(n+1)*step) * 100
}

// pick returns one of xs.
func pick[T any](r *rand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }

// NewPlan makes the plan of village v for a run on day today.
func NewPlan(v Village, today time.Time) Plan {
	today = today.In(disclosure.Shanghai)
	r := seedOf(v.Code)
	p := Plan{Village: v, Today: disclosure.DateOf(today)}
	// date is the day-th of the month monthsAgo months before today's,
	// never after today.
	date := func(monthsAgo, day int) string {
		first := time.Date(today.Year(), today.Month()-time.Month(monthsAgo), 1, 12, 0, 0, 0, disclosure.Shanghai)
		d := first.AddDate(0, 0, day-1)
		if d.After(today) {
			d = today
		}
		return disclosure.DateOf(d)
	}
	day := func() int { return 1 + r.IntN(28) }

	p.Processes = processes(r, v)
	p.Payments = payments(r, v, date)
	p.Complaints = complaints(r, v)

	// The wallet: income from the collective's land, shops, transfers and
	// investments; spending on administration, welfare and upkeep.
	coop := v.Name + pick(r, []string{"林业专业合作社", "茶叶专业合作社", "果蔬专业合作社"})
	add := func(monthsAgo int, kind disclosure.Kind, cat disclosure.Category, fen int64, desc, counterparty string) int {
		p.Entries = append(p.Entries, Entry{EntryInput: disclosure.EntryInput{Village: v.Code, Kind: kind, Category: cat,
			AmountFen: fen, Date: date(monthsAgo, day()), Description: desc, Counterparty: counterparty}})
		return len(p.Entries) - 1
	}
	inc, sp := disclosure.KindIncome, disclosure.KindSpending
	add(11, inc, disclosure.CategoryContractIncome, yuanBetween(r, 30000, 90000, 100), "集体山林承包费（上半年）", coop)
	add(10, inc, disclosure.CategoryOperatingIncome, yuanBetween(r, 6000, 18000, 10), "村集体店面租金（一期）", "")
	add(9, inc, disclosure.CategorySubsidyIncome, yuanBetween(r, 40000, 80000, 1000), "镇级村级组织运转经费补助", "")
	add(8, sp, disclosure.CategoryManagementExpenses, yuanBetween(r, 3000, 9000, 1)+r.Int64N(100), "村务办公用品及水电费（上半年）", "")
	add(7, sp, disclosure.CategoryPublicWelfareExpenses, yuanBetween(r, 20000, 50000, 10), "老年食堂运营补贴", v.Name+"老年协会")
	add(7, inc, disclosure.CategoryOperatingIncome, yuanBetween(r, 6000, 18000, 10), "村集体店面租金（二期）", "")
	add(6, sp, disclosure.CategoryManagementExpenses, yuanBetween(r, 40000, 90000, 100), "村干部误工补贴（上半年）", "")
	add(6, inc, disclosure.CategoryOtherIncome, yuanBetween(r, 300, 1500, 1)+r.Int64N(100), "银行存款利息", "")
	add(5, inc, disclosure.CategoryContractIncome, yuanBetween(r, 30000, 90000, 100), "集体山林承包费（下半年）", coop)
	add(5, sp, disclosure.CategoryOperatingExpenses, yuanBetween(r, 5000, 20000, 10), "集体店面维修", "奉化示例建筑修缮有限公司")
	add(4, inc, disclosure.CategorySubsidyIncome, yuanBetween(r, 100000, 300000, 1000), "区级美丽乡村建设补助", "")
	add(4, inc, disclosure.CategoryOperatingIncome, yuanBetween(r, 6000, 18000, 10), "村集体店面租金（三期）", "")
	add(4, sp, disclosure.CategoryPublicWelfareExpenses, yuanBetween(r, 10000, 40000, 10), "村道及路灯维修", "奉化示例市政工程有限公司")
	add(3, sp, disclosure.CategoryPublicWelfareExpenses, yuanBetween(r, 15000, 30000, 10), "垃圾分类保洁服务费", "奉化示例环境服务有限公司")
	add(2, inc, disclosure.CategoryInvestmentIncome, yuanBetween(r, 20000, 60000, 100), "强村公司年度分红", "奉化示例强村发展有限公司")
	office := add(2, sp, disclosure.CategoryManagementExpenses, yuanBetween(r, 3000, 9000, 1)+r.Int64N(100), "村务办公用品及水电费（下半年）", "")
	// The year's mistake: the same bill keyed in with one digit too many,
	// booked the same day and reversed with a reason; the correct entry
	// above stays.
	wrong := p.Entries[office]
	wrong.AmountFen *= 10
	p.Entries = append(p.Entries, wrong)
	p.Correction = Correction{Index: len(p.Entries) - 1, Reason: "金额多录一位，予以冲销；正确金额已另行入账"}
	add(1, inc, disclosure.CategoryOperatingIncome, yuanBetween(r, 6000, 18000, 10), "村集体店面租金（四期）", "")
	// The first rent of the contract the contract process signed today.
	contract := p.process("contract")
	linked := add(0, inc, disclosure.CategoryContractIncome, contract.Start.AmountFen, contract.Start.Title+"首期承包费", coop)
	p.Entries[linked].Date = p.Today
	p.Entries[linked].LinkProcess = contract.Key
	sortEntries(p.Entries, &p.Correction)
	return p
}

// sortEntries orders entries by date (stable), keeping the correction's
// index pointing at its entry.
func sortEntries(es []Entry, c *Correction) {
	wrong := es[c.Index]
	for i := 1; i < len(es); i++ {
		for j := i; j > 0 && es[j].Date < es[j-1].Date; j-- {
			es[j], es[j-1] = es[j-1], es[j]
		}
	}
	for i := range es {
		if es[i] == wrong {
			c.Index = i
		}
	}
}

// process returns the plan's process with key (which must exist).
func (p *Plan) process(key string) Process {
	for _, x := range p.Processes {
		if x.Key == key {
			return x
		}
	}
	panic("sample-activity: no process " + key)
}

// evidence is an illustrative document: a link under the reserved .invalid
// domain and the SHA-256 of a stable name (there is no file behind it).
func evidence(v Village, key, step, kind, name string) *workflow.EvidenceRequest {
	sum := sha256.Sum256([]byte("wuxiao-sample/" + v.Code + "/" + key + "/" + step))
	return &workflow.EvidenceRequest{StepID: step, Kind: kind, Name: name + "（示例）.pdf",
		URL:    fmt.Sprintf("https://sample-evidence.wuxiao.invalid/%s/%s-%s.pdf", v.Code, key, step),
		SHA256: hex.EncodeToString(sum[:]), Size: 40_000 + int64(sum[0])*1000}
}

// processes are the village's processes of the power list, chosen among
// items whose controls stay quiet when the steps are recorded on one day
// (no public posting completed, evidence attached where a step needs it,
// amounts under the lowest representatives' threshold of the samples,
// 30,000 yuan, where a step checks it): the sample data shows a village
// that works by the rules, and its open steps fall due over the coming days.
func processes(r *rand.Rand, v Village) []Process {
	return []Process{
		{
			Key: "procurement", StartRole: roleCommitteeMember, Shows: "已办结，支出自动记入钱包（按流程编号关联）",
			Start: workflow.StartRequest{ItemID: "project-procurement",
				Title:     pick(r, []string{"村保洁设备采购", "防汛应急物资采购", "文化礼堂音响设备采购", "村委会办公电脑采购"}),
				AmountFen: yuanBetween(r, 8000, 28000, 10), PayeeName: "奉化示例商贸有限公司"},
			Steps: []Step{
				{ID: "apply", Role: roleCommitteeMember},
				{ID: "approval", Role: roleDirector},
				{ID: "inquiry", Role: roleCommitteeMember, Evidence: evidence(v, "procurement", "inquiry", "quotation", "三家询价记录")},
				{ID: "purchase", Role: roleCommitteeMember},
				{ID: "acceptance", Role: roleSupervisionChair},
				{ID: "disclosure", Role: roleAccountant},
			},
		},
		{
			Key: "contract", StartRole: roleDirector, Shows: "已办结，首期承包费记入钱包（关联流程编号）",
			Start: workflow.StartRequest{ItemID: "funds-economic-contracts",
				Title:     pick(r, []string{"村集体茶园承包合同", "村集体果园承包合同", "村集体水塘养殖承包合同"}),
				AmountFen: yuanBetween(r, 20000, 60000, 100)},
			Steps: []Step{
				{ID: "draft", Role: roleDirector},
				{ID: "legal-review", Role: roleTownOfficial},
				{ID: "sign", Role: roleDirector},
				{ID: "filing", Role: roleTownFinance, Evidence: evidence(v, "contract", "filing", "contract", "承包合同扫描件")},
				{ID: "performance", Role: roleAccountant},
			},
		},
		{
			Key: "major-matter", StartRole: roleSecretary, WantCurrent: "plan-posting", Shows: "“五议两公开”进行中：方案公示（村主任）",
			Start: workflow.StartRequest{ItemID: "decision-major-matters",
				Title:     pick(r, []string{"村道硬化及排水改造工程", "村文化礼堂改建工程", "农村生活污水管网提升工程"}),
				AmountFen: yuanBetween(r, 200000, 600000, 1000)},
			Steps: []Step{
				{ID: "propose", Role: roleSecretary},
				{ID: "joint-meeting", Role: roleSecretary},
			},
		},
		{
			Key: "spending", StartRole: roleCommitteeMember, WantCurrent: "disclosure", Shows: "已报销，公开公示中（报账员）",
			Start: workflow.StartRequest{ItemID: "funds-non-productive-spending",
				Title:     pick(r, []string{"村两委外出学习考察差旅费", "防汛值班人员误餐费", "村民代表会议会务费"}),
				AmountFen: yuanBetween(r, 1200, 4800, 1)},
			Steps: []Step{
				{ID: "apply", Role: roleCommitteeMember},
				{ID: "approval", Role: roleDirector},
				{ID: "reimburse", Role: roleAccountant, Evidence: evidence(v, "spending", "reimburse", "invoice", "报销发票及清单")},
				{ID: "supervision-review", Role: roleSupervisionChair},
			},
		},
		{
			Key: "project", StartRole: roleDirector, WantCurrent: "town-approval", Shows: "待镇（街道）审批（镇干部）",
			Start: workflow.StartRequest{ItemID: "project-initiation",
				Title:     pick(r, []string{"村级道路提升改造项目立项", "村居家养老服务中心改造项目立项", "山塘水库除险加固项目立项"}),
				AmountFen: yuanBetween(r, 150000, 450000, 1000)},
			Steps: []Step{
				{ID: "propose", Role: roleDirector},
				{ID: "joint-meeting", Role: roleSecretary},
				{ID: "budget", Role: roleCommitteeMember, Evidence: evidence(v, "project", "budget", "budget", "项目预算书")},
				// The representatives' resolution, as the evidence the
				// town-approval step's amount control looks for.
				{ID: "resolution", Role: roleDirector, Evidence: evidence(v, "project", "resolution", workflow.EvidenceResolution, "村民代表会议决议")},
			},
		},
		{
			Key: "petty-cash", StartRole: roleAccountant, WantCurrent: "town-approval", Shows: "待镇财务审批（镇财务）",
			Start: workflow.StartRequest{ItemID: "funds-accounts-and-cash",
				Title: pick(r, []string{"村级备用金限额调整", "村集体工程专用账户开设"})},
			Steps: []Step{
				{ID: "apply", Role: roleAccountant},
				{ID: "joint-meeting", Role: roleSecretary},
			},
		},
		{
			Key: "seal", StartRole: roleCommitteeMember, WantCurrent: "approval",
			Shows: "用印待村主任审批，时限1个工作日：下一个工作日结束后即超期，并产生超时预警",
			Start: workflow.StartRequest{ItemID: "duty-seal-management",
				Title: pick(r, []string{"出具土地承包经营权证明用印", "出具村民居住证明用印", "集体合同盖章用印"})},
			Steps: []Step{
				{ID: "apply", Role: roleCommitteeMember},
			},
		},
	}
}

// Illustrative households: a common surname of the district, 示例 and an
// ordinal (张示例甲), so that nobody mistakes them for a person even in the
// staff views that show names in full; the portal shows 张**甲.
var (
	surnames  = []string{"张", "王", "李", "陈", "周", "吴", "徐", "孙", "胡", "朱", "林", "何", "郑", "俞", "邬", "毛"}
	ordinals  = []string{"甲", "乙", "丙", "丁"}
	regionIDs = "330213" // 奉化区
)

// sampleIDNumber is a well-formed resident ID number (GB 11643) that is
// visibly made up: born on the 1st of a month, sequence number 00n.
func sampleIDNumber(year, month, n int) string {
	first17 := fmt.Sprintf("%s%04d%02d01%03d", regionIDs, year, month, n)
	return first17 + string(idCheckChar(first17))
}

// idCheckChar is the GB 11643 check character of the first 17 digits.
func idCheckChar(first17 string) byte {
	weights := [17]int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}
	sum := 0
	for i := 0; i < 17; i++ {
		sum += int(first17[i]-'0') * weights[i]
	}
	return "10X98765432"[sum%11]
}

// payments are subsidy payments to four households.
func payments(r *rand.Rand, v Village, date func(monthsAgo, day int) string) []disclosure.PaymentRequest {
	type prog struct {
		name       string
		lo, hi     int64 // yuan
		born       [2]int
		monthsAgo  int
		cents      bool
		households int
	}
	progs := []prog{
		{"耕地地力保护补贴", 150, 600, [2]int{1950, 1985}, 7, true, 2},
		{"困难群众临时救助", 1500, 3000, [2]int{1960, 1990}, 5, false, 1},
		{"高龄老人补贴", 300, 900, [2]int{1930, 1945}, 3, false, 1},
	}
	var out []disclosure.PaymentRequest
	n := 0
	for _, pg := range progs {
		for i := 0; i < pg.households; i++ {
			amount := yuanBetween(r, pg.lo, pg.hi, 1)
			if pg.cents {
				amount += r.Int64N(100)
			}
			out = append(out, disclosure.PaymentRequest{Village: v.Code, Programme: pg.name,
				HouseholdName: pick(r, surnames) + "示例" + ordinals[n],
				IDNumber:      sampleIDNumber(pg.born[0]+r.IntN(pg.born[1]-pg.born[0]+1), 1+r.IntN(12), n+1),
				AmountFen:     amount, PaidOn: date(pg.monthsAgo, 10+r.IntN(15))})
			n++
		}
	}
	return out
}

// complaintTexts are reports a villager might file; %s is the village.
var complaintTexts = []struct {
	cat  complaint.Category
	text string
}{
	{complaint.CategoryFunds, "%s村务公开栏上的财务收支明细两个多月没有更新了，希望尽快公开。"},
	{complaint.CategoryProject, "%s道路施工期间路面泥泞，施工方没有设置警示标志，夜里出行有安全隐患。"},
	{complaint.CategorySubsidy, "%s高龄老人补贴这个季度还没有发放到位，请帮忙核查原因。"},
	{complaint.CategoryCadreConduct, "反映%s有村干部工作日午间饮酒，下午办事找不到人，请核实。"},
	{complaint.CategoryService, "在%s开证明要来回跑三趟，希望简化手续，做到最多跑一次。"},
}

// complaints are two reports, marked as sample data (they have no author
// an audit trail could name).
func complaints(r *rand.Rand, v Village) []Complaint {
	i := r.IntN(len(complaintTexts))
	j := (i + 1 + r.IntN(len(complaintTexts)-1)) % len(complaintTexts)
	var out []Complaint
	for k, c := range []int{i, j} {
		t := complaintTexts[c]
		out = append(out, Complaint{Category: t.cat, Description: fmt.Sprintf(t.text, v.Name) + "（样例数据）",
			ClientAddr: fmt.Sprintf("203.0.113.%d", 1+(int(seedOf(v.Code+fmt.Sprint(k)).Uint32())%254))})
	}
	return out
}
