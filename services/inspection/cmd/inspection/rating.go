package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/wuxiao/wuxiao/api/settings"
	"github.com/wuxiao/wuxiao/services/inspection"
	"github.com/wuxiao/wuxiao/services/internal/config"
)

// rating holds the rating-rules flags registered in main; zero (tests
// calling run) means the built-in rules.
var rating ratingFlags

// ratingFlags say where the town's rating rules come from: their content
// (what the operator sets, from a Town's or District's ratingRulesRef, so
// that a change of the rules rolls the pods) or a file (local runs).
type ratingFlags struct {
	rules     string
	rulesFile string
}

func (f *ratingFlags) register(base *config.Base) {
	env := base.Env()
	env.String(&f.rules, "rating-rules", settings.EnvRatingRules, "",
		"the rating rules themselves, YAML or JSON, overriding the built-in ones field by field (see services/inspection/README.md; default: the built-in rules)")
	env.String(&f.rulesFile, "rating-rules-file", settings.EnvRatingRulesFile, "",
		"a YAML or JSON file of rating rules, as --rating-rules but read from a file")
	base.AddCheck(func(p *config.Problems) {
		if f.rules != "" && f.rulesFile != "" {
			p.Addf("rating-rules-file", settings.EnvRatingRulesFile, "set either the rules or their file, not both (%s is set too)", settings.EnvRatingRules)
			return
		}
		if _, err := f.load(); err != nil {
			flag, envName := "rating-rules", settings.EnvRatingRules
			if f.rulesFile != "" {
				flag, envName = "rating-rules-file", settings.EnvRatingRulesFile
			}
			// One problem per field, so that each names what to fix.
			for _, line := range strings.Split(strings.TrimPrefix(err.Error(), "rules: "), "\n") {
				p.Addf(flag, envName, "%s", line)
			}
		}
	})
}

// load returns the configured rules, or the built-in ones when none are.
func (f *ratingFlags) load() (inspection.Rules, error) {
	data := []byte(f.rules)
	if f.rulesFile != "" {
		var err error
		if data, err = os.ReadFile(f.rulesFile); err != nil {
			return inspection.Rules{}, fmt.Errorf("reading the rating rules: %w", err)
		}
	}
	if strings.TrimSpace(string(data)) == "" {
		return inspection.DefaultRules(), nil
	}
	return inspection.LoadRules(data)
}
