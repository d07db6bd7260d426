// Package divcode validates the 12-digit administrative division codes
// (统计用区划代码) that name towns and villages everywhere: 6 digits of the
// county, 3 of the town, 3 of the village (a town's own code ends in 000).
package divcode

// Valid reports whether code is 12 ASCII digits.
func Valid(code string) bool {
	if len(code) != 12 {
		return false
	}
	for i := range len(code) {
		if code[i] < '0' || code[i] > '9' {
			return false
		}
	}
	return true
}

// TownPrefix is the first 9 digits of a valid code, those its town's code
// shares; "" for an invalid code.
func TownPrefix(code string) string {
	if !Valid(code) {
		return ""
	}
	return code[:9]
}

// InTown reports whether village is a valid code of the town whose code
// is town.
func InTown(village, town string) bool {
	p := TownPrefix(village)
	return p != "" && p == TownPrefix(town)
}
