package posterstest

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/wuxiao/wuxiao/api/pdffont"
)

// FontPath is the font hack/fonts.sh installs (WUXIAO_NOTICE_FONT when
// hack/test.sh has run it).
func FontPath(t testing.TB) string {
	t.Helper()
	if path := os.Getenv("WUXIAO_NOTICE_FONT"); path != "" {
		return path
	}
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..", "..", "..")
	out, err := exec.CommandContext(t.Context(), filepath.Join(root, "hack", "fonts.sh")).Output()
	if err != nil {
		t.Fatalf("hack/fonts.sh: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// Font loads that font.
func Font(t testing.TB) []byte {
	t.Helper()
	data, err := pdffont.Load(FontPath(t), 0)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
