package disclosure

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wuxiao/wuxiao/services/internal/domainerr"
	"github.com/wuxiao/wuxiao/services/internal/tz"
)

// exportLedger is a year of a village's wallet with a corrected entry, a
// masked person, a company, a workflow link, a hostile description and
// entries of neighbouring years.
func exportLedger(t *testing.T) []Entry {
	t.Helper()
	all := book(t,
		entry("i1", 0, KindIncome, CategoryContractIncome, 1_000_000, "2024-01-15"),
		entry("i2", 0, KindIncome, CategorySubsidyIncome, 250_005, "2024-03-10"),
		entry("s1", 0, KindSpending, CategoryManagementExpenses, 40_001, "2024-01-20"),
		entry("s2", 0, KindSpending, CategoryPublicWelfareExpenses, 300_000, "2024-03-31"),
		entry("s3", 0, KindSpending, CategoryPublicWelfareExpenses, 30_000, "2024-03-31"),
		entry("old", 0, KindIncome, CategoryOtherIncome, 999, "2023-12-31"),
	)
	all[1].Counterparty = "奉化区农业农村局"
	all[2].Counterparty = "张*明"
	all[3].TrackingNumber, all[3].InstanceID = "WX-330213100201-2024-0007", "inst-7"
	all[3].Description = "=HYPERLINK(\"http://evil\")"
	rev, err := Reverse(all[4], "金额录错", "finance-1", recordedAt)
	if err != nil {
		t.Fatal(err)
	}
	return appendAll(t, all, rev, entry("s3b", 0, KindSpending, CategoryPublicWelfareExpenses, 3_000, "2024-03-31"))
}

// fenOf parses a yuan amount with exactly two decimals, without floats.
func fenOf(t *testing.T, s string) int64 {
	t.Helper()
	if !regexp.MustCompile(`^-?[0-9]+\.[0-9]{2}$`).MatchString(s) {
		t.Fatalf("amount %q is not yuan with two decimals", s)
	}
	neg := strings.HasPrefix(s, "-")
	yuan, cents, _ := strings.Cut(strings.TrimPrefix(s, "-"), ".")
	y, err1 := strconv.ParseInt(yuan, 10, 64)
	c, err2 := strconv.ParseInt(cents, 10, 64)
	if err1 != nil || err2 != nil {
		t.Fatalf("amount %q", s)
	}
	if neg {
		return -(y*100 + c)
	}
	return y*100 + c
}

