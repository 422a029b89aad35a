package activities

import (
	"context"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/testsuite"

	"github.com/hlrz/hlrz/internal/connector"
	"github.com/hlrz/hlrz/internal/domain"
	"github.com/hlrz/hlrz/internal/sim/ghlsim"
	"github.com/hlrz/hlrz/internal/sim/rzsim"
	"github.com/hlrz/hlrz/internal/store"
)

// simWorld is one connection between the two simulators, with a real (SQLite) store, for
// running activities in the SDK's activity test environment.
type simWorld struct {
	core    Core
	ghl     *ghlsim.Server
	rz      *rzsim.Server
	conn    store.Connection
	loc     string
	rzToken string
	signals *recordedSignals
}

func newSimWorld(t *testing.T) *simWorld {
	t.Helper()
	ctx := context.Background()
	w := &simWorld{loc: "loc1", rzToken: "rz-token", signals: &recordedSignals{}}
	st := testStore(t)
	var err error
	w.ghl = ghlsim.New(ghlsim.Options{Seed: 42, PrivateTokens: map[string]string{"ghl-token": w.loc}, RateMax: 2000})
	t.Cleanup(w.ghl.Close)
	gs := httptest.NewServer(w.ghl.Handler())
	t.Cleanup(gs.Close)
	w.rz = rzsim.New(rzsim.Options{Seed: 43, Tokens: []string{w.rzToken}})
	rs := httptest.NewServer(w.rz.Handler())
	t.Cleanup(rs.Close)
	w.conn, err = st.PutConnection(ctx, store.Connection{ID: "c1", Name: "test", GHLLocationID: w.loc,
		Settings: store.Settings{RZRequestsPerSec: 1000}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range []store.Token{
		{ConnectionID: w.conn.ID, Kind: store.TokenGHL, Mode: store.AuthPrivate, AccessToken: "ghl-token"},
		{ConnectionID: w.conn.ID, Kind: store.TokenReferrizer, Mode: store.AuthPrivate, AccessToken: w.rzToken},
	} {
		if _, err := st.PutToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
	}
	w.core = Core{Store: st, Conns: connector.New(connector.Options{Store: st, GHLBaseURL: gs.URL, RZBaseURL: rs.URL})}
	return w
}

// highLevelOnlyAda creates Ada Lovelace in HighLevel only, linked on that side.
func (w *simWorld) highLevelOnlyAda(t *testing.T) (ghlsim.Contact, store.Link) {
	t.Helper()
	gc, err := w.ghl.CreateContact(ghlsim.Contact{LocationID: w.loc, FirstName: "Ada", LastName: "Lovelace", Email: "ada@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	link, _, err := w.core.Store.EnsureLink(context.Background(), w.conn.ID, store.SideGHL, gc.ID)
	if err != nil {
		t.Fatal(err)
	}
	return gc, link
}

// recordedSignals is a Signaler that records what it is asked to deliver.
type recordedSignals struct {
	mu     sync.Mutex
	events map[string][]domain.Event // by link id
}

func (r *recordedSignals) Signal(_ context.Context, ref domain.Ref, ev domain.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.events == nil {
		r.events = map[string][]domain.Event{}
	}
	r.events[ref.LinkID] = append(r.events[ref.LinkID], ev)
	return nil
}

func (r *recordedSignals) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, evs := range r.events {
		n += len(evs)
	}
	return n
}

// run executes one activity method in a fresh activity test environment and decodes its result.
func run[R any](t *testing.T, activities any, fn any, in any) R {
	t.Helper()
	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestActivityEnvironment()
	env.RegisterActivity(activities)
	val, err := env.ExecuteActivity(fn, in)
	if err != nil {
		t.Fatalf("activity: %v", err)
	}
	var out R
	if err := val.Get(&out); err != nil {
		t.Fatalf("decode result: %v", err)
	}
	return out
}

// A person only HighLevel has is planned as a Referrizer create, and applying the plan
// creates them there, links them and records the base: planning again finds nothing to do.
func TestPlanAndApplyContactCreatesTheMissingSide(t *testing.T) {
	ctx := context.Background()
	w := newSimWorld(t)
	_, link := w.highLevelOnlyAda(t)
	c := &Contacts{Core: w.core}
	in := domain.PlanInput{Ref: domain.Ref{ConnectionID: w.conn.ID, LinkID: link.ID}, Events: []domain.Event{{Source: domain.SourceGHL, Kind: domain.KindContact}}}

	plan := run[ContactPlan](t, c, c.PlanContact, in)
	if !plan.Writes || len(plan.Created) != 1 || plan.Created[0] != string(store.SideRZ) {
		t.Fatalf("plan = %+v, want a Referrizer create", plan)
	}
	res := run[ApplyResult](t, c, c.ApplyContact, plan)
	if res.RZWrites != 1 || res.RZID == "" {
		t.Fatalf("apply = %+v, want one Referrizer write and the new id", res)
	}
	rzs := w.rz.Contacts(w.rzToken)
	if len(rzs) != 1 || rzs[0].Email != "ada@example.com" || rzs[0].ID != res.RZID {
		t.Fatalf("Referrizer contacts = %+v, want Ada as %s", rzs, res.RZID)
	}
	if l, err := w.core.Store.GetLink(ctx, w.conn.ID, link.ID); err != nil || l.RZContactID != res.RZID {
		t.Fatalf("link = %+v, %v; want it to hold %s", l, err, res.RZID)
	}
	again := run[ContactPlan](t, c, c.PlanContact, in)
	if again.Writes || again.NeedsBase {
		t.Fatalf("second plan = %+v, want nothing to do", again)
	}
}

// A dry run plans without recording anything, as `starter plan` uses it.
func TestPlanContactDryRunWritesNothing(t *testing.T) {
	ctx := context.Background()
	w := newSimWorld(t)
	rc, err := w.rz.AdminCreateContact(w.rzToken, rzsim.Contact{FirstName: "Grace", Email: "grace@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	link, _, err := w.core.Store.EnsureLink(ctx, w.conn.ID, store.SideRZ, rc.ID)
	if err != nil {
		t.Fatal(err)
	}
	c := &Contacts{Core: w.core}
	plan := run[ContactPlan](t, c, c.PlanContact, domain.PlanInput{Ref: domain.Ref{ConnectionID: w.conn.ID, LinkID: link.ID}, DryRun: true,
		Events: []domain.Event{{Source: domain.SourceOperator, Kind: domain.KindAll}}})
	if len(plan.Created) != 1 || plan.Created[0] != string(store.SideGHL) {
		t.Fatalf("plan = %+v, want a HighLevel create", plan)
	}
	if _, err := w.core.Store.GetLedger(ctx, w.conn.ID, link.ID, ObjContact); err == nil {
		t.Fatal("a dry run recorded a base")
	}
}

// A poll signals a new Referrizer contact once, links it and records the page as an
// observation for the pass it starts.
func TestPollReferrizerSignalsNewContacts(t *testing.T) {
	ctx := context.Background()
	w := newSimWorld(t)
	rc, err := w.rz.AdminCreateContact(w.rzToken, rzsim.Contact{FirstName: "Linus", Email: "linus@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	p := &Poller{Core: w.core, Signal: w.signals}
	res := run[PollResult](t, p, p.PollReferrizer, domain.PollInput{ConnectionID: w.conn.ID, PageSize: 50})
	if res.Seen != 1 || res.New != 1 || res.Signals != 1 || w.signals.count() != 1 {
		t.Fatalf("poll = %+v with %d signals, want one new contact signalled", res, w.signals.count())
	}
	l, err := w.core.Store.LinkBy(ctx, w.conn.ID, store.SideRZ, rc.ID)
	if err != nil {
		t.Fatalf("link of the polled contact: %v", err)
	}
	if evs := w.signals.events[l.ID]; len(evs) != 1 || evs[0].Kind != domain.KindAll || evs[0].Source != domain.SourceRZ {
		t.Fatalf("signals = %+v, want one rz all", evs)
	}
	if _, err := w.core.Store.GetObservation(ctx, w.conn.ID, store.SideRZ, rc.ID); err != nil {
		t.Fatalf("observation of the polled contact: %v", err)
	}
}

// The reconcile's listing signals a HighLevel contact no link knows (a lost ContactCreate).
func TestReconcileConnectionRepairsALostCreate(t *testing.T) {
	ctx := context.Background()
	w := newSimWorld(t)
	gc, err := w.ghl.CreateContact(ghlsim.Contact{LocationID: w.loc, FirstName: "Alan", Email: "alan@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	r := &Reconciler{Core: w.core, Signal: w.signals}
	res := run[domain.ReconcileResult](t, r, r.ReconcileConnection, domain.ReconcileInput{ConnectionID: w.conn.ID, BudgetShare: 1, MaxPeople: 10})
	if res.ContactsListed != 1 || res.Repaired != 1 || res.Signals != 1 {
		t.Fatalf("reconcile = %+v, want the unknown contact repaired", res)
	}
	if _, err := w.core.Store.LinkBy(ctx, w.conn.ID, store.SideGHL, gc.ID); err != nil {
		t.Fatalf("link of the repaired contact: %v", err)
	}
}

// HighLevel has no conditional update: an apply whose HighLevel read is no longer fresh
// reads again and, when the contact moved since the plan (someone edited it in between),
// writes nothing and asks for a new plan, which then keeps that edit.
func TestApplyPlansAgainWhenHighLevelMovedSinceThePlan(t *testing.T) {
	w := newSimWorld(t)
	gc, link := w.highLevelOnlyAda(t)
	// Any read counts as stale, so apply always looks again before updating HighLevel.
	c := &Contacts{Core: w.core, GHLFreshness: time.Nanosecond}
	ref := domain.Ref{ConnectionID: w.conn.ID, LinkID: link.ID}
	first := run[ApplyResult](t, c, c.ApplyContact, run[ContactPlan](t, c, c.PlanContact, domain.PlanInput{Ref: ref,
		Events: []domain.Event{{Source: domain.SourceGHL, Kind: domain.KindContact}}}))
	if first.RZID == "" {
		t.Fatalf("first sync = %+v, want Ada created in Referrizer", first)
	}

	// Referrizer's edit is planned; HighLevel is edited before the plan is applied.
	if _, err := w.rz.AdminUpdateContact(w.rzToken, first.RZID, func(rc *rzsim.Contact) { rc.LastName = "Byron" }); err != nil {
		t.Fatal(err)
	}
	fromRZ := domain.PlanInput{Ref: ref, Events: []domain.Event{{Source: domain.SourceRZ, Kind: domain.KindContact}}}
	plan := run[ContactPlan](t, c, c.PlanContact, fromRZ)
	if !plan.Writes || plan.GHLSeen == "" {
		t.Fatalf("plan = %+v, want a HighLevel update planned from a read it names", plan)
	}
	king := "King"
	if _, err := w.ghl.UpdateContact(gc.ID, ghlsim.ContactPatch{LastName: &king}); err != nil {
		t.Fatal(err)
	}
	res := run[ApplyResult](t, c, c.ApplyContact, plan)
	if !res.Replan || res.GHLWrites+res.RZWrites != 0 {
		t.Fatalf("apply = %+v, want no write and a new plan", res)
	}
	if got, _ := w.ghl.Contact(gc.ID); got.LastName != "King" {
		t.Fatalf("HighLevel last name = %q, want the edit made after the plan (King) kept", got.LastName)
	}

	// Planned again from fresh reads, the pass sees both edits, and its apply (whose read
	// still matches) goes ahead.
	fromRZ.Fresh = true
	again := run[ContactPlan](t, c, c.PlanContact, fromRZ)
	res = run[ApplyResult](t, c, c.ApplyContact, again)
	if res.Replan {
		t.Fatalf("apply of the new plan = %+v, want it applied", res)
	}
	if again.Conflicts != 1 {
		t.Fatalf("new plan = %+v, want the two edits seen as one conflict", again)
	}
}
