package disclosure

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/wuxiao/wuxiao/api/divcode"
	"github.com/wuxiao/wuxiao/services/internal/domainerr"
)

// utf8BOM starts the villagers' CSV so that Excel reads it as UTF-8.
const utf8BOM = "\uFEFF"

// CSVHeader is the header row of the villagers' CSV export.
var CSVHeader = []string{"序号", "日期", "收支", "科目", "金额（元）", "摘要", "对方", "审批流程编号", "冲销", "冲销原因"}

// spreadsheetSafe neutralises a text cell that a spreadsheet would run as a
// formula (CSV injection): a leading = + - @ tab or carriage return gets an
// apostrophe in front, which Excel and WPS show as plain text.
func spreadsheetSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// reversalNote is the 冲销 cell: which entry a reversal cancels, or which
// reversal cancelled an entry.
func reversalNote(l Line) string {
	ref := func(seq int64, id string) string {
		if seq > 0 {
			return "第" + strconv.FormatInt(seq, 10) + "号"
		}
		return id
	}
	switch {
	case l.IsReversal():
		return "冲销" + ref(l.ReversesSeq, l.Reverses)
	case l.Reversed:
		return "已被" + ref(l.ReversedBySeq, l.ReversedBy) + "冲销"
	}
	return ""
}