func readCSV(t *testing.T, data []byte) [][]string {
	t.Helper()
	rows, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

func TestWriteCSV(t *testing.T) {
	entries := exportLedger(t)
	var buf bytes.Buffer
	if err := WriteCSV(&buf, entries, 2024); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	if !bytes.HasPrefix(data, []byte{0xEF, 0xBB, 0xBF}) {
		t.Fatal("no UTF-8 byte-order mark")
	}
	if !bytes.Contains(data, []byte("\r\n")) {
		t.Error("no CRLF line ends")
	}
	rows := readCSV(t, data[3:])
	if !slices.Equal(rows[0], CSVHeader) {
		t.Errorf("header = %v", rows[0])
	}
	for _, h := range []string{"日期", "收支", "科目", "金额（元）", "摘要", "对方", "审批流程编号", "冲销", "冲销原因"} {
		if !slices.Contains(rows[0], h) {
			t.Errorf("header lacks %s", h)
		}
	}
	col := func(name string) int { return slices.Index(CSVHeader, name) }
	s := Summarize(entries, 2024)
	if len(rows)-1 != len(s.Lines) || len(rows) != 8 {
		t.Fatalf("%d rows for %d lines", len(rows)-1, len(s.Lines))
	}
	var income, spending int64
	for i, row := range rows[1:] {
		l := s.Lines[i]
		if row[col("序号")] != strconv.FormatInt(l.Seq, 10) || row[col("日期")] != l.Date || row[col("科目")] != l.Category.Name() {
			t.Errorf("row %d = %v for %+v", i, row, l.Entry)
		}
		fen := fenOf(t, row[col("金额（元）")])
		switch row[col("收支")] {
		case "收入":
			income += fen
		case "支出":
			spending += fen
		default:
			t.Errorf("row %d: kind %q", i, row[col("收支")])
		}
	}
	if income != s.IncomeFen || spending != s.SpendingFen {
		t.Errorf("CSV sums %d / %d, summary %d / %d", income, spending, s.IncomeFen, s.SpendingFen)
	}

	byDesc := map[string][]string{}
	for _, row := range rows[1:] {
		byDesc[row[col("序号")]] = row
	}
	for _, tc := range []struct {
		seq, column, want string
	}{
		{"1", "金额（元）", "10000.00"},
		{"2", "金额（元）", "2500.05"},
		{"2", "对方", "奉化区农业农村局"},
		{"3", "对方", "张*明"},
		{"3", "科目", "管理费用"},
		{"4", "摘要", "'=HYPERLINK(\"http://evil\")"},
		{"4", "审批流程编号", "WX-330213100201-2024-0007"},
		{"5", "冲销", "已被第7号冲销"},
		{"5", "冲销原因", ""},
		{"7", "冲销", "冲销第5号"},
		{"7", "冲销原因", "金额录错"},
		{"7", "金额（元）", "-300.00"},
		{"7", "收支", "支出"},
		{"8", "冲销", ""},
	} {
		row, ok := byDesc[tc.seq]
		if !ok {
			t.Errorf("no row %s", tc.seq)
			continue
		}
		if got := row[col(tc.column)]; got != tc.want {
			t.Errorf("row %s %s = %q, want %q", tc.seq, tc.column, got, tc.want)
		}
	}
	if _, ok := byDesc["6"]; ok {
		t.Error("entry of 2023 exported for 2024")
	}

	// An empty year still has its header.
	buf.Reset()
	if err := WriteCSV(&buf, entries, 2020); err != nil {
		t.Fatal(err)
	}
	if rows := readCSV(t, buf.Bytes()[3:]); len(rows) != 1 {
		t.Errorf("empty year: %d rows", len(rows))
	}
}

func TestSpreadsheetSafe(t *testing.T) {
	for in, want := range map[string]string{
		"":          "",
		"修路":        "修路",
		"=1+1":      "'=1+1",
		"+86":       "'+86",
		"-3":        "'-3",
		"@SUM(A1)":  "'@SUM(A1)",
		"\tx":       "'\tx",
		"a=b":       "a=b",
		"张*明":       "张*明",
		"'already'": "'already'",
	} {
		if got := spreadsheetSafe(in); got != want {
			t.Errorf("spreadsheetSafe(%q) = %q, want %q", in, got, want)
		}
	}
}

type failingWriter struct{ after int }

func (w *failingWriter) Write(p []byte) (int, error) {
	if w.after <= 0 {
		return 0, errors.New("disk full")
	}
	w.after--
	return len(p), nil
}

func TestWritersReportErrors(t *testing.T) {
	entries := exportLedger(t)
	for _, after := range []int{0, 1} {
		if err := WriteCSV(&failingWriter{after: after}, entries, 2024); err == nil {
			t.Errorf("WriteCSV after %d writes: no error", after)
		}
	}
	if err := WriteFDPCSV(&failingWriter{}, entries, 2024); err == nil {
		t.Error("WriteFDPCSV: no error")
	}
	if err := WriteFiscalDataPackageZip(&failingWriter{}, village, "西岙村", 2024, entries, recordedAt); err == nil {
		t.Error("WriteFiscalDataPackageZip: no error")
	}
}

func TestWriteFDPCSV(t *testing.T) {
	entries := exportLedger(t)
	var buf bytes.Buffer
	if err := WriteFDPCSV(&buf, entries, 2024); err != nil {
		t.Fatal(err)
	}
	if bytes.HasPrefix(buf.Bytes(), []byte{0xEF, 0xBB, 0xBF}) {
		t.Error("machine CSV has a byte-order mark")
	}
	rows := readCSV(t, buf.Bytes())
	if !slices.Equal(rows[0], FDPHeader) {
		t.Errorf("header = %v", rows[0])
	}
	col := func(name string) int { return slices.Index(FDPHeader, name) }
	s := Summarize(entries, 2024)
	var balance int64
	for _, row := range rows[1:] {
		fen := fenOf(t, row[col("amount")])
		switch row[col("type")] {
		case DirectionRevenue:
			balance += fen
		case DirectionExpenditure:
			balance -= fen
		default:
			t.Errorf("type %q", row[col("type")])
		}
		if _, ok := LookupCategory(Category(row[col("category")])); !ok {
			t.Errorf("category %q", row[col("category")])
		}
		if row[col("id")] == "7" && row[col("reverses")] != "5" {
			t.Errorf("reversal row = %v", row)
		}
		if row[col("id")] == "4" && !strings.HasPrefix(row[col("description")], "=") {
			t.Errorf("machine CSV altered a value: %v", row)
		}
	}
	if balance != s.BalanceFen || len(rows)-1 != len(s.Lines) {
		t.Errorf("balance %d, summary %d", balance, s.BalanceFen)
	}
}

// The Fiscal Data Package 0.3 schema's vocabularies.
var (
	fdpNamePattern     = regexp.MustCompile(`^[a-z0-9._-]+$`)
	tableSchemaTypes   = []string{"string", "number", "integer", "boolean", "object", "array", "datetime", "date", "time", "duration", "geopoint", "geojson", "any"}
	fdpDimensionTypes  = []string{"datetime", "entity", "classification", "activity", "fact", "location", "other"}
	fdpClassifications = []string{"functional", "administrative", "economic"}
)

func TestFiscalDataPackage(t *testing.T) {
	entries := exportLedger(t)
	desc, err := FiscalDataPackage(village, "西岙村", 2024, entries)
	if err != nil {
		t.Fatal(err)
	}
	var pkg struct {
		Name         string `json:"name"`
		Title        string `json:"title"`
		Profile      string `json:"profile"`
		CountryCode  string `json:"countryCode"`
		Granularity  string `json:"granularity"`
		FiscalPeriod struct {
			Start, End string
		} `json:"fiscalPeriod"`
		Resources []struct {
			Name, Path, Format, Hash string
			Bytes                    int
			Schema                   struct {
				Fields []struct {
					Name, Title, Type string
				}
				PrimaryKey []string `json:"primaryKey"`
			}
		} `json:"resources"`
		Model struct {
			Measures map[string]struct {
				Source   string
				Currency string
				Factor   float64
			}
			Dimensions map[string]struct {
				DimensionType      string `json:"dimensionType"`
				ClassificationType string `json:"classificationType"`
				Attributes         map[string]struct {
					Source   string
					LabelFor string `json:"labelfor"`
				}
				PrimaryKey []string `json:"primaryKey"`
			}
		} `json:"model"`
	}
	if err := json.Unmarshal(desc, &pkg); err != nil {
		t.Fatalf("descriptor is not JSON: %v\n%s", err, desc)
	}
	var raw map[string]json.RawMessage
	_ = json.Unmarshal(desc, &raw)
	for _, key := range []string{"name", "title", "profile", "resources", "model"} {
		if _, ok := raw[key]; !ok {
			t.Errorf("descriptor lacks %q", key)
		}
	}
	if !fdpNamePattern.MatchString(pkg.Name) || pkg.Name != "wuxiao-330213100201-ledger-2024" {
		t.Errorf("name = %q", pkg.Name)
	}
	if pkg.Profile != "fiscal-data-package" || pkg.CountryCode != "CN" || pkg.Granularity != "transactional" ||
		pkg.FiscalPeriod.Start != "2024-01-01" || pkg.FiscalPeriod.End != "2024-12-31" || !strings.Contains(pkg.Title, "西岙村2024年") {
		t.Errorf("package = %+v", pkg)
	}
	if len(pkg.Resources) != 1 {
		t.Fatalf("%d resources", len(pkg.Resources))
	}
	res := pkg.Resources[0]
	var fields []string
	for _, f := range res.Schema.Fields {
		fields = append(fields, f.Name)
		if !slices.Contains(tableSchemaTypes, f.Type) || f.Title == "" {
			t.Errorf("field %+v", f)
		}
	}
	if !slices.Equal(fields, FDPHeader) || res.Path != FDPDataPath(village, 2024) || res.Format != "csv" ||
		!slices.Equal(res.Schema.PrimaryKey, []string{"id"}) {
		t.Errorf("resource = %+v", res)
	}
	for _, want := range []struct{ name, typ string }{
		{"date", "date"}, {"type", "string"}, {"category", "string"}, {"amount", "number"}, {"description", "string"},
		{"counterparty", "string"}, {"tracking_number", "string"}, {"reverses", "integer"},
	} {
		i := slices.Index(fields, want.name)
		if i < 0 || res.Schema.Fields[i].Type != want.typ {
			t.Errorf("field %s: want type %s", want.name, want.typ)
		}
	}
	// The descriptor's size and hash are those of the CSV resource.
	var data bytes.Buffer
	if err := WriteFDPCSV(&data, entries, 2024); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data.Bytes())
	if res.Bytes != data.Len() || res.Hash != "sha256:"+hex.EncodeToString(sum[:]) {
		t.Errorf("resource bytes %d hash %s", res.Bytes, res.Hash)
	}

	amount, ok := pkg.Model.Measures["amount"]
	if !ok || amount.Source != "amount" || amount.Currency != "CNY" || amount.Factor != 1 {
		t.Errorf("measures = %+v", pkg.Model.Measures)
	}
	for name, want := range map[string]struct{ typ, source string }{
		"date":         {"datetime", "date"},
		"category":     {"classification", "category"},
		"direction":    {"other", "type"},
		"counterparty": {"entity", "counterparty"},
		"transaction":  {"fact", "id"},
	} {
		d, ok := pkg.Model.Dimensions[name]
		if !ok || d.DimensionType != want.typ {
			t.Errorf("dimension %s = %+v, want type %s", name, d, want.typ)
			continue
		}
		var sources []string
		for _, a := range d.Attributes {
			sources = append(sources, a.Source)
		}
		if !slices.Contains(sources, want.source) {
			t.Errorf("dimension %s does not use field %s", name, want.source)
		}
	}
	for name, d := range pkg.Model.Dimensions {
		if !slices.Contains(fdpDimensionTypes, d.DimensionType) ||
			(d.ClassificationType != "" && !slices.Contains(fdpClassifications, d.ClassificationType)) || len(d.PrimaryKey) == 0 {
			t.Errorf("dimension %s = %+v", name, d)
		}
		for _, k := range d.PrimaryKey {
			if _, ok := d.Attributes[k]; !ok {
				t.Errorf("dimension %s: primary key %s is not an attribute", name, k)
			}
		}
		for an, a := range d.Attributes {
			if !slices.Contains(FDPHeader, a.Source) {
				t.Errorf("dimension %s attribute %s: source %q is not a field", name, an, a.Source)
			}
			if _, ok := d.Attributes[a.LabelFor]; a.LabelFor != "" && !ok {
				t.Errorf("dimension %s attribute %s: labelfor %q", name, an, a.LabelFor)
			}
		}
	}
	if _, ok := pkg.Model.Dimensions["category"].Attributes["code"]; !ok {
		t.Error("classification dimension without a code attribute")
	}

	for _, tc := range []struct {
		name, village, villageName string
		year                       int
		field                      string
	}{
		{"bad village", "xikou", "西岙村", 2024, "village"},
		{"no village name", village, " ", 2024, "villageName"},
		{"bad year", village, "西岙村", 24, "year"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := FiscalDataPackage(tc.village, tc.villageName, tc.year, entries)
			var fe domainerr.FieldErrors
			if !errors.As(err, &fe) || !fe.Has(tc.field) {
				t.Errorf("FiscalDataPackage = %v, want an error on %s", err, tc.field)
			}
		})
	}
}

func TestWriteFiscalDataPackageZip(t *testing.T) {
	entries := exportLedger(t)
	modified := time.Date(2025, 1, 5, 8, 0, 0, 0, tz.Shanghai)
	var buf bytes.Buffer
	if err := WriteFiscalDataPackageZip(&buf, village, "西岙村", 2024, entries, modified); err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		files[f.Name], _ = io.ReadAll(rc)
		rc.Close()
		if !f.Modified.Equal(modified) {
			t.Errorf("%s modified %v", f.Name, f.Modified)
		}
	}
	desc, _ := FiscalDataPackage(village, "西岙村", 2024, entries)
	var data bytes.Buffer
	_ = WriteFDPCSV(&data, entries, 2024)
	if len(files) != 2 || !bytes.Equal(files["datapackage.json"], desc) || !bytes.Equal(files[FDPDataPath(village, 2024)], data.Bytes()) {
		t.Errorf("zip holds %d files", len(files))
	}
	if err := WriteFiscalDataPackageZip(io.Discard, "bad", "西岙村", 2024, entries, modified); err == nil {
		t.Error("zip with a bad village written")
	}
}
