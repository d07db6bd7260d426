package resources

import (
	"testing"

	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
)

// The console's address in delivered messages: the first staff host, with
// the portal's scheme, else the portal's origin.
func TestConsoleURL(t *testing.T) {
	for _, tc := range []struct {
		portal string
		staff  []wuxiaov1.GatewayHost
		want   string
	}{
		{"https://jiandu.fenghua.gov.cn", nil, "https://jiandu.fenghua.gov.cn"},
		{"https://jiandu.fenghua.gov.cn/", []wuxiaov1.GatewayHost{"ganbu.fenghua.gov.cn", "ganbu2.fenghua.gov.cn"}, "https://ganbu.fenghua.gov.cn"},
		{"http://127.0.0.1:8080", nil, "http://127.0.0.1:8080"},
	} {
		d := &wuxiaov1.District{Spec: wuxiaov1.DistrictSpec{PortalBaseURL: tc.portal, Gateway: wuxiaov1.GatewaySpec{StaffHosts: tc.staff}}}
		if got := ConsoleURL(d); got != tc.want {
			t.Errorf("ConsoleURL(%s, %v) = %q, want %q", tc.portal, tc.staff, got, tc.want)
		}
	}
}
