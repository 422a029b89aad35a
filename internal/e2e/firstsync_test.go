package e2e_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/hlrz/hlrz/internal/domain"
	"github.com/hlrz/hlrz/internal/e2e"
	"github.com/hlrz/hlrz/internal/sim/ghlsim"
	"github.com/hlrz/hlrz/internal/sim/rzsim"
	"github.com/hlrz/hlrz/internal/store"
	"github.com/hlrz/hlrz/workflows"
)

// firstSyncMapping makes every first-sync conflict's winner computable from the seed:
// first names HighLevel's, last names Referrizer's.
const firstSyncMapping = `version: 1
phone_region: US
fields:
  firstName: {direction: both, conflict: ghl-wins}
  lastName:  {direction: both, conflict: rz-wins}
  email:     {direction: both, conflict: ghl-wins}
  phone:     {direction: both, conflict: ghl-wins}
  tags:      {direction: both}
projections:
  notes: {field: GHL Notes, max_length: 2000}
  tasks: {field: GHL Tasks, max_length: 2000, keep_completed_for: 7d, open_label: ghl-task-open, overdue_label: ghl-task-overdue}
`

// seedPerson is one person as the business already holds them before connecting, and
// what the test does to them; want* is the first-sync merge computed from that input.
type seedPerson struct {
	name           string
	ghl            *ghlsim.Contact // nil: not in HighLevel
	rz             *rzsim.Contact  // nil: not in Referrizer
	note, task     string          // HighLevel note body and open task title, "" for none
	edits          []string        // HighLevel tags the test adds (each a webhook)
	wantFirst      string
	wantLast       string
	wantEmail      string
	wantPhone      string
	wantTags       []string // both sides (lower case, as both store them)
	rzCreatedLater bool     // the Referrizer copy is entered after the first poll
}

