package complaint

// Objections (异议) to a posting on a village's notice board (公示栏).
// The disclosure portal's 公示栏 links each current posting to this
// service's report page as /r/{village}?posting=<posting id>; the page
// says that the report is an objection to that posting and sends the id
// with the form. So an objection goes through everything a report goes
// through — the abuse guard (rate limits, flood proof of work), the
// intake's validation, anonymity by default, the reporter seen by
// discipline staff only — and is routed like any complaint: the village's
// liaison officer (村务监督委员会) and the town's discipline office handle
// it, and the villager gets its tracking code. The disclosure service
// never sees who objects. The complaint keeps the posting id (doc
// postingId, column posting_id, and ComplaintFiled.postingId); the JSON
// intake takes it as "posting".

import (
	"net/http"
	"strings"

	"github.com/google/uuid"
)

// ValidPostingID: a posting id is the workflow's UUID.
func ValidPostingID(s string) bool {
	u, err := uuid.Parse(s)
	return err == nil && len(s) == 36 && u != uuid.Nil
}

// postingParam is the posting a report page link names, "" when none or
// malformed (the page is then an ordinary report page; nothing malformed
// is shown back).
func postingParam(r *http.Request) string {
	p := strings.ToLower(strings.TrimSpace(r.URL.Query().Get("posting")))
	if !ValidPostingID(p) {
		return ""
	}
	return p
}

// IsObjection reports whether c is an objection to a notice-board posting.
func (c *Complaint) IsObjection() bool { return c.PostingID != "" }
