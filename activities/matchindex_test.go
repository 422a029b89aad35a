package activities

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hlrz/hlrz/internal/domain"
	"github.com/hlrz/hlrz/internal/sim/ghlsim"
	"github.com/hlrz/hlrz/internal/sim/rzsim"
	"github.com/hlrz/hlrz/internal/store"
)

// indexWorld is a location backfilled with one person on each side only, a pair, and a
// HighLevel-only person whose phone a paired Referrizer contact carries.
type indexWorld struct {
	*simWorld
	ada, bob, fay store.Link // HighLevel only, Referrizer only, HighLevel only sharing a phone
	clock         time.Time
}

func newIndexWorld(t *testing.T) *indexWorld {
	t.Helper()
	ctx := context.Background()
	w := &indexWorld{simWorld: newSimWorld(t), clock: time.Now()}
	w.core.Now = func() time.Time { return w.clock }
	gc := func(c ghlsim.Contact) ghlsim.Contact {
		c.LocationID = w.loc
		out, err := w.ghl.CreateContact(c)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	rc := func(c rzsim.Contact) rzsim.Contact {
		out, err := w.rz.AdminCreateContact(w.rzToken, c)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	ada := gc(ghlsim.Contact{FirstName: "Ada", Email: "ada@example.com"})
	fay := gc(ghlsim.Contact{FirstName: "Fay", Email: "fay@example.com", Phone: "+14155550111"})
	gc(ghlsim.Contact{FirstName: "Gus", Email: "gus@example.com"})
	rc(rzsim.Contact{FirstName: "Gus", Email: "gus@example.com", Phone: "+14155550111"})
	bob := rc(rzsim.Contact{FirstName: "Bob", Email: "bob@example.com", Phone: "+14155550122"})

	b := &Backfill{Core: w.core, Signal: w.signals}
	w.backfillGHLPhase(t, b, nil)
	for cursor := ""; ; {
		res := run[BackfillPageResult](t, b, b.BackfillPage, BackfillPageInput{ConnectionID: w.conn.ID, Side: BackfillRZ, Cursor: cursor, PageSize: 100})
		if cursor = res.NextCursor; cursor == "" {
			break
		}
	}
	var err error
	for _, l := range []struct {
		dst  *store.Link
		side store.Side
		id   string
	}{{&w.ada, store.SideGHL, ada.ID}, {&w.fay, store.SideGHL, fay.ID}, {&w.bob, store.SideRZ, bob.ID}} {
		if *l.dst, err = w.core.Store.LinkBy(ctx, w.conn.ID, l.side, l.id); err != nil {
			t.Fatal(err)
		}
	}
	return w
}

// plan runs PlanContact for a person with one event from src and returns the plan and the
// requests it made to HighLevel and Referrizer.
func (w *indexWorld) plan(t *testing.T, l store.Link, src string) (ContactPlan, int64, int64) {
	t.Helper()
	c := &Contacts{Core: w.core}
	g0, r0 := w.ghl.Stats().Requests, w.rz.Stats().Total
	p := run[ContactPlan](t, c, c.PlanContact, domain.PlanInput{Ref: domain.Ref{ConnectionID: w.conn.ID, LinkID: l.ID},
		Events: []domain.Event{{Source: src, Kind: domain.KindAll}}})
	return p, w.ghl.Stats().Requests - g0, w.rz.Stats().Total - r0
}

// TestBackfillPassTakesNobodyFromTheMatchIndex: after a backfill read both sides, a backfill
// pass for a person on one side only plans their create without searching the other side
// (the index, complete for it, names nobody), with the plan a search gives. A pass started by
// anything else, or one after the index's age bound, still searches; and when the index names
// someone the pass searches and holds exactly as without the index.
func TestBackfillPassTakesNobodyFromTheMatchIndex(t *testing.T) {
	w := newIndexWorld(t)
	for _, tc := range []struct {
		name       string
		link       store.Link
		lacksCalls func(g, r int64) int64
	}{
		{"Ada (HighLevel only)", w.ada, func(_, r int64) int64 { return r }},
		{"Bob (Referrizer only)", w.bob, func(g, _ int64) int64 { return g }},
	} {
		fromIndex, g, r := w.plan(t, tc.link, domain.SourceBackfill)
		if n := tc.lacksCalls(g, r); n != 0 {
			t.Errorf("%s: backfill pass made %d calls to the side they lack, want 0 (the index names nobody)", tc.name, n)
		}
		searched, g, r := w.plan(t, tc.link, domain.SourceGHL)
		if n := tc.lacksCalls(g, r); n == 0 {
			t.Errorf("%s: webhook pass made no call to the side they lack, want its searches", tc.name)
		}
		if len(fromIndex.Created) != 1 || fromIndex.Summary != searched.Summary || string(fromIndex.Plan) != string(searched.Plan) {
			t.Errorf("%s: plan from the index %q %s, from searches %q %s; want the same create", tc.name, fromIndex.Summary, fromIndex.Plan, searched.Summary, searched.Plan)
		}
	}

	// Fay's phone is on a Referrizer contact paired with Gus: the index names it, so the
	// pass searches, finds it taken and holds Fay, never creating her.
	fay, _, r := w.plan(t, w.fay, domain.SourceBackfill)
	if r == 0 || fay.Hold == nil || len(fay.Created) != 0 || !strings.Contains(fay.Hold.Reason, "belongs to another person") {
		t.Errorf("Fay: %d Referrizer calls, plan %+v (hold %+v); want a search and a hold", r, fay, fay.Hold)
	}

	w.clock = w.clock.Add(observationTTL(0) + time.Minute)
	if _, _, r := w.plan(t, w.ada, domain.SourceBackfill); r == 0 {
		t.Errorf("Ada after the index's age bound: no Referrizer call, want the search")
	}
}

// TestIndexedCreateOfAPartnerAddedLaterIsAMatch: a partner added to Referrizer after the
// index read it (the window the index leaves open) is still not duplicated: the create that
// the index allowed is refused for the e-mail, and the pass links the contact instead.
func TestIndexedCreateOfAPartnerAddedLaterIsAMatch(t *testing.T) {
	w := newIndexWorld(t)
	later, err := w.rz.AdminCreateContact(w.rzToken, rzsim.Contact{FirstName: "Ada", Email: "ada@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	c := &Contacts{Core: w.core}
	plan, _, r := w.plan(t, w.ada, domain.SourceBackfill)
	if r != 0 || len(plan.Created) != 1 {
		t.Fatalf("plan = %+v after %d Referrizer calls, want a create from the index", plan, r)
	}
	res := run[ApplyResult](t, c, c.ApplyContact, plan)
	if !res.Rematch || res.RZID != later.ID {
		t.Errorf("apply = %+v, want the refused create to link %s and plan again", res, later.ID)
	}
	var adas int
	for _, rc := range w.rz.Contacts(w.rzToken) {
		if rc.Email == "ada@example.com" {
			adas++
		}
	}
	if adas != 1 {
		t.Errorf("%d Referrizer contacts for Ada, want 1", adas)
	}
}
