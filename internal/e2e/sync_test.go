package e2e_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hlrz/hlrz/internal/app"
	"github.com/hlrz/hlrz/internal/domain"
	"github.com/hlrz/hlrz/internal/e2e"
	"github.com/hlrz/hlrz/internal/schedules"
	"github.com/hlrz/hlrz/internal/sim/ghlsim"
	"github.com/hlrz/hlrz/internal/sim/rzsim"
	"github.com/hlrz/hlrz/internal/store"
	"github.com/hlrz/hlrz/internal/syncmodel"
)

func rzByEmail(e *e2e.Env, email string) (rzsim.Contact, bool) {
	for _, c := range e.RZContacts() {
		if strings.EqualFold(c.Email, email) {
			return c, true
		}
	}
	return rzsim.Contact{}, false
}

func ghlByEmail(e *e2e.Env, email string) (ghlsim.Contact, bool) {
	for _, c := range e.GHLContacts() {
		if strings.EqualFold(c.Email, email) {
			return c, true
		}
	}
	return ghlsim.Contact{}, false
}

func pollNow(t *testing.T, e *e2e.Env) {
	t.Helper()
	m := &schedules.Manager{Client: e.Client, TaskQueue: e.App.Config.TaskQueue}
	if err := m.Install(context.Background(), e.Conn, time.Hour, time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := m.Trigger(context.Background(), e.Conn.ID, schedules.Poll); err != nil {
		t.Fatal(err)
	}
}

// A person created in HighLevel appears in Referrizer with tags as labels and the notes and
// tasks projections; notes edited and deleted re-render the digest; a completed task leaves
// the open-task digest; a label added in Referrizer becomes a HighLevel tag.
func TestPersonFlowsBothWays(t *testing.T) {
	e := e2e.Start(t, e2e.Options{})
	c, err := e.GHL.CreateContact(ghlsim.Contact{LocationID: e.LocationID, FirstName: "Nora", LastName: "Quist", Email: "nora@example.com", Phone: "+15550100", Tags: []string{"vip", "yoga"}})
	if err != nil {
		t.Fatal(err)
	}
	note, err := e.GHL.CreateNote(c.ID, ghlsim.Note{Body: "Wants the <b>annual</b> plan"})
	if err != nil {
		t.Fatal(err)
	}
	task, err := e.GHL.CreateTask(c.ID, ghlsim.Task{Title: "Call Nora", DueDate: time.Now().Add(48 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}

	e.Eventually(60*time.Second, "Nora in Referrizer with labels and projections", func() (bool, string) {
		r, ok := rzByEmail(e, "nora@example.com")
		if !ok {
			return false, "no contact yet"
		}
		notes, _ := customText(r, "GHL Notes")
		tasks, _ := customText(r, "GHL Tasks")
		ok = r.FirstName == "Nora" && hasAll(r.Labels, "vip", "yoga", "ghl-task-open") &&
			strings.Contains(notes, "Wants the annual plan") && strings.Contains(tasks, "Call Nora")
		return ok, fmt.Sprintf("%+v", r)
	})

	if _, err := e.GHL.UpdateNote(note.ID, ghlsim.NotePatch{Body: new("Signed up for annual")}); err != nil {
		t.Fatal(err)
	}
	e.Eventually(60*time.Second, "edited note in the digest", func() (bool, string) {
		r, _ := rzByEmail(e, "nora@example.com")
		notes, _ := customText(r, "GHL Notes")
		return strings.Contains(notes, "Signed up for annual") && !strings.Contains(notes, "Wants"), notes
	})
	if err := e.GHL.DeleteNote(note.ID); err != nil {
		t.Fatal(err)
	}
	e.Eventually(60*time.Second, "deleted note gone from the digest", func() (bool, string) {
		r, _ := rzByEmail(e, "nora@example.com")
		notes, _ := customText(r, "GHL Notes")
		return !strings.Contains(notes, "annual"), notes
	})

	if _, err := e.GHL.CompleteTask(task.ID, true); err != nil {
		t.Fatal(err)
	}
	e.Eventually(60*time.Second, "completed task out of the open-task digest", func() (bool, string) {
		r, _ := rzByEmail(e, "nora@example.com")
		tasks, _ := customText(r, "GHL Tasks")
		return !strings.Contains(tasks, "[ ] Call Nora") && !slices.Contains(r.Labels, "ghl-task-open"), fmt.Sprintf("%q %v", tasks, r.Labels)
	})

	r, _ := rzByEmail(e, "nora@example.com")
	if _, err := e.RZ.AdminAddLabel(e.RZToken, r.ID, "referrer"); err != nil {
		t.Fatal(err)
	}
	pollNow(t, e)
	e.Eventually(60*time.Second, "Referrizer label as HighLevel tag", func() (bool, string) {
		g, _ := ghlByEmail(e, "nora@example.com")
		return slices.Contains(g.Tags, "referrer"), fmt.Sprint(g.Tags)
	})

	if n := len(e.RZContacts()); n != 1 {
		t.Errorf("Referrizer has %d contacts, want 1", n)
	}
	if n := len(e.GHLContacts()); n != 1 {
		t.Errorf("HighLevel has %d contacts, want 1", n)
	}
	waitIdle(t, e)
	e.RecordHistories("flow", domain.ContactSyncName, domain.TagSyncName, domain.NoteSyncName, domain.TaskSyncName, domain.ReferrizerPollName)
}

// A field changed in Referrizer reaches HighLevel through the poll, and our own write does
// not come back as a change (echo suppression): the next poll signals nobody.
func TestReferrizerEditAndEcho(t *testing.T) {
	e := e2e.Start(t, e2e.Options{})
	r, err := e.RZ.AdminCreateContact(e.RZToken, rzsim.Contact{FirstName: "Omar", Email: "omar@example.com", Phone: "+15550111", Labels: []string{"loyal"}})
	if err != nil {
		t.Fatal(err)
	}
	pollNow(t, e)
	e.Eventually(60*time.Second, "Omar in HighLevel", func() (bool, string) {
		g, ok := ghlByEmail(e, "omar@example.com")
		return ok && slices.Contains(g.Tags, "loyal"), fmt.Sprintf("%+v", g)
	})
	if _, err := e.RZ.AdminUpdateContact(e.RZToken, r.ID, func(c *rzsim.Contact) { c.LastName = "Haddad" }); err != nil {
		t.Fatal(err)
	}
	pollNow(t, e)
	e.Eventually(60*time.Second, "last name in HighLevel", func() (bool, string) {
		g, _ := ghlByEmail(e, "omar@example.com")
		return g.LastName == "Haddad", g.LastName
	})
	// Settle, then poll again: nothing changed, so nothing may be signalled.
	waitIdle(t, e)
	res := runPoll(t, e)
	if res.Signals != 0 || res.Changed != 0 || res.New != 0 {
		t.Errorf("steady-state poll = %+v, want no signals", res)
	}
	waitIdle(t, e)
	e.RecordHistories("echo", domain.ContactSyncName)
}

// A conflict under each policy resolves as configured.
func TestConflictPolicies(t *testing.T) {
	for _, policy := range []string{"ghl-wins", "rz-wins", "newest-wins"} {
		t.Run(policy, func(t *testing.T) {
			mapping := strings.Replace(syncmodel.DefaultMappingYAML, "lastName:  {direction: both, conflict: newest-wins}",
				"lastName:  {direction: both, conflict: "+policy+"}", 1)
			e := e2e.Start(t, e2e.Options{Mapping: []byte(mapping)})
			g, err := e.GHL.CreateContact(ghlsim.Contact{LocationID: e.LocationID, FirstName: "Pia", LastName: "Base", Email: "pia@example.com"})
			if err != nil {
				t.Fatal(err)
			}
			e.Eventually(60*time.Second, "Pia in Referrizer", func() (bool, string) {
				r, ok := rzByEmail(e, "pia@example.com")
				return ok && r.LastName == "Base", fmt.Sprintf("%+v", r)
			})
			waitIdle(t, e)
			r, _ := rzByEmail(e, "pia@example.com")
			// Referrizer first, then HighLevel a moment later: under newest-wins HighLevel wins.
			if _, err := e.RZ.AdminUpdateContact(e.RZToken, r.ID, func(c *rzsim.Contact) { c.LastName = "FromRZ" }); err != nil {
				t.Fatal(err)
			}
			time.Sleep(50 * time.Millisecond)
			if _, err := e.GHL.UpdateContact(g.ID, ghlsim.ContactPatch{LastName: new("FromGHL")}); err != nil {
				t.Fatal(err)
			}
			want := map[string]string{"ghl-wins": "FromGHL", "rz-wins": "FromRZ", "newest-wins": "FromGHL"}[policy]
			pollNow(t, e)
			e.Eventually(60*time.Second, "both sides agree on "+want, func() (bool, string) {
				gc, _ := ghlByEmail(e, "pia@example.com")
				rc, _ := rzByEmail(e, "pia@example.com")
				return gc.LastName == want && rc.LastName == want, gc.LastName + " / " + rc.LastName
			})
		})
	}
}

// A Referrizer delete follows the delete policy: label (default) tags the HighLevel
// contact; propagate deletes it.
func TestReferrizerDeletePolicy(t *testing.T) {
	for _, tc := range []struct {
		policy string
		check  func(ghlsim.Contact, bool) bool
	}{
		{"label", func(c ghlsim.Contact, ok bool) bool { return ok && slices.Contains(c.Tags, "hlrz-deleted") }},
		{"propagate", func(_ ghlsim.Contact, ok bool) bool { return !ok }},
	} {
		t.Run(tc.policy, func(t *testing.T) {
			e := e2e.Start(t, e2e.Options{Mapping: []byte(strings.Replace(syncmodel.DefaultMappingYAML, "delete_policy: label", "delete_policy: "+tc.policy, 1))})
			r, err := e.RZ.AdminCreateContact(e.RZToken, rzsim.Contact{FirstName: "Ivo", Email: "ivo@example.com"})
			if err != nil {
				t.Fatal(err)
			}
			pollNow(t, e)
			e.Eventually(60*time.Second, "Ivo in HighLevel", func() (bool, string) {
				_, ok := ghlByEmail(e, "ivo@example.com")
				return ok, ""
			})
			waitIdle(t, e)
			if err := e.RZ.AdminDeleteContact(e.RZToken, r.ID); err != nil {
				t.Fatal(err)
			}
			pollNow(t, e)
			e.Eventually(60*time.Second, "delete policy "+tc.policy, func() (bool, string) {
				g, ok := ghlByEmail(e, "ivo@example.com")
				return tc.check(g, ok), fmt.Sprintf("%v %+v", ok, g)
			})
		})
	}
}

// A backfill of 500 people split across both sides (some matching by email, some by phone
// only) converges with zero duplicates.
func TestBackfillConverges(t *testing.T) {
	e := e2e.Start(t, e2e.Options{})
	res, err := app.Seed(e.GHL, e.RZ, e.LocationID, e.RZToken, app.Population{People: 500, GHLOnly: 0.6, RZOnly: 0.2, Both: 0.2, Extras: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.MatchByPhone == 0 || res.MatchByEmail == 0 {
		t.Fatalf("population must match both ways: %+v", res)
	}
	run, err := app.StartBackfill(context.Background(), e.Client, e.App.Config.TaskQueue, e.Conn.ID)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var progress domain.BackfillProgress
	if err := run.Get(ctx, &progress); err != nil {
		v, qerr := e.Client.QueryWorkflow(context.Background(), domain.BackfillWorkflowID(e.Conn.ID), "", domain.QueryProgress)
		if qerr == nil {
			_ = v.Get(&progress)
		}
		t.Fatalf("backfill: %v (progress %+v)", err, progress)
	}
	if progress.Failed != 0 || progress.Synced != 500 || progress.Linked != res.MatchByEmail+res.MatchByPhone {
		t.Errorf("progress = %+v, seeded %+v", progress, res)
	}
	e.Eventually(2*time.Minute, "both sides hold each of the 500 people exactly once", func() (bool, string) {
		g, r := e.GHLContacts(), e.RZContacts()
		return len(g) == 500 && len(r) == 500, fmt.Sprintf("HighLevel %d, Referrizer %d", len(g), len(r))
	})
	links, err := e.Store.CountLinks(context.Background(), e.Conn.ID)
	if err != nil || links != 500 {
		t.Errorf("links = %d, %v; want 500", links, err)
	}
	assertNoDuplicates(t, e)
	waitIdle(t, e)
	assertExpected(t, e, res.Expected)
	e.RecordHistories("backfill", domain.BackfillName, domain.ContactSyncName)
}

// assertExpected compares each seeded person, on each side, with the first-sync merge the
// seed computed: the union of tags and labels, one contact per side with the e-mail and
// phone both hold.
func assertExpected(t *testing.T, e *e2e.Env, want []app.ExpectedPerson) {
	t.Helper()
	diffs := expectedMismatches(e, want)
	for i, d := range diffs {
		if i == 20 {
			t.Fatalf("… %d differences in all", len(diffs))
		}
		t.Error(d)
	}
}

// expectedMismatches lists every way the two sides differ from the seed's expected merge.
func expectedMismatches(e *e2e.Env, want []app.ExpectedPerson) []string {
	ghlBy, rzBy := map[string][]ghlsim.Contact{}, map[string][]rzsim.Contact{}
	for _, c := range e.GHLContacts() {
		ghlBy[strings.ToLower(c.Email)] = append(ghlBy[strings.ToLower(c.Email)], c)
	}
	for _, c := range e.RZContacts() {
		rzBy[strings.ToLower(c.Email)] = append(rzBy[strings.ToLower(c.Email)], c)
	}
	var out []string
	// Referrizer may keep a phone in its local format: compare phones as E.164.
	e164 := func(ph string) []string { return syncmodel.MatchKeys("", ph, "US") }
	for _, p := range want {
		gs, rs := ghlBy[p.Email], rzBy[p.Email]
		if len(gs) != 1 || len(rs) != 1 {
			out = append(out, fmt.Sprintf("%s: %d HighLevel and %d Referrizer contacts, want 1 each", p.Email, len(gs), len(rs)))
			continue
		}
		labels := slices.DeleteFunc(slices.Clone(rs[0].Labels), func(l string) bool { return strings.HasPrefix(l, "ghl-task-") })
		for _, g := range []struct {
			side string
			tags []string
		}{{"HighLevel tags", gs[0].Tags}, {"Referrizer labels", labels}} {
			if tags := slices.Sorted(slices.Values(g.tags)); !slices.Equal(tags, p.Tags) {
				out = append(out, fmt.Sprintf("%s: %s %v, want %v", p.Email, g.side, tags, p.Tags))
			}
		}
		if !slices.Equal(e164(gs[0].Phone), e164(p.Phone)) || !slices.Equal(e164(rs[0].Phone), e164(p.Phone)) {
			out = append(out, fmt.Sprintf("%s: phones HighLevel %q, Referrizer %q, want %q", p.Email, gs[0].Phone, rs[0].Phone, p.Phone))
		}
	}
	return out
}

func assertNoDuplicates(t *testing.T, e *e2e.Env) {
	t.Helper()
	seen := map[string]int{}
	for _, c := range e.GHLContacts() {
		seen["ghl:"+strings.ToLower(c.FirstName+" "+c.LastName+" "+c.Phone)]++
	}
	for k, n := range seen {
		if n > 1 {
			t.Errorf("duplicate HighLevel person %s ×%d", k, n)
		}
	}
	emails := map[string]int{}
	for _, c := range e.RZContacts() {
		emails[strings.ToLower(c.Email)]++
	}
	for k, n := range emails {
		if n > 1 && k != "" {
			t.Errorf("duplicate Referrizer email %s ×%d", k, n)
		}
	}
}

func hasAll(list []string, want ...string) bool {
	for _, w := range want {
		if !slices.Contains(list, w) {
			return false
		}
	}
	return true
}

func customText(c rzsim.Contact, name string) (string, bool) {
	raw, ok := c.CustomFields[name]
	if !ok {
		return "", false
	}
	s := string(raw)
	if len(s) >= 2 && s[0] == '"' {
		var out string
		if err := jsonUnmarshal(raw, &out); err == nil {
			return out, true
		}
	}
	return s, true
}

var _ = store.SideGHL

// Reconcile catches what HighLevel's webhooks do not report: a task edited in place (there
// is no TaskUpdate event) and a delete whose webhook never came.
func TestReconcile(t *testing.T) {
	e := e2e.Start(t, e2e.Options{})
	c, err := e.GHL.CreateContact(ghlsim.Contact{LocationID: e.LocationID, FirstName: "Rae", Email: "rae@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	task, err := e.GHL.CreateTask(c.ID, ghlsim.Task{Title: "Book intro call", DueDate: time.Now().Add(72 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	gone, err := e.GHL.CreateContact(ghlsim.Contact{LocationID: e.LocationID, FirstName: "Sol", Email: "sol@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	e.Eventually(60*time.Second, "both people and Rae's task in Referrizer", func() (bool, string) {
		r, ok := rzByEmail(e, "rae@example.com")
		tasks, _ := customText(r, "GHL Tasks")
		_, ok2 := rzByEmail(e, "sol@example.com")
		return ok && ok2 && strings.Contains(tasks, "Book intro call"), fmt.Sprintf("Rae in Referrizer %v with tasks %q (custom fields %s), Sol %v; Rae's workflow: %s", ok, tasks, r.CustomFields, ok2, lastPlan(t, e, c.ID))
	})
	waitIdle(t, e)

	// Changes HighLevel does not announce: a task edit, and a delete with webhooks off.
	if _, err := e.GHL.UpdateTask(task.ID, ghlsim.TaskPatch{Title: new("Book intro call (moved)")}); err != nil {
		t.Fatal(err)
	}
	wh := e.GHL.Webhooks()
	off := wh
	off.URL = ""
	e.GHL.SetWebhooks(off)
	if err := e.GHL.DeleteContact(gone.ID); err != nil {
		t.Fatal(err)
	}
	// Webhooks HighLevel gave up on: an edit, a tag and a new person.
	if _, err := e.GHL.UpdateContact(c.ID, ghlsim.ContactPatch{LastName: new("Quill")}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.GHL.AddTags(c.ID, "lapsed"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.GHL.CreateContact(ghlsim.Contact{LocationID: e.LocationID, FirstName: "Ned", Email: "ned@example.com"}); err != nil {
		t.Fatal(err)
	}
	e.GHL.SetWebhooks(wh)

	res := runReconcile(t, e)
	if res.TasksChecked != 1 || res.TasksChanged != 1 || res.Deleted != 1 || res.New != 1 || res.ChangesSignalled < 2 {
		t.Errorf("reconcile = %+v, want 1 task checked and changed, 1 delete found, Rae and Ned (new) signalled by the change read", res)
	}
	e.Eventually(60*time.Second, "edited task, deleted person and lost webhooks reflected in Referrizer", func() (bool, string) {
		r, _ := rzByEmail(e, "rae@example.com")
		tasks, _ := customText(r, "GHL Tasks")
		s, _ := rzByEmail(e, "sol@example.com")
		_, ned := rzByEmail(e, "ned@example.com")
		return strings.Contains(tasks, "(moved)") && slices.Contains(s.Labels, "hlrz-deleted") && r.LastName == "Quill" && slices.Contains(r.Labels, "lapsed") && ned,
			fmt.Sprintf("%q %v; Rae %q %v; Ned %v", tasks, s.Labels, r.LastName, r.Labels, ned)
	})
	waitIdle(t, e)
	// Repaired: a second reconcile finds nothing to repair.
	if again := runReconcile(t, e); again.Repaired != 0 || again.Deleted != 0 {
		t.Errorf("second reconcile = %+v, want nothing repaired", again)
	}
	waitIdle(t, e)
	e.RecordHistories("reconcile", domain.ReconcileName)
}
