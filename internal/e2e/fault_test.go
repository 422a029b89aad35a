package e2e_test

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hlrz/hlrz/internal/app"
	"github.com/hlrz/hlrz/internal/e2e"
	"github.com/hlrz/hlrz/internal/sim/ghlsim"
	"github.com/hlrz/hlrz/internal/sim/rzsim"
	"github.com/hlrz/hlrz/internal/store"
	"github.com/hlrz/hlrz/internal/syncmodel"
	"github.com/hlrz/hlrz/workflows"
)

// TestFaultSuite runs a backfill with live edits while both simulators fail (10% 5xx, 5%
// 429, 20% duplicate and reordered webhooks), and meanwhile stops the worker abruptly and
// starts it again, takes the database away, and restarts the Temporal server. Afterwards a
// convergence checker compares both simulators with the expected merge of all edits.
func TestFaultSuite(t *testing.T) {
	const people = 200
	e := e2e.Start(t, e2e.Options{
		Restartable: true,
		GHL:         ghlsim.Options{Webhooks: ghlsim.WebhookOptions{DuplicateRate: 0.2, ReorderWindow: 5}},
	})
	ctx := context.Background()
	seed, err := app.Seed(e.GHL, e.RZ, e.LocationID, e.RZToken, app.Population{People: people, GHLOnly: 0.6, RZOnly: 0.2, Both: 0.2, Extras: true})
	if err != nil {
		t.Fatal(err)
	}
	tasksBefore := len(e.GHL.Snapshot().Tasks)
	e.GHL.SetFaults(ghlsim.Faults{ErrorRate: 0.10, RateLimitRate: 0.05, RetryAfter: 500 * time.Millisecond})
	if err := e.RZ.SetFaults(rzsim.Faults{ErrorRate: 0.10, RateLimitRate: 0.05, RetryAfterSeconds: 1}); err != nil {
		t.Fatal(err)
	}

	if _, err := app.StartBackfill(ctx, e.Client, e.App.Config.TaskQueue, e.Conn.ID); err != nil {
		t.Fatal(err)
	}
	progress := func() workflows.BackfillProgress {
		v, err := e.Client.QueryWorkflow(ctx, workflows.BackfillWorkflowID(e.Conn.ID), "", workflows.QueryProgress)
		var p workflows.BackfillProgress
		if err == nil {
			_ = v.Get(&p)
		}
		return p
	}
	waitFor := func(what string, cond func(workflows.BackfillProgress) bool) {
		e.Eventually(5*time.Minute, what, func() (bool, string) {
			p := progress()
			return cond(p), fmt.Sprintf("%+v", p)
		})
	}

	injected := []string{}
	waitFor("backfill to start syncing people", func(p workflows.BackfillProgress) bool { return p.Synced >= 20 })
	e.StopApp() // worker.Stop cancels activities mid-flight: a crash, as far as Temporal can tell
	time.Sleep(2 * time.Second)
	e.StartApp()
	injected = append(injected, "worker stopped mid-backfill (activities cancelled) and started again after 2 s")

	// Edits while the backfill runs: HighLevel last names, Referrizer labels.
	wantLast := map[string]string{} // email (lower) → last name
	ghl := e.GHLContacts()
	sort.Slice(ghl, func(i, j int) bool { return ghl[i].Email < ghl[j].Email })
	for i, c := range ghl[:15] {
		last := fmt.Sprintf("Edited%d", i)
		if _, err := e.GHL.UpdateContact(c.ID, ghlsim.ContactPatch{LastName: &last}); err != nil {
			t.Fatal(err)
		}
		wantLast[strings.ToLower(c.Email)] = last
	}
	wantLabel := map[string]string{} // Referrizer contact id → label
	rz := e.RZContacts()
	for i, c := range rz[:10] {
		label := fmt.Sprintf("fault-label-%d", i)
		if _, err := e.RZ.AdminAddLabel(e.RZToken, c.ID, label); err != nil {
			t.Fatal(err)
		}
		wantLabel[c.ID] = label
	}

	waitFor("more people synced", func(p workflows.BackfillProgress) bool { return p.Synced >= 80 })
	e.OutageDatabase(3 * time.Second)
	injected = append(injected, "PostgreSQL: every connection dropped and new ones refused for 3 s")

	waitFor("yet more people synced", func(p workflows.BackfillProgress) bool { return p.Synced >= 140 })
	e.RestartTemporal(2 * time.Second)
	injected = append(injected, "Temporal server stopped and started again on the same file after 2 s")

	deadline := time.Now().Add(8 * time.Minute)
	for p := progress(); p.Phase != workflows.PhaseDone && p.Phase != ""; p = progress() {
		if time.Now().After(deadline) {
			diagnose(t, e)
			t.Fatalf("backfill not done after 8 minutes: %+v", p)
		}
		time.Sleep(200 * time.Millisecond)
	}
	run := e.Client.GetWorkflow(ctx, workflows.BackfillWorkflowID(e.Conn.ID), "")
	var final workflows.BackfillProgress
	if err := run.Get(ctx, &final); err != nil {
		t.Fatalf("backfill: %v", err)
	}

	// Faults off, then let everything settle: webhooks delivered, a poll, idle.
	e.GHL.SetFaults(ghlsim.Faults{})
	if err := e.RZ.SetFaults(rzsim.Faults{}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		waitIdle(t, e)
		runPoll(t, e)
	}
	waitIdle(t, e)

	// Convergence.
	gs, rs := e.GHLContacts(), e.RZContacts()
	if len(gs) != people || len(rs) != people {
		t.Errorf("people: HighLevel %d, Referrizer %d, want %d each (zero duplicates, nobody lost)", len(gs), len(rs), people)
	}
	byRZ := map[string]rzsim.Contact{}
	for _, r := range rs {
		byRZ[r.ID] = r
	}
	byGHL := map[string]ghlsim.Contact{}
	for _, g := range gs {
		byGHL[g.ID] = g
	}
	links := allLinks(t, e)
	if len(links) != people {
		t.Errorf("links = %d, want %d", len(links), people)
	}
	m := syncmodel.DefaultMapping()
	mismatches := 0
	for _, l := range links {
		g, okG := byGHL[l.GHLContactID]
		r, okR := byRZ[l.RZContactID]
		if !okG || !okR {
			t.Errorf("link %s points at missing contacts (ghl %v, rz %v)", l.ID, okG, okR)
			continue
		}
		if g.FirstName != r.FirstName || g.LastName != r.LastName || !strings.EqualFold(g.Email, r.Email) ||
			syncmodel.NormalizePhone(g.Phone, "US") != syncmodel.NormalizePhone(r.Phone, "US") {
			mismatches++
			if mismatches <= 5 {
				t.Errorf("fields differ: HighLevel %s %s <%s> %s | Referrizer %s %s <%s> %s",
					g.FirstName, g.LastName, g.Email, g.Phone, r.FirstName, r.LastName, r.Email, r.Phone)
			}
		}
		if gt, rt := m.SyncedTags(g.Tags), m.SyncedTags(r.Labels); !slices.Equal(gt, rt) {
			t.Errorf("tags differ for %s: HighLevel %v, Referrizer %v", g.Email, gt, rt)
		}
		if want, ok := wantLast[strings.ToLower(g.Email)]; ok && (g.LastName != want || r.LastName != want) {
			t.Errorf("lost update: last name of %s is %q / %q, want %q", g.Email, g.LastName, r.LastName, want)
			diagnoseLostUpdate(t, e, l)
		}
		if label, ok := wantLabel[r.ID]; ok && !slices.Contains(g.Tags, label) {
			t.Errorf("lost update: Referrizer label %q missing from HighLevel tags %v", label, g.Tags)
		}
	}
	if tasks := len(e.GHL.Snapshot().Tasks); tasks != tasksBefore {
		t.Errorf("HighLevel tasks = %d, want %d (no duplicate tasks)", tasks, tasksBefore)
	}
	// Every acknowledged webhook is in the inbox, and none is left unfinished.
	wh := e.GHL.Stats().Webhooks
	counts, err := e.Store.InboxCounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, n := range counts {
		total += n
	}
	unique := int(wh.Enqueued - wh.Dropped)
	if total != unique || counts[store.InboxPending] != 0 || counts[store.InboxFailed] != 0 {
		t.Errorf("inbox %v (total %d) vs %d unique webhooks acknowledged (stats %+v)", counts, total, unique, wh)
	}

	gst, rst := e.GHL.Stats(), e.RZ.Stats()
	t.Logf("fault suite: %d people (%d by email, %d by phone only), backfill %+v", seed.People, seed.MatchByEmail, seed.MatchByPhone, final)
	t.Logf("injected: HighLevel 10%% 5xx and 5%% 429 (%d answered 429); Referrizer the same (%d faulted answers); webhooks %d sent, %d duplicates, reordered in windows of 5",
		gst.RateLimited, rst.Faulted, wh.Sent, wh.Duplicates)
	for _, i := range injected {
		t.Logf("injected: %s", i)
	}
	t.Logf("survived: %d people on each side, %d links, 0 duplicates, %d edits kept, %d tasks (none duplicated), inbox %v",
		len(gs), len(links), len(wantLast)+len(wantLabel), tasksBefore, counts)
}

func allLinks(t *testing.T, e *e2e.Env) []store.Link {
	t.Helper()
	var out []store.Link
	after := ""
	for {
		page, err := e.Store.ListLinks(context.Background(), e.Conn.ID, after, 500)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			return out
		}
		out = append(out, page...)
		after = page[len(page)-1].ID
	}
}
