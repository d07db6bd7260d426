package disclosure_test

import (
	"fmt"

	"github.com/wuxiao/wuxiao/services/disclosure"
)

func ExampleMaskName() {
	for _, name := range []string{"张明", "张小明", "欧阳小锋", "阿依古丽·买买提", "John Smith"} {
		fmt.Println(disclosure.MaskName(name))
	}
	// Output:
	// 张*
	// 张*明
	// 欧**锋
	// 阿******提
	// J***
}

func ExampleMaskIDNumber() {
	fmt.Println(disclosure.MaskIDNumber("330283199001011238"))
	fmt.Println(disclosure.MaskIDNumber("330283900101123"))
	fmt.Println(disclosure.ValidIDNumber("330283199001011238"), disclosure.ValidIDNumber("330283199001011237"))
	// Output:
	// 330283********1238
	// 330283******123
	// true false
}

func ExampleFormatYuan() {
	fmt.Println(disclosure.FormatYuan(123456), disclosure.FormatYuan(-30000))
	// Output: 1234.56 -300.00
}
