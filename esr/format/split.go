package format

import "strings"

// SplitPlain splits s on delim with no quoting (GO v2). The fields are
// substrings of s, so no text is copied. dst is reused when it has room.
func SplitPlain(s string, delim byte, dst []string) []string {
	dst = dst[:0]
	for {
		i := strings.IndexByte(s, delim)
		if i < 0 {
			return append(dst, s)
		}
		dst = append(dst, s[:i])
		s = s[i+1:]
	}
}

// SplitQuoted splits one line of delimited text where a field may be
// enclosed in double quotes (GO v1, CSV): a quoted field may contain the
// delimiter, and "" inside it is a literal quote. A quote inside an unquoted
// field is kept literally, as ESR v1 writes free text that way.
//
// badCol is -1 when the line is well formed, else the 0-based index of the
// first field whose quoting is broken (unterminated, or text after the
// closing quote); the fields are still split as well as possible.
// unterminated reports a quote left open at the end of s, which csvfeed uses
// to join a record that spans lines.
func SplitQuoted(s string, delim byte, dst []string) (fields []string, badCol int, unterminated bool) {
	dst = dst[:0]
	badCol = -1
	for {
		if len(s) == 0 || s[0] != '"' {
			i := strings.IndexByte(s, delim)
			if i < 0 {
				return append(dst, s), badCol, false
			}
			dst = append(dst, s[:i])
			s = s[i+1:]
			continue
		}
		// Quoted field.
		s = s[1:]
		var b *strings.Builder
		start := 0
		i := 0
		closed := false
		for i < len(s) {
			j := strings.IndexByte(s[i:], '"')
			if j < 0 {
				i = len(s)
				break
			}
			i += j
			if i+1 < len(s) && s[i+1] == '"' {
				if b == nil {
					b = &strings.Builder{}
				}
				b.WriteString(s[start : i+1])
				i += 2
				start = i
				continue
			}
			closed = true
			break
		}
		var v string
		if b != nil {
			b.WriteString(s[start:i])
			v = b.String()
		} else {
			v = s[start:i]
		}
		if !closed {
			if badCol < 0 {
				badCol = len(dst)
			}
			return append(dst, v), badCol, true
		}
		s = s[i+1:]
		if len(s) == 0 {
			return append(dst, v), badCol, false
		}
		if s[0] != delim {
			// Text after the closing quote: keep it so nothing is lost, but
			// flag the field.
			if badCol < 0 {
				badCol = len(dst)
			}
			k := strings.IndexByte(s, delim)
			if k < 0 {
				return append(dst, v+s), badCol, false
			}
			v += s[:k]
			s = s[k:]
		}
		dst = append(dst, v)
		s = s[1:]
	}
}
