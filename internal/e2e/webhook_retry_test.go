package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/hlrz/hlrz/internal/bridge"
	"github.com/hlrz/hlrz/internal/e2e"
	"github.com/hlrz/hlrz/internal/sim/ghlsim"
	"github.com/hlrz/hlrz/internal/store"
)

// TestWebhooksSurviveDatabaseOutage: HighLevel retries a webhook only after a 429 (six
// times, about ten minutes apart) and drops it after any other answer. With time scaled
// 1:300 (retry interval 2 s, so the outage of 3 s is HighLevel's 15 minutes) the database
// is taken away in the middle of a burst of webhooks, for longer than one retry interval.
// The bridge must answer 429 while it cannot store, so the simulator loses nothing, and the
// inbox must hold every event exactly once, each then relayed and synced.
func TestWebhooksSurviveDatabaseOutage(t *testing.T) {
	const (
		people   = 80
		spacing  = 60 * time.Millisecond // people*spacing ≈ 4.8 s of burst
		interval = 2 * time.Second       // HighLevel's 10 min, scaled 1:300
		outage   = 3 * time.Second       // 15 min, scaled alike: longer than one interval (plus jitter)
	)
	e := e2e.Start(t, e2e.Options{GHL: ghlsim.Options{Webhooks: ghlsim.WebhookOptions{RetryInterval: interval}}})
	ctx := context.Background()
	if o := e.GHL.Webhooks(); o.MaxRetries != 6 || o.RetryJitter <= 0 || interval+o.RetryJitter >= outage {
		t.Fatalf("simulator retry policy %d retries, %s + %s jitter; want HighLevel's 6 and an outage longer than one interval", o.MaxRetries, o.RetryInterval, o.RetryJitter)
	}

	var (
		mu      sync.Mutex
		created []string
		burst   sync.WaitGroup
		burstOK = make(chan error, 1)
	)
	began := time.Now()
	burst.Go(func() {
		for i := range people {
			c, err := e.GHL.CreateContact(ghlsim.Contact{LocationID: e.LocationID, FirstName: fmt.Sprintf("Burst%d", i), LastName: "Outage", Email: fmt.Sprintf("burst%d@example.com", i)})
			if err != nil {
				burstOK <- err
				return
			}
			mu.Lock()
			created = append(created, c.ID)
			mu.Unlock()
			time.Sleep(spacing)
		}
		burstOK <- nil
	})
	time.Sleep(time.Second) // the burst is under way
	outageAt := time.Since(began)
	e.OutageDatabase(outage)
	burst.Wait()
	if err := <-burstOK; err != nil {
		t.Fatal(err)
	}
	waitCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := e.GHL.WaitDelivered(waitCtx); err != nil {
		t.Fatal(err)
	}
	deliveredAfter := time.Since(began)

	wh := e.GHL.Stats().Webhooks
	var refused dto.Metric
	if err := e.App.Metrics.WebhookRejected.WithLabelValues(bridge.RejectStoreUnavailable).Write(&refused); err != nil {
		t.Fatal(err)
	}
	t.Logf("burst of %d webhooks over %s; database down %s from %s; all delivered after %s",
		wh.Enqueued, time.Duration(people)*spacing, outage, outageAt.Round(time.Millisecond), deliveredAfter.Round(time.Millisecond))
	t.Logf("simulator: %d attempts, %d answered 429 (bridge counted %v store_unavailable), %d retries, most retries for one event %d, %d delivered, %d lost",
		wh.Sent, wh.RateLimited, refused.GetCounter().GetValue(), wh.Retried, wh.MostRetries, wh.Delivered, wh.Lost)
	if wh.Enqueued != people || wh.Lost != 0 || wh.Dropped != 0 || wh.Delivered != people {
		t.Errorf("simulator stats %+v: want %d events enqueued and delivered, zero lost", wh, people)
	}
	if wh.RateLimited == 0 || wh.MostRetries < 2 {
		t.Errorf("the outage did not make the bridge answer 429 to one event twice (429s %d, most retries %d): the test did not test what it claims", wh.RateLimited, wh.MostRetries)
	}

	// The inbox holds each event exactly once: one ContactCreate row per created contact.
	rows, err := e.Store.Pool().Query(ctx, `SELECT dedupe_key, event_type, body FROM inbox`)
	if err != nil {
		t.Fatal(err)
	}
	perContact := map[string]int{}
	keys := map[string]bool{}
	n := 0
	for rows.Next() {
		var key, typ string
		var body []byte
		if err := rows.Scan(&key, &typ, &body); err != nil {
			t.Fatal(err)
		}
		n++
		keys[key] = true
		if body, err = store.OpenBlob(e2e.TestKeyring(), body, store.InboxAAD(key)); err != nil {
			t.Fatalf("inbox row %s: %v", key, err)
		}
		var m struct {
			ID string `json:"id"`
		}
		if typ == "ContactCreate" && json.Unmarshal(body, &m) == nil {
			perContact[m.ID]++
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if n != people || len(keys) != people {
		t.Errorf("inbox has %d rows with %d distinct webhookIds, want %d", n, len(keys), people)
	}
	for _, id := range created {
		if perContact[id] != 1 {
			t.Errorf("contact %s: %d ContactCreate rows in the inbox, want 1", id, perContact[id])
		}
	}

	// And after it returns every event goes on: relayed, and each person synced once. A row
	// the relay had claimed when the connections dropped waits out its lease (bridge
	// DefaultLease, 2 min) before another pass takes it, hence the generous timeout.
	e.Eventually(4*time.Minute, "every inbox row relayed and every person in Referrizer", func() (bool, string) {
		counts, err := e.Store.InboxCounts(ctx)
		if err != nil {
			return false, err.Error()
		}
		rz := e.RZContacts()
		return counts[store.InboxPending] == 0 && counts[store.InboxFailed] == 0 && len(rz) == people,
			fmt.Sprintf("inbox %v, %d Referrizer contacts", counts, len(rz))
	})
	t.Logf("every event relayed and every person in Referrizer %s after the burst began", time.Since(began).Round(time.Millisecond))
}
