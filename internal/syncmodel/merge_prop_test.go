package syncmodel

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"pgregory.net/rapid"
)

// Property tests draw values from small pools so that equal, differently spelled and
// conflicting values are common.

var propMappings = []string{
	DefaultMappingYAML,
	mixedMapping,
	"fields: {firstName: {direction: both, conflict: rz-wins}, email: ghl->rz, phone: rz->ghl, dnd: ghl->rz, tags: rz->ghl}",
	"fields: {lastName: ghl->rz, email: {direction: both, conflict: newest-wins}, tags: ghl->rz}",
	"delete_policy: propagate\nfields: {email: both, tags: {direction: both, exclude: [keep*]}}",
}

func genMapping(t *rapid.T, ms []*Mapping) *Mapping {
	return ms[rapid.IntRange(0, len(ms)-1).Draw(t, "mapping")]
}

func compileProps(t *testing.T) []*Mapping {
	var ms []*Mapping
	for _, doc := range propMappings {
		ms = append(ms, mustMapping(t, doc))
	}
	return ms
}

var (
	poolNames  = []string{"", "Ann", " Ann", "Bob", "Cy"}
	poolEmails = []string{"", "a@x.com", "A@X.com", "b@x.com"}
	poolPhones = []string{"", "+12125550182", "(212) 555-0182", "+12125550199", "not a phone"}
	poolTags   = []string{"vip", "VIP", "promo", "lead", "keep-me", "src-fb", "ghl-task-open", "hlrz-deleted", " spaced "}
	poolCustom = []string{"", "gold", "Gold", "silver"}
	poolTimes  = []time.Time{{}, day(1), day(2), day(3)}
)

func genPerson(t *rapid.T, label string) Person {
	p := Person{
		FirstName: rapid.SampledFrom(poolNames).Draw(t, label+".firstName"),
		LastName:  rapid.SampledFrom(poolNames).Draw(t, label+".lastName"),
		Email:     rapid.SampledFrom(poolEmails).Draw(t, label+".email"),
		Phone:     rapid.SampledFrom(poolPhones).Draw(t, label+".phone"),
		DND:       rapid.Bool().Draw(t, label+".dnd"),
		Tags:      rapid.SliceOfN(rapid.SampledFrom(poolTags), 0, 5).Draw(t, label+".tags"),
		Source:    rapid.SampledFrom([]string{"", "facebook"}).Draw(t, label+".source"),
		UpdatedAt: rapid.SampledFrom(poolTimes).Draw(t, label+".updatedAt"),
	}
	for _, k := range []string{"level", "goal"} {
		if v := rapid.SampledFrom(poolCustom).Draw(t, label+".custom."+k); v != "" {
			if p.Custom == nil {
				p.Custom = map[string]string{}
			}
			p.Custom[k] = v
		}
	}
	return p
}

func genOptional(t *rapid.T, label string) *Person {
	if rapid.IntRange(0, 4).Draw(t, label+".absent") == 0 {
		return nil
	}
	p := genPerson(t, label)
	return &p
}

// A plan applied to both sides and recorded as the new base leaves nothing to do.
func TestPropPlanIsFixedPointAfterApply(t *testing.T) {
	ms := compileProps(t)
	rapid.Check(t, func(t *rapid.T) {
		m := genMapping(t, ms)
		base, ghl, rz := genOptional(t, "base"), genOptional(t, "ghl"), genOptional(t, "rz")
		opts := PlanOptions{}
		if rapid.IntRange(0, 5).Draw(t, "deleted") == 0 {
			opts.GHLDeleted = rapid.Bool().Draw(t, "ghlDeleted")
			opts.RZDeleted = !opts.GHLDeleted
		}
		p := m.Plan(base, ghl, rz, opts)
		g2, r2 := applied(ghl, p.GHL, true), applied(rz, p.RZ, false)
		if opts.GHLDeleted {
			g2 = nil
		}
		if opts.RZDeleted {
			r2 = nil
		}
		nb := p.NewBase
		again := m.Plan(&nb, g2, r2, PlanOptions{GHLDeleted: opts.GHLDeleted || p.GHL.Delete, RZDeleted: opts.RZDeleted || p.RZ.Delete})
		if !again.Empty() || len(again.Conflicts) > 0 {
			t.Fatalf("second plan not empty: %s (first: %s)\n%+v", again.Summary(), p.Summary(), again)
		}
		if Hash(again.NewBase) != Hash(nb) {
			t.Fatalf("new base moved:\n%s", cmp.Diff(nb, again.NewBase))
		}
	})
}

