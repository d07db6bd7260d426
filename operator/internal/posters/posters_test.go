package posters

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/wuxiao/wuxiao/operator/internal/posters/posterstest"
)

func villages(n int) []Poster {
	var ps []Poster
	for i := range n {
		code := fmt.Sprintf("330213100%03d", 201+i)
		portal := "https://jiandu.example.cn/v/" + code
		ps = append(ps, Poster{DisplayName: fmt.Sprintf("岩头%d村", i+1), Code: code, PortalURL: portal,
			ReportURL: ReportURL(portal, code), ContactPhone: "0574-88000000"})
	}
	return ps
}

// TestPosters: one page per village, or six per sheet page; every page
// names its villages, and every QR code decodes back to its address.
func TestPosters(t *testing.T) {
	font := posterstest.Font(t)
	for _, tc := range []struct {
		name     string
		villages int
		sheet    bool
		pages    []int // villages per page
	}{
		{"one village", 1, false, []int{1}},
		{"a poster each", 3, false, []int{1, 1, 1}},
		{"sheet", 7, true, []int{6, 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vs := villages(tc.villages)
			var buf bytes.Buffer
			if err := Render(&buf, font, vs, tc.sheet); err != nil {
				t.Fatal(err)
			}
			if !bytes.Contains(buf.Bytes(), []byte("/FontFile2")) {
				t.Error("the font is not embedded")
			}
			pages, err := posterstest.Decode(buf.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			if len(pages) != len(tc.pages) {
				t.Fatalf("%d pages, want %d", len(pages), len(tc.pages))
			}
			next := 0
			for i, p := range pages {
				var want []string
				for _, v := range vs[next : next+tc.pages[i]] {
					if !strings.Contains(p.Text, v.DisplayName) || !strings.Contains(p.Text, v.PortalURL) {
						t.Errorf("page %d does not show %s and %s: %q", i+1, v.DisplayName, v.PortalURL, p.Text)
					}
					want = append(want, v.PortalURL, v.ReportURL)
				}
				if !strings.Contains(p.Text, "码上监督") {
					t.Errorf("page %d has no 码上监督: %q", i+1, p.Text)
				}
				if got := sortedCopy(p.QRs); !reflect.DeepEqual(got, sortedCopy(want)) {
					t.Errorf("page %d: QR codes decode to %q, want %q", i+1, p.QRs, want)
				}
				next += tc.pages[i]
			}
		})
	}
}

func sortedCopy(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

func TestReportURL(t *testing.T) {
	for _, tc := range []struct{ portal, code, want string }{
		{"https://jiandu.example.cn/v/330213100201", "330213100201", "https://jiandu.example.cn/r/330213100201"},
		{"http://127.0.0.1:8080/v/330213100201", "330213100201", "http://127.0.0.1:8080/r/330213100201"},
		{"https://jiandu.example.cn/other", "330213100201", ""},
	} {
		if got := ReportURL(tc.portal, tc.code); got != tc.want {
			t.Errorf("ReportURL(%s) = %s, want %s", tc.portal, got, tc.want)
		}
	}
}

// TestHandover: a page per official, the code and login printed, the QR
// code decoding to the sign-in link; an official without a code gets the
// reason instead.
func TestHandover(t *testing.T) {
	font := posterstest.Font(t)
	at := time.Date(2026, 12, 7, 2, 0, 0, 0, time.UTC)
	sheets := []Handover{
		{Village: "岩头村", VillageCode: "330213100201", Name: "张伟", Role: "党组织书记", Login: "13800000001@330213100201.officials.wuxiao.invalid",
			Link: "https://auth.example.cn/self-service/recovery?flow=abc", Code: "482913", ExpiresAt: at},
		{Village: "岩头村", VillageCode: "330213100201", Name: "李娜", Role: "报账员", Login: "ln@example.org", Note: "验证码已过期"},
	}
	var buf bytes.Buffer
	if err := RenderHandover(&buf, font, sheets); err != nil {
		t.Fatal(err)
	}
	pages, err := posterstest.Decode(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if len(pages) != 2 {
		t.Fatalf("%d pages", len(pages))
	}
	for _, want := range []string{"张伟", "482913", "13800000001@330213100201.officials.wuxiao.invalid", "2026年12月7日 10:00"} {
		if !strings.Contains(pages[0].Text, want) {
			t.Errorf("page 1 lacks %q: %q", want, pages[0].Text)
		}
	}
	if !reflect.DeepEqual(pages[0].QRs, []string{sheets[0].Link}) {
		t.Errorf("page 1 QR codes %q", pages[0].QRs)
	}
	if !strings.Contains(pages[1].Text, "验证码已过期") || len(pages[1].QRs) != 0 {
		t.Errorf("page 2: %q %q", pages[1].Text, pages[1].QRs)
	}
}
