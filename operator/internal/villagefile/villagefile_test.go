package villagefile

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"golang.org/x/text/encoding/simplifiedchinese"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
)

var xikou = Town{Name: "xikou", Code: "330213100000"}

func load(t *testing.T, path string) [][]string {
	t.Helper()
	recs, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func check(recs [][]string, town Town, existing []wuxiaov1.Village) ([]Row, []Problem) {
	rows, ps := Parse(recs)
	if len(Errors(ps)) > 0 && rows == nil {
		return nil, ps
	}
	return rows, append(ps, Check(rows, town, existing)...)
}

func messages(ps []Problem) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}

// TestEveryMistakeReported: the sample file's every mistake is reported,
// with its row, its column and a message in Chinese, and nothing else.
func TestEveryMistakeReported(t *testing.T) {
	_, ps := check(load(t, "testdata/mistakes.csv"), xikou, nil)
	want := []string{
		"第 3 行 【村名】：村名不能为空",
		"第 3 行 【村代码】：「3302131002」不是 12 位数字的行政区划代码",
		"第 4 行 【村代码】：330213100201 与第 2 行重复",
		"第 5 行 【类型】：「乡镇」不是可用的类型",
		"第 5 行 【村代码】：330213200301 不属于本镇：xikou 的村代码前 9 位应为 330213100",
		"第 5 行 【党组织书记】：钱明 的手机号「1380000003」不对",
		"第 5 行 【监察联络员】：蒋华 没有手机号或电子邮箱",
		"第 6 行 【村代码】：330213100000 以 000 结尾",
		"第 6 行 【村委会主任】：何东 的联系方式 13800000041 已用于本村的党组织书记 韩梅",
		"第 6 行 【报账员】：许倩 的电子邮箱「xq@example」不对",
		"第 6 行 【党组织书记】：填了 2 人，每个村最多 1 位党组织书记",
		"第 6 行 【监察联络员】：缺少监察联络员",
	}
	got := messages(ps)
	if len(got) != len(want) {
		t.Errorf("%d problems, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
	for _, w := range want {
		found := false
		for _, g := range got {
			found = found || strings.HasPrefix(g, w)
		}
		if !found {
			t.Errorf("missing problem %q in:\n%s", w, strings.Join(got, "\n"))
		}
	}
}

func TestHeaders(t *testing.T) {
	for _, tc := range []struct {
		name   string
		header []string
		want   []string // problems (prefixes); none: parses
	}{
		{"chinese", []string{"村名", "村代码", "党组织书记", "监察联络员"}, nil},
		{"english any case", []string{"DisplayName", "Code", "Kind", "secretary", "Liaison-Officer", "name"}, nil},
		{"aliases and BOM", []string{"\ufeff名称", "行政区划代码", "书记", "联络员"}, nil},
		{"unknown column", []string{"村名", "村代码", "监察联络员", "备注"}, []string{"第 1 行 【备注】：不认识的列名"}},
		{"missing code", []string{"村名", "监察联络员"}, []string{"第 1 行：缺少「村代码」列"}},
		{"twice", []string{"村名", "村代码", "书记", "党组织书记", "联络员"}, []string{"第 1 行 【党组织书记】：与第 C 列重复"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := make([]string, len(tc.header))
			for i, h := range tc.header {
				switch c, role := classify(h); {
				case c == ColDisplayName:
					rec[i] = "岩头村"
				case c == ColCode:
					rec[i] = "330213100201"
				case role == wuxiaov1.RoleSecretary:
					rec[i] = "张伟 13800000001"
				case role == wuxiaov1.RoleLiaisonOfficer:
					rec[i] = "周立 13800000005"
				}
			}
			_, ps := check([][]string{tc.header, rec}, xikou, nil)
			got := messages(ps)
			if len(got) != len(tc.want) {
				t.Fatalf("problems %q, want %q", got, tc.want)
			}
			for i := range got {
				if !strings.HasPrefix(got[i], tc.want[i]) {
					t.Errorf("problem %q, want %q…", got[i], tc.want[i])
				}
			}
		})
	}
}

func TestCells(t *testing.T) {
	for _, tc := range []struct {
		cell string
		want []Person
		errs int
	}{
		{"张伟 13800000001", []Person{{Name: "张伟", Phone: "13800000001"}}, 0},
		{"张伟（138-0000-0001）", []Person{{Name: "张伟", Phone: "13800000001"}}, 0},
		{"张伟,+8613800000001 ZW@Example.org", []Person{{Name: "张伟", Phone: "13800000001", Email: "zw@example.org"}}, 0},
		{"王芳 13800000003；赵敏 zm@example.org\n钱明：13800000009", []Person{
			{Name: "王芳", Phone: "13800000003"}, {Name: "赵敏", Email: "zm@example.org"}, {Name: "钱明", Phone: "13800000009"}}, 0},
		{"张伟 13800000001 13800000002", []Person{{Name: "张伟", Phone: "13800000002"}}, 1},
	} {
		got, errs := parseCell(tc.cell, wuxiaov1.RoleCommitteeMember)
		for i := range tc.want {
			tc.want[i].Role = wuxiaov1.RoleCommitteeMember
		}
		if !reflect.DeepEqual(got, tc.want) || len(errs) != tc.errs {
			t.Errorf("%q: %+v %q, want %+v and %d problems", tc.cell, got, errs, tc.want, tc.errs)
		}
	}
}

func cluster(name, code string, created time.Time, officials ...wuxiaov1.Official) wuxiaov1.Village {
	return wuxiaov1.Village{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "town-xikou", CreationTimestamp: metav1.NewTime(created)},
		Spec:       wuxiaov1.VillageSpec{Code: code, DisplayName: "岩头村", Kind: wuxiaov1.VillageKindVillage, Officials: officials},
	}
}

// TestCluster: the villages already in the town decide names, keep their
// officials' ids, and refuse codes held by another Village, code changes
// and e-mails another village signs in with.
func TestCluster(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	existing := []wuxiaov1.Village{
		cluster("yantou", "330213100201", t0,
			wuxiaov1.Official{ID: "zhang-wei", Name: "张伟", Role: wuxiaov1.RoleSecretary, Phone: "13800000001"},
			wuxiaov1.Official{ID: "zhou-li", Name: "周立", Role: wuxiaov1.RoleLiaisonOfficer, Email: "zl@example.org"}),
		cluster("xiatang", "330213100202", t0),
	}
	header := []string{"村名", "村代码", "党组织书记", "监察联络员", "对象名"}
	for _, tc := range []struct {
		name     string
		row      []string
		wantName string
		wantIDs  []string
		problem  string
	}{
		{"matched by code keeps ids", []string{"岩头村", "330213100201", "张伟 13800000001", "周立 zl@example.org", ""},
			"yantou", []string{"zhang-wei", "zhou-li"}, ""},
		{"phone changed: matched by name and role", []string{"岩头村", "330213100201", "张伟 13900000001", "周立 zl@example.org", ""},
			"yantou", []string{"zhang-wei", "zhou-li"}, ""},
		{"a new person gets a new id", []string{"岩头村", "330213100201", "孙洁 13800000011", "周立 zl@example.org", ""},
			"yantou", []string{"p13800000011", "zhou-li"}, ""},
		{"new village", []string{"上白村", "330213100301", "钱明 13800000031", "蒋华 jh@example.org", ""},
			"v330213100301", []string{"p13800000031", "e-" + hash5("jh@example.org")}, ""},
		{"code held by another name", []string{"岩头村", "330213100201", "张伟 13800000001", "周立 zl@example.org", "yantou2"},
			"", nil, "第 2 行 【村代码】：330213100201 已被集群中的村 yantou（岩头村）使用"},
		{"code change", []string{"下塘村", "330213100209", "张伟 13800000009", "周立 13800000008", "xiatang"},
			"", nil, "第 2 行 【村代码】：集群中的村 xiatang（岩头村）的代码是 330213100202，村代码不能修改"},
		{"e-mail of another village", []string{"下塘村", "330213100202", "张伟 13800000009", "周立 zl@example.org", ""},
			"", nil, "第 2 行 【监察联络员】：电子邮箱 zl@example.org 已是村 330213100201 一位干部的登录名"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rows, ps := check([][]string{header, tc.row}, xikou, existing)
			if tc.problem != "" {
				if len(ps) != 1 || !strings.HasPrefix(ps[0].String(), tc.problem) {
					t.Fatalf("problems %q, want %q", messages(ps), tc.problem)
				}
				return
			}
			if len(ps) > 0 {
				t.Fatalf("problems: %q", messages(ps))
			}
			var ids []string
			for _, o := range rows[0].Officials {
				ids = append(ids, o.ID)
			}
			if rows[0].Name != tc.wantName || !reflect.DeepEqual(ids, tc.wantIDs) {
				t.Errorf("name %s ids %v, want %s %v", rows[0].Name, ids, tc.wantName, tc.wantIDs)
			}
		})
	}
}

