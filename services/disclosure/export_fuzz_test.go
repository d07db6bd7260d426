package disclosure

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wuxiao/wuxiao/services/internal/personal"
)

// fuzzEntries builds a village's entries from fuzzed text: an entry, a
// second one of the other kind, and (when reversed) a reversal of the
// first. Stored entries passed Append, but exports must hold whatever the
// database returns, so the text is not validated here.
func fuzzEntries(desc, counterparty, reason, tracking, date string, amount int64, flags uint8) []Entry {
	at := time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)
	kinds := []Kind{KindIncome, KindSpending}
	cats := []Category{CategoryOperatingIncome, Category("no-such-category")}
	es := []Entry{
		{ID: "e1", Village: "330283100201", Seq: 1, Kind: kinds[flags&1], Category: cats[flags>>1&1], AmountFen: amount, Date: date,
			Description: desc, Counterparty: counterparty, TrackingNumber: tracking, RecordedBy: "u1", RecordedAt: at},
		{ID: "e2", Village: "330283100201", Seq: 2, Kind: kinds[1-flags&1], Category: CategoryOperatingIncome, AmountFen: 1, Date: "2026-01-01",
			Description: tracking, Counterparty: desc, RecordedBy: "u1", RecordedAt: at},
	}
	if flags&4 != 0 {
		es = append(es, Entry{ID: "e3", Village: "330283100201", Seq: 3, Kind: es[0].Kind, Category: es[0].Category, AmountFen: amount,
			Date: date, Description: desc, Reverses: "e1", Reason: reason, RecordedBy: "u1", RecordedAt: at})
	}
	return es
}

var exportSeeds = []struct {
	desc, counterparty, reason, tracking, date string
	amount                                     int64
	flags                                      uint8
}{
	{"修村道", "张小明", "录入错误", "330283100201-20260302-ABCDE", "2026-03-02", 12345, 0},
	{"=HYPERLINK(\"http://x\")", "+86 138 0000 1234", "@SUM(A1)", "-1", "2026-12-31", -5, 7},
	{"户主身份证330283199001011238，电话13800001234", "李四（代收）", "\t=1", "\r=2", "2026-06-30", 1 << 62, 4},
	{"a\r\nb\"c,d", "某某建筑有限公司", "", "", "2026-02-30", 0, 2},
	{"", "", "x", "", "2025-12-31", -9223372036854775808, 5},
}

// FuzzWriteCSV: the villagers' CSV reads back as the BOM, the header and
// one row per entry of the year with the public text of each entry (masked,
// then made spreadsheet-safe: no text cell starts a formula), amounts as
// yuan, and never an ID number or mobile number written in the entries.
func FuzzWriteCSV(f *testing.F) {
	for _, s := range exportSeeds {
		f.Add(s.desc, s.counterparty, s.reason, s.tracking, s.date, s.amount, s.flags)
	}
	f.Fuzz(func(t *testing.T, desc, counterparty, reason, tracking, date string, amount int64, flags uint8) {
		es := fuzzEntries(desc, counterparty, reason, tracking, date, amount, flags)
		year := 2026
		var buf bytes.Buffer
		if err := WriteCSV(&buf, es, year); err != nil {
			t.Fatal(err)
		}
		out, ok := bytes.CutPrefix(buf.Bytes(), []byte(utf8BOM))
		if !ok {
			t.Fatal("no byte-order mark")
		}
		rows := readFuzzCSV(t, out)
		lines := yearLines(es, year)
		if len(rows) != 1+len(lines) || !equalRow(rows[0], CSVHeader) {
			t.Fatalf("%d rows for %d lines, header %q", len(rows), len(lines), rows[0])
		}
		for i, l := range lines {
			row := rows[1+i]
			if row[0] != strconv.FormatInt(l.Seq, 10) || row[1] != l.Date || row[4] != FormatYuan(l.NetFen()) {
				t.Fatalf("row %d %q for line %+v", i, row, l)
			}
			for col, want := range map[int]string{5: l.Description, 6: l.Counterparty, 7: l.TrackingNumber, 9: l.Reason} {
				got := row[col]
				if got != csvText(want) && got != csvText("'"+want) {
					t.Fatalf("row %d column %s: %q, want %q", i, CSVHeader[col], got, want)
				}
				if got != "" && strings.ContainsRune("=+-@\t\r", rune(got[0])) {
					t.Fatalf("row %d column %s starts a formula: %q", i, CSVHeader[col], got)
				}
			}
		}
		noPersonalNumbers(t, es, rows, 5, 6, 7, 9)
	})
}

