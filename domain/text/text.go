// Package text checks the free text people type into daihuo (names, titles,
// descriptions, chat), so every field refuses the same things with the same
// words: invalid UTF-8, control characters, empty or oversized values.
package text

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/daihuo/daihuo/domain/errs"
)

// Line trims s and checks it is one line of 1 to max characters: valid
// UTF-8 without control characters. Errors name field.
func Line(field, s string, max int) (string, error) {
	s = strings.TrimSpace(s)
	switch {
	case !utf8.ValidString(s):
		return "", errs.Invalid(field, "must be valid UTF-8")
	case s == "":
		return "", errs.Invalid(field, "must not be empty")
	case utf8.RuneCountInString(s) > max:
		return "", errs.Invalid(field, "must be at most %d characters", max)
	case strings.ContainsFunc(s, unicode.IsControl):
		return "", errs.Invalid(field, "must not contain control characters")
	}
	return s, nil
}

// Block trims s and checks it is text of at most max characters that may
// span lines: valid UTF-8 without control characters other than newlines and
// tabs. It may be empty unless required.
func Block(field, s string, max int, required bool) (string, error) {
	s = strings.TrimSpace(s)
	switch {
	case !utf8.ValidString(s):
		return "", errs.Invalid(field, "must be valid UTF-8")
	case required && s == "":
		return "", errs.Invalid(field, "must not be empty")
	case utf8.RuneCountInString(s) > max:
		return "", errs.Invalid(field, "must be at most %d characters", max)
	case strings.ContainsFunc(s, func(r rune) bool { return unicode.IsControl(r) && r != '\n' && r != '\r' && r != '\t' }):
		return "", errs.Invalid(field, "must not contain control characters other than newlines and tabs")
	}
	return s, nil
}
