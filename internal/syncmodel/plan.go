package syncmodel

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Plan is what one sync pass must do. It is JSON-serialisable with stable field names (it
// is recorded in workflow history for operators) and deterministic: slices are sorted and
// maps encode with sorted keys.
type Plan struct {
	GHL SideChanges `json:"ghl"`
	RZ  SideChanges `json:"rz"`
	// Conflicts lists both-way fields that changed on both sides to different values (or
	// differ on a first sync), with how each was resolved. Sorted by field.
	Conflicts []Conflict `json:"conflicts,omitempty"`
	// Deleted lists the sides reported deleted (PlanOptions); their delete policy shaped the
	// other side's changes.
	Deleted []Side `json:"deleted,omitempty"`
	// Errors lists fields that could not be planned (a transform failed). Such a field keeps
	// its old base, so the next pass tries again.
	Errors []FieldError `json:"errors,omitempty"`
	// NewBase is the synced snapshot to record once the plan is applied: the mapped fields
	// and synced tags both sides now agree on (for a one-way field, the source side's value).
	NewBase Person `json:"newBase"`
}

// SideChanges is what to do to one side.
type SideChanges struct {
	// Create the person on this side (with Set and TagsAdd); they do not exist there yet.
	Create bool `json:"create,omitempty"`
	// Delete the person on this side (delete policy propagate).
	Delete bool `json:"delete,omitempty"`
	// Set maps canonical field names to new values; "" clears a field, DND is "true" or
	// "false".
	Set map[string]string `json:"set,omitempty"`
	// TagsAdd and TagsRemove are tag (HighLevel) or label (Referrizer) deltas; a removal
	// lists every spelling the side stores ("VIP", "Vip"), so exact-match removal works.
	TagsAdd    []string `json:"tagsAdd,omitempty"`
	TagsRemove []string `json:"tagsRemove,omitempty"`
}

// Empty reports whether the side needs no write.
func (c SideChanges) Empty() bool {
	return !c.Create && !c.Delete && len(c.Set) == 0 && len(c.TagsAdd) == 0 && len(c.TagsRemove) == 0
}

// Conflict records a field both sides changed differently, and its resolution.
type Conflict struct {
	Field string `json:"field"`
	GHL   string `json:"ghl"`
	RZ    string `json:"rz"`
	// Base is the last synced value; FirstSync is true when there was none.
	Base      string         `json:"base,omitempty"`
	FirstSync bool           `json:"firstSync,omitempty"`
	Policy    ConflictPolicy `json:"policy"`
	Winner    Side           `json:"winner"`
	Reason    string         `json:"reason"`
}

// FieldError is a field the plan could not compute.
type FieldError struct {
	Field string `json:"field"`
	Error string `json:"error"`
}

// PlanOptions carries what the person records alone cannot say.
type PlanOptions struct {
	// GHLDeleted and RZDeleted say the person was linked on that side and is gone now
	// (the API answered 404). Without them an absent side means "not created yet", and the
	// plan creates the person there.
	GHLDeleted bool `json:"ghlDeleted,omitempty"`
	RZDeleted  bool `json:"rzDeleted,omitempty"`
}

// Empty reports whether the plan writes nothing to either side. A plan can be empty and
// still carry a NewBase that differs from the old one (e.g. a first sync of identical
// records): compare base hashes to decide whether to record it.
func (p Plan) Empty() bool { return p.GHL.Empty() && p.RZ.Empty() }

// Summary is one short line for operators, e.g.
// "rz: set email, +2 labels; ghl: -1 tag; 1 conflict (email: ghl-wins)".
func (p Plan) Summary() string {
	var parts []string
	for _, d := range p.Deleted {
		parts = append(parts, string(d)+" deleted")
	}
	for _, s := range []struct {
		side Side
		c    SideChanges
		noun string
	}{{SideRZ, p.RZ, "label"}, {SideGHL, p.GHL, "tag"}} {
		if s.c.Empty() {
			continue
		}
		var what []string
		switch {
		case s.c.Create:
			what = append(what, "create")
		case s.c.Delete:
			what = append(what, "delete")
		}
		if len(s.c.Set) > 0 {
			what = append(what, "set "+strings.Join(slices.Sorted(maps.Keys(s.c.Set)), ", "))
		}
		if n := len(s.c.TagsAdd); n > 0 {
			what = append(what, fmt.Sprintf("+%d %s", n, plural(n, s.noun, s.noun+"s")))
		}
		if n := len(s.c.TagsRemove); n > 0 {
			what = append(what, fmt.Sprintf("-%d %s", n, plural(n, s.noun, s.noun+"s")))
		}
		parts = append(parts, string(s.side)+": "+strings.Join(what, ", "))
	}
	if n := len(p.Conflicts); n > 0 {
		var cs []string
		for _, c := range p.Conflicts {
			cs = append(cs, fmt.Sprintf("%s: %s", c.Field, c.Policy))
		}
		parts = append(parts, fmt.Sprintf("%d %s (%s)", n, plural(n, "conflict", "conflicts"), strings.Join(cs, ", ")))
	}
	if n := len(p.Errors); n > 0 {
		var es []string
		for _, e := range p.Errors {
			es = append(es, e.Field)
		}
		parts = append(parts, fmt.Sprintf("%d %s (%s)", n, plural(n, "error", "errors"), strings.Join(es, ", ")))
	}
	if len(parts) == 0 {
		return "no changes"
	}
	return strings.Join(parts, "; ")
}

// Apply returns what a side looks like after its changes: Delete gives the zero Person;
// otherwise Set values are written and tag deltas applied case-insensitively, tags sorted.
// Apply(Person{}, c) of a Create is the person to create.
func Apply(side Person, c SideChanges) Person {
	if c.Delete {
		return Person{}
	}
	out := side
	out.Custom = maps.Clone(side.Custom)
	for _, f := range slices.Sorted(maps.Keys(c.Set)) {
		out.set(f, c.Set[f])
	}
	if len(c.TagsAdd)+len(c.TagsRemove) > 0 {
		set := newTagSet(side.Tags)
		for _, t := range c.TagsRemove {
			delete(set, tagKey(t))
		}
		for _, t := range c.TagsAdd {
			if k := tagKey(t); k != "" && set[k] == "" {
				set[k] = strings.TrimSpace(t)
			}
		}
		out.Tags = set.list()
	} else {
		out.Tags = slices.Clone(side.Tags)
	}
	return out
}
