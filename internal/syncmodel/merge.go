package syncmodel

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Plan is the three-way merge. base is the last synced snapshot (nil before the first sync),
// ghl and rz the two sides' current records (nil: absent). All three are normalized first.
//
//   - A side flagged deleted in opts applies the delete policy to the other side, if data
//     flows from the deleted side to it (a side that only receives data never deletes its
//     source): propagate sets Delete, label adds DeletedLabel as a tag; nothing else moves.
//   - A side that is absent (and not deleted) is created from the other side's values of the
//     fields flowing to it, if there is anything to write.
//   - With both sides present, only what changed since base moves (per field direction); a
//     both-way field changed on both sides to the same value is not a conflict, to
//     different values it is resolved by the field's policy. Tags merge as sets (MergeTags).
//   - Without a base (first sync), a value present on one side only fills the other,
//     differing values are a conflict, DND=true wins over false, and tags become the union.
//
// Applying the plan to both sides (Apply) and recording NewBase is a fixed point: planning
// again gives an empty plan.
func (m *Mapping) Plan(base, ghl, rz *Person, opts PlanOptions) Plan {
	var b *Person
	if base != nil {
		n := m.Normalize(*base)
		b = &n
	}
	sides := map[Side]*Person{SideGHL: m.normalizedOrNil(ghl, opts.GHLDeleted), SideRZ: m.normalizedOrNil(rz, opts.RZDeleted)}
	var p Plan
	switch {
	case opts.GHLDeleted || opts.RZDeleted:
		m.planDelete(&p, b, sides, opts)
	case sides[SideGHL] == nil && sides[SideRZ] == nil:
		if b != nil {
			p.NewBase = *b
		}
	case sides[SideGHL] == nil:
		m.planCreate(&p, b, sides[SideRZ], SideGHL)
	case sides[SideRZ] == nil:
		m.planCreate(&p, b, sides[SideGHL], SideRZ)
	default:
		m.planBoth(&p, b, sides[SideGHL], sides[SideRZ], ghl.Tags, rz.Tags)
	}
	slices.SortFunc(p.Conflicts, func(x, y Conflict) int { return strings.Compare(x.Field, y.Field) })
	slices.SortFunc(p.Errors, func(x, y FieldError) int { return strings.Compare(x.Field, y.Field) })
	return p
}

func (m *Mapping) normalizedOrNil(p *Person, deleted bool) *Person {
	if p == nil || deleted {
		return nil
	}
	n := m.Normalize(*p)
	return &n
}

// changes returns the side's changes, allocated on first use.
func (p *Plan) changes(s Side) *SideChanges {
	c := &p.GHL
	if s == SideRZ {
		c = &p.RZ
	}
	if c.Set == nil {
		c.Set = map[string]string{}
	}
	return c
}

// tidy drops empty Set maps so an empty plan encodes the same however it was built.
func (p *Plan) tidy() {
	for _, c := range []*SideChanges{&p.GHL, &p.RZ} {
		if len(c.Set) == 0 {
			c.Set = nil
		}
	}
}

func (m *Mapping) planDelete(p *Plan, base *Person, sides map[Side]*Person, opts PlanOptions) {
	if base != nil {
		p.NewBase = *base
	}
	for _, gone := range []Side{SideGHL, SideRZ} {
		if (gone == SideGHL && !opts.GHLDeleted) || (gone == SideRZ && !opts.RZDeleted) {
			continue
		}
		p.Deleted = append(p.Deleted, gone)
		other := sides[gone.Other()]
		if other == nil || !m.flowsAny(gone, gone.Other()) {
			continue
		}
		switch m.deletePolicy {
		case DeletePropagate:
			p.changes(gone.Other()).Delete = true
		case DeleteLabel:
			if !newTagSet(other.Tags).has(m.deletedLabel) {
				c := p.changes(gone.Other())
				c.TagsAdd = []string{m.deletedLabel}
			}
		}
	}
	p.tidy()
}

// planCreate plans creating the person on side to from the present side.
func (m *Mapping) planCreate(p *Plan, base *Person, src *Person, to Side) {
	from := to.Other()
	c := p.changes(to)
	for i := range m.fields {
		f := &m.fields[i]
		if f.Name == FieldTags {
			if f.Direction.Flows(from, to) {
				p.NewBase.Tags = m.SyncedTags(src.Tags)
				c.TagsAdd = p.NewBase.Tags
			}
			continue
		}
		if !f.Direction.Flows(from, to) {
			continue // the new side is this field's source and has no value yet
		}
		v := src.get(f.Name)
		if isEmpty(f.Name, v) {
			continue
		}
		out, err := m.transform(f, src, v)
		if err != nil {
			p.Errors = append(p.Errors, FieldError{Field: f.Name, Error: err.Error()})
			if base != nil {
				p.NewBase.set(f.Name, base.get(f.Name))
			}
			continue
		}
		c.Set[f.Name] = out
		p.NewBase.set(f.Name, v)
	}
	// Creating an empty shell helps nobody: wait until there is something to write.
	c.Create = len(c.Set) > 0 || len(c.TagsAdd) > 0
	if !c.Create {
		c.TagsAdd = nil
	}
	p.tidy()
}

