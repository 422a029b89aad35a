package ghlsim_test

import (
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hlrz/hlrz/internal/ghl"
	"github.com/hlrz/hlrz/internal/sim/ghlsim"
)

// TestWebhooksForEveryChange: each change, through the API or the admin methods, sends the
// matching event, signed, with timestamp and webhookId, and with only the fields HighLevel's
// docs list. Editing a task sends nothing: HighLevel has no TaskUpdate.
func TestWebhooksForEveryChange(t *testing.T) {
	f := newFixture(t, ghlsim.Options{})
	schemas := docSchemas(t)

	_, _, body := f.call(t, "POST", "/contacts/", pit, map[string]any{"locationId": loc, "firstName": "Ann", "email": "ann@example.com"})
	id := contactOf(t, body)["id"].(string)
	f.call(t, "PUT", "/contacts/"+id, pit, map[string]any{"city": "Austin"})
	f.call(t, "PUT", "/contacts/"+id, pit, map[string]any{"city": "Austin"}) // no change, no event
	f.call(t, "POST", "/contacts/"+id+"/tags", pit, map[string]any{"tags": []string{"vip"}})
	f.call(t, "PUT", "/contacts/"+id, pit, map[string]any{"dnd": true, "dndSettings": map[string]any{"SMS": map[string]any{"status": "active"}}})
	_, _, body = f.call(t, "POST", "/contacts/"+id+"/tasks", pit, map[string]any{"title": "Call", "dueDate": "2030-01-01T10:00:00Z", "completed": false})
	taskID := body["task"].(map[string]any)["id"].(string)
	f.call(t, "PUT", "/contacts/"+id+"/tasks/"+taskID, pit, map[string]any{"title": "Call soon"}) // no TaskUpdate
	f.call(t, "PUT", "/contacts/"+id+"/tasks/"+taskID+"/completed", pit, map[string]any{"completed": true})
	f.call(t, "DELETE", "/contacts/"+id+"/tasks/"+taskID, pit, nil)
	_, _, body = f.call(t, "POST", "/contacts/"+id+"/notes", pit, map[string]any{"body": "first"})
	noteID := body["note"].(map[string]any)["id"].(string)
	f.call(t, "PUT", "/contacts/"+id+"/notes/"+noteID, pit, map[string]any{"body": "second"})
	f.call(t, "DELETE", "/contacts/"+id+"/notes/"+noteID, pit, nil)

	// The same through the admin side, as a person editing in HighLevel.
	if _, err := f.sim.RemoveTags(id, "vip"); err != nil {
		t.Fatal(err)
	}
	task, err := f.sim.CreateTask(id, ghlsim.Task{Title: "Follow up", DueDate: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.sim.UpdateTask(task.ID, ghlsim.TaskPatch{Body: new("edited")}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.sim.CompleteTask(task.ID, true); err != nil {
		t.Fatal(err)
	}
	appt, err := f.sim.CreateAppointment(id, ghlsim.Appointment{Title: "Intro", StartTime: time.Now(), EndTime: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.sim.UpdateAppointment(appt.ID, ghlsim.Appointment{Status: "cancelled"}); err != nil {
		t.Fatal(err)
	}
	if err := f.sim.DeleteAppointment(appt.ID); err != nil {
		t.Fatal(err)
	}
	if err := f.sim.DeleteContact(id); err != nil {
		t.Fatal(err)
	}
	f.wait(t)

	want := []string{"ContactCreate", "ContactUpdate", "ContactTagUpdate", "ContactDndUpdate", "TaskCreate", "TaskComplete", "TaskDelete",
		"NoteCreate", "NoteUpdate", "NoteDelete", "ContactTagUpdate", "TaskCreate", "TaskComplete",
		"AppointmentCreate", "AppointmentUpdate", "AppointmentDelete", "ContactDelete"}
	if diff := cmp.Diff(want, f.hook.types()); diff != "" {
		t.Fatalf("event types (-want +got):\n%s", diff)
	}
	seen := map[string]bool{}
	for _, d := range f.hook.got() {
		typ := d.env.RawType
		if err := ghl.VerifySignature(d.body, d.sig, &testKey(t).PublicKey); err != nil {
			t.Errorf("%s: signature: %v", typ, err)
		}
		if d.env.WebhookID == "" || seen[d.env.WebhookID] || time.Since(d.env.Timestamp) > time.Minute || d.env.LocationID != loc {
			t.Errorf("%s: envelope %+v", typ, d.env)
		}
		seen[d.env.WebhookID] = true
		props := schemas[typ]
		if props == nil {
			t.Fatalf("no doc schema for %s", typ)
		}
		for k, v := range d.m {
			if k == "timestamp" || k == "webhookId" {
				continue // documented in WebhookAuthentication.md
			}
			if !props[k] {
				t.Errorf("%s carries %q, which its doc does not list", typ, k)
			}
			if sub, ok := v.(map[string]any); ok && k == "appointment" {
				for sk := range sub {
					if !props["appointment."+sk] {
						t.Errorf("%s carries appointment.%s, which its doc does not list", typ, sk)
					}
				}
			}
		}
		if d.env.ContactID != id {
			t.Errorf("%s names contact %q, want %q", typ, d.env.ContactID, id)
		}
	}
	if st := f.sim.Stats().Webhooks; st.Enqueued != int64(len(want)) || st.Acknowledged != int64(len(want)) || st.Pending != 0 {
		t.Errorf("webhook stats = %+v", st)
	}
	f.contract(t)
}

func TestWebhookDuplicates(t *testing.T) {
	f := newFixture(t, ghlsim.Options{})
	f.sim.SetWebhooks(ghlsim.WebhookOptions{URL: f.hook.srv.URL, DuplicateRate: 1})
	for i := range 5 {
		if _, err := f.sim.CreateContact(ghlsim.Contact{LocationID: loc, Email: fmt.Sprintf("d%d@example.com", i)}); err != nil {
			t.Fatal(err)
		}
	}
	f.wait(t)
	byID := map[string][]string{}
	for _, d := range f.hook.got() {
		byID[d.env.WebhookID] = append(byID[d.env.WebhookID], string(d.body)+d.sig)
	}
	if len(byID) != 5 {
		t.Fatalf("%d distinct events, want 5", len(byID))
	}
	for id, copies := range byID {
		if len(copies) != 2 || copies[0] != copies[1] {
			t.Errorf("event %s delivered %d times (identical: %v)", id, len(copies), len(copies) == 2 && copies[0] == copies[1])
		}
	}
	if st := f.sim.Stats().Webhooks; st.Duplicates != 5 || st.Acknowledged != 10 {
		t.Errorf("stats = %+v", st)
	}
}

func TestWebhookReorder(t *testing.T) {
	order := func(seed uint64) []string {
		f := newFixture(t, ghlsim.Options{Seed: seed, Webhooks: ghlsim.WebhookOptions{ReorderWindow: 10, Delay: 50 * time.Millisecond}})
		var created []string
		for i := range 10 {
			c, err := f.sim.CreateContact(ghlsim.Contact{LocationID: loc, Email: fmt.Sprintf("r%d@example.com", i)})
			if err != nil {
				t.Fatal(err)
			}
			created = append(created, c.ID)
		}
		f.wait(t)
		var got []string
		for _, d := range f.hook.got() {
			got = append(got, d.env.ObjectID)
		}
		if len(got) != 10 {
			t.Fatalf("delivered %d of 10", len(got))
		}
		sorted := slices.Clone(got)
		sort.Strings(sorted)
		want := slices.Clone(created)
		sort.Strings(want)
		if !slices.Equal(sorted, want) {
			t.Fatal("reordering lost or invented events")
		}
		if slices.Equal(got, created) {
			t.Errorf("seed %d: window of 10 delivered in creation order", seed)
		}
		// Return positions, comparable across simulators whose ids differ.
		pos := make([]string, len(got))
		for i, id := range got {
			pos[i] = fmt.Sprint(slices.Index(created, id))
		}
		return pos
	}
	a, b := order(5), order(5)
	if !slices.Equal(a, b) {
		t.Errorf("same seed, different delivery order: %v vs %v", a, b)
	}
}

func TestWebhookDelayRetryAndDrop(t *testing.T) {
	f := newFixture(t, ghlsim.Options{Webhooks: ghlsim.WebhookOptions{Delay: 200 * time.Millisecond, RetryBackoff: 10 * time.Millisecond}})
	f.hook.mu.Lock()
	f.hook.fail = 2
	f.hook.mu.Unlock()
	began := time.Now()
	if _, err := f.sim.CreateContact(ghlsim.Contact{LocationID: loc, Email: "a@example.com"}); err != nil {
		t.Fatal(err)
	}
	f.wait(t)
	got := f.hook.got()
	if len(got) != 1 || got[0].at.Sub(began) < 200*time.Millisecond {
		t.Fatalf("delivered %d events; first after %s", len(got), got[0].at.Sub(began))
	}
	if st := f.sim.Stats().Webhooks; st.Failed != 2 || st.Acknowledged != 1 || st.Sent != 3 || st.Dropped != 0 {
		t.Errorf("stats after retries = %+v", st)
	}

	// A receiver that never answers 2xx: the event is dropped after MaxAttempts, and
	// WaitDelivered still returns.
	f.hook.reset()
	f.sim.SetWebhooks(ghlsim.WebhookOptions{URL: f.hook.srv.URL, MaxAttempts: 3, RetryBackoff: time.Millisecond})
	f.hook.mu.Lock()
	f.hook.fail = 1000
	f.hook.mu.Unlock()
	if _, err := f.sim.CreateContact(ghlsim.Contact{LocationID: loc, Email: "b@example.com"}); err != nil {
		t.Fatal(err)
	}
	f.wait(t)
	if st := f.sim.Stats().Webhooks; st.Dropped != 1 || f.hook.tries != 3 {
		t.Errorf("stats = %+v after %d tries", st, f.hook.tries)
	}
}

// TestTaskCreateWithoutContactID reproduces HighLevel's TaskCreate that lacks contactId.
func TestTaskCreateWithoutContactID(t *testing.T) {
	f := newFixture(t, ghlsim.Options{Webhooks: ghlsim.WebhookOptions{OmitTaskContactRate: 1}})
	c, err := f.sim.CreateContact(ghlsim.Contact{LocationID: loc, Email: "a@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	task, err := f.sim.CreateTask(c.ID, ghlsim.Task{Title: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.sim.CompleteTask(task.ID, true); err != nil {
		t.Fatal(err)
	}
	f.wait(t)
	got := f.hook.got()
	if len(got) != 3 {
		t.Fatalf("%d events", len(got))
	}
	if _, has := got[1].m["contactId"]; has || got[1].env.RawType != "TaskCreate" || got[1].env.ObjectID != task.ID {
		t.Errorf("TaskCreate = %s", got[1].body)
	}
	if got[2].env.ContactID != c.ID {
		t.Errorf("TaskComplete lost contactId: %s", got[2].body)
	}
}

// TestInstallUninstallWebhooks: installing through the choose-location page and uninstalling
// send HighLevel's INSTALL and UNINSTALL events.
func TestInstallUninstallWebhooks(t *testing.T) {
	f := newFixture(t, ghlsim.Options{})
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(f.srv.URL + "/v2/oauth/chooselocation?response_type=code&client_id=sim-client-id&redirect_uri=https://x.example/cb")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	f.sim.Uninstall(loc)
	f.wait(t)
	got := f.hook.got()
	if len(got) != 2 || got[0].env.Type != ghl.EventAppInstall || got[1].env.Type != ghl.EventAppUninstall {
		t.Fatalf("events = %v", f.hook.types())
	}
	if p := got[0].env.Payload.(*ghl.AppInstallEvent); p.LocationID != loc || p.AppID == "" || p.CompanyID == "" {
		t.Errorf("install = %s", got[0].body)
	}
	schemas := docSchemas(t)
	for i, name := range []string{"AppInstall", "AppUninstall"} {
		for k := range got[i].m {
			if k != "timestamp" && k != "webhookId" && !schemas[name][k] {
				t.Errorf("%s carries %q", name, k)
			}
		}
	}
	if !strings.Contains(string(got[1].body), `"type":"UNINSTALL"`) {
		t.Errorf("uninstall = %s", got[1].body)
	}
}
