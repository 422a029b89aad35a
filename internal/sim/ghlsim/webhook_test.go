package ghlsim_test

import (
	"crypto/ed25519"
	"fmt"
	"net/http"
	"net/http/httptest"
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
		if d.legacySig != "" {
			t.Errorf("%s: legacy X-WH-Signature sent by default", typ)
		}
		if err := ghl.VerifyEd25519(d.body, d.sig, testKey(t).Public().(ed25519.PublicKey)); err != nil {
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
	// The outcome log names the contact of every event (appointments carry it inside the
	// appointment), so a lost event can be traced to the person it was about.
	for _, r := range f.sim.WebhookLog() {
		if r.ContactID != id {
			t.Errorf("webhook log: %s names contact %q, want %q", r.Type, r.ContactID, id)
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

// TestWebhookLossRate: an event HighLevel gives up on is never sent, is counted as given
// up (and dropped), and the event log says which event it was and whom it was about.
func TestWebhookLossRate(t *testing.T) {
	f := newFixture(t, ghlsim.Options{})
	f.sim.SetWebhooks(ghlsim.WebhookOptions{URL: f.hook.srv.URL, LossRate: 0.5})
	for i := range 40 {
		if _, err := f.sim.CreateContact(ghlsim.Contact{LocationID: loc, Email: fmt.Sprintf("l%d@example.com", i)}); err != nil {
			t.Fatal(err)
		}
	}
	f.wait(t)
	st := f.sim.Stats().Webhooks
	got := len(f.hook.got())
	if st.GivenUp == 0 || st.GivenUp == 40 || int64(got) != 40-st.GivenUp || st.Delivered+st.Dropped != st.Enqueued {
		t.Fatalf("received %d, stats %+v", got, st)
	}
	received := map[string]bool{}
	for _, d := range f.hook.got() {
		received[d.env.WebhookID] = true
	}
	log := f.sim.WebhookLog()
	givenUp := 0
	for _, r := range log {
		if r.Type != "ContactCreate" || r.ContactID == "" {
			t.Errorf("record %+v", r)
		}
		if (r.Outcome == ghlsim.OutcomeDelivered) != received[r.WebhookID] {
			t.Errorf("record %+v, received %v", r, received[r.WebhookID])
		}
		if r.Outcome == ghlsim.OutcomeGivenUp {
			givenUp++
		}
	}
	if len(log) != 40 || int64(givenUp) != st.GivenUp {
		t.Errorf("log has %d records, %d given up; stats %+v", len(log), givenUp, st)
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

func TestWebhookDelay(t *testing.T) {
	f := newFixture(t, ghlsim.Options{Webhooks: ghlsim.WebhookOptions{Delay: 200 * time.Millisecond}})
	began := time.Now()
	if _, err := f.sim.CreateContact(ghlsim.Contact{LocationID: loc, Email: "a@example.com"}); err != nil {
		t.Fatal(err)
	}
	f.wait(t)
	got := f.hook.got()
	if len(got) != 1 {
		t.Fatalf("delivered %d events, want 1", len(got))
	}
	if d := got[0].at.Sub(began); d < 200*time.Millisecond {
		t.Errorf("delivered after %s, want at least the 200ms delay", d)
	}
}

// TestWebhookRetriesOnlyAfter429 checks HighLevel's retry policy: a 429 is retried, the same
// payload and signature each time, RetryInterval plus jitter apart, at most MaxRetries times;
// any other answer is final and the event is lost.
func TestWebhookRetriesOnlyAfter429(t *testing.T) {
	const interval, jitter = 100 * time.Millisecond, 50 * time.Millisecond
	f := newFixture(t, ghlsim.Options{Webhooks: ghlsim.WebhookOptions{RetryInterval: interval, RetryJitter: jitter}})
	if o := f.sim.Webhooks(); o.MaxRetries != 6 {
		t.Errorf("default MaxRetries = %d, want HighLevel's 6", o.MaxRetries)
	}
	plain := ghlsim.New(ghlsim.Options{})
	t.Cleanup(plain.Close)
	if o := plain.Webhooks(); o.RetryInterval != 10*time.Minute || o.RetryJitter <= 0 {
		t.Errorf("default retry interval %s, jitter %s; want HighLevel's 10 min plus some jitter", o.RetryInterval, o.RetryJitter)
	}

	t.Run("429 twice then 200", func(t *testing.T) {
		f.hook.reset()
		f.hook.failNext(2, http.StatusTooManyRequests)
		before := f.sim.Stats().Webhooks
		if _, err := f.sim.CreateContact(ghlsim.Contact{LocationID: loc, Email: "r1@example.com"}); err != nil {
			t.Fatal(err)
		}
		f.wait(t)
		tries := f.hook.tried()
		if len(tries) != 3 || len(f.hook.got()) != 1 {
			t.Fatalf("%d attempts, %d acknowledged; want 3 and 1", len(tries), len(f.hook.got()))
		}
		for i, d := range tries[1:] {
			if string(d.body) != string(tries[0].body) || d.sig != tries[0].sig {
				t.Errorf("retry %d differs from the first attempt (same webhookId and timestamp expected):\n%s\n%s", i+1, d.body, tries[0].body)
			}
			if gap := d.at.Sub(tries[i].at); gap < interval || gap > interval+jitter+150*time.Millisecond {
				t.Errorf("retry %d came %s after the previous attempt, want %s plus up to %s jitter", i+1, gap, interval, jitter)
			}
		}
		st := diff(f.sim.Stats().Webhooks, before)
		if st.RateLimited != 2 || st.Retried != 2 || st.Delivered != 1 || st.Lost != 0 || st.Sent != 3 || f.sim.Stats().Webhooks.MostRetries != 2 {
			t.Errorf("stats = %+v", st)
		}
	})

	for _, status := range []int{http.StatusInternalServerError, http.StatusServiceUnavailable, http.StatusBadRequest, http.StatusUnauthorized} {
		t.Run(fmt.Sprintf("%d is final", status), func(t *testing.T) {
			f.hook.reset()
			f.hook.failNext(1, status)
			before := f.sim.Stats().Webhooks
			if _, err := f.sim.CreateContact(ghlsim.Contact{LocationID: loc, Email: fmt.Sprintf("f%d@example.com", status)}); err != nil {
				t.Fatal(err)
			}
			f.wait(t)
			time.Sleep(interval + jitter) // a retry, were there one, would have come by now
			if n := len(f.hook.tried()); n != 1 {
				t.Errorf("%d attempts after a %d, want 1: only 429 is retried", n, status)
			}
			if st := diff(f.sim.Stats().Webhooks, before); st.Lost != 1 || st.Dropped != 1 || st.Delivered != 0 || st.Retried != 0 {
				t.Errorf("stats = %+v, want the event lost", st)
			}
		})
	}

	t.Run("429 on every attempt", func(t *testing.T) {
		f.hook.reset()
		f.hook.failNext(1000, http.StatusTooManyRequests)
		before := f.sim.Stats().Webhooks
		if _, err := f.sim.CreateContact(ghlsim.Contact{LocationID: loc, Email: "r2@example.com"}); err != nil {
			t.Fatal(err)
		}
		f.wait(t)
		if n := len(f.hook.tried()); n != 7 {
			t.Errorf("%d attempts, want 1 + 6 retries", n)
		}
		if st := diff(f.sim.Stats().Webhooks, before); st.Lost != 1 || st.RateLimited != 7 || st.Retried != 6 {
			t.Errorf("stats = %+v", st)
		}
	})

	t.Run("no answer is final", func(t *testing.T) {
		dead := httptest.NewServer(http.NotFoundHandler())
		dead.Close() // connection refused from now on
		f.sim.SetWebhooks(ghlsim.WebhookOptions{URL: dead.URL, RetryInterval: interval, RetryJitter: jitter})
		t.Cleanup(func() {
			f.sim.SetWebhooks(ghlsim.WebhookOptions{URL: f.hook.srv.URL, RetryInterval: interval, RetryJitter: jitter})
		})
		before := f.sim.Stats().Webhooks
		if _, err := f.sim.CreateContact(ghlsim.Contact{LocationID: loc, Email: "r3@example.com"}); err != nil {
			t.Fatal(err)
		}
		f.wait(t)
		if st := diff(f.sim.Stats().Webhooks, before); st.Lost != 1 || st.Sent != 1 {
			t.Errorf("stats = %+v, want one attempt and the event lost", st)
		}
	})
}

// TestWebhookSignModes: Ed25519 X-GHL-Signature by default; the legacy RSA X-WH-Signature
// besides it or alone when asked; every signature verifies with the simulator's public keys.
func TestWebhookSignModes(t *testing.T) {
	for _, tc := range []struct {
		mode           ghlsim.SignMode
		ed, legacy     bool
		verifiedScheme ghl.Scheme
	}{
		{"", true, false, ghl.SchemeEd25519},
		{ghlsim.SignEd25519, true, false, ghl.SchemeEd25519},
		{ghlsim.SignBoth, true, true, ghl.SchemeEd25519},
		{ghlsim.SignLegacy, false, true, ghl.SchemeRSA},
	} {
		t.Run(string(tc.mode), func(t *testing.T) {
			f := newFixture(t, ghlsim.Options{Webhooks: ghlsim.WebhookOptions{Sign: tc.mode, LegacyKey: testLegacyKey(t)}})
			if _, err := f.sim.CreateContact(ghlsim.Contact{LocationID: loc, Email: "s@example.com"}); err != nil {
				t.Fatal(err)
			}
			f.wait(t)
			got := f.hook.got()
			if len(got) != 1 {
				t.Fatalf("%d deliveries", len(got))
			}
			d := got[0]
			if (d.sig != "") != tc.ed || (d.legacySig != "") != tc.legacy {
				t.Fatalf("X-GHL-Signature sent %v, X-WH-Signature sent %v; want %v and %v", d.sig != "", d.legacySig != "", tc.ed, tc.legacy)
			}
			keys, err := f.sim.WebhookPublicKeys()
			if err != nil {
				t.Fatal(err)
			}
			if tc.legacy {
				if err := ghl.VerifySignature(d.body, d.legacySig, keys.RSA...); err != nil {
					t.Errorf("X-WH-Signature: %v", err)
				}
			}
			h := http.Header{}
			if d.sig != "" {
				h.Set(ghl.SignatureHeader, d.sig)
			}
			if d.legacySig != "" {
				h.Set(ghl.LegacySignatureHeader, d.legacySig)
			}
			if scheme, err := ghl.VerifyWebhook(d.body, h, keys); err != nil || scheme != tc.verifiedScheme {
				t.Errorf("VerifyWebhook = %s, %v; want %s", scheme, err, tc.verifiedScheme)
			}
		})
	}
}

// diff is a - b field by field for the counters.
func diff(a, b ghlsim.WebhookStats) ghlsim.WebhookStats {
	return ghlsim.WebhookStats{
		Enqueued: a.Enqueued - b.Enqueued, Sent: a.Sent - b.Sent, Acknowledged: a.Acknowledged - b.Acknowledged,
		Failed: a.Failed - b.Failed, RateLimited: a.RateLimited - b.RateLimited, Retried: a.Retried - b.Retried,
		Delivered: a.Delivered - b.Delivered, Lost: a.Lost - b.Lost, Dropped: a.Dropped - b.Dropped,
		Duplicates: a.Duplicates - b.Duplicates, Pending: a.Pending,
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
