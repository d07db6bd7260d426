package pdffont

import (
	"os"
	"strings"
	"testing"
)

func TestFace(t *testing.T) {
	if _, err := os.Stat(DefaultPath); err != nil {
		t.Fatalf("%v: run hack/fonts.sh", err)
	}
	data, err := Load(DefaultPath, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Face(data, 0); err != nil {
		t.Errorf("the extracted face is no standalone TrueType font: %v", err)
	}
	for _, tc := range []struct {
		name  string
		raw   []byte
		index int
		want  string
	}{
		{"short", []byte("abc"), 0, "not a font"},
		{"cff", append([]byte("OTTO"), make([]byte, 20)...), 0, "CFF"},
		{"other", append([]byte("wOFF"), make([]byte, 20)...), 0, "not a TrueType"},
		{"no glyf", append([]byte{0, 1, 0, 0}, make([]byte, 20)...), 0, "no glyf"},
	} {
		if _, err := Face(tc.raw, tc.index); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
	if _, err := Load(DefaultPath, 99); err == nil || !strings.Contains(err.Error(), "face 99") {
		t.Errorf("face 99: %v", err)
	}
}