// planBoth merges a person present on both sides; rawGHL and rawRZ are the tags as given.
func (m *Mapping) planBoth(p *Plan, base, g, r *Person, rawGHL, rawRZ []string) {
	for i := range m.fields {
		f := &m.fields[i]
		if f.Name == FieldTags {
			var bt []string
			if base != nil {
				bt = m.SyncedTags(base.Tags)
			}
			tm := mergeTags(f.Direction, bt, m.SyncedTags(g.Tags), m.SyncedTags(r.Tags), base != nil, rawGHL, rawRZ)
			if len(tm.GHLAdd)+len(tm.GHLRemove) > 0 {
				c := p.changes(SideGHL)
				c.TagsAdd, c.TagsRemove = tm.GHLAdd, tm.GHLRemove
			}
			if len(tm.RZAdd)+len(tm.RZRemove) > 0 {
				c := p.changes(SideRZ)
				c.TagsAdd, c.TagsRemove = tm.RZAdd, tm.RZRemove
			}
			p.NewBase.Tags = tm.Result
			continue
		}
		m.mergeField(p, f, base, g, r)
	}
	p.tidy()
}

// mergeField merges one scalar field of a person present on both sides.
func (m *Mapping) mergeField(p *Plan, f *FieldRule, base, g, r *Person) {
	gv, rv := g.get(f.Name), r.get(f.Name)
	var bv string
	if base != nil {
		bv = base.get(f.Name)
	}
	same := func(a, b string) bool { return sameValue(f.Name, a, b) }

	if f.Direction != Both {
		from := f.Direction.source()
		src, sv, dv := g, gv, rv
		if from == SideRZ {
			src, sv, dv = r, rv, gv
		}
		switch {
		case base != nil && same(sv, bv):
			p.NewBase.set(f.Name, sv) // unchanged at the source; edits on the target stay
			return
		case base == nil && isEmpty(f.Name, sv):
			p.NewBase.set(f.Name, sv) // a first sync never clears the target
			return
		}
		want, err := m.transform(f, src, sv)
		if err != nil {
			p.Errors = append(p.Errors, FieldError{Field: f.Name, Error: err.Error()})
			p.NewBase.set(f.Name, bv)
			return
		}
		if !same(dv, want) {
			p.changes(from.Other()).Set[f.Name] = want
		}
		p.NewBase.set(f.Name, sv)
		return
	}

	var gChanged, rChanged bool
	if base != nil {
		gChanged, rChanged = !same(gv, bv), !same(rv, bv)
	} else if !same(gv, rv) {
		// First sync: a value on one side only fills the other.
		gChanged, rChanged = !isEmpty(f.Name, gv), !isEmpty(f.Name, rv)
	}
	switch {
	case !gChanged && !rChanged:
		p.NewBase.set(f.Name, gv)
	case gChanged && !rChanged:
		p.changes(SideRZ).Set[f.Name] = gv
		p.NewBase.set(f.Name, gv)
	case rChanged && !gChanged:
		p.changes(SideGHL).Set[f.Name] = rv
		p.NewBase.set(f.Name, rv)
	case same(gv, rv):
		p.NewBase.set(f.Name, gv) // both made the same change
	default:
		c := m.resolve(f, base, g, r)
		if c.Winner == SideGHL {
			p.changes(SideRZ).Set[f.Name] = gv
			p.NewBase.set(f.Name, gv)
		} else {
			p.changes(SideGHL).Set[f.Name] = rv
			p.NewBase.set(f.Name, rv)
		}
		p.Conflicts = append(p.Conflicts, c)
	}
}

// resolve applies a both-way field's conflict policy.
func (m *Mapping) resolve(f *FieldRule, base, g, r *Person) Conflict {
	c := Conflict{Field: f.Name, GHL: g.get(f.Name), RZ: r.get(f.Name), Policy: f.Conflict}
	what := "both sides changed since the last sync"
	if base == nil {
		c.FirstSync = true
		what = "first sync and the values differ"
	} else {
		c.Base = base.get(f.Name)
	}
	switch f.Conflict {
	case RZWins:
		c.Winner, c.Reason = SideRZ, what+"; Referrizer wins by policy"
	case NewestWins:
		c.Winner, c.Reason = newest(g.UpdatedAt, r.UpdatedAt)
		c.Reason = what + "; " + c.Reason
	default:
		c.Winner, c.Reason = SideGHL, what+"; HighLevel wins by policy"
	}
	return c
}

// newest picks the side updated last. Unknown (zero) or equal times go to HighLevel, the
// CRM of record.
func newest(g, r time.Time) (Side, string) {
	switch {
	case g.IsZero() || r.IsZero():
		missing := "Referrizer's"
		if g.IsZero() {
			missing = "HighLevel's"
		}
		if g.IsZero() && r.IsZero() {
			missing = "both"
		}
		return SideGHL, fmt.Sprintf("newest wins, but %s update time is unknown: HighLevel wins the tie", missing)
	case r.After(g):
		return SideRZ, fmt.Sprintf("Referrizer updated later (%s > %s)", r.UTC().Format(time.RFC3339), g.UTC().Format(time.RFC3339))
	case g.After(r):
		return SideGHL, fmt.Sprintf("HighLevel updated later (%s > %s)", g.UTC().Format(time.RFC3339), r.UTC().Format(time.RFC3339))
	}
	return SideGHL, "newest wins, but both were updated at the same time: HighLevel wins the tie"
}

// transform computes the value written to the target of a one-way field, normalized like
// any value of the field. Fields without a transform pass the value through.
func (m *Mapping) transform(f *FieldRule, src *Person, v string) (string, error) {
	if f.prg == nil {
		return v, nil
	}
	out, err := evalString(f.prg, map[string]any{"value": v, "person": personView(*src)})
	if err != nil {
		return "", fmt.Errorf("transform: %w", err)
	}
	return m.normalizeValue(f.Name, out), nil
}
