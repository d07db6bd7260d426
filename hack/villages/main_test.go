package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
)

func load(t *testing.T) ([]wuxiaov1.Town, []wuxiaov1.Village) {
	t.Helper()
	dir := filepath.Join("..", "..", "config", "samples")
	towns, err := readDocs[wuxiaov1.Town](filepath.Join(dir, "towns.yaml"), "Town")
	if err != nil {
		t.Fatal(err)
	}
	villages, err := readDocs[wuxiaov1.Village](filepath.Join(dir, "villages.yaml"), "Village")
	if err != nil {
		t.Fatal(err)
	}
	return towns, villages
}

func TestGenerate(t *testing.T) {
	towns, samples := load(t)
	if len(towns) != 12 || len(samples) != 36 {
		t.Fatalf("samples changed: %d towns, %d villages", len(towns), len(samples))
	}
	tests := []struct {
		name  string
		total int
		// wantPerTown, when set, is the whole district's count per town.
		wantPerTown map[string]int
		wantErr     string
	}{
		{name: "Fenghua's 347", total: 347, wantPerTown: townTotals},
		{name: "just the samples", total: 36},
		{name: "a few more", total: 50},
		{name: "a larger district", total: 1000},
		{name: "fewer than the samples", total: 35, wantErr: "below the 36 sample villages"},
	}
	phoneRE := regexp.MustCompile(`^1[3-9][0-9]{9}$`)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := generate(towns, samples, tc.total)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			again, _ := generate(towns, samples, tc.total)
			if !bytes.Equal(out, again) {
				t.Fatal("output is not deterministic")
			}
			f := filepath.Join(t.TempDir(), "extra.yaml")
			if err := os.WriteFile(f, out, 0o644); err != nil {
				t.Fatal(err)
			}
			extra, err := readDocs[wuxiaov1.Village](f, "Village")
			if err != nil {
				t.Fatalf("output does not decode strictly: %v", err)
			}
			if got := len(samples) + len(extra); got != tc.total {
				t.Fatalf("%d samples + %d generated = %d, want %d", len(samples), len(extra), got, tc.total)
			}
			prefixOf := map[string]string{}
			for _, tw := range towns {
				prefixOf["town-"+tw.Name] = tw.Spec.Code[:9]
			}
			codes, names, phones := map[string]bool{}, map[string]bool{}, map[string]bool{}
			perTown := map[string]int{}
			for _, v := range samples {
				codes[v.Spec.Code] = true
				names[v.Namespace+"/"+v.Name] = true
				perTown[strings.TrimPrefix(v.Namespace, "town-")]++
			}
			for _, v := range extra {
				perTown[strings.TrimPrefix(v.Namespace, "town-")]++
				// What the CRD's validation rules require, and uniqueness.
				if !regexp.MustCompile(`^[0-9]{12}$`).MatchString(v.Spec.Code) || strings.HasSuffix(v.Spec.Code, "000") {
					t.Errorf("%s: bad code %q", v.Name, v.Spec.Code)
				}
				if p, ok := prefixOf[v.Namespace]; !ok || !strings.HasPrefix(v.Spec.Code, p) {
					t.Errorf("%s/%s: code %s does not start with its town's prefix %q", v.Namespace, v.Name, v.Spec.Code, p)
				}
				if codes[v.Spec.Code] || names[v.Namespace+"/"+v.Name] {
					t.Errorf("%s/%s (%s) duplicates another village", v.Namespace, v.Name, v.Spec.Code)
				}
				codes[v.Spec.Code], names[v.Namespace+"/"+v.Name] = true, true
				if v.Spec.Kind != wuxiaov1.VillageKindVillage || !strings.HasSuffix(v.Spec.DisplayName, "村") {
					t.Errorf("%s: kind %q, display name %q", v.Name, v.Spec.Kind, v.Spec.DisplayName)
				}
				if len(v.Spec.Officials) != 4 {
					t.Errorf("%s: %d officials, want 4", v.Name, len(v.Spec.Officials))
				}
				for _, o := range v.Spec.Officials {
					if !phoneRE.MatchString(o.Phone) || phones[o.Phone] || strings.HasPrefix(o.Phone, "1380000") {
						t.Errorf("%s/%s: phone %q invalid, reused or in the samples' range", v.Name, o.ID, o.Phone)
					}
					phones[o.Phone] = true
				}
			}
			if tc.wantPerTown != nil {
				for town, n := range tc.wantPerTown {
					if perTown[town] != n {
						t.Errorf("town %s: %d villages, want %d", town, perTown[town], n)
					}
				}
			}
		})
	}
}
