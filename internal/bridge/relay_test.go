package bridge_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hlrz/hlrz/internal/bridge"
	"github.com/hlrz/hlrz/internal/domain"
	"github.com/hlrz/hlrz/internal/ghl"
	"github.com/hlrz/hlrz/internal/store"
)

func TestRelayMapsEventsToSignals(t *testing.T) {
	f := newFixture(t, nil)
	cases := []struct {
		typ       string
		fields    map[string]any
		contact   string
		kind      string
		objectID  string
		wantState store.InboxState
	}{
		{typ: "ContactCreate", fields: map[string]any{"id": "c-1"}, contact: "c-1", kind: domain.KindContact},
		{typ: "ContactUpdate", fields: map[string]any{"id": "c-1"}, contact: "c-1", kind: domain.KindContact},
		{typ: "ContactDndUpdate", fields: map[string]any{"id": "c-1", "dnd": true}, contact: "c-1", kind: domain.KindContact},
		{typ: "ContactTagUpdate", fields: map[string]any{"id": "c-1", "tags": []string{"vip"}}, contact: "c-1", kind: domain.KindTags},
		{typ: "NoteCreate", fields: map[string]any{"id": "n-1", "contactId": "c-2", "body": "secret"}, contact: "c-2", kind: domain.KindNotes, objectID: "n-1"},
		{typ: "NoteUpdate", fields: map[string]any{"id": "n-1", "contactId": "c-2"}, contact: "c-2", kind: domain.KindNotes, objectID: "n-1"},
		{typ: "NoteDelete", fields: map[string]any{"id": "n-1", "contactId": "c-2"}, contact: "c-2", kind: domain.KindNotes, objectID: "n-1"},
		{typ: "TaskCreate", fields: map[string]any{"id": "t-1", "contactId": "c-3", "title": "call"}, contact: "c-3", kind: domain.KindTasks, objectID: "t-1"},
		{typ: "TaskComplete", fields: map[string]any{"id": "t-1", "contactId": "c-3"}, contact: "c-3", kind: domain.KindTasks, objectID: "t-1"},
		{typ: "TaskDelete", fields: map[string]any{"id": "t-1", "contactId": "c-3"}, contact: "c-3", kind: domain.KindTasks, objectID: "t-1"},
		{typ: "AppointmentCreate", fields: map[string]any{"appointment": map[string]any{"id": "a-1", "contactId": "c-4"}}, contact: "c-4", kind: domain.KindAppointment, objectID: "a-1"},
		{typ: "AppointmentUpdate", fields: map[string]any{"appointment": map[string]any{"id": "a-1", "contactId": "c-4"}}, contact: "c-4", kind: domain.KindAppointment, objectID: "a-1"},
		{typ: "AppointmentDelete", fields: map[string]any{"appointment": map[string]any{"id": "a-1", "contactId": "c-4"}}, contact: "c-4", kind: domain.KindAppointment, objectID: "a-1"},
		{typ: "ContactDelete", fields: map[string]any{"id": "c-1"}, contact: "c-1", kind: domain.KindContactDeleted},
		// Not signalled:
		{typ: "ContactDelete", fields: map[string]any{"id": "never-linked"}, wantState: store.InboxIgnored},
		{typ: "NoteCreate", fields: map[string]any{"id": "n-2"}, wantState: store.InboxIgnored},
		{typ: "INSTALL", fields: map[string]any{"locationId": nil, "companyId": "agency"}, wantState: store.InboxIgnored},
	}
	for _, tc := range cases {
		t.Run(tc.typ+"/"+string(tc.wantState), func(t *testing.T) {
			body := payload(tc.typ, testLocation, tc.fields)
			id := webhookID(t, body)
			before := f.rec.count()
			f.mustPost(body, http.StatusOK)
			f.drain()
			row := f.inboxByKey(id)
			if tc.wantState != "" {
				if row.State != tc.wantState || f.rec.count() != before {
					t.Fatalf("state %s (%q), %d new signals; want %s and none", row.State, row.Note, f.rec.count()-before, tc.wantState)
				}
				return
			}
			if row.State != store.InboxSignalled {
				t.Fatalf("state %s (%q), want signalled", row.State, row.Note)
			}
			all := f.rec.all()
			if len(all) != before+1 {
				t.Fatalf("%d new signals, want 1", len(all)-before)
			}
			got := all[len(all)-1]
			link, err := f.store.LinkBy(context.Background(), testConnID, store.SideGHL, tc.contact)
			if err != nil {
				t.Fatalf("link of %s: %v", tc.contact, err)
			}
			want := domain.Ref{ConnectionID: testConnID, LinkID: link.ID}
			if got.Ref != want {
				t.Errorf("ref %+v, want %+v", got.Ref, want)
			}
			ev := got.Event
			if ev.Source != domain.SourceGHL || ev.ID != id || ev.Kind != tc.kind || ev.ObjectID != tc.objectID {
				t.Errorf("event %+v, want source ghl, id %s, kind %s, object %q", ev, id, tc.kind, tc.objectID)
			}
			if d := time.Since(ev.OccurredAt); d < 0 || d > time.Minute {
				t.Errorf("occurredAt %s is not the event's timestamp", ev.OccurredAt)
			}
		})
	}
}

