package syncmodel

import (
	"html"
	"strings"
)

// blockTags separate words when removed; every other tag (b, i, span, a, …) joins its
// neighbours, so "<b>Hel</b>lo" stays "Hello".
var blockTags = map[string]bool{
	"br": true, "p": true, "div": true, "li": true, "ul": true, "ol": true, "tr": true, "td": true,
	"th": true, "table": true, "h1": true, "h2": true, "h3": true, "h4": true, "h5": true, "h6": true,
	"blockquote": true, "pre": true, "hr": true, "section": true, "article": true, "header": true,
	"footer": true, "img": true,
}

// plainText turns a HighLevel note or task body into one line of plain text: comments,
// script and style contents and tags are removed, entities decoded, and whitespace
// collapsed. It is deliberately simple (not an HTML parser) and deterministic; a "<" that
// does not start a tag ("a < b") is kept as text.
func plainText(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		if s[i] != '<' {
			b.WriteByte(s[i])
			i++
			continue
		}
		rest := s[i:]
		if strings.HasPrefix(rest, "<!--") {
			end := strings.Index(rest[4:], "-->")
			if end < 0 {
				break
			}
			i += 4 + end + 3
			continue
		}
		name, closing, ok := tagName(rest)
		if !ok {
			b.WriteByte('<')
			i++
			continue
		}
		end := tagEnd(rest)
		if end < 0 {
			break // an unterminated tag swallows the rest, as browsers do
		}
		i += end + 1
		if !closing && (name == "script" || name == "style") {
			closeAt := strings.Index(strings.ToLower(s[i:]), "</"+name)
			if closeAt < 0 {
				break
			}
			i += closeAt
			continue
		}
		if blockTags[name] {
			b.WriteByte(' ')
		}
	}
	return strings.Join(strings.Fields(html.UnescapeString(b.String())), " ")
}

// tagName reads the name of the tag s starts with ("<a href…>" → "a"); ok is false when the
// "<" does not start a tag or declaration.
func tagName(s string) (name string, closing, ok bool) {
	i := 1
	if i < len(s) && s[i] == '/' {
		closing = true
		i++
	}
	if i < len(s) && (s[i] == '!' || s[i] == '?') && !closing {
		return "!", false, true // <!DOCTYPE …>, <?xml …?>
	}
	start := i
	for i < len(s) && (isASCIILetter(s[i]) || (i > start && s[i] >= '0' && s[i] <= '9')) {
		i++
	}
	if i == start {
		return "", false, false
	}
	return strings.ToLower(s[start:i]), closing, true
}

// tagEnd returns the index of the ">" closing the tag s starts with, skipping quoted
// attribute values, or -1.
func tagEnd(s string) int {
	var quote byte
	for i := 1; i < len(s); i++ {
		switch c := s[i]; {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '>':
			return i
		}
	}
	return -1
}

func isASCIILetter(c byte) bool { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') }
