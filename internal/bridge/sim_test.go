package bridge_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/hlrz/hlrz/internal/bridge"
	"github.com/hlrz/hlrz/internal/domain"
	"github.com/hlrz/hlrz/internal/sim/ghlsim"
	"github.com/hlrz/hlrz/internal/store"
)

// TestSimulatorWebhooksExactlyOneSignalPerEvent drives 1,000 events through the HighLevel
// simulator's signed webhooks with ~20 % duplicate deliveries, shuffled delivery order and
// TaskCreate events without contactId, and checks each event is signalled exactly once.
func TestSimulatorWebhooksExactlyOneSignalPerEvent(t *testing.T) {
	var sim *ghlsim.Server
	resolver := bridge.TaskContactResolverFunc(func(_ context.Context, _ store.Connection, taskID, _ string) (string, error) {
		for _, tk := range sim.Snapshot().Tasks {
			if tk.ID == taskID {
				return tk.ContactID, nil
			}
		}
		return "", fmt.Errorf("task %s: %w", taskID, store.ErrNotFound)
	})
	f := newFixture(t, func(c *bridge.Config) { c.Tasks = resolver })
	sim = ghlsim.New(ghlsim.Options{Seed: 7, Webhooks: ghlsim.WebhookOptions{
		URL: f.srv.URL + "/webhooks/ghl", Key: testKey(),
		DuplicateRate: 0.2, ReorderWindow: 16, OmitTaskContactRate: 0.3,
	}})
	t.Cleanup(sim.Close)
	stop := runRelay(t, f.bridge)

	const people = 250 // four events each
	for i := range people {
		c, err := sim.CreateContact(ghlsim.Contact{LocationID: testLocation, FirstName: piiName, Email: fmt.Sprintf("p%d@example.com", i)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sim.AddTags(c.ID, "vip"); err != nil {
			t.Fatal(err)
		}
		if _, err := sim.CreateNote(c.ID, ghlsim.Note{Body: "called about membership"}); err != nil {
			t.Fatal(err)
		}
		if _, err := sim.CreateTask(c.ID, ghlsim.Task{Title: "call back", DueDate: time.Now().Add(24 * time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if err := sim.WaitDelivered(ctx); err != nil {
		t.Fatal(err)
	}
	st := sim.Stats().Webhooks
	if st.Enqueued != 4*people || st.Dropped != 0 {
		t.Fatalf("simulator enqueued %d, dropped %d; want %d and 0", st.Enqueued, st.Dropped, 4*people)
	}
	if st.Duplicates < 100 {
		t.Fatalf("only %d duplicate deliveries; the test wants ~20 %%", st.Duplicates)
	}
	eventually(t, 30*time.Second, "all events signalled", func() bool {
		return f.inboxCounts()[store.InboxSignalled] == 4*people
	})
	stop()

	counts := f.rec.counts()
	if len(counts) != 4*people {
		t.Errorf("%d distinct events signalled, want %d", len(counts), 4*people)
	}
	for id, n := range counts {
		if n != 1 {
			t.Errorf("event %s signalled %d times", id, n)
		}
	}
	if got, want := value(t, f.metrics.WebhookDupes), float64(st.Acknowledged-st.Enqueued); got != want {
		t.Errorf("duplicates counted %v, want %v (deliveries acknowledged beyond the events)", got, want)
	}
	// Task events, with or without contactId, reach the task's person.
	owner := map[string]string{}
	for _, tk := range sim.Snapshot().Tasks {
		owner[tk.ID] = tk.ContactID
	}
	tasks := 0
	for _, s := range f.rec.all() {
		if s.Event.Kind != domain.KindTasks {
			continue
		}
		tasks++
		link, err := f.store.GetLink(context.Background(), s.Ref.ConnectionID, s.Ref.LinkID)
		if err != nil || link.GHLContactID != owner[s.Event.ObjectID] {
			t.Errorf("task %s signalled to link %+v (%v), want the link of contact %s", s.Event.ObjectID, link, err, owner[s.Event.ObjectID])
		}
	}
	if tasks != people {
		t.Errorf("%d task signals, want %d", tasks, people)
	}
	if n, err := f.store.CountLinks(context.Background(), testConnID); err != nil || n != people {
		t.Errorf("%d links (%v), want one per person: %d", n, err, people)
	}
}
