package disclosure

import "testing"

func TestLooksLikePersonNameAndMaskCounterparty(t *testing.T) {
	for _, tc := range []struct {
		in     string
		person bool
		masked string
	}{
		{"张小明", true, "张*明"},
		{"欧阳小锋", true, "欧**锋"},
		{"阿依古丽·买买提", true, "阿******提"},
		{"John Smith", true, "J***"},
		{"王", true, "*"},
		{"宁波市奉化区某某建筑工程有限公司", false, "宁波市奉化区某某建筑工程有限公司"},
		{"溪口镇农业服务中心", false, "溪口镇农业服务中心"},
		{"村股份经济合作社", false, "村股份经济合作社"},
		{"农业银行", false, "农业银行"},
		{"王记饭店", false, "王记饭店"},
		{"李家小店", false, "李家小店"},
		{"ABC Trading Co. Ltd", false, "ABC Trading Co. Ltd"},
		{"张*明", false, "张*明"},
		{"  ", false, ""},
		{"", false, ""},
		{"12345", false, "12345"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			if got := LooksLikePersonName(tc.in); got != tc.person {
				t.Errorf("LooksLikePersonName(%q) = %v, want %v", tc.in, got, tc.person)
			}
			if got := MaskCounterparty(tc.in); got != tc.masked {
				t.Errorf("MaskCounterparty(%q) = %q, want %q", tc.in, got, tc.masked)
			}
		})
	}
}
