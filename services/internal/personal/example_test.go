package personal_test

import (
	"fmt"

	"github.com/wuxiao/wuxiao/services/internal/personal"
)

func ExampleMaskName() {
	for _, name := range []string{"张明", "张小明", "欧阳小锋", "阿依古丽·买买提", "John Smith"} {
		fmt.Println(personal.MaskName(name))
	}
	// Output:
	// 张*
	// 张*明
	// 欧**锋
	// 阿******提
	// J***
}

func ExampleMaskIDNumber() {
	fmt.Println(personal.MaskIDNumber("330283199001011238"))
	fmt.Println(personal.MaskIDNumber("330283900101123"))
	fmt.Println(personal.ValidIDNumber("330283199001011238"), personal.ValidIDNumber("330283199001011237"))
	// Output:
	// 330283********1238
	// 330283******123
	// true false
}