func TestRelayResolvesTaskWithoutContact(t *testing.T) {
	var flaky atomic.Int32
	resolver := bridge.TaskContactResolverFunc(func(_ context.Context, conn store.Connection, taskID, _ string) (string, error) {
		if conn.ID != testConnID {
			return "", fmt.Errorf("unexpected connection %s", conn.ID)
		}
		switch taskID {
		case "t-known":
			return "c-owner", nil
		case "t-gone":
			return "", fmt.Errorf("get-task: %w", ghl.ErrNotFound)
		case "t-flaky":
			if flaky.Add(1) == 1 {
				return "", errors.New("HTTP 503")
			}
			return "c-flaky", nil
		}
		return "", nil
	})
	// A retry far enough out that drain() cannot pick it up again at once.
	f := newFixture(t, func(c *bridge.Config) {
		c.Tasks = resolver
		c.RetryBase, c.RetryMax = 300*time.Millisecond, 300*time.Millisecond
	})

	known := payload("TaskCreate", testLocation, map[string]any{"id": "t-known", "title": "x"})
	gone := payload("TaskCreate", testLocation, map[string]any{"id": "t-gone", "title": "x"})
	flakyBody := payload("TaskCreate", testLocation, map[string]any{"id": "t-flaky", "title": "x"})
	for _, b := range [][]byte{known, gone, flakyBody} {
		f.mustPost(b, http.StatusOK)
	}
	f.drain()

	if row := f.inboxByKey(webhookID(t, known)); row.State != store.InboxSignalled {
		t.Errorf("t-known: state %s (%q), want signalled", row.State, row.Note)
	}
	if _, err := f.store.LinkBy(context.Background(), testConnID, store.SideGHL, "c-owner"); err != nil {
		t.Errorf("t-known: no link for the resolved contact: %v", err)
	}
	if row := f.inboxByKey(webhookID(t, gone)); row.State != store.InboxIgnored {
		t.Errorf("t-gone: state %s, want ignored", row.State)
	}
	row := f.inboxByKey(webhookID(t, flakyBody))
	if row.State != store.InboxPending || !strings.Contains(row.LastError, "HTTP 503") {
		t.Fatalf("t-flaky after a failed lookup: state %s, last error %q; want pending with the error", row.State, row.LastError)
	}
	eventually(t, 5*time.Second, "t-flaky to be signalled after its retry", func() bool {
		f.drain()
		return f.inboxByKey(webhookID(t, flakyBody)).State == store.InboxSignalled
	})
	for _, s := range f.rec.all() {
		if s.Event.Kind != domain.KindTasks || (s.Event.ObjectID != "t-known" && s.Event.ObjectID != "t-flaky") {
			t.Errorf("unexpected signal %+v", s.Event)
		}
	}
	if f.rec.count() != 2 {
		t.Errorf("%d signals, want 2", f.rec.count())
	}

	// Without a resolver such an event cannot be routed: it is kept, failed, for an operator.
	g := newFixture(t, nil)
	body := payload("TaskCreate", testLocation, map[string]any{"id": "t-x", "title": "x"})
	g.mustPost(body, http.StatusOK)
	g.drain()
	if row := g.inboxByKey(webhookID(t, body)); row.State != store.InboxFailed {
		t.Errorf("no resolver: state %s, want failed", row.State)
	}
}

