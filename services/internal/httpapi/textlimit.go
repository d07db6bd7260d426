package httpapi

import (
	"fmt"
	"net/http"
	"unicode/utf8"
)

// Common limits of free-text fields, in characters (runes: Chinese text
// counts one per character). Every free-text field of a request needs one:
// an unlimited field lets one request make an event larger than Kafka takes.
const (
	MaxShortText = 200   // names, titles, counterparties, relations
	MaxLongText  = 4000  // descriptions, comments, reasons, notes
	MaxReport    = 10000 // a complaint's account
)

// TextLimit is one free-text field of a request and its maximum length.
type TextLimit struct {
	Field string // as the client names it (JSON member or form field)
	Value string
	Max   int // characters
}

// Limit is a TextLimit.
func Limit(field, value string, max int) TextLimit {
	return TextLimit{Field: field, Value: value, Max: max}
}

// TooLong checks the fields' lengths and returns one FieldError per field
// over its limit, naming the limit (for ValidationFailed, a 422).
func TooLong(limits ...TextLimit) []FieldError {
	var errs []FieldError
	for _, l := range limits {
		if len(l.Value) <= l.Max { // at most Max bytes is at most Max runes
			continue
		}
		if n := utf8.RuneCountInString(l.Value); n > l.Max {
			errs = append(errs, FieldError{Field: l.Field, Detail: TooLongDetail(l.Max, n)})
		}
	}
	return errs
}

// TooLongDetail says what is wrong with a field of n characters over max.
func TooLongDetail(max, n int) string {
	return fmt.Sprintf("at most %d characters (got %d)", max, n)
}

// TextLimited is a request type that names its free-text fields' limits:
// DecodeJSON checks them after decoding and answers 422 for any too long.
type TextLimited interface {
	TextLimits() []TextLimit
}

// CheckText answers 422 naming every field over its limit and returns
// false, or returns true when all fit (for values not decoded by
// DecodeJSON: forms, path values, anonymous request structs).
func CheckText(w http.ResponseWriter, r *http.Request, limits ...TextLimit) bool {
	if errs := TooLong(limits...); len(errs) > 0 {
		WriteProblem(w, r, ValidationFailed(errs...))
		return false
	}
	return true
}
