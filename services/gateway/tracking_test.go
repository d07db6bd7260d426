package gateway

import (
	"testing"

	"github.com/wuxiao/wuxiao/services/complaint"
)

func TestParseTrackingCode(t *testing.T) {
	tests := []struct {
		code string
		kind trackingKind
		part string
	}{
		{"TS-100-ABCD-EFGH", codeWithTown, "100"},
		{"TS-001-2345-6789", codeWithTown, "001"},
		{"TS-ABCD-EFGH", codeOld, ""},
		{"TS-2345-6789", codeOld, ""},
		{"TS-10-ABCD-EFGH", codeInvalid, ""},
		{"TS-1000-ABCD-EFGH", codeInvalid, ""},
		{"TS-10A-ABCD-EFGH", codeInvalid, ""},
		{"TS-100-ABCD-EFG1", codeInvalid, ""}, // 1 is not in the alphabet
		{"TS-100-ABCO-EFGH", codeInvalid, ""}, // nor O
		{"TS-100-abcd-EFGH", codeInvalid, ""},
		{"TS-100-ABCD-EFGH-", codeInvalid, ""},
		{"TS-ABCD", codeInvalid, ""},
		{"XX-100-ABCD-EFGH", codeInvalid, ""},
		{"", codeInvalid, ""},
	}
	for _, tc := range tests {
		kind, part := parseTrackingCode(tc.code)
		if kind != tc.kind || part != tc.part {
			t.Errorf("parseTrackingCode(%q) = %v, %q; want %v, %q", tc.code, kind, part, tc.kind, tc.part)
		}
	}
}

// The gateway reads the codes the complaint service makes: the town part
// of a new code is its village's town, and whatever the complaint service
// accepts, the gateway routes.
func TestTrackingCodesOfTheComplaintService(t *testing.T) {
	b := NewStaticBackends()
	for _, tw := range []Town{{Name: "xikou", Code: "330213100000"}, {Name: "jinping", Code: "330213001000"}} {
		if err := b.AddTown(tw, nil); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct{ village, town string }{{"330213100201", "xikou"}, {"330213001007", "jinping"}} {
		for range 50 {
			code := complaint.NewTrackingCode(tc.village)
			if !complaint.ValidTrackingCode(code) {
				t.Fatalf("complaint made an invalid code %q", code)
			}
			towns, fanOut := trackingTowns(b, code)
			if fanOut || len(towns) != 1 || towns[0].Name != tc.town {
				t.Fatalf("code %q of a village of %s goes to %v (fan-out %v)", code, tc.town, towns, fanOut)
			}
		}
	}
	old := "TS-ABCD-EFGH"
	if !complaint.ValidTrackingCode(old) {
		t.Fatalf("the complaint service no longer accepts old codes like %q", old)
	}
	if towns, fanOut := trackingTowns(b, old); !fanOut || len(towns) != 2 {
		t.Fatalf("an old code goes to %v (fan-out %v), want every town", towns, fanOut)
	}
}
