package inspection

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/wuxiao/wuxiao/api/ratingrules"
	"github.com/wuxiao/wuxiao/services/internal/httpapi"
	"github.com/wuxiao/wuxiao/services/internal/identity"
)

// Colour of a three-colour supervision order (三色督查令), by severity:
// blue, then yellow, then red.
type Colour string

const (
	Blue   Colour = ratingrules.OrderBlue
	Yellow Colour = ratingrules.OrderYellow
	Red    Colour = ratingrules.OrderRed
)

// Name is the colour in Chinese: 蓝色, 黄色, 红色.
func (c Colour) Name() string {
	switch c {
	case Blue:
		return "蓝色"
	case Yellow:
		return "黄色"
	case Red:
		return "红色"
	}
	return string(c)
}

// Valid reports whether c is one of the three colours.
func (c Colour) Valid() bool { return c == Blue || c == Yellow || c == Red }

// Next is the colour an overdue order escalates to; red has none.
func (c Colour) Next() (Colour, bool) {
	switch c {
	case Blue:
		return Yellow, true
	case Yellow:
		return Red, true
	}
	return "", false
}

// SituationClass is a class of negative situations.
type SituationClass struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// Situation is a negative situation (负面情形) that warrants a supervision
// order, with the colour it gets by default.
type Situation struct {
	ID     string `json:"id"`
	Class  string `json:"class"`
	Name   string `json:"name"`
	Colour Colour `json:"colour"`
}

// Situations is the configured list of classes and situations.
type Situations struct {
	Classes    []SituationClass `json:"classes"`
	Situations []Situation      `json:"situations"`
}

// DefaultSituations are 3 classes of 9 negative situations each. The seed
// names the axes — work lagging from a sluggish style or poor execution
// (作风拖沓、执行不力导致工作滞后), consequences caused (造成后果), and harm
// to society's view (社会不良影响) — and the colour rises with severity:
// blue for lagging work, yellow for consequences or repeated lapses, red
// for harm to the collective's money, to villagers or to supervision
// itself. The situations come from the seed's five smalls and one run, its
// integrity file and its culture measures.
func DefaultSituations() Situations {
	return Situations{
		Classes: []SituationClass{
			{ID: "duty", Name: "履职不力"},
			{ID: "conduct", Name: "作风问题"},
			{ID: "discipline", Name: "违纪违规"},
		},
		Situations: []Situation{
			{ID: "duty-01", Class: "duty", Colour: Blue, Name: "村级事务未在规定时限内办结，导致工作滞后"},
			{ID: "duty-02", Class: "duty", Colour: Blue, Name: "党务、村务、财务公开不及时、不完整"},
			{ID: "duty-03", Class: "duty", Colour: Blue, Name: "违规预警提示未及时核实处置"},
			{ID: "duty-04", Class: "duty", Colour: Blue, Name: "群众举报、反映问题未按期办理反馈"},
			{ID: "duty-05", Class: "duty", Colour: Blue, Name: "监察联络站（联络员）工作未落实，村务监督流于形式"},
			{ID: "duty-06", Class: "duty", Colour: Yellow, Name: "未按权力清单和流程图办理“五小一跑”事项"},
			{ID: "duty-07", Class: "duty", Colour: Yellow, Name: "巡察、督查发现问题未按期整改到位"},
			{ID: "duty-08", Class: "duty", Colour: Yellow, Name: "村级工程项目未按规定招投标或组织验收"},
			{ID: "duty-09", Class: "duty", Colour: Red, Name: "重大事项未履行民主决策程序，造成不良后果"},

			{ID: "conduct-01", Class: "conduct", Colour: Blue, Name: "作风拖沓、推诿扯皮，群众办事多次跑腿"},
			{ID: "conduct-02", Class: "conduct", Colour: Blue, Name: "对群众诉求态度生硬、敷衍塞责"},
			{ID: "conduct-03", Class: "conduct", Colour: Blue, Name: "无故脱岗离岗，缺席村级议事或值班"},
			{ID: "conduct-04", Class: "conduct", Colour: Blue, Name: "未按要求开展廉政谈话、警示教育等学习活动"},
			{ID: "conduct-05", Class: "conduct", Colour: Yellow, Name: "优亲厚友，补助、救助分配不公"},
			{ID: "conduct-06", Class: "conduct", Colour: Yellow, Name: "违规操办本人及近亲属婚丧喜庆事宜"},
			{ID: "conduct-07", Class: "conduct", Colour: Yellow, Name: "村党组织书记直接分管工程项目"},
			{ID: "conduct-08", Class: "conduct", Colour: Red, Name: "接受管理服务对象宴请或礼品礼金"},
			{ID: "conduct-09", Class: "conduct", Colour: Red, Name: "因作风问题引发群众集体上访或造成社会不良影响"},

			{ID: "discipline-01", Class: "discipline", Colour: Yellow, Name: "违规发放补贴、津贴或报销不合规票据"},
			{ID: "discipline-02", Class: "discipline", Colour: Yellow, Name: "未如实报告经商办企业、宅基地等个人有关事项"},
			{ID: "discipline-03", Class: "discipline", Colour: Yellow, Name: "未经集体决策擅自签订合同或举借债务"},
			{ID: "discipline-04", Class: "discipline", Colour: Red, Name: "违规使用、出借、处置村集体资金、资产、资源"},
			{ID: "discipline-05", Class: "discipline", Colour: Red, Name: "虚报冒领、截留挪用补贴资金"},
			{ID: "discipline-06", Class: "discipline", Colour: Red, Name: "应回避未回避，为本人或亲属谋取利益"},
			{ID: "discipline-07", Class: "discipline", Colour: Red, Name: "插手干预工程项目，以权谋私、与民争利"},
			{ID: "discipline-08", Class: "discipline", Colour: Red, Name: "伪造、篡改、隐匿台账或流程记录"},
			{ID: "discipline-09", Class: "discipline", Colour: Red, Name: "泄露举报人信息或对举报人打击报复"},
		},
	}
}

