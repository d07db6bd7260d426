package workflow

import (
	"testing"

	"github.com/wuxiao/wuxiao/services/internal/httpapi/httpapitest"
)

// checkDecodeRequest: httpapitest.CheckDecodeRequest with this service's
// limitedAtDecoding.
func checkDecodeRequest(t *testing.T, body []byte, fresh func() any) (any, bool) {
	t.Helper()
	return httpapitest.CheckDecodeRequest(t, body, fresh, func(any) bool { return limitedAtDecoding })
}

// limitedAtDecoding: workflow's request types bound their text themselves
// (httpapi.TextLimited), so DecodeJSON refuses what is too long.
const limitedAtDecoding = true

// workflowRequests are the request types the workflow API decodes (its
// handlers' anonymous bodies check their own text after decoding).
var workflowRequests = []func() any{
	func() any { return new(StartRequest) },
	func() any { return new(CompleteRequest) },
	func() any { return new(EvidenceRequest) },
}

// FuzzDecodeRequests: see checkDecodeRequest; accepted evidence is also
// validated as the handler does (never a panic).
func FuzzDecodeRequests(f *testing.F) {
	for i, fresh := range workflowRequests {
		f.Add(uint8(i), httpapitest.LongSeed(fresh()))
	}
	for _, s := range []string{
		`{"itemId":"funds-expenditure","title":"修路","amountFen":120000,"payeeName":"张三","payeeIdNumber":"330283199001011238"}`,
		`{"next":"review","note":"同意","outOfOrder":true,"reason":"急"}`,
		`{"stepId":"s1","kind":"link","name":"合同","url":"https://example.org/a.pdf","sha256":"AB","size":-1}`,
		`{"amountFen":1e400}`, `{"title":"\ud800"}`, `{"itemId":null}`, `{"size":9223372036854775808}`,
	} {
		f.Add(uint8(0), []byte(s))
		f.Add(uint8(1), []byte(s))
		f.Add(uint8(2), []byte(s))
	}
	f.Fuzz(func(t *testing.T, kind uint8, body []byte) {
		v, ok := checkDecodeRequest(t, body, workflowRequests[int(kind)%len(workflowRequests)])
		if ok {
			if ev, isEv := v.(*EvidenceRequest); isEv {
				_ = ev.validate()
			}
			if st, isSt := v.(*StartRequest); isSt && st.PayeeIDNumber != "" && st.PayeeIDNumber != "(hashed)" && st.redacted().PayeeIDNumber == st.PayeeIDNumber {
				t.Fatalf("redacted start request keeps the payee's ID number %q", st.PayeeIDNumber)
			}
		}
	})
}