func hash5(s string) string {
	rows := []Row{{Line: 2, Code: "330213100999", DisplayName: "x", People: []Person{{Name: "x", Email: s, Role: wuxiaov1.RoleLiaisonOfficer}}}}
	Check(rows, xikou, nil)
	return strings.TrimPrefix(rows[0].Officials[0].ID, "e-")
}

func sample(n int) []Row {
	rows := make([]Row, n)
	for i := range rows {
		// A town has at most 999 village codes: the 1,000th row repeats one.
		code := fmt.Sprintf("330213100%03d", i%999+1)
		rows[i] = Row{Line: i + 2, Name: "v" + code, DisplayName: fmt.Sprintf("第%d村", i+1), Code: code, Kind: wuxiaov1.VillageKindVillage,
			People: []Person{
				{Name: "张伟", Phone: fmt.Sprintf("138%08d", 4*i), Role: wuxiaov1.RoleSecretary},
				{Name: "李强", Phone: fmt.Sprintf("138%08d", 4*i+1), Role: wuxiaov1.RoleDirector},
				{Name: "王芳", Email: fmt.Sprintf("wf%d@example.org", i), Role: wuxiaov1.RoleCommitteeMember},
				{Name: "周立", Phone: fmt.Sprintf("138%08d", 4*i+3), Role: wuxiaov1.RoleLiaisonOfficer},
			}}
	}
	return rows
}