// A business connects with people already on both sides. Whatever reaches a person first —
// a Referrizer poll, a HighLevel webhook or the backfill, in every order, and while the
// backfill is between phases — each person ends linked once, with the union of tags and
// labels, fields merged by the mapping's policies (a value on one side only fills the
// other), notes and tasks projected, no duplicate on either side (on a location that allows
// duplicates), and no dead letter except for the one ambiguous person, who is neither
// linked nor created.
func TestFirstSyncMergesExistingPeople(t *testing.T) {
	e := e2e.Start(t, e2e.Options{Mapping: []byte(firstSyncMapping)})
	ctx := context.Background()
	e.GHL.SetAllowDuplicates(e.LocationID, true)
	// The people exist before the app is installed: no webhooks for the seeding.
	wh := e.GHL.Webhooks()
	hook := wh.URL
	wh.URL = ""
	e.GHL.SetWebhooks(wh)

	// Orders of poll (P), webhook (W) and backfill (B) before the backfill's end, by group.
	groups := []string{"pbw", "wbp", "bpw", "pwb", "wpb", "bwp", "during"}
	var people []*seedPerson
	for gi, g := range groups {
		for i := range 3 {
			n := fmt.Sprintf("%s%d", g, i)
			k := gi*10 + i
			p := &seedPerson{name: n, note: "note about " + n, rzCreatedLater: strings.HasPrefix(g, "b") || g == "wbp"}
			gc := &ghlsim.Contact{LocationID: e.LocationID, FirstName: "G" + n, Email: n + "@example.com", Tags: []string{"crm-" + n, "shared"}}
			rc := &rzsim.Contact{FirstName: "R" + n, LastName: "RL" + n, Email: n + "@example.com", Labels: []string{"loyal-" + n, "shared"}}
			p.wantFirst, p.wantLast, p.wantEmail = "G"+n, "RL"+n, n+"@example.com"
			// A phone on one side only fills the other; a last name on both is a conflict.
			phone := fmt.Sprintf("+1555201%04d", k)
			if i%2 == 0 {
				gc.Phone = phone
				gc.LastName = "GL" + n
			} else {
				rc.Phone = phone
			}
			p.wantPhone = phone
			if i == 1 {
				p.task = "call " + n
			}
			p.ghl, p.rz = gc, rc
			p.wantTags = []string{"crm-" + n, "loyal-" + n, "shared"}
			people = append(people, p)
		}
	}
	// Matched by phone only: Referrizer has no e-mail for them.
	for i := range 2 {
		n := fmt.Sprintf("phone%d", i)
		phone := fmt.Sprintf("+1555202%04d", i)
		people = append(people, &seedPerson{name: n,
			ghl:       &ghlsim.Contact{LocationID: e.LocationID, FirstName: "G" + n, Email: n + "@example.com", Phone: phone, Tags: []string{"crm-" + n}},
			rz:        &rzsim.Contact{FirstName: "R" + n, LastName: "RL" + n, Phone: phone, Labels: []string{"loyal-" + n}},
			wantFirst: "G" + n, wantLast: "RL" + n, wantEmail: n + "@example.com", wantPhone: phone, wantTags: []string{"crm-" + n, "loyal-" + n},
		})
	}
	// On one side only: created once on the other, with their tags.
	for i := range 2 {
		n := fmt.Sprintf("ghlonly%d", i)
		people = append(people, &seedPerson{name: n, ghl: &ghlsim.Contact{LocationID: e.LocationID, FirstName: "G" + n, Email: n + "@example.com", Tags: []string{"crm-" + n}},
			wantFirst: "G" + n, wantEmail: n + "@example.com", wantTags: []string{"crm-" + n}})
		n = fmt.Sprintf("rzonly%d", i)
		people = append(people, &seedPerson{name: n, rz: &rzsim.Contact{FirstName: "R" + n, LastName: "RL" + n, Email: n + "@example.com", Labels: []string{"loyal-" + n}},
			wantFirst: "R" + n, wantLast: "RL" + n, wantEmail: n + "@example.com", wantTags: []string{"loyal-" + n}})
	}

	ghlID, rzID := map[string]string{}, map[string]string{}
	seedRZ := func(p *seedPerson) {
		c, err := e.RZ.AdminCreateContact(e.RZToken, *p.rz)
		if err != nil {
			t.Fatalf("seed Referrizer %s: %v", p.name, err)
		}
		rzID[p.name] = c.ID
	}
	for _, p := range people {
		if p.ghl != nil {
			c, err := e.GHL.CreateContact(*p.ghl)
			if err != nil {
				t.Fatalf("seed HighLevel %s: %v", p.name, err)
			}
			ghlID[p.name] = c.ID
			if p.note != "" {
				if _, err := e.GHL.CreateNote(c.ID, ghlsim.Note{Body: p.note}); err != nil {
					t.Fatal(err)
				}
			}
			if p.task != "" {
				if _, err := e.GHL.CreateTask(c.ID, ghlsim.Task{Title: p.task, DueDate: time.Now().Add(30 * 24 * time.Hour)}); err != nil {
					t.Fatal(err)
				}
			}
		}
		if p.rz != nil && !p.rzCreatedLater {
			seedRZ(p)
		}
	}
	// Ambiguous: two HighLevel contacts share the e-mail of one Referrizer contact.
	var ambGHL []string
	for _, tag := range []string{"amb-a", "amb-b"} {
		c, err := e.GHL.CreateContact(ghlsim.Contact{LocationID: e.LocationID, FirstName: "Amb", Email: "amb@example.com", Tags: []string{tag}})
		if err != nil {
			t.Fatal(err)
		}
		ambGHL = append(ambGHL, c.ID)
	}
	ambRZ, err := e.RZ.AdminCreateContact(e.RZToken, rzsim.Contact{FirstName: "Amb", Email: "amb@example.com", Labels: []string{"amb-r"}})
	if err != nil {
		t.Fatal(err)
	}
	wh.URL = hook
	e.GHL.SetWebhooks(wh)

	edit := func(groups ...string) {
		for _, p := range people {
			for _, g := range groups {
				if strings.HasPrefix(p.name, g) && p.ghl != nil {
					tag := fmt.Sprintf("edit%d-%s", len(p.edits), p.name)
					if _, err := e.GHL.AddTags(ghlID[p.name], tag); err != nil {
						t.Fatal(err)
					}
					p.edits = append(p.edits, tag)
					p.wantTags = append(p.wantTags, tag)
				}
			}
		}
	}
	settle := func() {
		if err := e.GHL.WaitDelivered(ctx); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Second) // the passes those webhooks start (debounce 200 ms)
	}

	// Before the backfill.
	edit("wpb")
	settle()
	runPoll(t, e)
	edit("pwb")
	for _, p := range people {
		if p.rz != nil && p.rzCreatedLater {
			seedRZ(p)
		}
	}
	edit("wbp")
	settle()

	// The backfill, in small pages so that polls and webhooks land in every phase.
	run, err := e.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: domain.BackfillWorkflowID(e.Conn.ID), TaskQueue: e.App.Config.TaskQueue},
		workflows.Backfill, domain.BackfillInput{ConnectionID: e.Conn.ID, PageSize: 4, BatchSize: 4})
	if err != nil {
		t.Fatal(err)
	}
	done, pollErrs := make(chan struct{}), make(chan error, 1)
	var wg sync.WaitGroup
	wg.Add(1)
	phases := map[string]bool{}
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			case <-time.After(300 * time.Millisecond):
			}
			if v, err := e.Client.QueryWorkflow(ctx, run.GetID(), "", domain.QueryProgress); err == nil {
				var p domain.BackfillProgress
				if v.Get(&p) == nil {
					phases[p.Phase] = true
				}
			}
			if _, err := pollOnce(ctx, e); err != nil {
				pollErrs <- err
				return
			}
		}
	}()
	for range 3 {
		edit("during")
		time.Sleep(700 * time.Millisecond)
	}
	var progress domain.BackfillProgress
	werr := run.Get(ctx, &progress)
	close(done)
	wg.Wait()
	if werr != nil {
		t.Fatalf("backfill: %v", werr)
	}
	select {
	case err := <-pollErrs:
		t.Fatalf("poll during the backfill: %v", err)
	default:
	}
	t.Logf("backfill %+v; polls ran during phases %v", progress, phases)

	// After the backfill.
	edit("bwp")
	settle()
	runPoll(t, e)
	edit("pbw", "bpw")
	waitIdle(t, e)

	// Compare each person, on each side, with the merge computed from the seed.
	ghlBy, rzBy := map[string][]ghlsim.Contact{}, map[string][]rzsim.Contact{}
	for _, c := range e.GHLContacts() {
		ghlBy[personKey(c.Email, c.Phone)] = append(ghlBy[personKey(c.Email, c.Phone)], c)
	}
	for _, c := range e.RZContacts() {
		rzBy[personKey(c.Email, c.Phone)] = append(rzBy[personKey(c.Email, c.Phone)], c)
	}
	for _, p := range people {
		key := personKey(p.wantEmail, p.wantPhone)
		gs, rs := ghlBy[key], rzBy[key]
		if len(gs) != 1 || len(rs) != 1 {
			t.Errorf("%s: %d HighLevel and %d Referrizer contacts, want 1 each", p.name, len(gs), len(rs))
			continue
		}
		g, r := gs[0], rs[0]
		want := slices.Sorted(slices.Values(p.wantTags))
		if got := slices.Sorted(slices.Values(g.Tags)); !slices.Equal(got, want) {
			t.Errorf("%s: HighLevel tags %v, want %v", p.name, got, want)
		}
		wantLabels := want
		if p.task != "" {
			wantLabels = slices.Sorted(slices.Values(append(slices.Clone(want), "ghl-task-open")))
		}
		if got := slices.Sorted(slices.Values(r.Labels)); !slices.Equal(got, wantLabels) {
			t.Errorf("%s: Referrizer labels %v, want %v", p.name, got, wantLabels)
		}
		for _, f := range []struct{ what, got, want string }{
			{"HighLevel first name", g.FirstName, p.wantFirst}, {"Referrizer first name", r.FirstName, p.wantFirst},
			{"HighLevel last name", g.LastName, p.wantLast}, {"Referrizer last name", r.LastName, p.wantLast},
			{"HighLevel e-mail", strings.ToLower(g.Email), p.wantEmail}, {"Referrizer e-mail", strings.ToLower(r.Email), p.wantEmail},
			{"HighLevel phone", g.Phone, p.wantPhone}, {"Referrizer phone", digitsPlus(r.Phone), p.wantPhone},
		} {
			if f.got != f.want {
				t.Errorf("%s: %s %q, want %q", p.name, f.what, f.got, f.want)
			}
		}
		if p.note != "" {
			if notes, _ := customText(r, "GHL Notes"); !strings.Contains(notes, p.note) {
				t.Errorf("%s: Referrizer notes projection %q lacks %q", p.name, notes, p.note)
			}
		}
		if p.task != "" {
			if tasks, _ := customText(r, "GHL Tasks"); !strings.Contains(tasks, p.task) {
				t.Errorf("%s: Referrizer tasks projection %q lacks %q", p.name, tasks, p.task)
			}
		}
		l, err := e.Store.LinkBy(ctx, e.Conn.ID, store.SideGHL, g.ID)
		if err != nil || l.RZContactID != r.ID {
			t.Errorf("%s: link %+v, %v; want HighLevel %s ⇄ Referrizer %s", p.name, l, err, g.ID, r.ID)
		}
	}

	// The ambiguous person: untouched on both sides, linked to nobody, reported.
	amb := ghlBy[personKey("amb@example.com", "")]
	if len(amb) != 2 || len(rzBy[personKey("amb@example.com", "")]) != 1 {
		t.Errorf("ambiguous person: %d HighLevel and %d Referrizer contacts, want 2 and 1", len(amb), len(rzBy[personKey("amb@example.com", "")]))
	}
	for _, g := range amb {
		if len(g.Tags) != 1 || !strings.HasPrefix(g.Tags[0], "amb-") {
			t.Errorf("ambiguous HighLevel contact %s tags %v changed", g.ID, g.Tags)
		}
		if l, err := e.Store.LinkBy(ctx, e.Conn.ID, store.SideGHL, g.ID); err == nil && l.RZContactID != "" {
			t.Errorf("ambiguous HighLevel contact %s linked to %s", g.ID, l.RZContactID)
		}
	}
	if r, ok := rzByEmail(e, "amb@example.com"); !ok || !slices.Equal(r.Labels, []string{"amb-r"}) {
		t.Errorf("ambiguous Referrizer contact %+v changed", r)
	}
	if l, err := e.Store.LinkBy(ctx, e.Conn.ID, store.SideRZ, ambRZ.ID); err == nil && l.GHLContactID != "" {
		t.Errorf("ambiguous Referrizer contact linked to %s", l.GHLContactID)
	}
	dls, err := e.Store.ListDeadLetters(ctx, e.Conn.ID, store.DeadOpen, 100)
	if err != nil {
		t.Fatal(err)
	}
	ambIDs := append([]string{ambRZ.ID}, ambGHL...)
	if len(dls) == 0 {
		t.Error("no dead letter for the ambiguous person")
	}
	for _, d := range dls {
		if !slices.ContainsFunc(ambIDs, func(id string) bool { return strings.Contains(string(d.Input), id) }) {
			t.Errorf("dead letter for an unambiguous person: %s %s: %s", d.Kind, d.Input, d.Error)
		}
	}
	if n := len(e.GHLContacts()); n != len(people)+2 {
		t.Errorf("HighLevel holds %d contacts, want %d", n, len(people)+2)
	}
	if n := len(e.RZContacts()); n != len(people)+1 {
		t.Errorf("Referrizer holds %d contacts, want %d", n, len(people)+1)
	}
}

// personKey identifies a person in the test by e-mail, else phone.
func personKey(email, phone string) string {
	if email != "" {
		return "email:" + strings.ToLower(email)
	}
	return "phone:" + digitsPlus(phone)
}

// digitsPlus keeps a phone's digits and leading plus (Referrizer may format phones).
func digitsPlus(phone string) string {
	var b strings.Builder
	for i, r := range phone {
		if (r >= '0' && r <= '9') || (r == '+' && i == 0) {
			b.WriteRune(r)
		}
	}
	return b.String()
}