func TestRelaySuppressesEchoes(t *testing.T) {
	echoes := map[string]bool{}
	var mu sync.Mutex
	var calls atomic.Int32
	checker := bridge.EchoCheckerFunc(func(_ context.Context, conn store.Connection, link store.Link, ev ghl.Envelope) (bool, error) {
		calls.Add(1)
		if conn.ID != testConnID || link.GHLContactID != ev.ContactID {
			return false, fmt.Errorf("wrong connection %s or link %+v for %s", conn.ID, link, ev.ContactID)
		}
		if ev.ContactID == "c-err" {
			return false, errors.New("ledger unavailable")
		}
		mu.Lock()
		defer mu.Unlock()
		return echoes[ev.WebhookID], nil
	})
	f := newFixture(t, func(c *bridge.Config) { c.Echo = checker })

	create := payload("ContactCreate", testLocation, map[string]any{"id": "c-1"})
	f.mustPost(create, http.StatusOK)
	f.drain()
	if calls.Load() != 0 {
		t.Errorf("echo check ran for a new link")
	}
	echo := payload("ContactUpdate", testLocation, map[string]any{"id": "c-1"})
	mu.Lock()
	echoes[webhookID(t, echo)] = true
	mu.Unlock()
	real := payload("ContactUpdate", testLocation, map[string]any{"id": "c-1"})
	f.mustPost(echo, http.StatusOK)
	f.mustPost(real, http.StatusOK)
	f.drain()
	if row := f.inboxByKey(webhookID(t, echo)); row.State != store.InboxEcho {
		t.Errorf("echo: state %s, want echo", row.State)
	}
	if row := f.inboxByKey(webhookID(t, real)); row.State != store.InboxSignalled {
		t.Errorf("real change: state %s, want signalled", row.State)
	}
	counts := f.rec.counts()
	if counts[webhookID(t, echo)] != 0 || counts[webhookID(t, real)] != 1 {
		t.Errorf("signals: echo %d, real %d; want 0 and 1", counts[webhookID(t, echo)], counts[webhookID(t, real)])
	}
	if got := value(t, f.metrics.Echoes.WithLabelValues("ghl")); got != 1 {
		t.Errorf("echoes{ghl} = %v, want 1", got)
	}

	// A failing check signals rather than risk dropping a change.
	f.mustPost(payload("ContactCreate", testLocation, map[string]any{"id": "c-err"}), http.StatusOK)
	errBody := payload("ContactUpdate", testLocation, map[string]any{"id": "c-err"})
	f.mustPost(errBody, http.StatusOK)
	f.drain()
	if f.rec.counts()[webhookID(t, errBody)] != 1 {
		t.Errorf("event whose echo check failed was not signalled")
	}
}

// lifecycle records schedule pauses and resumes.
type lifecycle struct {
	mu      sync.Mutex
	paused  []string
	resumed []string
	failN   int
}

func (l *lifecycle) PauseSchedules(_ context.Context, connID, note string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.paused = append(l.paused, connID)
	if l.failN > 0 {
		l.failN--
		return errors.New("temporal unavailable")
	}
	return nil
}

func (l *lifecycle) ResumeSchedules(_ context.Context, connID, note string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.resumed = append(l.resumed, connID)
	return nil
}

func (l *lifecycle) pauses() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.paused...)
}

