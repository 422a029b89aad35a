package activities

import (
	"context"
	"testing"
	"time"

	"github.com/hlrz/hlrz/internal/domain"
	"github.com/hlrz/hlrz/internal/sim/rzsim"
	"github.com/hlrz/hlrz/internal/store"
)

// TestEchoOfAWriteWhoseBaseIsNotRecordedYet: a hash apply expects HighLevel to hold after its
// write counts as our echo from before the write until the pass records its base; a newer
// base, or the expectation's age, ends that.
func TestEchoOfAWriteWhoseBaseIsNotRecordedYet(t *testing.T) {
	ctx := context.Background()
	st := linkedStore(t, 1)
	link, err := st.LinkBy(ctx, "c1", store.SideGHL, "g00")
	if err != nil {
		t.Fatal(err)
	}
	d := &Core{Store: st}
	ref := domain.Ref{ConnectionID: "c1", LinkID: link.ID}
	echo := func(hash string, now time.Time) bool {
		t.Helper()
		ok, err := echoOfWrite(ctx, st, "c1", link.ID, ObjContact, hash, now)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if err := st.PutLedger(ctx, store.LedgerEntry{ConnectionID: "c1", LinkID: link.ID, Object: ObjContact, GHLHash: "h1"}); err != nil {
		t.Fatal(err)
	}
	if !echo("h1", time.Now()) || echo("h2", time.Now()) {
		t.Fatal("with only a base h1: want h1 an echo and h2 not")
	}
	time.Sleep(time.Millisecond)
	if err := d.expectGHL(ctx, ref, ObjContact, "h2"); err != nil {
		t.Fatal(err)
	}
	if !echo("h2", time.Now()) {
		t.Error("h2 expected after the base h1: want its webhook an echo")
	}
	if echo("h2", time.Now().Add(expectedEchoTTL+time.Second)) {
		t.Error("h2 expected longer ago than the bound: want it no longer an echo")
	}
	time.Sleep(time.Millisecond)
	if err := st.PutLedger(ctx, store.LedgerEntry{ConnectionID: "c1", LinkID: link.ID, Object: ObjContact, GHLHash: "h3"}); err != nil {
		t.Fatal(err)
	}
	if echo("h2", time.Now()) || !echo("h3", time.Now()) {
		t.Error("after a newer base h3: want h2 no longer an echo and h3 one")
	}
}

// TestApplyExpectsItsHighLevelWriteFirst: an apply that updates HighLevel records the hash
// it expects there before the write (so before its base), equal to the base's.
func TestApplyExpectsItsHighLevelWriteFirst(t *testing.T) {
	ctx := context.Background()
	w := newSimWorld(t)
	_, link := w.highLevelOnlyAda(t)
	c := &Contacts{Core: w.core}
	ref := domain.Ref{ConnectionID: w.conn.ID, LinkID: link.ID}
	first := run[ApplyResult](t, c, c.ApplyContact, run[ContactPlan](t, c, c.PlanContact, domain.PlanInput{Ref: ref,
		Events: []domain.Event{{Source: domain.SourceGHL, Kind: domain.KindContact}}}))
	if _, err := w.rz.AdminUpdateContact(w.rzToken, first.RZID, func(rc *rzsim.Contact) { rc.LastName = "Byron" }); err != nil {
		t.Fatal(err)
	}
	plan := run[ContactPlan](t, c, c.PlanContact, domain.PlanInput{Ref: ref, Events: []domain.Event{{Source: domain.SourceRZ, Kind: domain.KindContact}}})
	if res := run[ApplyResult](t, c, c.ApplyContact, plan); res.GHLWrites != 1 {
		t.Fatalf("apply = %+v, want one HighLevel write", res)
	}
	base, err := w.core.Store.GetLedger(ctx, w.conn.ID, link.ID, ObjContact)
	if err != nil {
		t.Fatal(err)
	}
	exp, err := w.core.Store.GetLedger(ctx, w.conn.ID, link.ID, expectPrefix+ObjContact)
	if err != nil {
		t.Fatalf("no expectation recorded: %v", err)
	}
	if exp.GHLHash != plan.GHLHash || exp.GHLHash != base.GHLHash || exp.UpdatedAt.After(base.UpdatedAt) {
		t.Errorf("expectation %s at %v, base %s at %v, plan %s: want the plan's hash recorded before the base", exp.GHLHash, exp.UpdatedAt, base.GHLHash, base.UpdatedAt, plan.GHLHash)
	}
}