// LoadSituations reads situations from JSON or YAML. A document replaces the
// default list entirely.
func LoadSituations(data []byte) (Situations, error) {
	var s Situations
	if err := yaml.UnmarshalStrict(data, &s); err != nil {
		return Situations{}, fmt.Errorf("situations: %w", err)
	}
	if err := s.Validate(); err != nil {
		return Situations{}, err
	}
	return s, nil
}

// Validate checks the list and returns every problem, naming its field.
func (s Situations) Validate() error {
	var errs []error
	if len(s.Classes) == 0 {
		errs = append(errs, fieldErr("classes", "at least one class is required"))
	}
	classes := map[string]bool{}
	for i, c := range s.Classes {
		p := fmt.Sprintf("classes[%d]", i)
		switch {
		case strings.TrimSpace(c.ID) == "":
			errs = append(errs, fieldErr(p+".id", "is required"))
		case classes[c.ID]:
			errs = append(errs, fieldErr(p+".id", "%q is used twice", c.ID))
		}
		classes[c.ID] = true
		if strings.TrimSpace(c.Name) == "" {
			errs = append(errs, fieldErr(p+".name", "is required"))
		}
	}
	if len(s.Situations) == 0 {
		errs = append(errs, fieldErr("situations", "at least one situation is required"))
	}
	ids := map[string]bool{}
	used := map[string]bool{}
	for i, x := range s.Situations {
		p := fmt.Sprintf("situations[%d]", i)
		switch {
		case strings.TrimSpace(x.ID) == "":
			errs = append(errs, fieldErr(p+".id", "is required"))
		case ids[x.ID]:
			errs = append(errs, fieldErr(p+".id", "%q is used twice", x.ID))
		}
		ids[x.ID] = true
		if !classes[x.Class] {
			errs = append(errs, fieldErr(p+".class", "%q is not a listed class", x.Class))
		}
		used[x.Class] = true
		if strings.TrimSpace(x.Name) == "" {
			errs = append(errs, fieldErr(p+".name", "is required"))
		}
		if !x.Colour.Valid() {
			errs = append(errs, fieldErr(p+".colour", "must be blue, yellow or red, got %q", x.Colour))
		}
	}
	for i, c := range s.Classes {
		if c.ID != "" && !used[c.ID] {
			errs = append(errs, fieldErr(fmt.Sprintf("classes[%d]", i), "class %q has no situation", c.ID))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("situations: %w", errors.Join(errs...))
	}
	return nil
}

// Find returns a situation and its class.
func (s Situations) Find(id string) (Situation, SituationClass, bool) {
	i := slices.IndexFunc(s.Situations, func(x Situation) bool { return x.ID == id })
	if i < 0 {
		return Situation{}, SituationClass{}, false
	}
	x := s.Situations[i]
	j := slices.IndexFunc(s.Classes, func(c SituationClass) bool { return c.ID == x.Class })
	if j < 0 {
		return Situation{}, SituationClass{}, false
	}
	return x, s.Classes[j], true
}

// OrderConfig is a town's configuration of supervision orders.
type OrderConfig struct {
	// Prefix starts the orders' numbers: 奉纪督〔2026〕1号.
	Prefix string `json:"prefix"`
	// Days to respond, by colour (calendar days, ending at midnight).
	Days map[Colour]int `json:"days"`
}

// DefaultOrderConfig: blue 30 days, yellow 15, red 7.
func DefaultOrderConfig() OrderConfig {
	return OrderConfig{Prefix: "奉纪督", Days: map[Colour]int{Blue: 30, Yellow: 15, Red: 7}}
}

// Validate checks the configuration, naming each field at fault.
func (c OrderConfig) Validate() error {
	var errs []error
	if strings.TrimSpace(c.Prefix) == "" {
		errs = append(errs, fieldErr("prefix", "is required"))
	}
	for _, col := range []Colour{Blue, Yellow, Red} {
		if d := c.Days[col]; d < 1 || d > 366 {
			errs = append(errs, fieldErr("days."+string(col), "must be between 1 and 366, got %d", d))
		}
	}
	for col := range c.Days {
		if !col.Valid() {
			errs = append(errs, fieldErr("days."+string(col), "is not a colour (blue, yellow, red)"))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("orders: %w", errors.Join(errs...))
	}
	return nil
}

// OrderStatus is where an order is in its life.
type OrderStatus string

const (
	OrderIssued    OrderStatus = "issued"    // waiting for the response
	OrderResponded OrderStatus = "responded" // the village (or cadre) answered
	OrderClosed    OrderStatus = "closed"    // the answer was accepted
	OrderOverdue   OrderStatus = "overdue"   // no answer by the deadline
)

// ErrOrderState is returned (wrapped) when an order cannot make a move
// in its current status.
var ErrOrderState = errors.New("order cannot do this in its current status")

// Order is a three-colour supervision order (三色督查令) to a village, or to
// one of its cadres.
type Order struct {
	Number        string    `json:"number"`
	Year          int       `json:"year"`
	Seq           int       `json:"seq"`
	Colour        Colour    `json:"colour"`
	Class         string    `json:"class"`
	ClassName     string    `json:"className"`
	Situation     string    `json:"situation"`
	SituationName string    `json:"situationName"`
	Town          string    `json:"town"`
	Village       string    `json:"village"`
	CadreID       string    `json:"cadreId,omitempty"`
	Detail        string    `json:"detail,omitempty"`
	IssuedAt      time.Time `json:"issuedAt"`
	Deadline      time.Time `json:"deadline"`
	// AnswerDue is the new deadline of an answer the office returned
	// (counted from the return); the order keeps the Deadline it was
	// issued with. Unset until a return.
	AnswerDue   *time.Time  `json:"answerDue,omitempty"`
	Status      OrderStatus `json:"status"`
	RespondedAt *time.Time  `json:"respondedAt,omitempty"`
	ClosedAt    *time.Time  `json:"closedAt,omitempty"`
	// EscalatedFrom is the number of the overdue order this one replaced;
	// EscalatedTo the number of the order that replaced this one.
	EscalatedFrom string `json:"escalatedFrom,omitempty"`
	EscalatedTo   string `json:"escalatedTo,omitempty"`
}

// OrderInput asks to issue an order.
type OrderInput struct {
	Situation string
	// Colour overrides the situation's default colour (a mild or grave
	// instance of it); empty means the default.
	Colour Colour
	Town   string
	// Village the order concerns (its code); always set, also for an order
	// to a cadre, since the order counts in the village's rating.
	Village string
	// CadreID, when the order is addressed to one cadre of the village.
	CadreID string
	Detail  string
	Now     time.Time
}

// OrderDesk issues and escalates a town's orders.
type OrderDesk struct {
	Config     OrderConfig
	Situations Situations
	Numbers    Numbers
}

// NewOrder validates the request and issues a numbered order.
func (d *OrderDesk) NewOrder(in OrderInput) (*Order, error) {
	var errs []error
	sit, class, ok := d.Situations.Find(in.Situation)
	if !ok {
		errs = append(errs, fieldErr("situation", "%q is not a listed negative situation", in.Situation))
	}
	colour := in.Colour
	if colour == "" {
		colour = sit.Colour
	}
	if in.Colour != "" && !in.Colour.Valid() {
		errs = append(errs, fieldErr("colour", "must be blue, yellow or red, got %q", in.Colour))
	}
	if strings.TrimSpace(in.Town) == "" {
		errs = append(errs, fieldErr("town", "is required"))
	}
	if strings.TrimSpace(in.Village) == "" {
		errs = append(errs, fieldErr("village", "is required (an order counts in its village's rating)"))
	}
	if in.Now.IsZero() {
		errs = append(errs, fieldErr("issuedAt", "is required"))
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("order: %w", errors.Join(errs...))
	}
	return d.issue(colour, sit, class, in.Town, in.Village, in.CadreID, in.Detail, in.Now)
}

func (d *OrderDesk) issue(colour Colour, sit Situation, class SituationClass, town, village, cadre, detail string, now time.Time) (*Order, error) {
	if err := d.Config.Validate(); err != nil {
		return nil, err
	}
	if d.Numbers == nil {
		return nil, errors.New("order: the desk has no Numbers to number orders with")
	}
	year := now.In(Shanghai).Year()
	seq, err := d.Numbers.Next(town+"/order", year)
	if err != nil {
		return nil, fmt.Errorf("order number: %w", err)
	}
	return &Order{
		Number: DocNumber(d.Config.Prefix, year, seq), Year: year, Seq: seq,
		Colour: colour, Class: class.ID, ClassName: class.Name, Situation: sit.ID, SituationName: sit.Name,
		Town: town, Village: village, CadreID: cadre, Detail: detail,
		IssuedAt: now, Deadline: endOfDay(now, d.Config.Days[colour]), Status: OrderIssued,
	}, nil
}

// Fact is what the order counts in its village's rating: a deduction by
// colour, at the time of issue.
func (o *Order) Fact() Fact {
	note := o.SituationName + "（" + o.ClassName + "）"
	if o.EscalatedFrom != "" {
		note += "，由逾期未办结的" + o.EscalatedFrom + "升级"
	}
	if o.Detail != "" {
		note += "。" + o.Detail
	}
	return Fact{ID: "order:" + o.Town + ":" + o.Number, Village: o.Village, Kind: FactOrder, Subkind: string(o.Colour),
		At: o.IssuedAt, Ref: o.Number, Note: note}
}

// AnswerBy is when the awaited answer is due: the new deadline of a
// returned answer, else the order's own.
func (o *Order) AnswerBy() time.Time {
	if o.AnswerDue != nil {
		return *o.AnswerDue
	}
	return o.Deadline
}

// Due reports whether the order waits for an answer past its deadline
// (AnswerBy).
func (o *Order) Due(now time.Time) bool {
	return (o.Status == OrderIssued || o.Status == OrderOverdue) && !now.Before(o.AnswerBy())
}

// MarkOverdue marks an unanswered order past its deadline as overdue and
// reports whether it did.
func (o *Order) MarkOverdue(now time.Time) bool {
	if o.Status != OrderIssued || now.Before(o.AnswerBy()) {
		return false
	}
	o.Status = OrderOverdue
	return true
}

// Respond records the answer (a late one too, unless the order was
// escalated: then the new order is the one to answer).
func (o *Order) Respond(now time.Time) error {
	if (o.Status != OrderIssued && o.Status != OrderOverdue) || o.EscalatedTo != "" {
		return fmt.Errorf("%w: order %s is %s%s, cannot be responded to", ErrOrderState, o.Number, o.Status, escalatedNote(o))
	}
	o.Status, o.RespondedAt = OrderResponded, &now
	return nil
}

// Close accepts the answer.
func (o *Order) Close(now time.Time) error {
	if o.Status != OrderResponded {
		return fmt.Errorf("%w: order %s is %s, only a responded order can be closed", ErrOrderState, o.Number, o.Status)
	}
	o.Status, o.ClosedAt = OrderClosed, &now
	return nil
}

func escalatedNote(o *Order) string {
	if o.EscalatedTo != "" {
		return " (escalated to " + o.EscalatedTo + ")"
	}
	return ""
}

// Escalate replaces an order left unanswered past its deadline by one of the
// next colour (blue→yellow→red) for the same situation, with its own number,
// deadline and fact (the earlier order's deduction stays). The old order is
// marked overdue. A red order does not escalate: it is referred for
// disciplinary handling instead.
func (d *OrderDesk) Escalate(o *Order, now time.Time) (*Order, Fact, error) {
	if o.EscalatedTo != "" {
		return nil, Fact{}, fmt.Errorf("%w: order %s was already escalated to %s", ErrOrderState, o.Number, o.EscalatedTo)
	}
	if !o.Due(now) {
		return nil, Fact{}, fmt.Errorf("%w: order %s is %s, due %s: only an unanswered order past its deadline escalates",
			ErrOrderState, o.Number, o.Status, o.AnswerBy().In(Shanghai).Format(time.DateTime))
	}
	next, ok := o.Colour.Next()
	if !ok {
		return nil, Fact{}, fmt.Errorf("%w: order %s is already red and cannot escalate further", ErrOrderState, o.Number)
	}
	n, err := d.issue(next, Situation{ID: o.Situation, Name: o.SituationName}, SituationClass{ID: o.Class, Name: o.ClassName},
		o.Town, o.Village, o.CadreID, o.Detail, now)
	if err != nil {
		return nil, Fact{}, err
	}
	n.EscalatedFrom = o.Number
	o.Status, o.EscalatedTo = OrderOverdue, n.Number
	return n, n.Fact(), nil
}

// OrderRequest asks to issue an order, over HTTP.
type OrderRequest struct {
	Village   string `json:"village"`
	CadreID   string `json:"cadreId,omitempty"`
	Situation string `json:"situation"`
	Colour    string `json:"colour,omitempty"`   // default: the situation's
	Deadline  string `json:"deadline,omitempty"` // last day; default: by colour
	Detail    string `json:"detail,omitempty"`
}

// validate checks the request at now, by field (the situation and colour
// are the desk's to check, the village's registration the store's); it
// returns the deadline asked for, zero for the colour's.
func (in OrderRequest) validate(now time.Time) (time.Time, []httpapi.FieldError) {
	var errs []httpapi.FieldError
	if !identity.ValidVillage(in.Village) {
		errs = append(errs, httpapi.FieldError{Field: "village", Detail: "is not a 12-digit village code"})
	}
	var deadline time.Time
	if in.Deadline != "" {
		day, prob := parseDay("deadline", in.Deadline)
		switch {
		case prob != nil:
			errs = append(errs, httpapi.FieldError{Field: "deadline", Detail: fmt.Sprintf("%q is not a date (2006-01-02)", in.Deadline)})
		case !endOfDay(day, 0).After(now):
			errs = append(errs, httpapi.FieldError{Field: "deadline", Detail: "must not be in the past"})
		default:
			deadline = endOfDay(day, 0)
		}
	}
	return deadline, errs
}
