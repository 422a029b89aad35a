package syncmodel

import "testing"

func TestPlainText(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain text", "plain text"},
		{"<p>Called <b>Ann</b>.</p><p>Wants a <i>trial</i>&nbsp;class</p>", "Called Ann. Wants a trial class"},
		{"<b>Hel</b>lo", "Hello"},
		{"line one<br>line two<br/>line three", "line one line two line three"},
		{"<div>a</div><div>b</div>", "a b"},
		{"<ul><li>one</li><li>two</li></ul>", "one two"},
		{`<a href="https://x.com/?a=1&amp;b=2" title="a > b">link</a>`, "link"},
		{"<script>alert('x')</script>visible<style>p{color:red}</style>", "visible"},
		{"before<!-- hidden <b>x</b> -->after", "beforeafter"},
		{"5 < 6 and 7 > 3", "5 < 6 and 7 > 3"},
		{"&lt;b&gt; is escaped, &amp; stays &quot;text&quot;", `<b> is escaped, & stays "text"`},
		{"<!DOCTYPE html><p>x</p>", "x"},
		{"  many \n\n  spaces\t", "many spaces"},
		{"<h1>Title</h1><table><tr><td>a</td><td>b</td></tr></table>", "Title a b"},
		{"unterminated <b", "unterminated"},
		{"unterminated comment <!-- x", "unterminated comment"},
		{"<SCRIPT>x</SCRIPT>ok", "ok"},
		{"<script>never closed", ""},
		{"", ""},
	}
	for _, tt := range tests {
		if got := plainText(tt.in); got != tt.want {
			t.Errorf("plainText(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func FuzzPlainText(f *testing.F) {
	for _, s := range []string{"<p>a</p>", "<a href='>'>x", "<!--", "<script>", "&amp;<"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := plainText(s)
		if plainText(out) != out && !containsMarkup(out) {
			t.Errorf("plain text of plain text changed: %q -> %q", out, plainText(out))
		}
	})
}

// containsMarkup reports text that decoded entities turned into markup-like text, which a
// second pass would legitimately treat as tags.
func containsMarkup(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == '<' || s[i] == '&' {
			return true
		}
	}
	return false
}
