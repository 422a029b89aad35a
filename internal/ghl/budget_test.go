package ghl_test

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/hlrz/hlrz/internal/ghl"
	"github.com/hlrz/hlrz/internal/sim/ghlsim"
)

// TestBudgetThousandCallsNoRateLimit drives 1,000 calls from 8 workers against the
// simulator's burst limit scaled to 100 per 500 ms. The budget starts from HighLevel's
// documented 100 per 10 s, learns the real interval from the first response, and must not
// collect a single 429.
func TestBudgetThousandCallsNoRateLimit(t *testing.T) {
	e := newEnv(t, ghlsim.Options{RateMax: 100, RateInterval: 500 * time.Millisecond})
	ctx := ctxT(t)
	contact := seedContact(t, e.sim, "seed@example.com")
	budgets := ghl.NewBudgets(ghl.BudgetConfig{})
	c := e.client(t, ghl.StaticToken(pit), budgets)

	const calls, workers = 1000, 8
	work := make(chan struct{}, calls)
	for range calls {
		work <- struct{}{}
	}
	close(work)
	began := time.Now()
	var mu sync.Mutex
	var failures []error
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range work {
				if _, err := c.GetContact(ctx, contact.ID); err != nil {
					mu.Lock()
					failures = append(failures, err)
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(began)

	if len(failures) > 0 {
		t.Fatalf("%d calls failed, first: %v", len(failures), failures[0])
	}
	st := c.Budget().Stats()
	if sim := e.sim.Stats(); sim.RateLimited != 0 || st.RateLimited != 0 {
		t.Errorf("429s: simulator answered %d, budget saw %d; want 0", sim.RateLimited, st.RateLimited)
	}
	if st.Requests != calls || c.Calls() != calls {
		t.Errorf("requests = %d, calls = %d; want %d", st.Requests, c.Calls(), calls)
	}
	if st.Waits == 0 || st.WaitTime == 0 {
		t.Errorf("budget never waited: %+v", st)
	}
	if st.Interval != 500*time.Millisecond || st.Max != 100 {
		t.Errorf("budget did not learn the limits from headers: max %d interval %s", st.Max, st.Interval)
	}
	// 1,000 calls at 100 per 500 ms cannot take less than nine full windows.
	if elapsed < 9*500*time.Millisecond {
		t.Errorf("1,000 calls took %s: faster than the limit allows", elapsed)
	}
	// The server's daily count is learned from headers; requests in flight when the last
	// header was read may be counted twice, never missed.
	if st.DailyUsed < calls || st.DailyUsed > calls+workers {
		t.Errorf("daily used = %d, want %d (+ at most %d in flight)", st.DailyUsed, calls, workers)
	}
	if got := budgets.Stats()[loc]; got.Requests != calls {
		t.Errorf("registry stats = %+v", got)
	}
	t.Logf("1,000 calls in %s, %d waits totalling %s", elapsed.Round(time.Millisecond), st.Waits, st.WaitTime.Round(time.Millisecond))
	e.assertContract(t)
}

// TestBudgetLearnsRemainingFromOtherProcess: another process already spent most of the burst
// allowance. A fresh budget learns that from X-RateLimit-Remaining and waits instead of
// running into 429s.
func TestBudgetLearnsRemainingFromOtherProcess(t *testing.T) {
	e := newEnv(t, ghlsim.Options{RateMax: 50, RateInterval: time.Second})
	ctx := ctxT(t)
	contact := seedContact(t, e.sim, "seed@example.com")
	other := e.client(t, ghl.StaticToken(pit), ghl.NewBudgets(ghl.BudgetConfig{}))
	for range 40 {
		if _, err := other.GetContact(ctx, contact.ID); err != nil {
			t.Fatal(err)
		}
	}
	c := e.client(t, ghl.StaticToken(pit), ghl.NewBudgets(ghl.BudgetConfig{}))
	for i := range 25 {
		if _, err := c.GetContact(ctx, contact.ID); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	st := c.Budget().Stats()
	if sim := e.sim.Stats(); sim.RateLimited != 0 {
		t.Errorf("simulator answered %d 429s, want 0", sim.RateLimited)
	}
	if st.Waits == 0 {
		t.Error("budget did not wait although the other process had spent the allowance")
	}
}

// TestForced429 surfaces a 429 as a typed, retryable error carrying the wait, and makes the
// budget hold later requests for that long.
func TestForced429(t *testing.T) {
	t.Run("interval header", func(t *testing.T) {
		e := newEnv(t, ghlsim.Options{RateInterval: 300 * time.Millisecond})
		ctx := ctxT(t)
		contact := seedContact(t, e.sim, "seed@example.com")
		c := e.client(t, ghl.StaticToken(pit), nil)
		e.sim.SetFaults(ghlsim.Faults{Force429: 1})
		_, err := c.GetContact(ctx, contact.ID)
		var apiErr *ghl.APIError
		if !errors.As(err, &apiErr) || !errors.Is(err, ghl.ErrRateLimited) || !ghl.Retryable(err) || apiErr.Status != http.StatusTooManyRequests {
			t.Fatalf("err = %v", err)
		}
		if d, ok := ghl.RetryAfter(err); !ok || d != 300*time.Millisecond {
			t.Fatalf("RetryAfter = %s, %v; want the 300ms interval", d, ok)
		}
		began := time.Now()
		if _, err := c.GetContact(ctx, contact.ID); err != nil {
			t.Fatal(err)
		}
		if waited := time.Since(began); waited < 250*time.Millisecond {
			t.Errorf("next call went out after %s, before the wait was over", waited)
		}
		if st := c.Budget().Stats(); st.RateLimited != 1 || st.Waits != 1 {
			t.Errorf("budget stats = %+v", st)
		}
		e.assertContract(t)
	})
	t.Run("Retry-After", func(t *testing.T) {
		e := newEnv(t, ghlsim.Options{})
		contact := seedContact(t, e.sim, "seed@example.com")
		c := e.client(t, ghl.StaticToken(pit), nil)
		e.sim.SetFaults(ghlsim.Faults{Force429: 1, RetryAfter: 2 * time.Second})
		_, err := c.GetContact(ctxT(t), contact.ID)
		if d, ok := ghl.RetryAfter(err); !ok || d != 2*time.Second || !errors.Is(err, ghl.ErrRateLimited) {
			t.Fatalf("err = %v, RetryAfter = %s", err, d)
		}
		// An activity with less time left than the wait gets the wait back at once rather
		// than sleeping into its timeout.
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		began := time.Now()
		_, err = c.GetContact(ctx, contact.ID)
		d, ok := ghl.RetryAfter(err)
		if !errors.Is(err, ghl.ErrRateLimited) || !ok || d < time.Second || time.Since(began) > 50*time.Millisecond {
			t.Fatalf("short deadline: err = %v, RetryAfter = %s after %s", err, d, time.Since(began))
		}
		if c.Calls() != 1 {
			t.Errorf("calls = %d; the budget should not have sent the second request", c.Calls())
		}
	})
}

func TestBudgetsShareByLocation(t *testing.T) {
	e := newEnv(t, ghlsim.Options{})
	r := ghl.NewBudgets(ghl.BudgetConfig{})
	a, b := e.client(t, ghl.StaticToken(pit), r), e.client(t, ghl.StaticToken(pit), r)
	if a.Budget() != b.Budget() || a.Budget() != r.For(loc) || r.For("another-location") == a.Budget() {
		t.Fatal("clients of one location do not share one budget")
	}
	contact := seedContact(t, e.sim, "seed@example.com")
	for _, c := range []*ghl.Client{a, b} {
		if _, err := c.GetContact(ctxT(t), contact.ID); err != nil {
			t.Fatal(err)
		}
	}
	if st := r.Stats()[loc]; st.Requests != 2 || st.DailyUsed != 2 {
		t.Errorf("shared stats = %+v", st)
	}
}
