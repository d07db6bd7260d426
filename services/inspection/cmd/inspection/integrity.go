package main

import (
	"log/slog"

	"github.com/wuxiao/wuxiao/api/settings"
	"github.com/wuxiao/wuxiao/services/inspection"
	"github.com/wuxiao/wuxiao/services/internal/config"
)

// integrity holds the flags registered in main; zero (tests calling run)
// means no hash key, the default negative list and no PDFs.
var integrity integrityFlags

// integrityFlags are the settings of integrity files, selection checks,
// cross-checks and PDF notices.
type integrityFlags struct {
	idHashKey        string
	negativeListFile string
	noticeFont       string
	noticeFontIndex  int64
}

func (f *integrityFlags) register(base *config.Base) {
	env := base.Env()
	env.String(&f.idHashKey, "id-hash-key", settings.EnvIDHashKey, "",
		"the town's secret key for hashing ID numbers (relatives, deceased persons), the same as the disclosure service's so that payees are matched; at least 32 characters (empty: relatives and deceased persons cannot be recorded)")
	env.String(&f.negativeListFile, "negative-list-file", "WUXIAO_NEGATIVE_LIST_FILE", "",
		"YAML or JSON file of the selection check's negative list (default: an illustrative 15-indicator list)")
	env.String(&f.noticeFont, "notice-font", "WUXIAO_NOTICE_FONT", inspection.DefaultNoticeFontPath,
		"TrueType CJK font (.ttf or .ttc) for PDF notices, installed by hack/fonts.sh (empty: no PDFs)")
	env.Int64(&f.noticeFontIndex, "notice-font-index", "WUXIAO_NOTICE_FONT_INDEX", 0, "face of the font collection to use (0 is simplified Chinese in uming.ttc)")
	base.AddCheck(func(p *config.Problems) {
		if f.idHashKey != "" && len(f.idHashKey) < 32 {
			p.Addf("id-hash-key", settings.EnvIDHashKey, "must be a secret of at least 32 characters (e.g. from `openssl rand -hex 32`)")
		}
		if f.negativeListFile != "" {
			if _, err := inspection.LoadNegativeListFile(f.negativeListFile); err != nil {
				p.Addf("negative-list-file", "WUXIAO_NEGATIVE_LIST_FILE", "%v", err)
			}
		}
	})
}

// config builds the service's IntegrityConfig. A missing font only disables
// PDFs (the HTML notices remain), with a warning saying how to fix it.
func (f *integrityFlags) config(log *slog.Logger) (inspection.IntegrityConfig, error) {
	c := inspection.IntegrityConfig{IDHashKey: []byte(f.idHashKey)}
	if f.idHashKey == "" {
		log.Warn("no --id-hash-key: relatives and deceased persons cannot be recorded, cross-checks find nothing")
	}
	if f.negativeListFile != "" {
		l, err := inspection.LoadNegativeListFile(f.negativeListFile)
		if err != nil {
			return c, err
		}
		c.NegativeList = &l
	}
	if f.noticeFont != "" {
		font, err := inspection.LoadNoticeFont(f.noticeFont, int(f.noticeFontIndex))
		if err != nil {
			log.Warn("PDF notices disabled", "error", err)
		} else {
			c.NoticeFont = font
		}
	}
	return c, nil
}
