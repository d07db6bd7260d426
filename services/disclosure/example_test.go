package disclosure_test

import (
	"fmt"

	"github.com/wuxiao/wuxiao/services/disclosure"
)

func ExampleFormatYuan() {
	fmt.Println(disclosure.FormatYuan(123456), disclosure.FormatYuan(-30000))
	// Output: 1234.56 -300.00
}
