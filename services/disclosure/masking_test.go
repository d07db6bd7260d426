package disclosure

import "testing"

func TestMaskCounterparty(t *testing.T) {
	for _, tc := range []struct{ in, masked string }{
		{"张小明", "张*明"},
		{"欧阳小锋", "欧**锋"},
		{"阿依古丽·买买提", "阿******提"},
		{"John Smith", "J***"},
		{"王", "*"},
		{"宁波市奉化区某某建筑工程有限公司", "宁波市奉化区某某建筑工程有限公司"},
		{"溪口镇农业服务中心", "溪口镇农业服务中心"},
		{"村股份经济合作社", "村股份经济合作社"},
		{"农业银行", "农业银行"},
		{"王记饭店", "王记饭店"},
		{"李家小店", "李家小店"},
		{"ABC Trading Co. Ltd", "ABC Trading Co. Ltd"},
		{"张*明", "张*明"},
		{"  ", ""},
		{"", ""},
		// Annotated names fail closed (they used to pass unmasked).
		{"张小明（代收）", "张*明"},
		{"张小明(村民)", "张*明"},
		{"12345", "1***5"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			if got := MaskCounterparty(tc.in); got != tc.masked {
				t.Errorf("MaskCounterparty(%q) = %q, want %q", tc.in, got, tc.masked)
			}
		})
	}
}
