package activities

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hlrz/hlrz/internal/domain"
	"github.com/hlrz/hlrz/internal/ghl"
	"github.com/hlrz/hlrz/internal/sim/ghlsim"
	"github.com/hlrz/hlrz/internal/store"
)

// hookWorld is a simWorld with a HighLevel contact per case and the relay's way of recording
// webhook bodies (BridgeHooks.ObserveContact).
type hookWorld struct {
	*simWorld
	t      *testing.T
	hooks  BridgeHooks
	phones *atomic.Int64
}

// contact creates a HighLevel contact as the API holds it and links it.
func (w hookWorld) contact(last string) store.Link {
	w.t.Helper()
	c, err := w.ghl.CreateContact(ghlsim.Contact{LocationID: w.loc, FirstName: "Ada", LastName: last, Email: last + "@example.com", Phone: fmt.Sprintf("+1555%07d", w.phones.Add(1)), Tags: []string{"api-tag"}})
	if err != nil {
		w.t.Fatal(err)
	}
	l, _, err := w.core.Store.EnsureLink(context.Background(), w.conn.ID, store.SideGHL, c.ID)
	if err != nil {
		w.t.Fatal(err)
	}
	return l
}

// deliver records a contact webhook of typ for link's contact stamped ts, with lastName and
// tags as given, minus the keys in omit, as the relay does; it returns the event the relay
// signals.
func (w hookWorld) deliver(l store.Link, typ string, ts time.Time, last string, tags []string, omit ...string) domain.Event {
	w.t.Helper()
	body := map[string]any{"type": typ, "locationId": w.loc, "id": l.GHLContactID, "webhookId": store.NewID(), "timestamp": ts.UTC().Format(time.RFC3339Nano),
		"firstName": "Ada", "lastName": last, "name": "Ada " + last, "email": "hook@example.com", "phone": "+15559999999", "dnd": false,
		"tags": tags, "customFields": []any{}, "attachments": []any{}}
	for _, k := range omit {
		delete(body, k)
	}
	raw, _ := json.Marshal(body)
	env, err := ghl.DecodeWebhook(raw)
	if err != nil {
		w.t.Fatal(err)
	}
	if err := w.hooks.ObserveContact(context.Background(), w.conn, env, raw, time.Now()); err != nil {
		w.t.Fatal(err)
	}
	kind := domain.KindContact
	if typ == ghl.EventContactTagUpdate {
		kind = domain.KindTags
	}
	return domain.Event{Source: domain.SourceGHL, ID: env.WebhookID, Kind: kind, OccurredAt: ts.UTC()}
}

// fetchGHL runs a pass's fetch of the HighLevel side and reports what it saw and how many
// HighLevel contact reads it cost.
func (w hookWorld) fetchGHL(l store.Link, base time.Time, events ...domain.Event) (ghl.Contact, int64) {
	w.t.Helper()
	ctx := context.Background()
	conn, err := w.core.Conns.Get(ctx, w.conn.ID)
	if err != nil {
		w.t.Fatal(err)
	}
	before := w.ghl.Stats().Operations["get-contact"]
	s, err := w.core.fetch(ctx, 0, conn, l, events, base, store.SideGHL)
	if err != nil || s.ghl == nil {
		w.t.Fatalf("fetch: %+v, %v", s, err)
	}
	return *s.ghl, w.ghl.Stats().Operations["get-contact"] - before
}

