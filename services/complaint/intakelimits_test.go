package complaint

import (
	"errors"
	"strings"
	"testing"

	"github.com/wuxiao/wuxiao/services/internal/domainerr"
)

func TestLimitIntakeValidation(t *testing.T) {
	jpeg := []byte("\xFF\xD8\xFF\xE0\x00\x10JFIF\x00")
	png := []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
	pdf := []byte("%PDF-1.7\n%\xE2\xE3\xCF\xD3\n")
	html := []byte("<html><script>alert(1)</script></html>")
	gif := []byte("GIF89a\x01\x00\x01\x00")
	exe := []byte("MZ\x90\x00\x03\x00\x00\x00")
	ok := "村里的路灯坏了三个月没人修。"
	file := func(name string, head []byte, size int64) IntakeFile {
		return IntakeFile{Name: name, Head: head, Size: size}
	}
	cases := []struct {
		name  string
		in    IntakeLimitsInput
		codes []string // want codes in order; nil = valid
		field string   // field of the first error
	}{
		{"valid no files", IntakeLimitsInput{Description: ok}, nil, ""},
		{"valid three types", IntakeLimitsInput{Description: ok, Files: []IntakeFile{
			file("a.jpg", jpeg, 1000), file("b.png", png, 1000), file("c.pdf", pdf, IntakeMaxFileBytes)}}, nil, ""},
		{"exactly 10 runes", IntakeLimitsInput{Description: "一二三四五六七八九十"}, nil, ""},
		{"exactly 2000 runes", IntakeLimitsInput{Description: strings.Repeat("字", 2000)}, nil, ""},
		{"9 runes", IntakeLimitsInput{Description: "一二三四五六七八九"}, []string{"description_too_short"}, "description"},
		{"padding does not count", IntakeLimitsInput{Description: "   一二三   \n\n  "}, []string{"description_too_short"}, "description"},
		{"2001 runes", IntakeLimitsInput{Description: strings.Repeat("字", 2001)}, []string{"description_too_long"}, "description"},
		{"invalid utf8", IntakeLimitsInput{Description: ok + "\xff"}, []string{"description_invalid_encoding"}, "description"},
		{"too many files", IntakeLimitsInput{Description: ok, Files: []IntakeFile{
			file("1.jpg", jpeg, 1), file("2.jpg", jpeg, 1), file("3.jpg", jpeg, 1), file("4.jpg", jpeg, 1)}},
			[]string{"too_many_attachments"}, "attachments"},
		{"too large", IntakeLimitsInput{Description: ok, Files: []IntakeFile{file("big.jpg", jpeg, IntakeMaxFileBytes+1)}},
			[]string{"attachment_too_large"}, "attachments[0]"},
		{"empty file", IntakeLimitsInput{Description: ok, Files: []IntakeFile{file("e.jpg", nil, 0)}},
			[]string{"attachment_empty"}, "attachments[0]"},
		{"html named jpg", IntakeLimitsInput{Description: ok, Files: []IntakeFile{file("ok.png", png, 10), file("photo.jpg", html, 100)}},
			[]string{"attachment_type_not_allowed"}, "attachments[1]"},
		{"gif", IntakeLimitsInput{Description: ok, Files: []IntakeFile{file("a.gif", gif, 10)}},
			[]string{"attachment_type_not_allowed"}, "attachments[0]"},
		{"exe", IntakeLimitsInput{Description: ok, Files: []IntakeFile{file("a.pdf", exe, 10)}},
			[]string{"attachment_type_not_allowed"}, "attachments[0]"},
		{"all at once", IntakeLimitsInput{Description: "短", Files: []IntakeFile{file("a.gif", gif, 10)}},
			[]string{"description_too_short", "attachment_type_not_allowed"}, "description"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateIntake(tc.in)
			if tc.codes == nil {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			var fes domainerr.FieldErrors
			if !errors.As(err, &fes) {
				t.Fatalf("want FieldErrors, got %v", err)
			}
			if len(fes) != len(tc.codes) {
				t.Fatalf("got %v, want codes %v", fes, tc.codes)
			}
			for i, fe := range fes {
				if fe.Code != tc.codes[i] || fe.Message == "" {
					t.Errorf("error %d: %+v, want code %s", i, fe, tc.codes[i])
				}
			}
			if fes[0].Field != tc.field {
				t.Errorf("field %q, want %q", fes[0].Field, tc.field)
			}
		})
	}
	// Messages name the limit.
	for _, c := range []struct {
		err  error
		want string
	}{
		{ValidateIntake(IntakeLimitsInput{Description: "短"}), "10"},
		{ValidateIntake(IntakeLimitsInput{Description: strings.Repeat("字", 2001)}), "2000"},
		{ValidateIntake(IntakeLimitsInput{Description: ok, Files: make([]IntakeFile, 4)}), "3"},
		{ValidateIntake(IntakeLimitsInput{Description: ok, Files: []IntakeFile{file("x", jpeg, 6<<20)}}), "5MB"},
	} {
		if c.err == nil || !strings.Contains(c.err.Error(), c.want) {
			t.Errorf("error %v should mention %q", c.err, c.want)
		}
	}
}
