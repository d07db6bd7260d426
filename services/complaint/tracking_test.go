package complaint

import (
	"context"
	"strings"
	"testing"
)

func TestNewTrackingCode(t *testing.T) {
	tests := []struct {
		village, prefix string
	}{
		{"330213100201", "TS-100-"},
		{"330213001007", "TS-001-"},
		{"330213999999", "TS-999-"},
		{"33021310020", "TS-"},  // not a village code: no town part
		{"33021310020x", "TS-"}, // not digits
		{"", "TS-"},
	}
	for _, tc := range tests {
		t.Run(tc.village, func(t *testing.T) {
			seen := map[string]bool{}
			for range 100 {
				code := NewTrackingCode(tc.village)
				if !strings.HasPrefix(code, tc.prefix) || !ValidTrackingCode(code) || seen[code] {
					t.Fatalf("NewTrackingCode(%q) = %q: want a valid, fresh code starting %q", tc.village, code, tc.prefix)
				}
				if tc.prefix == "TS-" && len(code) != len("TS-XXXX-XXXX") {
					t.Fatalf("NewTrackingCode(%q) = %q: want the form without a town part", tc.village, code)
				}
				seen[code] = true
			}
		})
	}
}

func TestValidTrackingCode(t *testing.T) {
	tests := []struct {
		code string
		ok   bool
	}{
		{"TS-100-ABCD-2345", true},
		{"TS-001-ZZZZ-9999", true},
		{"TS-ABCD-2345", true}, // issued before codes named their town
		{"TS-10-ABCD-2345", false},
		{"TS-1000-ABCD-2345", false},
		{"TS-100-ABCD-2341", false}, // 1 is not in the alphabet
		{"TS-100-abcd-2345", false},
		{"TS-10A-ABCD-2345", false},
		{"ts-100-ABCD-2345", false},
		{"TS-100-ABCD-2345 ", false},
		{"", false},
	}
	for _, tc := range tests {
		if got := ValidTrackingCode(tc.code); got != tc.ok {
			t.Errorf("ValidTrackingCode(%q) = %v, want %v", tc.code, got, tc.ok)
		}
	}
}

// A filed complaint's code names its village's town, and a complaint filed
// before codes did (its code stored as it was) is still tracked and takes
// feedback: the database accepts both forms.
func TestTrackingCodeNamesTheTown(t *testing.T) {
	ctx := context.Background()
	s, _ := newService(t)
	rc, err := s.File(ctx, Intake{Village: testVillage, Category: CategoryFunds, Description: "村集体资金使用情况不公开"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := "TS-" + testVillage[6:9] + "-"; !strings.HasPrefix(rc.TrackingCode, want) {
		t.Fatalf("tracking code %q does not start with %q", rc.TrackingCode, want)
	}
	if pv, err := s.Track(ctx, rc.TrackingCode); err != nil || pv.TrackingCode != rc.TrackingCode {
		t.Fatalf("Track(new code) = %+v, %v", pv, err)
	}

	old, err := s.File(ctx, Intake{Village: testVillage, Category: CategoryProject, Description: "村道工程偷工减料，路面已开裂"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	const oldCode = "TS-ABCD-2345"
	if _, err := s.Pool.Exec(ctx, `UPDATE complaints SET tracking_code = $1, doc = jsonb_set(doc, '{trackingCode}', to_jsonb($1::text)) WHERE id = $2`, oldCode, old.ID); err != nil {
		t.Fatalf("a code of the old form is refused by the database: %v", err)
	}
	if pv, err := s.Track(ctx, oldCode); err != nil || pv.TrackingCode != oldCode || pv.Category != CategoryProject {
		t.Fatalf("Track(old code) = %+v, %v", pv, err)
	}
	if _, err := s.Pool.Exec(ctx, `UPDATE complaints SET tracking_code = 'TS-10-ABCD-2345' WHERE id = $1`, old.ID); err == nil {
		t.Fatal("the database accepts a malformed tracking code")
	}
}

func TestTrackingCodeAndSecret(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 200; i++ {
		code := NewTrackingCode(testVillage)
		if !ValidTrackingCode(code) || seen[code] {
			t.Fatalf("bad or repeated code %q", code)
		}
		seen[code] = true
	}
	secret, hash := NewSecret()
	if strings.Contains(hash, secret) || len(hash) != 64 {
		t.Fatalf("hash %q", hash)
	}
	if !CheckSecret(hash, secret) || !CheckSecret(hash, " "+strings.ToLower(secret)+" ") {
		t.Fatal("the right secret is refused")
	}
	if CheckSecret(hash, secret+"X") || CheckSecret("", "") {
		t.Fatal("a wrong secret is accepted")
	}
}
