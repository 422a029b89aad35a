package postgres_test

import (
	"context"
	"errors"
	"net/http"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/hlrz/hlrz/internal/ghl"
	"github.com/hlrz/hlrz/internal/secrets"
	"github.com/hlrz/hlrz/internal/store/postgres"
	"github.com/hlrz/hlrz/internal/testutil/pgtest"
)

// openProcesses opens n stores on one database, each with its own pool: n worker processes
// as far as the database can tell.
func openProcesses(t *testing.T, n int) []*postgres.Store {
	t.Helper()
	dsn := pgtest.NewDatabase(t)
	kr := secrets.NewRandom()
	out := make([]*postgres.Store, n)
	for i := range out {
		s, err := postgres.Open(context.Background(), dsn, kr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Close)
		out[i] = s
	}
	return out
}

// TestSharedRateBudgetTwoProcesses: two processes, each with its own ghl.Budgets and eight
// callers, hammer one location. Every send time (taken after Acquire returns, so later
// than the slot) is checked against the burst limit over every window of one interval:
// together they never exceed it, while each on its own would send the whole budget.
func TestSharedRateBudgetTwoProcesses(t *testing.T) {
	const limit, interval, run = 20, time.Second, 3200 * time.Millisecond
	procs := openProcesses(t, 2)
	var mu sync.Mutex
	var sends []time.Time
	perProc := make([]int, len(procs))
	var wg sync.WaitGroup
	stop := time.Now().Add(run)
	for p, st := range procs {
		budgets := ghl.NewBudgets(ghl.BudgetConfig{Max: limit, Interval: interval, Slack: 250 * time.Millisecond, Shared: st.RateLimiter()})
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for time.Now().Before(stop) {
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					tk, err := budgets.For("loc-shared").Acquire(ctx, "test")
					cancel()
					if err != nil {
						t.Errorf("process %d: acquire: %v", p, err)
						return
					}
					mu.Lock()
					sends = append(sends, time.Now())
					perProc[p]++
					mu.Unlock()
					tk.Done(http.Header{}, http.StatusOK)
				}
			}()
		}
	}
	wg.Wait()
	sort.Slice(sends, func(i, j int) bool { return sends[i].Before(sends[j]) })
	busiest := 0
	for i := range sends {
		j := sort.Search(len(sends), func(j int) bool { return !sends[j].Before(sends[i].Add(interval)) })
		busiest = max(busiest, j-i)
	}
	t.Logf("%d sends (process 0: %d, process 1: %d); busiest %s window: %d of %d", len(sends), perProc[0], perProc[1], interval, busiest, limit)
	if busiest > limit {
		t.Errorf("two processes sent %d requests within %s; the location's limit is %d", busiest, interval, limit)
	}
	if len(sends) <= limit || perProc[0] == 0 || perProc[1] == 0 {
		t.Errorf("sends %v: the run must span several windows with both processes sending", perProc)
	}
}

// TestSharedRateBudgetDailyAndPause: the daily allowance is counted across processes, and a
// 429 one process sees holds the other.
func TestSharedRateBudgetDailyAndPause(t *testing.T) {
	ctx := context.Background()
	procs := openProcesses(t, 2)
	cfg := ghl.BudgetConfig{Max: 100, Interval: time.Second, DailyLimit: 5}
	a := ghl.NewSharedBudget(ghl.BudgetConfig{Max: cfg.Max, Interval: cfg.Interval, DailyLimit: cfg.DailyLimit, Shared: procs[0].RateLimiter()}, "loc-daily")
	b := ghl.NewSharedBudget(ghl.BudgetConfig{Max: cfg.Max, Interval: cfg.Interval, DailyLimit: cfg.DailyLimit, Shared: procs[1].RateLimiter()}, "loc-daily")
	granted := 0
	var refused error
	for i := range 8 {
		budget := []*ghl.Budget{a, b}[i%2]
		tk, err := budget.Acquire(ctx, "test")
		if err != nil {
			refused = err
			continue
		}
		granted++
		tk.Done(http.Header{}, http.StatusOK)
	}
	var apiErr *ghl.APIError
	if granted != 5 || !errors.Is(refused, ghl.ErrRateLimited) || !errors.As(refused, &apiErr) || apiErr.RetryAfter() <= 0 {
		t.Errorf("daily limit 5 over two processes: granted %d, last refusal %v", granted, refused)
	}

	// A 429 with Retry-After: 30 seen by one process's request…
	c := ghl.NewSharedBudget(ghl.BudgetConfig{Shared: procs[0].RateLimiter()}, "loc-pause")
	d := ghl.NewSharedBudget(ghl.BudgetConfig{Shared: procs[1].RateLimiter()}, "loc-pause")
	tk, err := c.Acquire(ctx, "test")
	if err != nil {
		t.Fatal(err)
	}
	tk.Done(http.Header{"Retry-After": []string{"30"}}, http.StatusTooManyRequests)
	// …holds the other process: with 5 s to go it is refused at once with the wait.
	short, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err = d.Acquire(short, "test")
	if !errors.As(err, &apiErr) || apiErr.RetryAfter() < 20*time.Second {
		t.Errorf("other process after a 429 with Retry-After 30: %v, want a refusal to wait ~30 s", err)
	}
}