// A tag is only removed from a side when it was in the base and the other side removed it.
func TestPropPlanNeverRemovesAnUnremovedTag(t *testing.T) {
	ms := compileProps(t)
	rapid.Check(t, func(t *rapid.T) {
		m := genMapping(t, ms)
		base, ghl, rz := genOptional(t, "base"), genPerson(t, "ghl"), genPerson(t, "rz")
		p := m.Plan(base, &ghl, &rz, PlanOptions{})
		check := func(removed []string, other Person, side Side) {
			for _, tag := range removed {
				if base == nil || !newTagSet(m.SyncedTags(base.Tags)).has(tag) {
					t.Fatalf("%s: removes %q, which was not in the base", side, tag)
				}
				if newTagSet(m.SyncedTags(other.Tags)).has(tag) {
					t.Fatalf("%s: removes %q, which the other side still has", side, tag)
				}
				if m.reservedTag(tag) {
					t.Fatalf("%s: removes reserved tag %q", side, tag)
				}
			}
		}
		check(p.GHL.TagsRemove, rz, SideGHL)
		check(p.RZ.TagsRemove, ghl, SideRZ)
		// And every tag both sides still have survives in the new base.
		for _, tag := range m.SyncedTags(ghl.Tags) {
			f, ok := m.Field(FieldTags)
			if ok && f.Direction == Both && newTagSet(m.SyncedTags(rz.Tags)).has(tag) && !newTagSet(p.NewBase.Tags).has(tag) {
				t.Fatalf("tag %q on both sides dropped from the new base %v", tag, p.NewBase.Tags)
			}
		}
	})
}

// Under newest-wins, the side with the later timestamp wins, whichever side that is.
func TestPropNewestWinsFollowsTimestamp(t *testing.T) {
	m := DefaultMapping() // firstName is both, newest-wins
	rapid.Check(t, func(t *rapid.T) {
		vals := rapid.SliceOfNDistinct(rapid.StringMatching(`[A-Z][a-z]{1,6}`), 3, 3, strings.ToLower).Draw(t, "values")
		b, x, y := vals[0], vals[1], vals[2]
		t1 := time.Unix(rapid.Int64Range(1, 1e9).Draw(t, "t1"), 0).UTC()
		t2 := t1.Add(time.Duration(rapid.Int64Range(1, 1e6).Draw(t, "gap")) * time.Second)
		base := &Person{FirstName: b}
		run := func(gv string, gt time.Time, rv string, rt time.Time) (Side, string) {
			p := m.Plan(base, &Person{FirstName: gv, UpdatedAt: gt}, &Person{FirstName: rv, UpdatedAt: rt}, PlanOptions{})
			if len(p.Conflicts) != 1 {
				t.Fatalf("want one conflict, got %+v", p.Conflicts)
			}
			return p.Conflicts[0].Winner, p.NewBase.FirstName
		}
		// HighLevel older: Referrizer (newer) wins; swap the timestamps: HighLevel wins.
		if w, v := run(x, t1, y, t2); w != SideRZ || v != y {
			t.Fatalf("rz newer: winner %s value %q", w, v)
		}
		if w, v := run(x, t2, y, t1); w != SideGHL || v != x {
			t.Fatalf("ghl newer: winner %s value %q", w, v)
		}
		// Swap which side holds which value: the winner still follows the newer timestamp.
		if w, v := run(y, t1, x, t2); w != SideRZ || v != x {
			t.Fatalf("swapped values, rz newer: winner %s value %q", w, v)
		}
	})
}

// The same input always gives the same plan, and Plan never mutates its inputs.
func TestPropPlanIsDeterministicAndPure(t *testing.T) {
	ms := compileProps(t)
	rapid.Check(t, func(t *rapid.T) {
		m := genMapping(t, ms)
		base, ghl, rz := genOptional(t, "base"), genOptional(t, "ghl"), genOptional(t, "rz")
		clone := func(p *Person) *Person {
			if p == nil {
				return nil
			}
			c := *p
			c.Tags = append([]string(nil), p.Tags...)
			if p.Custom != nil {
				c.Custom = map[string]string{}
				for k, v := range p.Custom {
					c.Custom[k] = v
				}
			}
			return &c
		}
		b0, g0, r0 := clone(base), clone(ghl), clone(rz)
		p1 := m.Plan(base, ghl, rz, PlanOptions{})
		p2 := m.Plan(base, ghl, rz, PlanOptions{})
		if diff := cmp.Diff(p1, p2); diff != "" {
			t.Fatalf("plans differ:\n%s", diff)
		}
		if diff := cmp.Diff([]*Person{b0, g0, r0}, []*Person{base, ghl, rz}, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("inputs mutated:\n%s", diff)
		}
	})
}
