package workflow

import (
	"errors"
	"strings"
	"testing"
)

// TestApplicationValidate: every problem of an application is reported at
// once, with the field it concerns, in Chinese.
func TestApplicationValidate(t *testing.T) {
	item := sampleCatalog(t).Item("duty-homestead")
	pdf := samplePDF()
	ok := func() ApplyInput {
		return ApplyInput{ItemID: item.ID, Name: "张小明", Phone: "138 0013-8000", IDNumber: applicantID,
			Files: []MaterialUpload{{Material: "身份证", Name: "a.pdf", Data: pdf}}}
	}
	cases := []struct {
		name   string
		change func(*ApplyInput)
		needID bool
		fields string // the fields with problems, in order
	}{
		{"valid", func(*ApplyInput) {}, true, ""},
		{"landline", func(in *ApplyInput) { in.Phone = "0574-88881234" }, true, ""},
		{"no ID number on behalf", func(in *ApplyInput) { in.IDNumber = "" }, false, ""},
		{"no ID number from the portal", func(in *ApplyInput) { in.IDNumber = "" }, true, "idNumber"},
		{"wrong check character", func(in *ApplyInput) { in.IDNumber = "110105194912310021" }, false, "idNumber"},
		{"no name, bad phone", func(in *ApplyInput) { in.Name, in.Phone = " ", "12345" }, true, "name phone"},
		{"long description", func(in *ApplyInput) { in.Description = strings.Repeat("字", 2001) }, true, "description"},
		{"not a material of the item", func(in *ApplyInput) { in.Files[0].Material = "?material-9" }, true, "files"},
		{"other material", func(in *ApplyInput) { in.Files[0].Material = OtherMaterial }, true, ""},
		{"empty file", func(in *ApplyInput) { in.Files[0].Data = nil }, true, "files"},
		{"too large", func(in *ApplyInput) { in.Files[0].Data = append(pdf, make([]byte, MaxApplicationFileBytes)...) }, true, "files"},
		{"not a photo or PDF", func(in *ApplyInput) { in.Files[0].Data = []byte("MZ\x90\x00 an executable") }, true, "files"},
		{"too many files", func(in *ApplyInput) {
			in.Files = make([]MaterialUpload, MaxApplicationFiles+1)
			for i := range in.Files {
				in.Files[i] = MaterialUpload{Material: OtherMaterial, Name: "a.pdf", Data: pdf}
			}
		}, true, "files"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := ok()
			tc.change(&in)
			err := in.validate(item, tc.needID)
			var inv *ApplicationInvalid
			var got []string
			if errors.As(err, &inv) {
				for _, p := range inv.Problems {
					got = append(got, p.Field)
					if !strings.ContainsFunc(p.Message, func(r rune) bool { return r >= 0x4e00 && r <= 0x9fff }) {
						t.Errorf("message %q is not for villagers", p.Message)
					}
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if strings.Join(got, " ") != tc.fields {
				t.Errorf("problems in %v, want %q", got, tc.fields)
			}
		})
	}
}

func TestAccessCodes(t *testing.T) {
	s := &Service{IDHashKey: []byte("test-key")}
	code := newAccessCode()
	if normalizeAccessCode(code) != code || len(code) != 9 || code[4] != '-' {
		t.Fatalf("code %q", code)
	}
	for _, typed := range []string{strings.ToLower(code), strings.ReplaceAll(code, "-", ""), " " + code[:4] + " " + code[5:] + " "} {
		if normalizeAccessCode(typed) != code {
			t.Errorf("%q not read as %q", typed, code)
		}
	}
	if normalizeAccessCode("ABC") != "" {
		t.Error("a short code is read")
	}
	if s.accessCodeHash("a", code) == s.accessCodeHash("b", code) || s.accessCodeHash("a", code) == (&Service{IDHashKey: []byte("other")}).accessCodeHash("a", code) {
		t.Error("the code's hash is not bound to its process and key")
	}
}
