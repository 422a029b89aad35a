package syncmodel

import (
	"math/rand/v2"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

func TestHashIgnoresOrderCaseAndTimestamps(t *testing.T) {
	a := Person{FirstName: "Ann", Email: "Ann@X.com", Tags: []string{"b", "A", "c"}, Custom: map[string]string{"x": "1", "y": "2"}, UpdatedAt: day(1)}
	b := Person{FirstName: "Ann", Email: "ann@x.com", Tags: []string{"C", "a", "B", "b"}, Custom: map[string]string{"y": "2", "x": "1", "z": ""}, UpdatedAt: day(9)}
	if Hash(a) != Hash(b) {
		t.Error("equal content must hash equal")
	}
	for name, c := range map[string]Person{
		"name":   {FirstName: "Anne", Email: "ann@x.com", Tags: a.Tags, Custom: a.Custom},
		"tag":    {FirstName: "Ann", Email: "ann@x.com", Tags: []string{"a", "b"}, Custom: a.Custom},
		"custom": {FirstName: "Ann", Email: "ann@x.com", Tags: a.Tags, Custom: map[string]string{"x": "1"}},
		"dnd":    {FirstName: "Ann", Email: "ann@x.com", Tags: a.Tags, Custom: a.Custom, DND: true},
		"source": {FirstName: "Ann", Email: "ann@x.com", Tags: a.Tags, Custom: a.Custom, Source: "web"},
	} {
		if Hash(c) == Hash(a) {
			t.Errorf("a different %s must hash differently", name)
		}
	}
	if len(Hash(Person{})) != 64 || Hash(Person{}) != HashBytes([]byte("{}")) {
		t.Errorf("Hash(Person{}) = %s, want sha256 of {}", Hash(Person{}))
	}
	if TagsHash([]string{"B", "a"}) != TagsHash([]string{"A", "b", "a"}) || TagsHash(nil) != TagsHash([]string{}) {
		t.Error("TagsHash must be a set hash")
	}
	if TagsHash([]string{"a"}) == TagsHash([]string{"a", "b"}) {
		t.Error("TagsHash must see a new tag")
	}
}

func TestHashSideProjection(t *testing.T) {
	m := mustMapping(t, mixedMapping) // lastName rz->ghl, phone ghl->rz
	p := Person{FirstName: "Ann", LastName: "Lee", Phone: "212 555 0182", Tags: []string{"vip", "ghl-task-open"}, Source: "web"}
	// Referrizer's projection has no phone (it never flows from Referrizer): editing it there
	// is not a change.
	q := p
	q.Phone = "+19995550100"
	if HashSide(m, SideRZ, p) != HashSide(m, SideRZ, q) {
		t.Error("a Referrizer-side phone edit must not change the Referrizer hash")
	}
	if HashSide(m, SideGHL, p) == HashSide(m, SideGHL, q) {
		t.Error("a HighLevel phone change must change the HighLevel hash")
	}
	// Normalization and reserved labels do not matter.
	r := p
	r.Phone, r.Tags, r.FirstName = "+12125550182", []string{"VIP"}, " Ann "
	if HashSide(m, SideGHL, p) != HashSide(m, SideGHL, r) {
		t.Error("normalized-equal projections must hash equal")
	}
	want := Person{FirstName: "Ann", Phone: "+12125550182", Tags: []string{"vip"}}
	if got := m.Project(SideGHL, p); Hash(got) != Hash(want) {
		t.Errorf("Project(ghl) = %+v, want %+v", got, want)
	}
}

func TestPropHashIsOrderInsensitive(t *testing.T) {
	m := mustMapping(t, mixedMapping)
	rapid.Check(t, func(t *rapid.T) {
		p := genPerson(t, "p")
		q := p
		// Shuffle tags, change their case, duplicate one, rebuild the custom map.
		q.Tags = rapid.Permutation(p.Tags).Draw(t, "perm")
		for i := range q.Tags {
			if rapid.Bool().Draw(t, "upper") {
				q.Tags[i] = strings.ToUpper(q.Tags[i])
			}
		}
		if len(q.Tags) > 0 {
			q.Tags = append(q.Tags, q.Tags[0])
		}
		if p.Custom != nil {
			keys := []string{"goal", "level"}
			rand.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
			q.Custom = map[string]string{}
			for _, k := range keys {
				if v, ok := p.Custom[k]; ok {
					q.Custom[k] = v
				}
			}
		}
		q.UpdatedAt = day(20)
		if Hash(p) != Hash(q) {
			t.Fatalf("Hash differs for reordered input: %+v vs %+v", p, q)
		}
		for _, s := range []Side{SideGHL, SideRZ} {
			if HashSide(m, s, p) != HashSide(m, s, q) {
				t.Fatalf("HashSide(%s) differs for reordered input", s)
			}
		}
		if TagsHash(p.Tags) != TagsHash(q.Tags) {
			t.Fatal("TagsHash differs for reordered input")
		}
	})
}
