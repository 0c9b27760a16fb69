package observe

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Printable renders a name that came from outside (a dropped file's name,
// a folder name, a rejection reason that quotes them) for a console line.
// A name of printable characters without quotes or backslashes is returned
// as it is; any other is quoted and escaped Go-style, so a newline, a
// carriage return or a terminal escape in a name can never start a line of
// its own or forge one.
func Printable(s string) string {
	if plain(s) {
		return s
	}
	return strconv.Quote(s)
}

// Escaped is Printable for free text (a rejection reason): it stays
// unquoted, but every character that is not printable is written as its
// escape (\n, \x1b, \u2028), so the text stays on one line.
func Escaped(s string) string {
	if plain(strings.NewReplacer(`"`, "", `\`, "").Replace(s)) {
		return s
	}
	var b strings.Builder
	for i, w := 0, 0; i < len(s); i += w {
		r, n := utf8.DecodeRuneInString(s[i:])
		w = n
		switch {
		case r == utf8.RuneError && n == 1:
			const hex = "0123456789abcdef"
			b.WriteString(`\x`)
			b.WriteByte(hex[s[i]>>4])
			b.WriteByte(hex[s[i]&0xf])
		case r == ' ' || unicode.IsPrint(r):
			b.WriteRune(r)
		default:
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		}
	}
	return b.String()
}

// plain reports whether s is valid UTF-8 of printable characters and
// spaces, with no quote or backslash.
func plain(s string) bool {
	for _, r := range s {
		if r == utf8.RuneError || r == '"' || r == '\\' || (r != ' ' && !unicode.IsPrint(r)) {
			return false
		}
	}
	return true
}
