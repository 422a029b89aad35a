package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/hlrz/hlrz/internal/app"
	"github.com/hlrz/hlrz/internal/domain"
	"github.com/hlrz/hlrz/internal/e2e"
	"github.com/hlrz/hlrz/internal/ghl"
	"github.com/hlrz/hlrz/internal/store"
	"github.com/hlrz/hlrz/internal/syncmodel"
)

// BenchmarkSharedBudget: HLRZ_BENCH_WORKERS (default 2) worker processes serve one location
// whose HighLevel simulator enforces HighLevel's real limit, 100 requests per 10 s, while
// they backfill HLRZ_BENCH_PEOPLE (default 150) people. It prints the combined request rate
// against what the limit allows, the 429s, and each worker's share and CPU.
func BenchmarkSharedBudget(b *testing.B) {
	// HLRZ_BENCH_SHARED_RATE_MAX lowers the limit below HighLevel's 100 per 10 s for a machine
	// too busy to reach 10 calls/s: the budget, not the CPU, must be what holds the workers.
	rateMax, rateIv := benchInt("HLRZ_BENCH_SHARED_RATE_MAX", 100), 10*time.Second
	n, workers := benchInt("HLRZ_BENCH_PEOPLE", 150), benchInt("HLRZ_BENCH_WORKERS", 2)
	ctx := context.Background()
	e := e2e.StartProcsWith(b, e2e.ProcOptions{RateMax: rateMax, RateInterval: rateIv})
	if _, err := app.Seed(e.GHL, e.RZ, e.LocationID, e.RZToken, benchPopulation(n)); err != nil {
		b.Fatal(err)
	}
	e.Connect([]byte(syncmodel.DefaultMappingYAML), store.Settings{DebounceMillis: 200, RZRequestsPerSec: 1000})
	e.StartWorker()
	procs, internals := []*e2e.Proc{e.Worker}, []string{e.InternalAddr}
	for i := 2; i <= workers; i++ {
		p, addr := e.StartExtraWorker(fmt.Sprintf("worker%d", i))
		procs, internals = append(procs, p), append(internals, addr)
	}
	cpu0 := make([]float64, len(procs))
	for i, p := range procs {
		cpu0[i] = p.CPUSeconds()
	}
	s0, err := e.GHL.Stats()
	if err != nil {
		b.Fatal(err)
	}
	sampler := startGHLSampler(e)
	b.ResetTimer()
	start := time.Now()
	run, err := app.StartBackfill(ctx, e.Client, e.TaskQueue, e.Conn.ID)
	if err != nil {
		b.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
	defer cancel()
	var prog domain.BackfillProgress
	if err := run.Get(wctx, &prog); err != nil {
		b.Fatal(err)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	samples := sampler.stop()
	s1, err := e.GHL.Stats()
	if err != nil {
		b.Fatal(err)
	}
	calls := s1.Requests - s0.Requests
	span, busiest := samplesSpan(samples, rateIv)
	// A sliding window that starts empty allows rateMax at once and rateMax more each
	// interval after: that, not rate × time, is what a span of calls can reach.
	allowed := float64(rateMax) * (float64(int(span/rateIv)) + 1)
	rows := [][]string{
		{"setup", fmt.Sprintf("%d worker processes, one location, %d people (realistic population: benchPopulation)", len(procs), n)},
		{"HighLevel limit", fmt.Sprintf("%d per %s (HighLevel's real limit: 100 per 10s)", rateMax, rateIv)},
		{"backfill", fmt.Sprintf("%.1f s; %+v", elapsed.Seconds(), prog)},
		{"HighLevel calls", fmt.Sprintf("%d over %.1f s from first to last call (%.2f calls/s; the limit's steady rate is %.1f/s)", calls, span.Seconds(), float64(calls)/span.Seconds(), float64(rateMax)/rateIv.Seconds())},
		{"utilisation", fmt.Sprintf("%.2f (calls ÷ %.0f the sliding window allows in the span)", float64(calls)/allowed, allowed)},
		{"busiest window", fmt.Sprintf("%d calls in one %s (sampled every 200 ms)", busiest, rateIv)},
		{"429s", fmt.Sprintf("%d", s1.RateLimited-s0.RateLimited)},
	}
	for i, p := range procs {
		st := workerBudget(internals[i], e.LocationID)
		cpu := p.CPUSeconds() - cpu0[i]
		rows = append(rows, []string{"  " + p.Name, fmt.Sprintf("%d HighLevel calls (budget waits %d, %.1f s waited, 429s %d); CPU %.2f s = %.1f ms/person",
			st.Requests, st.Waits, st.WaitTime.Seconds(), st.RateLimited, cpu, cpu*1000/float64(n))})
	}
	benchTable("shared HighLevel budget: several workers, one location", rows)
	b.ReportMetric(float64(calls)/allowed, "utilisation")
	b.ReportMetric(float64(s1.RateLimited-s0.RateLimited), "429s")
}

type ghlSample struct {
	at       time.Time
	requests int64
}

type ghlSampler struct {
	mu      sync.Mutex
	samples []ghlSample
	done    chan struct{}
	wg      sync.WaitGroup
}

// startGHLSampler reads the HighLevel simulator's request count every 200 ms.
func startGHLSampler(e *e2e.ProcEnv) *ghlSampler {
	s := &ghlSampler{done: make(chan struct{})}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			if st, err := e.GHL.Stats(); err == nil {
				s.mu.Lock()
				s.samples = append(s.samples, ghlSample{at: time.Now(), requests: st.Requests})
				s.mu.Unlock()
			}
			select {
			case <-s.done:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

func (s *ghlSampler) stop() []ghlSample {
	close(s.done)
	s.wg.Wait()
	return s.samples
}

// samplesSpan returns the time from the first sample that saw a new call to the last one,
// and the most calls seen within one window.
func samplesSpan(ss []ghlSample, window time.Duration) (time.Duration, int64) {
	var first, last time.Time
	var busiest int64
	for i := 1; i < len(ss); i++ {
		if ss[i].requests != ss[i-1].requests {
			if first.IsZero() {
				first = ss[i-1].at
			}
			last = ss[i].at
		}
		for j := i; j < len(ss) && ss[j].at.Sub(ss[i-1].at) <= window; j++ {
			busiest = max(busiest, ss[j].requests-ss[i-1].requests)
		}
	}
	if !last.After(first) {
		return time.Second, busiest
	}
	return last.Sub(first), busiest
}

// workerBudget reads one worker's HighLevel budget of the location from /status/budgets.
func workerBudget(internal, loc string) ghl.BudgetStats {
	resp, err := http.Get("http://" + internal + "/status/budgets")
	if err != nil {
		return ghl.BudgetStats{}
	}
	defer resp.Body.Close()
	var m map[string]ghl.BudgetStats
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		return ghl.BudgetStats{}
	}
	return m[loc]
}