// TestWebhookBodyStandsInForTheRead pins when a pass takes HighLevel's side from a contact
// webhook's body instead of reading the contact: only a body that is newer than the base,
// at least as new as the pass's events and has every mapped field; an older body delivered
// late never replaces a newer one, and a delete is always confirmed by a read.
func TestWebhookBodyStandsInForTheRead(t *testing.T) {
	w := hookWorld{simWorld: newSimWorld(t), t: t, phones: &atomic.Int64{}}
	w.hooks = BridgeHooks{Store: w.core.Store, Conns: w.core.Conns}
	now := time.Now()
	base := now.Add(-time.Minute)

	t.Run("a complete, newer field edit costs no read", func(t *testing.T) {
		l := w.contact("Api")
		ev := w.deliver(l, ghl.EventContactUpdate, now.Add(-10*time.Second), "Hook", []string{"api-tag"})
		c, reads := w.fetchGHL(l, base, ev)
		if reads != 0 || c.LastName != "Hook" || c.Email != "hook@example.com" {
			t.Fatalf("got %q %q with %d reads, want the webhook's values and no read", c.LastName, c.Email, reads)
		}
	})
	t.Run("a tag edit costs no read", func(t *testing.T) {
		l := w.contact("Tags")
		ev := w.deliver(l, ghl.EventContactTagUpdate, now.Add(-10*time.Second), "Tags", []string{"api-tag", "hook-tag"})
		c, reads := w.fetchGHL(l, base, ev)
		if reads != 0 || !slices.Equal(c.Tags, []string{"api-tag", "hook-tag"}) {
			t.Fatalf("got tags %v with %d reads, want the webhook's tags and no read", c.Tags, reads)
		}
	})
	t.Run("an older body delivered late does not replace a newer one", func(t *testing.T) {
		l := w.contact("Order")
		newer := w.deliver(l, ghl.EventContactUpdate, now.Add(-5*time.Second), "Newer", nil)
		older := w.deliver(l, ghl.EventContactUpdate, now.Add(-20*time.Second), "Older", nil)
		for _, evs := range [][]domain.Event{{older}, {newer, older}} {
			if c, reads := w.fetchGHL(l, base, evs...); c.LastName != "Newer" || reads != 0 {
				t.Fatalf("events %d: got %q with %d reads, want the newer body", len(evs), c.LastName, reads)
			}
		}
	})
	t.Run("a body missing a mapped field is read instead", func(t *testing.T) {
		for _, key := range []string{"email", "tags", "dnd"} {
			l := w.contact("Partial" + key)
			ev := w.deliver(l, ghl.EventContactUpdate, now.Add(-10*time.Second), "Hook", nil, key)
			if c, reads := w.fetchGHL(l, base, ev); reads != 1 || c.LastName != "Partial"+key {
				t.Fatalf("without %q: got %q with %d reads, want the API's value from one read", key, c.LastName, reads)
			}
		}
	})
	t.Run("a body not newer than the base is read instead", func(t *testing.T) {
		l := w.contact("Stale")
		ev := w.deliver(l, ghl.EventContactUpdate, base.Add(time.Second), "Hook", nil)
		if c, reads := w.fetchGHL(l, base, ev); reads != 1 || c.LastName != "Stale" {
			t.Fatalf("got %q with %d reads, want one read (a body within the clock margin of the base)", c.LastName, reads)
		}
	})
	t.Run("an event newer than the recorded body is read instead", func(t *testing.T) {
		l := w.contact("Later")
		ev := w.deliver(l, ghl.EventContactUpdate, now.Add(-10*time.Second), "Hook", nil)
		ev.OccurredAt = now.Add(-time.Second) // its own body was not recorded
		if c, reads := w.fetchGHL(l, base, ev); reads != 1 || c.LastName != "Later" {
			t.Fatalf("got %q with %d reads, want one read", c.LastName, reads)
		}
	})
	t.Run("a delete is confirmed by a read", func(t *testing.T) {
		l := w.contact("Deleted")
		ev := w.deliver(l, ghl.EventContactUpdate, now.Add(-10*time.Second), "Hook", nil)
		del := domain.Event{Source: domain.SourceGHL, Kind: domain.KindContactDeleted, OccurredAt: ev.OccurredAt}
		if _, reads := w.fetchGHL(l, base, ev, del); reads != 1 {
			t.Fatalf("%d reads, want one", reads)
		}
	})
}
