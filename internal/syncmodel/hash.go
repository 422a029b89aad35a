package syncmodel

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
)

// Hashes are sha256 over canonical JSON: object keys sorted (encoding/json sorts map keys),
// empty values left out, e-mail lower-cased and tags case-folded, de-duplicated and sorted.
// So equal content hashes equal whatever the order of fields or tags, and a value that only
// differs in e-mail or tag case (which the merge treats as equal) hashes equal too.
// UpdatedAt is never hashed: a timestamp alone is not a change.

// Hash returns the content hash of a whole person (e.g. a recorded base). Hash a normalized
// person (Mapping.Normalize) for stable results.
func Hash(p Person) string { return hashJSON(canonical(p)) }

// HashSide returns the hash of p's projection for side s (Mapping.Project): what the merge
// reads from that side. Activities record it for what they wrote, to drop their own echo,
// and compare polled records with it to find real changes.
func HashSide(m *Mapping, s Side, p Person) string { return Hash(m.Project(s, p)) }

// TagsHash returns the hash of a tag set.
func TagsHash(tags []string) string { return hashJSON(foldTags(tags)) }

// HashBytes returns the hex sha256 of b, for already canonical encodings.
func HashBytes(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func canonical(p Person) map[string]any {
	out := map[string]any{}
	put := func(k, v string) {
		if v != "" {
			out[k] = v
		}
	}
	put("firstName", p.FirstName)
	put("lastName", p.LastName)
	put("email", strings.ToLower(p.Email))
	put("phone", p.Phone)
	put("source", p.Source)
	if p.DND {
		out["dnd"] = true
	}
	if tags := foldTags(p.Tags); len(tags) > 0 {
		out["tags"] = tags
	}
	custom := map[string]string{}
	for k, v := range p.Custom {
		if v != "" {
			custom[k] = v
		}
	}
	if len(custom) > 0 {
		out["custom"] = custom
	}
	return out
}

func foldTags(tags []string) []string {
	set := newTagSet(tags)
	out := make([]string, 0, len(set))
	for _, t := range set.list() {
		out = append(out, tagKey(t))
	}
	return out
}

func hashJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic("syncmodel: hash encoding: " + err.Error()) // only strings, bools, maps and slices
	}
	return HashBytes(b)
}
