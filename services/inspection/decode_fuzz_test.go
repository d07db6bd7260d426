package inspection

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

// limitedAtDecoding: the request types that bound their free text
// themselves (httpapi.TextLimited); the integrity file's handlers check
// the others' text after decoding.
func limitedAtDecoding(v any) bool {
	_, ok := v.(httpapi.TextLimited)
	return ok
}

var inspectionRequests = []func() any{
	func() any { return new(FindingInput) },
	func() any { return new(TaskAction) },
	func() any { return new(OrderRequest) },
	func() any { return new(TourInput) },
	func() any { return new(DeceasedPerson) },
	func() any { return new(CreateFileRequest) },
	func() any { return new(WriteSectionRequest) },
	func() any { return new(AddRelativeRequest) },
	func() any { return new(SelectionCheckRequest) },
}

// FuzzDecodeRequests: see checkDecodeRequest.
func FuzzDecodeRequests(f *testing.F) {
	for i, fresh := range inspectionRequests {
		f.Add(uint8(i), httpapitest.LongSeed(fresh()))
	}
	for _, s := range []string{
		`{"village":"330283100201","severity":"major","description":"账目不清","deadline":"2026-06-30"}`,
		`{"colour":"red","village":"330283100201","issuedAt":"2026-03-02T10:00:00Z"}`,
		`{"sections":[{"name":"x"}],"relatives":[]}`,
		`{"idNumber":"330283199001011238","diedOn":"2025-01-01"}`,
		`{"deadline":"not a date"}`, `{"at":"2026-13-01T00:00:00Z"}`, `[]`,
	} {
		for i := range inspectionRequests {
			f.Add(uint8(i), []byte(s))
		}
	}
	f.Fuzz(func(t *testing.T, kind uint8, body []byte) {
		v, ok := checkDecodeRequest(t, body, inspectionRequests[int(kind)%len(inspectionRequests)])
		// A section's content is checked by its own Validate, for any section.
		if ws, isWS := v.(*WriteSectionRequest); ok && isWS {
			for _, st := range SectionTitles {
				if errs := ws.Content.Validate(st.Section); len(errs) == 0 {
					if p := httpapitest.UnlimitedText(reflect.ValueOf(ws.Content), "content"); p != "" {
						t.Fatalf("section %s accepted %s of more than %d characters", st.Section, p, httpapi.MaxReport)
					}
				}
			}
		}
	})
}
