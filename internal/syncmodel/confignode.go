package syncmodel

import (
	"fmt"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// ConfigError is one problem in a mapping document.
type ConfigError struct {
	// Path names the key: "fields.email.conflict", "rules[0].actions[1].label_expr".
	Path string `json:"path"`
	// Line is the 1-based line of the key or value in the document (YAML or JSON); 0 when
	// the problem is the whole document.
	Line int    `json:"line,omitempty"`
	Msg  string `json:"message"`
}

// Error formats the problem as "line 12: fields.email.conflict: message".
func (e *ConfigError) Error() string {
	var b strings.Builder
	if e.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	if e.Path != "" {
		b.WriteString(e.Path + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// ConfigErrors lists every problem found in a mapping document, in document order, so an
// operator can fix them all at once.
type ConfigErrors []*ConfigError

// Error joins the problems on one line, for logs.
func (es ConfigErrors) Error() string {
	parts := make([]string, len(es))
	for i, e := range es {
		parts[i] = e.Error()
	}
	if len(es) == 1 {
		return "invalid mapping: " + parts[0]
	}
	return fmt.Sprintf("invalid mapping (%d problems): %s", len(es), strings.Join(parts, "; "))
}

// walker reads a yaml.Node tree against the mapping schema, collecting errors.
type walker struct{ errs ConfigErrors }

func (w *walker) fail(n *yaml.Node, path, format string, args ...any) {
	line := 0
	if n != nil {
		line = n.Line
	}
	w.errs = append(w.errs, &ConfigError{Path: path, Line: line, Msg: fmt.Sprintf(format, args...)})
}

// deref follows aliases (*anchor) to their value.
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 10; i++ {
		n = n.Alias
	}
	return n
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "empty"
		}
		return "a single value"
	}
	return "unsupported YAML"
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// mapping calls fn for each key of a mapping node in document order. Unknown and repeated
// keys are errors: a typo must never be silently ignored.
func (w *walker) mapping(n *yaml.Node, path string, allowed []string, fn func(key string, k, v *yaml.Node)) bool {
	n = deref(n)
	if n.Kind != yaml.MappingNode {
		w.fail(n, path, "must be a mapping of keys to values, not %s", kindName(n))
		return false
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := deref(n.Content[i]), deref(n.Content[i+1])
		if k.Kind != yaml.ScalarNode {
			w.fail(k, path, "keys must be plain names, not %s", kindName(k))
			continue
		}
		key := k.Value
		kp := joinPath(path, key)
		switch {
		case seen[key]:
			w.fail(k, kp, "repeated key")
			continue
		case !contains(allowed, key):
			w.fail(k, kp, "unknown key%s", hint(key, allowed))
			continue
		}
		seen[key] = true
		fn(key, k, v)
	}
	return true
}

// hint suggests the closest allowed word, or lists them all.
func hint(word string, allowed []string) string {
	if s := suggest(word, allowed); s != "" {
		return fmt.Sprintf(" (did you mean %q?)", s)
	}
	return " (allowed: " + strings.Join(allowed, ", ") + ")"
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// list calls fn for each item of a sequence node.
func (w *walker) list(n *yaml.Node, path string, fn func(i int, item *yaml.Node, path string)) bool {
	n = deref(n)
	if n.Kind != yaml.SequenceNode {
		w.fail(n, path, "must be a list, not %s", kindName(n))
		return false
	}
	for i, item := range n.Content {
		fn(i, deref(item), fmt.Sprintf("%s[%d]", path, i))
	}
	return true
}

// str reads a non-empty single value as text, trimmed.
func (w *walker) str(n *yaml.Node, path string) (string, bool) {
	n = deref(n)
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		w.fail(n, path, "must be a text value, not %s", kindName(n))
		return "", false
	}
	s := strings.TrimSpace(n.Value)
	if s == "" {
		w.fail(n, path, "must not be empty")
		return "", false
	}
	return s, true
}

// integer reads a whole number in [lo, hi].
func (w *walker) integer(n *yaml.Node, path string, lo, hi int) (int, bool) {
	n = deref(n)
	v, err := strconv.Atoi(strings.TrimSpace(n.Value))
	if n.Kind != yaml.ScalarNode || (n.Tag != "!!int" && n.Tag != "!!str") || err != nil {
		w.fail(n, path, "must be a whole number")
		return 0, false
	}
	if v < lo || v > hi {
		w.fail(n, path, "must be between %d and %d, not %d", lo, hi, v)
		return 0, false
	}
	return v, true
}

// label reads a tag/label name.
func (w *walker) label(n *yaml.Node, path string) (string, bool) {
	s, ok := w.str(n, path)
	if !ok {
		return "", false
	}
	if len(s) > 100 || strings.ContainsAny(s, "\n\r") {
		w.fail(n, path, "must be one line of at most 100 characters")
		return "", false
	}
	return s, true
}

// suggest returns the allowed word closest to word (same letters ignoring case and
// punctuation, or at most two edits away), or "".
func suggest(word string, allowed []string) string {
	squash := func(s string) string {
		return strings.Map(func(r rune) rune {
			if r == '_' || r == '-' || r == ' ' || r == '.' {
				return -1
			}
			return r
		}, strings.ToLower(s))
	}
	best, bestD := "", 3
	for _, a := range allowed {
		if squash(a) == squash(word) {
			return a
		}
		if d := editDistance(strings.ToLower(word), strings.ToLower(a)); d < bestD {
			best, bestD = a, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance, bounded work for the short keys it sees.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 99
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