func TestRelayAppInstallAndUninstall(t *testing.T) {
	life := &lifecycle{}
	f := newFixture(t, func(c *bridge.Config) {
		c.Schedules = life
		c.RetryBase, c.RetryMax = 300*time.Millisecond, 300*time.Millisecond
	})
	ctx := context.Background()
	const loc = "NewLocation000000ABC"

	// An install for a location without a connection is not an orphan: it creates one.
	install := payload("INSTALL", loc, map[string]any{"appId": "app1", "companyId": "Comp1"})
	f.mustPost(install, http.StatusOK)
	f.drain()
	conn, err := f.store.ConnectionByLocation(ctx, loc)
	if err != nil {
		t.Fatalf("install did not create a connection: %v", err)
	}
	if conn.ID != "newlocation000000abc" || conn.Status != store.ConnPending || conn.GHLCompanyID != "Comp1" ||
		!strings.Contains(conn.StatusReason, "starter connect -c newlocation000000abc --rz-token") {
		t.Errorf("connection %+v, want id newlocation000000abc, pending with the connect command as reason, company Comp1", conn)
	}
	if row := f.inboxByKey(webhookID(t, install)); row.State != store.InboxSignalled || !strings.Contains(row.Note, "created") {
		t.Errorf("install row: %s %q", row.State, row.Note)
	}
	// A repeated install (new webhookId) changes nothing.
	f.mustPost(payload("INSTALL", loc, map[string]any{"appId": "app1"}), http.StatusOK)
	f.drain()

	// Pending: the install brought no Referrizer credential, so events make no link and no
	// signal (no workflow).
	early := payload("ContactCreate", loc, map[string]any{"id": "c-new"})
	f.mustPost(early, http.StatusOK)
	f.drain()
	if row := f.inboxByKey(webhookID(t, early)); row.State != store.InboxIgnored || !strings.Contains(row.Note, "pending") {
		t.Errorf("event of a pending connection: %s %q, want ignored as pending", row.State, row.Note)
	}
	if f.rec.counts()[webhookID(t, early)] != 0 {
		t.Errorf("event of a pending connection was signalled")
	}
	if n, err := f.store.CountLinks(ctx, conn.ID); err != nil || n != 0 {
		t.Errorf("pending connection has %d links (%v), want none", n, err)
	}

	// `starter connect` adds the Referrizer token and activates it.
	if _, err := f.store.PutToken(ctx, store.Token{ConnectionID: conn.ID, Kind: store.TokenReferrizer, Mode: store.AuthPrivate, AccessToken: "rz"}); err != nil {
		t.Fatal(err)
	}
	if err := f.store.SetConnectionStatus(ctx, conn.ID, store.ConnActive, ""); err != nil {
		t.Fatal(err)
	}
	first := payload("ContactCreate", loc, map[string]any{"id": "c-new"})
	f.mustPost(first, http.StatusOK)
	f.drain()
	if f.rec.counts()[webhookID(t, first)] != 1 {
		t.Fatalf("event of the connected connection not signalled")
	}

	f.mustPost(payload("UNINSTALL", loc, map[string]any{"appId": "app1"}), http.StatusOK)
	f.drain()
	conn, err = f.store.GetConnection(ctx, conn.ID)
	if err != nil {
		t.Fatal(err)
	}
	if conn.Status != store.ConnPaused {
		t.Errorf("status after uninstall %s, want paused", conn.Status)
	}
	if p := life.pauses(); len(p) != 1 || p[0] != conn.ID {
		t.Errorf("paused schedules %v, want [%s]", p, conn.ID)
	}
	later := payload("ContactUpdate", loc, map[string]any{"id": "c-new"})
	f.mustPost(later, http.StatusOK)
	f.drain()
	if row := f.inboxByKey(webhookID(t, later)); row.State != store.InboxIgnored || !strings.Contains(row.Note, "paused") {
		t.Errorf("event after uninstall: %s %q, want ignored as paused", row.State, row.Note)
	}
	if f.rec.counts()[webhookID(t, later)] != 0 {
		t.Errorf("event of a paused connection was signalled")
	}
	if _, err := f.store.LinkBy(ctx, conn.ID, store.SideGHL, "c-new"); err != nil {
		t.Errorf("uninstall lost the link: %v", err)
	}

	// Pausing schedules fails while Temporal is down: the uninstall is retried, not lost.
	life.mu.Lock()
	life.failN = 1
	life.mu.Unlock()
	un := payload("UNINSTALL", testLocation, map[string]any{"appId": "app1"})
	f.mustPost(un, http.StatusOK)
	f.drain()
	if row := f.inboxByKey(webhookID(t, un)); row.State != store.InboxPending {
		t.Fatalf("uninstall with Temporal down: state %s, want pending", row.State)
	}
	eventually(t, 5*time.Second, "uninstall retry", func() bool {
		f.drain()
		return f.inboxByKey(webhookID(t, un)).State == store.InboxSignalled
	})
}

