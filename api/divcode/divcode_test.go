package divcode

import "testing"

func TestValid(t *testing.T) {
	for _, tc := range []struct {
		code string
		want bool
	}{
		{"330213100201", true},
		{"330213100000", true},
		{"33021310020", false},
		{"3302131002011", false},
		{"33021310020x", false},
		{"３３０２１３１００２０１", false}, // full-width digits
		{"", false},
		{"-30213100201", false},
	} {
		if got := Valid(tc.code); got != tc.want {
			t.Errorf("Valid(%q) = %v, want %v", tc.code, got, tc.want)
		}
	}
}

func TestInTown(t *testing.T) {
	for _, tc := range []struct {
		village, town string
		want          bool
	}{
		{"330213100201", "330213100000", true},
		{"330213101201", "330213100000", false},
		{"330213100201", "", false},
		{"33021310020", "330213100000", false},
		{"", "", false},
	} {
		if got := InTown(tc.village, tc.town); got != tc.want {
			t.Errorf("InTown(%q, %q) = %v, want %v", tc.village, tc.town, got, tc.want)
		}
		if TownPrefix(tc.village) != "" && TownPrefix(tc.village) != tc.village[:9] {
			t.Errorf("TownPrefix(%q) = %q", tc.village, TownPrefix(tc.village))
		}
	}
}
