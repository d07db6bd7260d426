package complaint

import (
	"reflect"
	"testing"

	"github.com/wuxiao/wuxiao/services/internal/httpapi"
	"github.com/wuxiao/wuxiao/services/internal/httpapi/httpapitest"
)

// checkDecodeRequest: httpapitest.CheckDecodeRequest with this service's
// limitedAtDecoding.
func checkDecodeRequest(t *testing.T, body []byte, fresh func() any) (any, bool) {
	t.Helper()
	return httpapitest.CheckDecodeRequest(t, body, fresh, limitedAtDecoding)
}

// limitedAtDecoding: the staff's and the feedback's request types bound
// their text (httpapi.TextLimited); an intake is bounded by checkIntake.
func limitedAtDecoding(v any) bool {
	_, ok := v.(httpapi.TextLimited)
	return ok
}

var complaintRequests = []func() any{
	func() any { return new(intakeRequest) },
	func() any { return new(feedbackRequest) },
	func() any { return new(actionRequest) },
	func() any { return new(noteRequest) },
}

// FuzzDecodeRequests: see checkDecodeRequest; an intake checkIntake passes
// has no text beyond the limits either.
func FuzzDecodeRequests(f *testing.F) {
	for i, fresh := range complaintRequests {
		f.Add(uint8(i), httpapitest.LongSeed(fresh()))
	}
	for _, s := range []string{
		`{"category":"funds","description":"村里修路的钱去向不明，请核查。","attachments":[{"name":"a.jpg","contentType":"image/jpeg","size":10,"url":"https://example.org/a.jpg"}]}`,
		`{"secret":"abc","satisfied":true,"comment":"满意"}`,
		`{"action":"resolve","summary":"已查明","outcome":"substantiated"}`,
		`{"body":"已电话联系","public":true}`,
		`{"attachments":[{"stored":true}]}`, `{"outcome":"maybe"}`,
	} {
		for i := range complaintRequests {
			f.Add(uint8(i), []byte(s))
		}
	}
	f.Fuzz(func(t *testing.T, kind uint8, body []byte) {
		v, ok := checkDecodeRequest(t, body, complaintRequests[int(kind)%len(complaintRequests)])
		req, isIntake := v.(*intakeRequest)
		if !ok || !isIntake {
			return
		}
		for i := range req.Attachments {
			req.Attachments[i].Stored = false // as the handler does
		}
		in := Intake{Village: "330283100201", Category: req.Category, Description: req.Description, Attachments: req.Attachments}
		if errs := checkIntake(in); len(errs) > 0 {
			return
		}
		if p := httpapitest.UnlimitedText(reflect.ValueOf(in), "intake"); p != "" {
			t.Fatalf("checkIntake accepted %s of more than %d characters", p, httpapi.MaxReport)
		}
		if len(in.Attachments) > MaxAttachments {
			t.Fatalf("checkIntake accepted %d attachments", len(in.Attachments))
		}
	})
}
