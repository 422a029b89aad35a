package store

import (
	"errors"
	"testing"
)

func found(l Link) FoundLink { return FoundLink{Link: l, Found: true} }

func TestPlanPair(t *testing.T) {
	one := Link{ID: "l1", GHLContactID: "g1"}
	rzOnly := Link{ID: "l2", RZContactID: "r1"}
	full := Link{ID: "l3", GHLContactID: "g1", RZContactID: "r9"}
	cases := []struct {
		name        string
		byGHL, byRZ FoundLink
		want        PairPlan
		conflict    bool
	}{
		{"same link", found(full), found(full), PairPlan{LinkID: "l3"}, false},
		{"two links", found(one), found(rzOnly), PairPlan{}, true},
		{"attach rz", found(one), FoundLink{}, PairPlan{LinkID: "l1", Attach: SideRZ}, false},
		{"ghl link has another rz", found(full), FoundLink{}, PairPlan{}, true},
		{"attach ghl", FoundLink{}, found(rzOnly), PairPlan{LinkID: "l2", Attach: SideGHL}, false},
		{"rz link has another ghl", FoundLink{}, found(Link{ID: "l4", GHLContactID: "g9", RZContactID: "r1"}), PairPlan{}, true},
	}
	for _, c := range cases {
		got, err := PlanPair(c.byGHL, c.byRZ)
		if c.conflict != errors.Is(err, ErrConflict) || (!c.conflict && (err != nil || got != c.want)) {
			t.Errorf("%s: PlanPair = %+v, %v", c.name, got, err)
		}
	}
	if got, err := PlanPair(FoundLink{}, FoundLink{}); err != nil || !got.Insert || got.LinkID == "" {
		t.Errorf("new pair: PlanPair = %+v, %v", got, err)
	}
}

func TestPlanClaim(t *testing.T) {
	cases := []struct {
		name     string
		owner    FoundLink
		want     ClaimPlan
		conflict bool
	}{
		{"free", FoundLink{}, ClaimPlan{}, false},
		{"already ours", found(Link{ID: "me", GHLContactID: "g1"}), ClaimPlan{Done: true}, false},
		{"one-sided owner is absorbed", found(Link{ID: "o", GHLContactID: "g1"}), ClaimPlan{Absorb: "o"}, false},
		{"paired owner", found(Link{ID: "o", GHLContactID: "g1", RZContactID: "r1"}), ClaimPlan{}, true},
		{"deleted owner", found(Link{ID: "o", GHLContactID: "g1", Deleted: true}), ClaimPlan{}, true},
	}
	for _, c := range cases {
		got, err := PlanClaim(c.owner, "me", SideGHL)
		if c.conflict != errors.Is(err, ErrConflict) || (!c.conflict && (err != nil || got != c.want)) {
			t.Errorf("%s: PlanClaim = %+v, %v", c.name, got, err)
		}
	}
}
