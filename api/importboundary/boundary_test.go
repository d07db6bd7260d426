package importboundary

import (
	"bufio"
	"bytes"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/wuxiao/wuxiao"

// TestOperatorAndServicesDoNotImportEachOther: no package under operator/
// (its tests included) depends, directly or through other packages, on a
// package under services/, and no package under services/ on one under
// operator/. What both need lives in api/.
func TestOperatorAndServicesDoNotImportEachOther(t *testing.T) {
	for _, tc := range []struct{ from, to string }{
		{"operator", "services"},
		{"services", "operator"},
	} {
		t.Run(tc.from, func(t *testing.T) {
			for pkg, deps := range depsOf(t, "./"+tc.from+"/...") {
				var crossed []string
				for _, d := range deps {
					if strings.HasPrefix(d, module+"/"+tc.to+"/") {
						crossed = append(crossed, d)
					}
				}
				if len(crossed) > 0 {
					t.Errorf("%s depends on %s (directly or through other packages): share what both need through api/ instead", pkg, strings.Join(crossed, ", "))
				}
			}
		})
	}
}

// depsOf lists, for every package matching pattern and every test variant
// of one, its transitive imports.
func depsOf(t *testing.T, pattern string) map[string][]string {
	t.Helper()
	cmd := exec.Command("go", "list", "-e", "-test", "-f", "{{.ImportPath}} {{join .Deps \" \"}}", pattern)
	cmd.Dir = "../.." // the module's root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %s: %v\n%s", pattern, err, stderr.String())
	}
	deps := map[string][]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 0 {
			deps[fields[0]] = fields[1:]
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(deps) == 0 {
		t.Fatalf("go list %s found no packages", pattern)
	}
	return deps
}
