package complaint

import (
	"strings"
	"testing"
)

func TestIntakeValidation(t *testing.T) {
	good := Attachment{Name: "a.jpg", ContentType: "image/jpeg", Size: 1000, SHA256: strings.Repeat("ab", 32), URL: "https://f/a.jpg"}
	for _, tc := range []struct {
		name string
		in   Intake
		ok   bool
	}{
		{"ok", Intake{Village: testVillage, Category: CategorySubsidy, Description: "今年的补贴没有发到每一户", Attachments: []Attachment{good}}, true},
		{"bad village", Intake{Village: "123", Category: CategorySubsidy, Description: "今年的补贴没有发到每一户"}, false},
		{"bad category", Intake{Village: testVillage, Category: "other", Description: "今年的补贴没有发到每一户"}, false},
		{"short", Intake{Village: testVillage, Category: CategorySubsidy, Description: "短"}, false},
		{"too big", Intake{Village: testVillage, Category: CategorySubsidy, Description: "今年的补贴没有发到每一户", Attachments: []Attachment{{Name: "v.jpg", ContentType: "image/jpeg", Size: MaxAttachmentSize + 1, SHA256: good.SHA256, URL: good.URL}}}, false},
		{"bad type", Intake{Village: testVillage, Category: CategorySubsidy, Description: "今年的补贴没有发到每一户", Attachments: []Attachment{{Name: "x.exe", ContentType: "application/x-msdownload", Size: 10, SHA256: good.SHA256, URL: good.URL}}}, false},
		{"too many", Intake{Village: testVillage, Category: CategorySubsidy, Description: "今年的补贴没有发到每一户", Attachments: []Attachment{good, good, good, good, good, good}}, false},
	} {
		err := tc.in.Validate()
		if (err == nil) != tc.ok {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}