// TestRoundTrip: what Write writes, Read, Parse and Check give back
// unchanged, in both formats, GBK CSVs too.
func TestRoundTrip(t *testing.T) {
	rows := sample(3)
	rows[1].Kind = wuxiaov1.VillageKindCommunity
	if ps := Check(rows, xikou, nil); len(ps) > 0 {
		t.Fatal(messages(ps))
	}
	var existing []wuxiaov1.Village
	for i := range rows {
		v := wuxiaov1.Village{}
		obj := rows[i].Object("town-xikou")
		v.Name = obj.GetName()
		v.Spec = wuxiaov1.VillageSpec{Code: rows[i].Code, DisplayName: rows[i].DisplayName, Kind: rows[i].Kind, Officials: rows[i].Officials}
		existing = append(existing, v)
	}
	for _, f := range []Format{CSV, XLSX, "gbk"} {
		t.Run(string(f), func(t *testing.T) {
			var exported []Row
			for i := range existing {
				exported = append(exported, FromVillage(&existing[i]))
			}
			var buf bytes.Buffer
			format := f
			if f == "gbk" {
				format = CSV
			}
			if err := Write(&buf, format, exported); err != nil {
				t.Fatal(err)
			}
			data := buf.Bytes()
			if f == "gbk" {
				var err error
				if data, err = simplifiedchinese.GBK.NewEncoder().Bytes(bytes.TrimPrefix(data, []byte("\ufeff"))); err != nil {
					t.Fatal(err)
				}
			}
			recs, err := Read(bytes.NewReader(data), format)
			if err != nil {
				t.Fatal(err)
			}
			back, ps := check(recs, xikou, existing)
			if len(ps) > 0 {
				t.Fatal(messages(ps))
			}
			for i := range rows {
				a, b := rows[i].Object("town-xikou"), back[i].Object("town-xikou")
				if !reflect.DeepEqual(a.Object, b.Object) {
					t.Errorf("row %d: %v, want %v", i, b.Object, a.Object)
				}
			}
		})
	}
}

// BenchmarkValidate1000: reading, parsing and checking a 1,000-row file
// against 500 villages of the cluster (issue 14: under a second). A town
// has 999 codes at most, so the last row is a duplicate, reported.
func BenchmarkValidate1000(b *testing.B) {
	var buf bytes.Buffer
	if err := Write(&buf, CSV, sample(1000)); err != nil {
		b.Fatal(err)
	}
	existing := make([]wuxiaov1.Village, 0, 500)
	for i, r := range sample(500) {
		existing = append(existing, cluster(r.Name, r.Code, time.Unix(int64(i), 0)))
	}
	rows := sample(1000)
	rows[999].Name = "" // the repeated code's row names no object
	buf.Reset()
	if err := Write(&buf, CSV, rows); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		recs, err := Read(bytes.NewReader(buf.Bytes()), CSV)
		if err != nil {
			b.Fatal(err)
		}
		if _, ps := check(recs, xikou, existing); len(ps) != 1 || !strings.Contains(ps[0].String(), "第 1001 行 【村代码】：330213100001 与第 2 行重复") {
			b.Fatal(messages(ps))
		}
	}
}
