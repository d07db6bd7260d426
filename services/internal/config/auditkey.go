package config

import (
	"encoding/hex"
	"strings"

	"github.com/wuxiao/wuxiao/api/settings"
)

// EnvAuditKey is the town's audit key (hex, 32 bytes), provisioned by the
// operator for the workflow service, which keys its audit chain with it,
// and the inspection service, which verifies the chain.
const EnvAuditKey = settings.EnvAuditKey

// AuditKeySize is the length of the audit key in bytes.
const AuditKeySize = 32

// BindAuditKey registers --audit-key / WUXIAO_AUDIT_KEY, required, and
// returns where Validate leaves the decoded key: a missing key, or one that
// is not 64 hex digits, is a configuration problem (the service does not
// start), never an unkeyed audit trail. The migrate-only mode needs none.
func (b *Base) BindAuditKey() *[]byte {
	var raw string
	key := new([]byte)
	b.env.String(&raw, "audit-key", EnvAuditKey, "",
		"the town's audit key, 64 hex digits (32 bytes, e.g. from `openssl rand -hex 32`), keying the audit chain; the same in workflow and inspection")
	b.AddCheck(func(p *Problems) {
		if b.MigrateOnly { // the init container does not use it
			return
		}
		k, err := hex.DecodeString(strings.TrimSpace(raw))
		switch {
		case raw == "":
			p.Addf("audit-key", EnvAuditKey, "required: the town's audit key, 64 hex digits (e.g. from `openssl rand -hex 32`)")
		case err != nil || len(k) != AuditKeySize:
			p.Addf("audit-key", EnvAuditKey, "must be 64 hex digits (32 bytes, e.g. from `openssl rand -hex 32`)")
		default:
			*key = k
		}
	})
	return key
}