// WriteCSV writes a village's wallet for year as the CSV villagers download:
// UTF-8 with a byte-order mark, Chinese headers (CSVHeader), CRLF line ends,
// one row per entry dated in year, reversals included, ordered like
// Summary.Lines. Amounts are yuan with two decimals, negative on a reversal
// row, so that each kind's column sums to the Summary's totals.
func WriteCSV(w io.Writer, entries []Entry, year int) error {
	if _, err := io.WriteString(w, utf8BOM); err != nil {
		return err
	}
	cw := csv.NewWriter(w)
	cw.UseCRLF = true
	if err := cw.Write(CSVHeader); err != nil {
		return err
	}
	for _, l := range yearLines(entries, year) {
		if err := cw.Write([]string{
			strconv.FormatInt(l.Seq, 10),
			l.Date,
			l.Kind.Label(),
			l.Category.Name(),
			FormatYuan(l.NetFen()),
			spreadsheetSafe(l.Description),
			spreadsheetSafe(l.Counterparty),
			spreadsheetSafe(l.TrackingNumber),
			reversalNote(l),
			spreadsheetSafe(l.Reason),
		}); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// Directions of the Fiscal Data Package's type column (FDP vocabulary).
const (
	DirectionRevenue     = "revenue"
	DirectionExpenditure = "expenditure"
)

func direction(k Kind) string {
	if k == KindIncome {
		return DirectionRevenue
	}
	return DirectionExpenditure
}

// FDPHeader is the header row of the Fiscal Data Package's CSV resource;
// it matches the field names of the package's Table Schema.
var FDPHeader = []string{"id", "date", "type", "category", "category_label", "amount",
	"description", "counterparty", "tracking_number", "reverses"}

// WriteFDPCSV writes the data resource of the Fiscal Data Package: plain
// UTF-8 (no byte-order mark), English machine headers (FDPHeader), one row
// per entry dated in year; id and reverses are the entries' sequence
// numbers, type is revenue or expenditure, amount is yuan with two decimals,
// negative on a reversal row. Values are written as they are (no
// spreadsheet escaping): this file is for programs.
func WriteFDPCSV(w io.Writer, entries []Entry, year int) error {
	cw := csv.NewWriter(w)
	cw.UseCRLF = true
	if err := cw.Write(FDPHeader); err != nil {
		return err
	}
	for _, l := range yearLines(entries, year) {
		reverses := ""
		if l.IsReversal() {
			reverses = strconv.FormatInt(l.ReversesSeq, 10)
		}
		if err := cw.Write([]string{
			strconv.FormatInt(l.Seq, 10),
			l.Date,
			direction(l.Kind),
			string(l.Category),
			l.Category.Name(),
			FormatYuan(l.NetFen()),
			l.Description,
			l.Counterparty,
			l.TrackingNumber,
			reverses,
		}); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// FDPDataPath is the path of the CSV resource inside the package.
func FDPDataPath(village string, year int) string {
	return fmt.Sprintf("ledger-%s-%d.csv", village, year)
}

// The descriptor types below follow Fiscal Data Package 0.3 (a Tabular
// Data Package with a "model" of measures and dimensions), as used by
// OpenSpending.

type fdpDescriptor struct {
	Name         string        `json:"name"`
	Title        string        `json:"title"`
	Description  string        `json:"description"`
	Profile      string        `json:"profile"`
	CountryCode  string        `json:"countryCode"`
	Granularity  string        `json:"granularity"`
	FiscalPeriod fdpPeriod     `json:"fiscalPeriod"`
	Resources    []fdpResource `json:"resources"`
	Model        fdpModel      `json:"model"`
}

type fdpPeriod struct {
	Start string `json:"start"`
	End   string `json:"end"`
}

type fdpResource struct {
	Name      string    `json:"name"`
	Title     string    `json:"title"`
	Path      string    `json:"path"`
	Profile   string    `json:"profile"`
	Format    string    `json:"format"`
	Mediatype string    `json:"mediatype"`
	Encoding  string    `json:"encoding"`
	Bytes     int       `json:"bytes"`
	Hash      string    `json:"hash"`
	Schema    fdpSchema `json:"schema"`
}

type fdpSchema struct {
	Fields     []fdpField `json:"fields"`
	PrimaryKey []string   `json:"primaryKey"`
}

type fdpField struct {
	Name        string          `json:"name"`
	Title       string          `json:"title"`
	Type        string          `json:"type"`
	Format      string          `json:"format,omitempty"`
	Constraints *fdpConstraints `json:"constraints,omitempty"`
}

type fdpConstraints struct {
	Required bool     `json:"required,omitempty"`
	Enum     []string `json:"enum,omitempty"`
}

type fdpModel struct {
	Measures   map[string]fdpMeasure   `json:"measures"`
	Dimensions map[string]fdpDimension `json:"dimensions"`
}

type fdpMeasure struct {
	Source   string `json:"source"`
	Currency string `json:"currency"`
	Factor   int    `json:"factor"`
	Phase    string `json:"phase"`
}

type fdpDimension struct {
	DimensionType      string                  `json:"dimensionType"`
	ClassificationType string                  `json:"classificationType,omitempty"`
	Attributes         map[string]fdpAttribute `json:"attributes"`
	PrimaryKey         []string                `json:"primaryKey"`
}

type fdpAttribute struct {
	Source   string `json:"source"`
	LabelFor string `json:"labelfor,omitempty"`
}

// fdpFields is the Table Schema of the CSV resource, in FDPHeader order.
func fdpFields() []fdpField {
	required := &fdpConstraints{Required: true}
	var categories []string
	for _, c := range Categories {
		categories = append(categories, string(c.ID))
	}
	return []fdpField{
		{Name: "id", Title: "序号", Type: "integer", Constraints: required},
		{Name: "date", Title: "日期", Type: "date", Constraints: required},
		{Name: "type", Title: "收支", Type: "string", Constraints: &fdpConstraints{Required: true, Enum: []string{DirectionRevenue, DirectionExpenditure}}},
		{Name: "category", Title: "科目代码", Type: "string", Constraints: &fdpConstraints{Required: true, Enum: categories}},
		{Name: "category_label", Title: "科目", Type: "string", Constraints: required},
		{Name: "amount", Title: "金额（元）", Type: "number", Constraints: required},
		{Name: "description", Title: "摘要", Type: "string"},
		{Name: "counterparty", Title: "对方", Type: "string"},
		{Name: "tracking_number", Title: "审批流程编号", Type: "string"},
		{Name: "reverses", Title: "冲销序号", Type: "integer"},
	}
}

func fdpModelFor() fdpModel {
	return fdpModel{
		Measures: map[string]fdpMeasure{
			"amount": {Source: "amount", Currency: "CNY", Factor: 1, Phase: "executed"},
		},
		Dimensions: map[string]fdpDimension{
			"date": {DimensionType: "datetime",
				Attributes: map[string]fdpAttribute{"date": {Source: "date"}}, PrimaryKey: []string{"date"}},
			"category": {DimensionType: "classification", ClassificationType: "economic",
				Attributes: map[string]fdpAttribute{"code": {Source: "category"}, "title": {Source: "category_label", LabelFor: "code"}},
				PrimaryKey: []string{"code"}},
			// FDP 0.3 has no direction dimension type (direction is a
			// property of a measure); our single amount column mixes both
			// directions, so the type column is a dimension of its own.
			"direction": {DimensionType: "other",
				Attributes: map[string]fdpAttribute{"direction": {Source: "type"}}, PrimaryKey: []string{"direction"}},
			"counterparty": {DimensionType: "entity",
				Attributes: map[string]fdpAttribute{"title": {Source: "counterparty"}}, PrimaryKey: []string{"title"}},
			"transaction": {DimensionType: "fact",
				Attributes: map[string]fdpAttribute{
					"id": {Source: "id"}, "description": {Source: "description"},
					"tracking_number": {Source: "tracking_number"}, "reverses": {Source: "reverses"},
				},
				PrimaryKey: []string{"id"}},
		},
	}
}

// FiscalDataPackage returns the datapackage.json of a village's wallet for
// year, in OpenSpending's Fiscal Data Package format: one CSV resource
// (FDPDataPath, written by WriteFDPCSV from the same entries; its size and
// SHA-256 are in the descriptor) with its Table Schema, and the model
// mapping the amount measure (CNY, factor 1) and the date, category,
// direction, counterparty and transaction dimensions.
func FiscalDataPackage(village, villageName string, year int, entries []Entry) ([]byte, error) {
	desc, _, err := fiscalDataPackage(village, villageName, year, entries)
	return desc, err
}

func fiscalDataPackage(village, villageName string, year int, entries []Entry) (descriptor, data []byte, err error) {
	var fe domainerr.FieldErrors
	if !divcode.Valid(village) {
		fe.Add("village", "must be a 12-digit village code")
	}
	villageName = strings.TrimSpace(villageName)
	if villageName == "" {
		fe.Add("villageName", "is required")
	}
	if year < 1949 || year > 9999 {
		fe.Add("year", "must be a four-digit year")
	}
	if err := fe.Err(); err != nil {
		return nil, nil, err
	}
	var buf bytes.Buffer
	if err := WriteFDPCSV(&buf, entries, year); err != nil {
		return nil, nil, err
	}
	sum := sha256.Sum256(buf.Bytes())
	title := fmt.Sprintf("%s%d年村级财务收支", villageName, year)
	d := fdpDescriptor{
		Name:  fmt.Sprintf("wuxiao-%s-ledger-%d", village, year),
		Title: title,
		Description: fmt.Sprintf("%s（村代码 %s）%d年“我们的钱包”收支明细。金额单位：元；"+
			"冲销记录金额为负数，与被冲销记录一并列示；个人姓名已脱敏。", villageName, village, year),
		Profile:      "fiscal-data-package",
		CountryCode:  "CN",
		Granularity:  "transactional",
		FiscalPeriod: fdpPeriod{Start: fmt.Sprintf("%d-01-01", year), End: fmt.Sprintf("%d-12-31", year)},
		Resources: []fdpResource{{
			Name:      "ledger",
			Title:     title,
			Path:      FDPDataPath(village, year),
			Profile:   "tabular-data-resource",
			Format:    "csv",
			Mediatype: "text/csv",
			Encoding:  "utf-8",
			Bytes:     buf.Len(),
			Hash:      "sha256:" + hex.EncodeToString(sum[:]),
			Schema:    fdpSchema{Fields: fdpFields(), PrimaryKey: []string{"id"}},
		}},
		Model: fdpModelFor(),
	}
	descriptor, err = json.MarshalIndent(d, "", "  ")
	if err != nil {
		return nil, nil, err
	}
	return descriptor, buf.Bytes(), nil
}

// WriteFiscalDataPackageZip writes the whole package as a zip archive:
// datapackage.json and its CSV resource, both dated modified.
func WriteFiscalDataPackageZip(w io.Writer, village, villageName string, year int, entries []Entry, modified time.Time) error {
	desc, data, err := fiscalDataPackage(village, villageName, year, entries)
	if err != nil {
		return err
	}
	zw := zip.NewWriter(w)
	for _, f := range []struct {
		name string
		body []byte
	}{{"datapackage.json", desc}, {FDPDataPath(village, year), data}} {
		fw, err := zw.CreateHeader(&zip.FileHeader{Name: f.name, Method: zip.Deflate, Modified: modified})
		if err != nil {
			return err
		}
		if _, err := fw.Write(f.body); err != nil {
			return err
		}
	}
	return zw.Close()
}
