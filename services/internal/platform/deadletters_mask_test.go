package platform

import (
	"encoding/json"
	"slices"
	"testing"
)

// show masks personal data by field name whatever the event type: the
// fields events really carry (api/events/v1) stay readable, what would
// identify a reporter or a payee does not.
func TestMaskPersonal(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
		masked         []string
	}{
		{"workflow completion: payee named, title with a phone number",
			`{"instanceId":"i-1","trackingNumber":"TN-2020-1","itemName":"低保申请","payeeName":"欧阳小锋","title":"联系 13812345678","amountFen":5}`,
			`{"amountFen":5,"instanceId":"i-1","itemName":"低保申请","payeeName":"欧**锋","title":"联系 138****5678","trackingNumber":"TN-2020-1"}`,
			[]string{"data.payeeName", "data.title"}},
		{"subsidy: already masked and hashed fields as they are",
			`{"payeeNameMasked":"张*","payeeIdHash":"ab12","programme":"农机补贴"}`,
			`{"payeeIdHash":"ab12","payeeNameMasked":"张*","programme":"农机补贴"}`, nil},
		{"tenant: a village's name is not a person's",
			`{"code":"330283101201","name":"岩头村","roles":["secretary"],"portalURL":"https://p.example.cn/v/1"}`,
			`{"code":"330283101201","name":"岩头村","portalURL":"https://p.example.cn/v/1","roles":["secretary"]}`, nil},
		{"a complaint carrying what it must not: reporter and tracking code withheld",
			`{"complaintId":"c-1","category":"funds","reporter":{"name":"李四","phone":"13900000000"},"trackingCode":"K7Q2-ZZ","reason":"身份证 330283199001011238 有误"}`,
			`{"category":"funds","complaintId":"c-1","reason":"身份证 330283********1238 有误","reporter":"[withheld]","trackingCode":"[withheld]"}`,
			[]string{"data.reason", "data.reporter", "data.trackingCode"}},
		{"nested officials: names, phones and ID numbers",
			`{"officials":[{"officialName":"王五","mobile":"+86 139 0000 1111","idNumber":"330283199001011238","role":"secretary"}]}`,
			`{"officials":[{"idNumber":"330283********1238","mobile":"139****1111","officialName":"王*","role":"secretary"}]}`,
			[]string{"data.officials[0].idNumber", "data.officials[0].mobile", "data.officials[0].officialName"}},
		{"empty and null values stay", `{"reporterContact":"","payeeName":null,"reason":""}`, `{"payeeName":null,"reason":"","reporterContact":""}`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var v any
			if err := json.Unmarshal([]byte(tc.in), &v); err != nil {
				t.Fatal(err)
			}
			var masked []string
			out, _ := json.Marshal(maskPersonal(v, "data", &masked))
			slices.Sort(masked)
			if string(out) != tc.want {
				t.Errorf("got  %s\nwant %s", out, tc.want)
			}
			if !slices.Equal(masked, tc.masked) {
				t.Errorf("masked %v, want %v", masked, tc.masked)
			}
		})
	}
}