func TestRelayInstallAvoidsTakenConnectionID(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	// HighLevel ids are case-sensitive; ours are lower-case, so two locations can collide.
	if _, err := f.store.PutConnection(ctx, store.Connection{ID: bridge.ConnectionIDFor("abcDEF"), GHLLocationID: "abcdef"}); err != nil {
		t.Fatal(err)
	}
	f.mustPost(payload("INSTALL", "abcDEF", map[string]any{"appId": testAppID}), http.StatusOK)
	f.drain()
	conn, err := f.store.ConnectionByLocation(ctx, "abcDEF")
	if err != nil {
		t.Fatalf("no connection for abcDEF: %v", err)
	}
	if conn.ID == "abcdef" || store.ValidConnectionID(conn.ID) != nil {
		t.Errorf("connection id %q: want a valid id distinct from abcdef", conn.ID)
	}
}

func TestConnectionIDFor(t *testing.T) {
	for loc, want := range map[string]string{
		"ve9EPM428h8vShlRW1KT":  "ve9epm428h8vshlrw1kt",
		"a b/c":                 "a-b-c",
		strings.Repeat("x", 80): strings.Repeat("x", 64),
	} {
		if got := bridge.ConnectionIDFor(loc); got != want {
			t.Errorf("ConnectionIDFor(%q) = %q, want %q", loc, got, want)
		}
	}
	for _, loc := range []string{"", "///", "ÄÖÜ", "ve9EPM428h8vShlRW1KT"} {
		if err := store.ValidConnectionID(bridge.ConnectionIDFor(loc)); err != nil {
			t.Errorf("ConnectionIDFor(%q): %v", loc, err)
		}
	}
}

func TestRelayGauges(t *testing.T) {
	f := newFixture(t, nil)
	down := errors.New("temporal unavailable")
	f.rec.setFail(func(domain.Event) error { return down })
	for i := range 3 {
		f.mustPost(payload("ContactUpdate", testLocation, map[string]any{"id": fmt.Sprintf("c-%d", i)}), http.StatusOK)
	}
	time.Sleep(20 * time.Millisecond)
	if _, err := f.bridge.RelayOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := f.bridge.UpdateGauges(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := value(t, f.metrics.InboxDepth); got != 3 {
		t.Errorf("inbox depth %v, want 3", got)
	}
	if got := value(t, f.metrics.RelayLag); got <= 0 {
		t.Errorf("relay lag %v, want > 0", got)
	}
	f.rec.setFail(nil)
	eventually(t, 5*time.Second, "delivery after Temporal is back", func() bool {
		f.drain()
		return f.inboxCounts()[store.InboxSignalled] == 3
	})
	if err := f.bridge.UpdateGauges(context.Background()); err != nil {
		t.Fatal(err)
	}
	if depth, lag := value(t, f.metrics.InboxDepth), value(t, f.metrics.RelayLag); depth != 0 || lag != 0 {
		t.Errorf("after delivery: depth %v, lag %v; want 0, 0", depth, lag)
	}
	if got := value(t, f.metrics.Signals); got != 3 {
		t.Errorf("signals %v, want 3", got)
	}
}

// postMany posts n ContactUpdate events spread over contacts and returns their webhookIds.
func postMany(t *testing.T, f *fixture, n, contacts int) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range n {
		body := payload("ContactUpdate", testLocation, map[string]any{"id": fmt.Sprintf("c-%d", i%contacts)})
		ids[i] = webhookID(t, body)
		f.mustPost(body, http.StatusOK)
	}
	return ids
}

func assertOncePerID(t *testing.T, ids []string, counts map[string]int) {
	t.Helper()
	bad := 0
	for _, id := range ids {
		if c := counts[id]; c != 1 {
			bad++
			if bad <= 5 {
				t.Errorf("event %s signalled %d times, want 1", id, c)
			}
		}
	}
	if len(counts) != len(ids) {
		t.Errorf("%d distinct events signalled, want %d", len(counts), len(ids))
	}
	if bad > 5 {
		t.Errorf("... %d events in all were not signalled exactly once", bad)
	}
}

