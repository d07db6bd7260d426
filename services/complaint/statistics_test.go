package complaint

import (
	"testing"
	"time"
)

func TestSampleYearsStats(t *testing.T) {
	cs := SampleYears()
	s := Stats(cs)
	if s.ByYear[2017] != 259 || s.ByYear[2018] != 165 || s.ByYear[2019] != 153 || s.Total != 577 {
		t.Fatalf("by year %v", s.ByYear)
	}
	if len(s.ByVillage) != len(SampleVillages) || len(s.ByCategory) != len(Categories) || s.ByTown[SampleTown] != 577 {
		t.Fatalf("spread: villages %v categories %v", s.ByVillage, s.ByCategory)
	}
	for _, c := range cs {
		if !c.Illustrative {
			t.Fatal("sample not marked illustrative")
		}
	}
	again := Stats(SampleYears())
	if again.ByVillage[SampleVillages[3]] != s.ByVillage[SampleVillages[3]] || SampleYears()[100].FiledAt != cs[100].FiledAt {
		t.Fatal("SampleYears is not deterministic")
	}
}

func TestRecurring(t *testing.T) {
	mk := func(v string, cat Category, day int) *Complaint {
		return &Complaint{Town: testTown, Village: v, Category: cat, FiledAt: t0.Add(time.Duration(day) * 24 * time.Hour)}
	}
	cs := []*Complaint{
		mk(testVillage, CategorySubsidy, 0), mk(testVillage, CategorySubsidy, 10), mk(testVillage, CategorySubsidy, 25),
		mk(testVillage, CategorySubsidy, 200),
		mk(testVillage, CategoryFunds, 0), mk(testVillage, CategoryFunds, 100), mk(testVillage, CategoryFunds, 200),
		mk(otherVill, CategorySubsidy, 1), mk(otherVill, CategorySubsidy, 2),
	}
	got := Recurring(cs, 30*24*time.Hour, 3)
	if len(got) != 1 || got[0].Village != testVillage || got[0].Category != CategorySubsidy || got[0].Count != 3 {
		t.Fatalf("recurring %+v", got)
	}
	if got := Recurring(cs, 30*24*time.Hour, 2); len(got) != 2 {
		t.Fatalf("threshold 2: %+v", got)
	}
}
