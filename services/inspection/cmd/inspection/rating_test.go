package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/spf13/pflag"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	"github.com/wuxiao/wuxiao/services/inspection"
	"github.com/wuxiao/wuxiao/services/internal/config"
	"github.com/wuxiao/wuxiao/services/internal/testinfra"
)

// severeConflicts makes a conflict of interest cost 25 points: one drops a
// fresh village (100) from A to C (70-79). Listing the kind replaces it, so
// the other warnings are unrated under these rules.
const severeConflicts = `
kinds:
  warning:
    label: 违规预警
    subkinds:
      conflict-of-interest: {label: 利益冲突未回避, points: -25}
`

// The settings, as the binary binds them: the rules' content (what the
// operator sets) or a file; invalid rules fail start-up naming each field.
func TestRatingRulesSettings(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(file, []byte(severeConflicts), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name     string
		env      map[string]string
		problems []string // substrings, one per expected problem
		points   int      // of a conflict of interest, when valid
	}{
		{"built-in rules by default", nil, nil, -10},
		{"rules in the environment", map[string]string{"WUXIAO_RATING_RULES": severeConflicts}, nil, -25},
		{"rules in a file", map[string]string{"WUXIAO_RATING_RULES_FILE": file}, nil, -25},
		{"JSON is YAML", map[string]string{"WUXIAO_RATING_RULES": `{"start": 120, "grades": {"a": 110}}`}, nil, -10},
		{"every bad field named", map[string]string{"WUXIAO_RATING_RULES": "start: 0\ngrades: {a: 90, b: 95, c: 70}\n"}, []string{
			"--rating-rules / WUXIAO_RATING_RULES: start: must be positive",
			"--rating-rules / WUXIAO_RATING_RULES: grades.a: must be at most start",
			"--rating-rules / WUXIAO_RATING_RULES: grades.b: must be below grades.a",
		}, 0},
		{"a typo is not a silent default", map[string]string{"WUXIAO_RATING_RULES": "strat: 100\n"}, []string{
			`--rating-rules / WUXIAO_RATING_RULES: error unmarshaling JSON: while decoding JSON: json: unknown field "strat"`,
		}, 0},
		{"a missing file", map[string]string{"WUXIAO_RATING_RULES_FILE": filepath.Join(dir, "nope.yaml")}, []string{
			"--rating-rules-file / WUXIAO_RATING_RULES_FILE: reading the rating rules: open ",
		}, 0},
		{"not both", map[string]string{"WUXIAO_RATING_RULES": severeConflicts, "WUXIAO_RATING_RULES_FILE": file}, []string{
			"--rating-rules-file / WUXIAO_RATING_RULES_FILE: set either the rules or their file, not both",
		}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var b config.Base
			var f ratingFlags
			fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
			b.BindFlags(fs, func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok })
			f.register(&b)
			if err := fs.Parse(nil); err != nil {
				t.Fatal(err)
			}
			// The base settings are not set here: keep the rating problems.
			var got []string
			if ve := (*config.ValidationError)(nil); errors.As(b.Validate(), &ve) {
				for _, p := range ve.Problems {
					if strings.HasPrefix(p, "--rating-rules") {
						got = append(got, p)
					}
				}
			}
			if len(got) != len(tc.problems) {
				t.Fatalf("problems %q, want %d like %q", got, len(tc.problems), tc.problems)
			}
			for i, want := range tc.problems {
				if !strings.HasPrefix(got[i], want) {
					t.Errorf("problem %d = %q, want prefix %q", i, got[i], want)
				}
			}
			if len(tc.problems) > 0 {
				return
			}
			rules, err := f.load()
			if err != nil {
				t.Fatal(err)
			}
			if p := rules.Kinds[inspection.FactWarning].Subkinds["conflict-of-interest"].Points; p != tc.points {
				t.Errorf("conflict of interest worth %d, want %d", p, tc.points)
			}
		})
	}
}

// The configured rules are the ones the running service grades by: one
// conflict of interest worth -25 takes a fresh village from A to C (the
// built-in rules would leave it at 90, still A).
func TestRatingRulesChangeTheGrade(t *testing.T) {
	rating = ratingFlags{rules: severeConflicts}
	t.Cleanup(func() { rating = ratingFlags{} })
	town, brokers, baseURL := startService(t)
	village := "330213100202"

	tr := &kafka.Transport{}
	w := &kafka.Writer{Addr: kafka.TCP(brokers...), Topic: eventsv1.Topic(town, eventsv1.StreamWorkflow), Transport: tr,
		Balancer: &kafka.Murmur2Balancer{}, RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond}
	defer tr.CloseIdleConnections()
	defer w.Close()
	wctx, wcancel := context.WithTimeout(context.Background(), time.Minute)
	defer wcancel()
	for {
		err := w.WriteMessages(wctx, warning(t, town, village, time.Now().Add(-time.Minute)))
		if err == nil {
			break
		}
		if wctx.Err() != nil {
			t.Fatalf("writing the warning: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}

	token, _ := testinfra.KratosUser(t, "town-discipline", town, "")
	var got struct {
		Points int    `json:"points"`
		Grade  string `json:"grade"`
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		req, _ := http.NewRequest("GET", baseURL+"/v1/villages/"+village+"/rating", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Fatalf("rating: %d %s", res.StatusCode, raw)
		}
		if err := json.Unmarshal(raw, &got); err != nil {
			t.Fatal(err)
		}
		if got.Points != 100 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the warning was never rated: %s", raw)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if got.Points != 75 || got.Grade != "C" {
		t.Errorf("rating %d points, grade %s; want 75, C", got.Points, got.Grade)
	}
}