func TestRelayKilledMidBatchLosesNothing(t *testing.T) {
	f := newFixture(t, func(c *bridge.Config) { c.BatchSize = 50; c.Concurrency = 4 })
	ids := postMany(t, f, 300, 40)

	ctx, cancel := context.WithCancel(context.Background())
	f.rec.after = func(n int) {
		if n == 37 {
			cancel()
		}
	}
	if err := f.bridge.RunRelay(ctx); err != nil {
		t.Fatalf("RunRelay: %v", err)
	}
	f.rec.after = nil
	signalled := f.inboxCounts()[store.InboxSignalled]
	if signalled != f.rec.count() {
		t.Errorf("%d rows recorded as signalled, %d signals sent: a sent signal was not recorded", signalled, f.rec.count())
	}
	if signalled == 0 || signalled == len(ids) {
		t.Fatalf("%d of %d signalled before the stop; the test did not stop mid-way", signalled, len(ids))
	}
	var held int
	if err := f.store.Pool().QueryRow(context.Background(),
		`SELECT count(*) FROM inbox WHERE state = 'pending' AND claimed_until > now()`).Scan(&held); err != nil {
		t.Fatal(err)
	}
	if held != 0 {
		t.Errorf("%d rows still leased by the stopped relay; want them handed back", held)
	}

	stop := runRelay(t, f.bridge)
	eventually(t, 20*time.Second, "all events signalled after restart", func() bool {
		return f.inboxCounts()[store.InboxSignalled] == len(ids)
	})
	stop()
	assertOncePerID(t, ids, f.rec.counts())
}

func TestRelayCrashedRelaysRowsAreTakenOver(t *testing.T) {
	f := newFixture(t, nil)
	ids := postMany(t, f, 100, 20)
	// A relay that claimed rows and died: nobody settles them until the lease ends.
	dead, err := f.store.ClaimInbox(context.Background(), "dead-relay", 30, 300*time.Millisecond)
	if err != nil || len(dead) != 30 {
		t.Fatalf("claim as the dead relay: %d rows, %v", len(dead), err)
	}
	stop := runRelay(t, f.bridge)
	eventually(t, 20*time.Second, "all events signalled", func() bool {
		return f.inboxCounts()[store.InboxSignalled] == len(ids)
	})
	stop()
	assertOncePerID(t, ids, f.rec.counts())
	if row, err := f.store.GetInbox(context.Background(), dead[0].ID); err != nil || row.Attempts != 2 {
		t.Errorf("taken-over row: attempts %d (%v), want 2", row.Attempts, err)
	}
}

func TestRelayTemporalDownThenBack(t *testing.T) {
	f := newFixture(t, func(c *bridge.Config) { c.BatchSize = 20 })
	var down atomic.Bool
	down.Store(true)
	f.rec.setFail(func(domain.Event) error {
		if down.Load() {
			return errors.New("rpc error: code = Unavailable desc = connection refused")
		}
		return nil
	})
	ids := postMany(t, f, 100, 25)
	stop := runRelay(t, f.bridge)
	eventually(t, 10*time.Second, "several failed signal attempts", func() bool { return f.rec.failures.Load() >= 5 })
	counts := f.inboxCounts()
	if counts[store.InboxPending] != len(ids) || f.rec.count() != 0 {
		t.Fatalf("while Temporal is down: %v and %d signals; want all %d pending", counts, f.rec.count(), len(ids))
	}
	eventually(t, 5*time.Second, "inbox depth gauge", func() bool { return value(t, f.metrics.InboxDepth) == float64(len(ids)) })
	time.Sleep(300 * time.Millisecond)
	down.Store(false)
	eventually(t, 20*time.Second, "all events delivered once Temporal is back", func() bool {
		return f.inboxCounts()[store.InboxSignalled] == len(ids)
	})
	stop()
	assertOncePerID(t, ids, f.rec.counts())
	var retried int
	if err := f.store.Pool().QueryRow(context.Background(), `SELECT count(*) FROM inbox WHERE attempts > 1`).Scan(&retried); err != nil {
		t.Fatal(err)
	}
	if retried == 0 {
		t.Errorf("no row was retried")
	}
	// One failure per batch trips the batch: far fewer failed calls than rows × attempts.
	t.Logf("%d failed signal attempts for %d events", f.rec.failures.Load(), len(ids))
}

