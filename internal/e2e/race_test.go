package e2e_test

import (
	"context"
	"slices"
	"testing"

	"go.temporal.io/sdk/client"

	"github.com/hlrz/hlrz/internal/domain"
	"github.com/hlrz/hlrz/internal/e2e"
	"github.com/hlrz/hlrz/internal/sim/ghlsim"
	"github.com/hlrz/hlrz/internal/sim/rzsim"
	"github.com/hlrz/hlrz/internal/store"
	"github.com/hlrz/hlrz/workflows"
)

// A Referrizer poll (or webhook) links a person on their own while the first backfill runs,
// and the backfill's matching then pairs the same person: the poll's one-sided link is
// absorbed and the person merged, not held with a "linked to another person" dead letter.
// The race is made deterministic by leaving the state the poll leaves between linking the
// contact and its pass: a one-sided link, no pass yet.
func TestBackfillAbsorbsPollsOneSidedLink(t *testing.T) {
	e := e2e.Start(t, e2e.Options{Mapping: []byte(firstSyncMapping)})
	ctx := context.Background()
	wh := e.GHL.Webhooks()
	hook := wh.URL
	wh.URL = "" // the people exist before the install
	e.GHL.SetWebhooks(wh)
	g, err := e.GHL.CreateContact(ghlsim.Contact{LocationID: e.LocationID, FirstName: "Gina", Email: "race@example.com", Tags: []string{"crm"}})
	if err != nil {
		t.Fatal(err)
	}
	r, err := e.RZ.AdminCreateContact(e.RZToken, rzsim.Contact{FirstName: "Rina", LastName: "Ray", Email: "race@example.com", Labels: []string{"loyal"}})
	if err != nil {
		t.Fatal(err)
	}
	wh.URL = hook
	e.GHL.SetWebhooks(wh)
	polled, _, err := e.Store.EnsureLink(ctx, e.Conn.ID, store.SideRZ, r.ID)
	if err != nil {
		t.Fatal(err)
	}

	run, err := e.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: domain.BackfillWorkflowID(e.Conn.ID), TaskQueue: e.App.Config.TaskQueue},
		workflows.Backfill, domain.BackfillInput{ConnectionID: e.Conn.ID, PageSize: 10, BatchSize: 10})
	if err != nil {
		t.Fatal(err)
	}
	var progress domain.BackfillProgress
	if err := run.Get(ctx, &progress); err != nil {
		t.Fatalf("backfill: %v", err)
	}
	waitIdle(t, e)
	t.Logf("backfill %+v", progress)

	l, err := e.Store.LinkBy(ctx, e.Conn.ID, store.SideGHL, g.ID)
	if err != nil || l.RZContactID != r.ID {
		t.Errorf("link %+v, %v; want HighLevel %s ⇄ Referrizer %s", l, err, g.ID, r.ID)
	}
	if _, err := e.Store.GetLink(ctx, e.Conn.ID, polled.ID); err == nil && polled.ID != l.ID {
		t.Errorf("the poll's one-sided link %s survives beside %s", polled.ID, l.ID)
	}
	dls, err := e.Store.ListDeadLetters(ctx, e.Conn.ID, store.DeadOpen, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dls {
		t.Errorf("dead letter %s: %s", d.Kind, d.Error)
	}
	// Merged as a first sync: first names HighLevel's, last names Referrizer's, tags united.
	gs, rs := e.GHLContacts(), e.RZContacts()
	if len(gs) != 1 || len(rs) != 1 {
		t.Fatalf("%d HighLevel and %d Referrizer contacts, want 1 each", len(gs), len(rs))
	}
	if gs[0].LastName != "Ray" || rs[0].FirstName != "Gina" {
		t.Errorf("not merged: HighLevel last name %q, Referrizer first name %q", gs[0].LastName, rs[0].FirstName)
	}
	if !hasAll(gs[0].Tags, "crm", "loyal") || !hasAll(rs[0].Labels, "crm", "loyal") || slices.Contains(rs[0].Labels, "") {
		t.Errorf("tags not united: HighLevel %v, Referrizer %v", gs[0].Tags, rs[0].Labels)
	}
}