// FuzzFiscalDataPackage: the FDP CSV reads back exactly (public text, no
// spreadsheet escaping), its descriptor is JSON naming the CSV's size and
// SHA-256, and the zip holds both, byte for byte.
func FuzzFiscalDataPackage(f *testing.F) {
	for _, s := range exportSeeds {
		f.Add(s.desc, s.counterparty, s.reason, s.tracking, s.date, s.amount, s.flags)
	}
	f.Fuzz(func(t *testing.T, desc, counterparty, reason, tracking, date string, amount int64, flags uint8) {
		es := fuzzEntries(desc, counterparty, reason, tracking, date, amount, flags)
		year := 2026
		var data bytes.Buffer
		if err := WriteFDPCSV(&data, es, year); err != nil {
			t.Fatal(err)
		}
		rows := readFuzzCSV(t, data.Bytes())
		lines := yearLines(es, year)
		if len(rows) != 1+len(lines) || !equalRow(rows[0], FDPHeader) {
			t.Fatalf("%d rows for %d lines", len(rows), len(lines))
		}
		for i, l := range lines {
			reverses := ""
			if l.IsReversal() {
				reverses = strconv.FormatInt(l.ReversesSeq, 10)
			}
			want := []string{strconv.FormatInt(l.Seq, 10), l.Date, direction(l.Kind), string(l.Category), l.Category.Name(),
				FormatYuan(l.NetFen()), l.Description, l.Counterparty, l.TrackingNumber, reverses}
			for c := range want {
				want[c] = csvText(want[c])
			}
			if !equalRow(rows[1+i], want) {
				t.Fatalf("row %d:\n%q\nwant\n%q", i, rows[1+i], want)
			}
			if _, err := strconv.ParseFloat(rows[1+i][5], 64); err != nil {
				t.Fatalf("amount %q is not a number", rows[1+i][5])
			}
		}
		noPersonalNumbers(t, es, rows, 6, 7, 8)

		desc2, err := FiscalDataPackage("330283100201", "西岙村", year, es)
		if err != nil {
			t.Fatal(err)
		}
		var d struct {
			Resources []struct {
				Path  string `json:"path"`
				Bytes int    `json:"bytes"`
				Hash  string `json:"hash"`
			} `json:"resources"`
		}
		if err := json.Unmarshal(desc2, &d); err != nil || len(d.Resources) != 1 {
			t.Fatalf("descriptor: %v %s", err, desc2)
		}
		sum := sha256.Sum256(data.Bytes())
		if r := d.Resources[0]; r.Bytes != data.Len() || r.Hash != "sha256:"+hex.EncodeToString(sum[:]) {
			t.Fatalf("descriptor names %d bytes %s, the CSV has %d", r.Bytes, r.Hash, data.Len())
		}
		var z bytes.Buffer
		if err := WriteFiscalDataPackageZip(&z, "330283100201", "西岙村", year, es, time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)); err != nil {
			t.Fatal(err)
		}
		zr, err := zip.NewReader(bytes.NewReader(z.Bytes()), int64(z.Len()))
		if err != nil {
			t.Fatal(err)
		}
		want := map[string][]byte{"datapackage.json": desc2, d.Resources[0].Path: data.Bytes()}
		for _, zf := range zr.File {
			rc, err := zf.Open()
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(rc)
			rc.Close()
			if err != nil || !bytes.Equal(b, want[zf.Name]) {
				t.Fatalf("zip member %s differs (%v)", zf.Name, err)
			}
			delete(want, zf.Name)
		}
		if len(want) != 0 {
			t.Fatalf("zip lacks %d members", len(want))
		}
	})
}

func readFuzzCSV(t *testing.T, b []byte) [][]string {
	t.Helper()
	r := csv.NewReader(bytes.NewReader(b))
	r.FieldsPerRecord = 0
	rows, err := r.ReadAll()
	if err != nil {
		t.Fatalf("the export is not CSV: %v\n%q", err, b)
	}
	return rows
}

// csvText is how a field written with UseCRLF reads back: the writer drops
// a carriage return and writes a line feed as CRLF, which reads back as LF.
func csvText(s string) string { return strings.ReplaceAll(s, "\r", "") }

func equalRow(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// noPersonalNumbers: a valid ID number or mobile number written in an
// entry's text never reaches the export's text columns.
func noPersonalNumbers(t *testing.T, es []Entry, rows [][]string, cols ...int) {
	t.Helper()
	var text strings.Builder
	for _, row := range rows[1:] {
		for _, c := range cols {
			text.WriteString(row[c])
			text.WriteString("|")
		}
	}
	flat := personal.Fold(text.String())
	for _, e := range es {
		for _, s := range []string{e.Description, e.Counterparty, e.Reason, e.TrackingNumber} {
			for _, n := range personalNumbers(s) {
				if strings.Contains(flat, n) {
					t.Fatalf("%s of %q is in the export: %q", n, s, text.String())
				}
			}
		}
	}
}

// personalNumbers finds valid ID numbers and mobile numbers written as one
// run of (folded) digits.
func personalNumbers(s string) []string {
	var found []string
	runs := strings.FieldsFunc(personal.Fold(s), func(r rune) bool { return (r < '0' || r > '9') && r != 'X' && r != 'x' })
	for _, run := range runs {
		switch {
		case len(run) == 18 && personal.ValidIDNumber(run):
			found = append(found, run[:17])
		case len(run) == 11 && run[0] == '1' && run[1] >= '3' && strings.Trim(run, "0123456789") == "":
			found = append(found, run)
		}
	}
	return found
}
