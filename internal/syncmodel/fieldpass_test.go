package syncmodel

import (
	"slices"
	"testing"
)

// An update leaves tags to the tags pass; a create carries them, and the hashes after apply
// are those of the sides once written (so a second plan finds nothing to do).
func TestPlanFields(t *testing.T) {
	m := DefaultMapping()
	ghl := &Person{FirstName: "Ada", Email: "ada@example.com", Tags: []string{"vip"}}

	create := m.PlanFields(FieldPassInput{GHL: ghl})
	if !create.Plan.RZ.Create || !slices.Contains(create.Plan.RZ.TagsAdd, "vip") {
		t.Fatalf("create plan = %+v, want a Referrizer create carrying the tag", create.Plan.RZ)
	}
	if !slices.Equal(create.BaseTags, []string{"vip"}) || create.Plan.NewBase.Tags != nil {
		t.Fatalf("base tags = %v, new base tags = %v; want [vip] moved out of the base", create.BaseTags, create.Plan.NewBase.Tags)
	}
	if create.GHLHash == "" || create.RZHash == "" || create.BaseHash != Hash(create.Plan.NewBase) {
		t.Fatalf("hashes = %q %q %q, want all set", create.BaseHash, create.GHLHash, create.RZHash)
	}

	base := create.Plan.NewBase
	rz := Apply(Person{}, create.Plan.RZ)
	edited := *ghl
	edited.FirstName, edited.Tags = "Ada K.", []string{"vip", "new-tag"}
	update := m.PlanFields(FieldPassInput{Base: &base, GHL: &edited, RZ: &rz})
	if update.Plan.RZ.Create || update.Plan.RZ.Set["firstName"] != "Ada K." {
		t.Fatalf("update plan = %+v, want firstName set on Referrizer", update.Plan.RZ)
	}
	if len(update.Plan.RZ.TagsAdd)+len(update.Plan.RZ.TagsRemove) != 0 {
		t.Fatalf("update plan changes tags %+v; the tags pass owns them", update.Plan.RZ)
	}
	if update.GHLHash != HashSide(m, SideGHL, Person{FirstName: "Ada K.", Email: "ada@example.com"}) {
		t.Fatalf("HighLevel hash after apply = %q, want that of its fields as written", update.GHLHash)
	}
}

// The rules see the person as the events' side has them, or as the only side that does.
func TestContactRuleEvent(t *testing.T) {
	ghl, rz := &Person{FirstName: "G"}, &Person{FirstName: "R"}
	cases := []struct {
		name     string
		fromRZ   bool
		ghl, rz  *Person
		hasBase  bool
		wantSide Side
		want     *Person
		wantNew  bool
	}{
		{"HighLevel event", false, ghl, rz, true, SideGHL, ghl, false},
		{"Referrizer event", true, ghl, rz, true, SideRZ, rz, false},
		{"Referrizer-only person", false, nil, rz, false, SideRZ, rz, true},
		{"HighLevel-only person, Referrizer event", true, ghl, nil, false, SideGHL, ghl, true},
		{"nobody", false, nil, nil, false, SideRZ, nil, true},
	}
	for _, c := range cases {
		ev, subject := ContactRuleEvent("g1", "r1", c.fromRZ, c.ghl, c.rz, c.hasBase)
		if subject != c.want || ev.Side != c.wantSide || ev.Kind != EventContact {
			t.Errorf("%s: side %s subject %v, want %s %v", c.name, ev.Side, subject, c.wantSide, c.want)
		}
		if c.want != nil && ev.New != c.wantNew {
			t.Errorf("%s: New = %v, want %v", c.name, ev.New, c.wantNew)
		}
		wantID, wantOther := "g1", "r1"
		if ev.Side == SideRZ {
			wantID, wantOther = "r1", "g1"
		}
		if ev.ContactID != wantID || ev.OtherContactID != wantOther {
			t.Errorf("%s: ids %s/%s, want %s/%s", c.name, ev.ContactID, ev.OtherContactID, wantID, wantOther)
		}
	}
}
