package inspection

import (
	"errors"
	"strings"
)

// IssuerConfig is the notices' and orders' configuration for the
// commissions that sign them and the prefix of their numbers (District and
// Town spec.discipline, handed over by the operator): the district's
// commission heads and signs first, the town's (empty: the town's name
// followed by 纪委) second; the prefix is followed by 预, 整 or 督 and the
// year: 奉纪预〔2026〕3号. An empty district or prefix keeps the default
// (DefaultNoticeConfig's, for a service run without the operator);
// deadlines keep theirs.
func IssuerConfig(district, town, prefix string) (NoticeConfig, OrderConfig, error) {
	district, town, prefix = strings.TrimSpace(district), strings.TrimSpace(town), strings.TrimSpace(prefix)
	n, o := DefaultNoticeConfig(), DefaultOrderConfig()
	if district != "" {
		n.District = district
	}
	if prefix == "" {
		prefix = strings.TrimSuffix(n.WarningPrefix, "预")
	}
	n.TownIssuer = town
	n.WarningPrefix, n.RectificationPrefix, o.Prefix = prefix+"预", prefix+"整", prefix+"督"
	var errs []error
	if strings.ContainsAny(prefix, "〔〕0123456789") {
		errs = append(errs, fieldErr("documentPrefix", "%q would be misread in a number such as %s: no digits or 〔〕", prefix, DocNumber(prefix+"预", 2026, 1)))
	}
	if err := n.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := o.Validate(); err != nil {
		errs = append(errs, err)
	}
	return n, o, errors.Join(errs...)
}
