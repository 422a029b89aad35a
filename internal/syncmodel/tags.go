package syncmodel

import (
	"sort"
	"strings"
)

// tagKey is the comparison form of a tag: HighLevel lower-cases tags, so "VIP" (a Referrizer
// label) and "vip" (the HighLevel tag it became) are the same tag.
func tagKey(t string) string { return strings.ToLower(strings.TrimSpace(t)) }

// tagSet maps tag keys to one spelling.
type tagSet map[string]string

// newTagSet builds a set; the first spelling of a key wins.
func newTagSet(tags []string) tagSet {
	s := make(tagSet, len(tags))
	for _, t := range tags {
		t = strings.TrimSpace(t)
		if k := tagKey(t); k != "" {
			if _, dup := s[k]; !dup {
				s[k] = t
			}
		}
	}
	return s
}

func (s tagSet) has(t string) bool { _, ok := s[tagKey(t)]; return ok }

// list returns the spellings sorted by key, nil when empty.
func (s tagSet) list() []string {
	if len(s) == 0 {
		return nil
	}
	keys := make([]string, 0, len(s))
	for k := range s {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = s[k]
	}
	return out
}

// canonicalTags trims, drops empty tags, de-duplicates case-insensitively and sorts.
func canonicalTags(tags []string) []string { return newTagSet(tags).list() }

// spellingsOf returns every spelling of key in tags (a side may hold "VIP" and "vip"), so a
// removal names exactly what the side stores.
func spellingsOf(tags []string, key string) []string {
	var out []string
	for _, t := range tags {
		if t = strings.TrimSpace(t); tagKey(t) == key {
			out = append(out, t)
		}
	}
	return out
}

// TagMerge is the result of a three-way tag merge: per-side deltas, never whole lists.
type TagMerge struct {
	GHLAdd    []string `json:"ghlAdd,omitempty"`
	GHLRemove []string `json:"ghlRemove,omitempty"`
	RZAdd     []string `json:"rzAdd,omitempty"`
	RZRemove  []string `json:"rzRemove,omitempty"`
	// Result is the synced tag set both sides agree on afterwards: the next base.
	Result []string `json:"result,omitempty"`
}

// SyncedTags returns the tags that take part in tag sync: tags normalized (see Normalize)
// minus the labels this package manages itself (task status labels, the deleted label) and
// the mapping's tags.exclude patterns. Those stay on their side untouched.
func (m *Mapping) SyncedTags(tags []string) []string {
	var out []string
	for _, t := range canonicalTags(tags) {
		if !m.reservedTag(t) {
			out = append(out, t)
		}
	}
	return out
}

// reservedTag reports whether a tag is managed outside the tag merge.
func (m *Mapping) reservedTag(t string) bool {
	k := tagKey(t)
	if k == tagKey(m.deletedLabel) || k == tagKey(m.tasks.OpenLabel) || k == tagKey(m.tasks.OverdueLabel) {
		return true
	}
	if f, ok := m.byName[FieldTags]; ok {
		for _, p := range f.Exclude {
			prefix, wild := strings.CutSuffix(tagKey(p), "*")
			if (wild && strings.HasPrefix(k, prefix)) || k == tagKey(p) {
				return true
			}
		}
	}
	return false
}

// MergeTags merges HighLevel tags and Referrizer labels against the last synced set: what
// one side added or removed since base is added to or removed from the other (as far as the
// tags field's direction allows), and nothing else moves, so a tag neither side removed is
// never removed. Without a base (hasBase false: first sync) the result is the union, or the
// source side's set for a one-way direction, and nothing is removed. Reserved and excluded
// tags are ignored (see SyncedTags). If tags are not mapped, nothing moves.
func (m *Mapping) MergeTags(base, ghl, rz []string, hasBase bool) TagMerge {
	f, ok := m.byName[FieldTags]
	if !ok {
		return TagMerge{}
	}
	return mergeTags(f.Direction, m.SyncedTags(base), m.SyncedTags(ghl), m.SyncedTags(rz), hasBase, ghl, rz)
}

// mergeTags is MergeTags on already filtered tags. rawGHL and rawRZ are the sides' tags as
// stored, so that a removal names every spelling a side holds ("VIP" and "Vip").
func mergeTags(dir Direction, base, ghl, rz []string, hasBase bool, rawGHL, rawRZ []string) TagMerge {
	b, g, r := newTagSet(base), newTagSet(ghl), newTagSet(rz)
	toRZ, toGHL := dir.Flows(SideGHL, SideRZ), dir.Flows(SideRZ, SideGHL)
	var out TagMerge
	addRZ, addGHL := tagSet{}, tagSet{}
	var remRZ, remGHL []string
	if !hasBase {
		b = tagSet{} // every tag counts as added: the union
	}
	if toRZ {
		for k, t := range g {
			if _, inBase := b[k]; !inBase && !r.has(k) {
				addRZ[k] = t
			}
		}
		for k := range b {
			if _, kept := g[k]; !kept && r.has(k) {
				remRZ = append(remRZ, spellingsOf(rawRZ, k)...)
			}
		}
	}
	if toGHL {
		for k, t := range r {
			if _, inBase := b[k]; !inBase && !g.has(k) {
				addGHL[k] = t
			}
		}
		for k := range b {
			if _, kept := r[k]; !kept && g.has(k) {
				remGHL = append(remGHL, spellingsOf(rawGHL, k)...)
			}
		}
	}
	out.RZAdd, out.GHLAdd = addRZ.list(), addGHL.list()
	out.RZRemove, out.GHLRemove = sortTags(remRZ), sortTags(remGHL)

	// The result keeps the base's spelling of a tag, then HighLevel's, then Referrizer's, so
	// the recorded base does not churn on case alone.
	res := tagSet{}
	switch dir {
	case GHLToRZ:
		for k, t := range g {
			res[k] = t
		}
	case RZToGHL:
		for k, t := range r {
			res[k] = t
		}
	default:
		for k, t := range r {
			_, removedByGHL := b[k]
			if removedByGHL && !g.has(k) {
				continue
			}
			res[k] = t
		}
		for k, t := range g {
			_, inBase := b[k]
			if inBase && !r.has(k) {
				continue // removed by Referrizer
			}
			res[k] = t
		}
	}
	for k := range res {
		if t, ok := b[k]; ok {
			res[k] = t
		}
	}
	out.Result = res.list()
	return out
}

// sortTags sorts tags by key, then spelling, for deterministic plans.
func sortTags(tags []string) []string {
	if len(tags) == 0 {
		return nil
	}
	sort.Slice(tags, func(i, j int) bool {
		ki, kj := tagKey(tags[i]), tagKey(tags[j])
		if ki != kj {
			return ki < kj
		}
		return tags[i] < tags[j]
	})
	return tags
}
