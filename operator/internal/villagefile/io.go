package villagefile

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/xuri/excelize/v2"
	"golang.org/x/text/encoding/simplifiedchinese"

	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
)

// Format is a file format: csv or xlsx.
type Format string

const (
	CSV  Format = "csv"
	XLSX Format = "xlsx"
)

// FormatOf is the format a file name's extension says.
func FormatOf(path string) (Format, error) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".csv", ".txt":
		return CSV, nil
	case ".xlsx", ".xlsm":
		return XLSX, nil
	case ".xls":
		return "", fmt.Errorf("%s 是旧的 Excel 97-2003 格式（.xls）：请在 Excel 或 WPS 中“另存为” .xlsx 或 .csv 再导入", path)
	}
	return "", fmt.Errorf("%s：只能导入 .csv 或 .xlsx 文件", path)
}

// ReadFile reads the records of a CSV or XLSX file.
func ReadFile(path string) ([][]string, error) {
	f, err := FormatOf(path)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Read(bytes.NewReader(data), f)
}

// Read reads the records of a file. A CSV may be UTF-8 (with or without
// the BOM Excel writes) or GB18030/GBK, which Excel and WPS on Chinese
// Windows save by default. An XLSX is read from its first sheet, cells as
// stored (a 12-digit code typed as a number is not shown as 3.30213E+11).
func Read(r io.Reader, f Format) ([][]string, error) {
	switch f {
	case CSV:
		data, err := io.ReadAll(r)
		if err != nil {
			return nil, err
		}
		data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
		if !utf8.Valid(data) {
			if data, err = simplifiedchinese.GB18030.NewDecoder().Bytes(data); err != nil {
				return nil, fmt.Errorf("文件既不是 UTF-8 也不是 GBK 编码：%w", err)
			}
		}
		cr := csv.NewReader(bytes.NewReader(data))
		cr.FieldsPerRecord = -1
		cr.LazyQuotes = true
		recs, err := cr.ReadAll()
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return nil, fmt.Errorf("第 %d 行不是正确的 CSV：%w", pe.Line, pe.Err)
			}
			return nil, err
		}
		return recs, nil
	case XLSX:
		x, err := excelize.OpenReader(r)
		if err != nil {
			return nil, fmt.Errorf("不是正确的 .xlsx 文件：%w", err)
		}
		defer x.Close()
		sheets := x.GetSheetList()
		if len(sheets) == 0 {
			return nil, errors.New("这个 .xlsx 文件没有工作表")
		}
		return x.GetRows(sheets[0], excelize.Options{RawCellValue: true})
	}
	return nil, fmt.Errorf("unknown format %q", f)
}

// Records are the header and one record per row, as export writes them:
// the village columns, one column per role, then 对象名.
func Records(rows []Row) [][]string {
	header := []string{"村名", "村代码", "类型"}
	for _, c := range RoleColumns {
		header = append(header, c.Header)
	}
	header = append(header, "对象名")
	out := [][]string{header}
	for _, r := range rows {
		kind := "村"
		if r.Kind == wuxiaov1.VillageKindCommunity {
			kind = "社区"
		}
		rec := []string{r.DisplayName, r.Code, kind}
		for _, c := range RoleColumns {
			var people []string
			for _, p := range r.People {
				if p.Role == c.Role {
					people = append(people, strings.Join(nonEmpty(p.Name, p.Phone, p.Email), " "))
				}
			}
			rec = append(rec, strings.Join(people, "；"))
		}
		out = append(out, append(rec, r.Name))
	}
	return out
}

func nonEmpty(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// Write writes rows in the format: a CSV in UTF-8 with a BOM (so that
// Excel shows the Chinese right), or an XLSX whose cells are text (codes
// and phone numbers stay digits).
func Write(w io.Writer, f Format, rows []Row) error {
	recs := Records(rows)
	switch f {
	case CSV:
		if _, err := io.WriteString(w, "\ufeff"); err != nil {
			return err
		}
		cw := csv.NewWriter(w)
		cw.UseCRLF = true // what Excel writes and expects
		if err := cw.WriteAll(recs); err != nil {
			return err
		}
		return cw.Error()
	case XLSX:
		x := excelize.NewFile()
		defer x.Close()
		const sheet = "村（社区）"
		if err := x.SetSheetName("Sheet1", sheet); err != nil {
			return err
		}
		text, err := x.NewStyle(&excelize.Style{NumFmt: 49}) // "@": text
		if err != nil {
			return err
		}
		bold, err := x.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true}, NumFmt: 49})
		if err != nil {
			return err
		}
		for i, rec := range recs {
			for j, v := range rec {
				cell, err := excelize.CoordinatesToCellName(j+1, i+1)
				if err != nil {
					return err
				}
				if err := x.SetCellStr(sheet, cell, v); err != nil {
					return err
				}
			}
		}
		last, _ := excelize.ColumnNumberToName(len(recs[0]))
		if err := x.SetColStyle(sheet, "A:"+last, text); err != nil {
			return err
		}
		if err := x.SetRowStyle(sheet, 1, 1, bold); err != nil {
			return err
		}
		if err := x.SetColWidth(sheet, "A", "B", 16); err != nil {
			return err
		}
		if err := x.SetColWidth(sheet, "D", last, 24); err != nil {
			return err
		}
		if err := x.SetPanes(sheet, &excelize.Panes{Freeze: true, YSplit: 1, TopLeftCell: "A2", ActivePane: "bottomLeft"}); err != nil {
			return err
		}
		return x.Write(w)
	}
	return fmt.Errorf("unknown format %q", f)
}