func TestRelayTwoRelaysShareWithoutDoubleDelivery(t *testing.T) {
	tune := func(id string) func(*bridge.Config) {
		return func(c *bridge.Config) { c.BatchSize = 10; c.Concurrency = 4; c.RelayID = id }
	}
	a := newFixture(t, tune("relay-a"))
	b := newFixtureOn(t, a.dsn, a.store, tune("relay-b"))
	a.rec.delay, b.rec.delay = time.Millisecond, time.Millisecond
	ids := postMany(t, a, 500, 100)

	stopA, stopB := runRelay(t, a.bridge), runRelay(t, b.bridge)
	eventually(t, 30*time.Second, "all events signalled", func() bool {
		return a.inboxCounts()[store.InboxSignalled] == len(ids)
	})
	stopA()
	stopB()
	merged := a.rec.counts()
	for id, n := range b.rec.counts() {
		merged[id] += n
	}
	assertOncePerID(t, ids, merged)
	if a.rec.count() == 0 || b.rec.count() == 0 {
		t.Errorf("relay a sent %d, relay b %d: want both to share the work", a.rec.count(), b.rec.count())
	}
}

func TestWebhookConcurrentDuplicatesAndReordering(t *testing.T) {
	f := newFixture(t, nil)
	const unique, dupes = 1000, 200
	bodies := make([][]byte, 0, unique+dupes)
	ids := make([]string, unique)
	for i := range unique {
		b := payload("ContactUpdate", testLocation, map[string]any{"id": fmt.Sprintf("c-%d", i%150)})
		ids[i] = webhookID(t, b)
		bodies = append(bodies, b)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range dupes {
		bodies = append(bodies, bodies[rng.IntN(unique)])
	}
	rng.Shuffle(len(bodies), func(i, j int) { bodies[i], bodies[j] = bodies[j], bodies[i] })

	stop := runRelay(t, f.bridge)
	work := make(chan []byte)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for b := range work {
				if resp := f.post(b); resp.StatusCode != http.StatusOK {
					t.Errorf("status %d", resp.StatusCode)
				}
			}
		})
	}
	for _, b := range bodies {
		work <- b
	}
	close(work)
	wg.Wait()
	eventually(t, 30*time.Second, "all events signalled", func() bool {
		return f.inboxCounts()[store.InboxSignalled] == unique
	})
	stop()
	assertOncePerID(t, ids, f.rec.counts())
	if n := total(f.inboxCounts()); n != unique {
		t.Errorf("%d inbox rows, want %d", n, unique)
	}
	if got := value(t, f.metrics.WebhookDupes); got != dupes {
		t.Errorf("duplicates %v, want %d", got, dupes)
	}
}

func TestRelaySurvivesStoreOutage(t *testing.T) {
	f := newFixture(t, nil)
	f.store.Close()
	stop := runRelay(t, f.bridge)
	eventually(t, 5*time.Second, "the relay to report the outage", func() bool {
		return strings.Contains(f.logs.String(), "relay: store unavailable")
	})
	stop() // returns nil once cancelled, outage or not (checked by runRelay)
}

// A batch that takes longer than the lease keeps its rows: the relay renews the lease while
// it works, so a second relay does not take them over and signal them twice. (The lease can
// therefore be short, and a killed relay's rows come back within it.)
func TestRelayRenewsLeaseOfSlowBatch(t *testing.T) {
	tune := func(id string) func(*bridge.Config) {
		return func(c *bridge.Config) {
			c.BatchSize = 20
			c.Concurrency = 1
			c.Lease = 300 * time.Millisecond
			c.RelayID = id
		}
	}
	a := newFixture(t, tune("relay-a"))
	b := newFixtureOn(t, a.dsn, a.store, tune("relay-b"))
	a.rec.delay, b.rec.delay = 100*time.Millisecond, time.Millisecond // a's batch of 20: 2 s
	ids := postMany(t, a, 20, 20)

	stopA := runRelay(t, a.bridge)
	eventually(t, 10*time.Second, "relay a working on its batch", func() bool { return a.rec.count() >= 1 })
	stopB := runRelay(t, b.bridge) // idle, and looking for rows whose lease ran out
	eventually(t, 30*time.Second, "all events signalled", func() bool {
		return a.inboxCounts()[store.InboxSignalled] == len(ids)
	})
	stopA()
	stopB()
	merged := a.rec.counts()
	for id, n := range b.rec.counts() {
		merged[id] += n
	}
	assertOncePerID(t, ids, merged)
	if n := b.rec.count(); n != 0 {
		t.Errorf("relay b signalled %d of relay a's leased rows", n)
	}
}
