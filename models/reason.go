package models

import (
	"errors"
	"strings"
	"unicode"
	"unicode/utf8"
)

// CheckReason checks that s reads as a sentence: at least min characters
// once trimmed, at most 2,000, at least three words with letters in them,
// and not one word repeated. It guards the reasons customers and auditors
// read later, so "asdf asdf asdf" or "......................" do not pass.
func CheckReason(s string, min int) error {
	s = strings.TrimSpace(s)
	n := len([]rune(s))
	switch {
	case n < min:
		return errors.Join(ErrWeakReason, errors.New("too short"))
	case n > 2000:
		return errors.Join(ErrWeakReason, errors.New("longer than 2,000 characters"))
	}
	for _, r := range s {
		if r == '\n' || r == '\r' || r == '\t' {
			continue
		}
		if unicode.Is(unicode.Cc, r) || unicode.Is(unicode.Cf, r) || r == utf8.RuneError {
			// Control and format characters (NUL, bidi overrides,
			// zero-width marks) can make a reason read differently from
			// what it says.
			return errors.Join(ErrWeakReason, errors.New("contains control or formatting characters"))
		}
	}
	distinct := map[string]bool{}
	words := 0
	for _, w := range strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
		if strings.IndexFunc(w, unicode.IsLetter) < 0 {
			continue
		}
		words++
		distinct[w] = true
	}
	if words < 3 || len(distinct) < 3 {
		return errors.Join(ErrWeakReason, errors.New("not a sentence"))
	}
	return nil
}
