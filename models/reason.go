package models

import (
	"errors"
	"strings"
	"unicode"
	"unicode/utf8"
)

// noteMax is the longest note or reason, in characters: room for a
// paragraph, not for a pasted log.
const noteMax = 2000

// What CheckNote and CheckReason find wrong, joined to ErrWeakReason so
// noteMessage can name the problem the writer cannot see.
var (
	errTooLong = errors.New("longer than 2,000 characters")
	errHidden  = errors.New("contains control or formatting characters")
)

// CheckReason checks that s reads as a sentence: at least min characters
// once trimmed, at most 2,000, at least three words with letters in them,
// and not one word repeated. It guards the reasons customers and auditors
// read later, so "asdf asdf asdf" or "......................" do not pass.
func CheckReason(s string, min int) error {
	s = strings.TrimSpace(s)
	if err := checkText(s, min); err != nil {
		return err
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

// CheckNote checks free text that need not read as a sentence (a
// decision's "Looks right.", a suspension's reason): at least min
// characters once trimmed, at most 2,000, and no control, bidi or
// zero-width characters. With min 0 the note is optional and "" passes.
func CheckNote(s string, min int) error {
	s = strings.TrimSpace(s)
	if s == "" && min <= 0 {
		return nil
	}
	return checkText(s, min)
}

// checkText is what every note and reason must be: between min and
// noteMax characters, without characters that hide or reorder text.
func checkText(s string, min int) error {
	n := utf8.RuneCountInString(s)
	switch {
	case n < min:
		return errors.Join(ErrWeakReason, errors.New("too short"))
	case n > noteMax:
		return errors.Join(ErrWeakReason, errTooLong)
	}
	for _, r := range s {
		if r == '\n' || r == '\r' || r == '\t' {
			continue
		}
		if unicode.Is(unicode.Cc, r) || unicode.Is(unicode.Cf, r) || r == utf8.RuneError {
			// Control and format characters (NUL, bidi overrides,
			// zero-width marks) can make a reason read differently from
			// what it says.
			return errors.Join(ErrWeakReason, errHidden)
		}
	}
	return nil
}

// noteMessage is what a form says about text that failed CheckNote or
// CheckReason: the problem itself when it is one the writer may not see
// (hidden characters) or that ask does not mention (length), else ask.
func noteMessage(err error, ask string) string {
	switch {
	case errors.Is(err, errHidden):
		return "Remove the control, bidi or zero-width characters: they can make the text read differently from what it says."
	case errors.Is(err, errTooLong):
		return "Keep it to 2,000 characters at most."
	}
	return ask
}
