package e2e_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hlrz/hlrz/internal/app"
	"github.com/hlrz/hlrz/internal/domain"
	"github.com/hlrz/hlrz/internal/e2e"
	"github.com/hlrz/hlrz/internal/ghl"
	"github.com/hlrz/hlrz/internal/sim/ghlsim"
	"github.com/hlrz/hlrz/internal/sim/rzsim"
	"github.com/hlrz/hlrz/internal/store"
	"github.com/hlrz/hlrz/internal/syncmodel"
)

// manyLoc is one location of BenchmarkManyLocations: its connection, tokens, seed and
// what its backfill did.
type manyLoc struct {
	conn           store.Connection
	loc, rzToken   string
	seed           app.SeedResult
	started, done  time.Time
	prog           domain.BackfillProgress
	err            error
	wall           time.Duration   // StartBackfill to the backfill's result
	calls, limited int64           // HighLevel requests and 429s (the simulator's count)
	callsPerSecond float64         // calls ÷ wall
	budget         ghl.BudgetStats // the worker's own account of the location's budget
	findings       []string        // the e2e checker's, for this location's people
	ghlDup, rzDup  int             // extra copies of a person on one side
	contacts       [2]int          // HighLevel and Referrizer contacts read for the check
}

// BenchmarkManyLocations: one worker process serves HLRZ_BENCH_LOCATIONS (default 10)
// locations of HLRZ_BENCH_LOCATION_PEOPLE (default 50) people each, all backfilling at
// once, every location under HighLevel's real limit of its own (100 requests per 10 s per
// app and location). It prints each location's wall time, calls, 429s and calls/s, the
// fairness between locations (min / median / max and Jain's index), and the worker
// process's CPU per person; every location must end with 0 duplicates and 0 differences
// from the expected first-sync merge (the e2e checker).
func BenchmarkManyLocations(b *testing.B) {
	nLoc, n := benchInt("HLRZ_BENCH_LOCATIONS", 10), benchInt("HLRZ_BENCH_LOCATION_PEOPLE", 50)
	rateMax, rateIv := 100, 10*time.Second
	ctx := context.Background()
	e := e2e.StartProcsWith(b, e2e.ProcOptions{RateMax: rateMax, RateInterval: rateIv})
	locs := manySetup(b, e, nLoc, n)
	e.StartWorker()
	// Webhooks on only now: seeded data existed before the sync; the backfill's own writes
	// come back as echo webhooks, and the worker's CPU includes handling them.
	if err := e.GHL.SetWebhooks(ghlsim.WebhookOptions{URL: e.WebhookURL(), RetryInterval: time.Second}); err != nil {
		b.Fatal(err)
	}
	cpu0 := manyCPU(e)
	g0, rz0 := manyStats(b, e)
	b.ResetTimer()
	start := time.Now()
	manyBackfill(ctx, b, e, locs)
	backfillAll := time.Since(start)
	cpuBackfill := manyCPU(e)
	if err := e.WaitIdle(ctx, 20*time.Minute); err != nil {
		b.Errorf("after the backfills: %v", err)
	}
	idle := time.Since(start)
	b.StopTimer()
	cpuIdle := manyCPU(e)
	g1, rz1 := manyStats(b, e)
	for _, l := range locs {
		l.calls = g1.RequestsByLocation[l.loc] - g0.RequestsByLocation[l.loc]
		l.limited = g1.RateLimitedByLocation[l.loc] - g0.RateLimitedByLocation[l.loc]
		l.wall = l.done.Sub(l.started)
		l.callsPerSecond = float64(l.calls) / l.wall.Seconds()
		l.budget = workerBudget(e.InternalAddr, l.loc)
	}
	global := manyCheck(ctx, b, e, locs)
	people := float64(nLoc * n)
	rzCalls := float64(rz1.Total - rz0.Total)
	manyReport(b, locs, manyTotals{
		locations: nLoc, perLocation: n, backfill: backfillAll, idle: idle, global: global,
		cpuBackfill: cpuBackfill.sub(cpu0), cpuIdle: cpuIdle.sub(cpu0), people: people, rzCalls: rzCalls,
	})
}

// manySetup opens nLoc locations (the first is the environment's own), stores their
// connections and seeds each with the realistic population of n people.
func manySetup(b *testing.B, e *e2e.ProcEnv, nLoc, n int) []*manyLoc {
	b.Helper()
	mapping, settings := []byte(syncmodel.DefaultMappingYAML), store.Settings{DebounceMillis: 200, RZRequestsPerSec: 1000}
	e.Connect(mapping, settings)
	locs := []*manyLoc{{conn: e.Conn, loc: e.LocationID, rzToken: e.RZToken}}
	for i := 2; i <= nLoc; i++ {
		conn, _, rzToken := e.AddLocation(fmt.Sprintf("location %d", i), mapping, settings)
		locs = append(locs, &manyLoc{conn: conn, loc: conn.GHLLocationID, rzToken: rzToken})
	}
	for _, l := range locs {
		seed, err := app.Seed(e.GHL, e.RZ, l.loc, l.rzToken, benchPopulation(n))
		if err != nil {
			b.Fatal(err)
		}
		l.seed = seed
	}
	return locs
}

// manyBackfill starts every location's backfill, one right after the other, and waits
// for all of their results.
func manyBackfill(ctx context.Context, b *testing.B, e *e2e.ProcEnv, locs []*manyLoc) {
	b.Helper()
	wctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	for _, l := range locs {
		l.started = time.Now()
		run, err := app.StartBackfill(ctx, e.Client, e.TaskQueue, l.conn.ID)
		if err != nil {
			b.Fatal(err)
		}
		wg.Go(func() {
			l.err = run.Get(wctx, &l.prog)
			l.done = time.Now()
		})
	}
	wg.Wait()
	for i, l := range locs {
		if l.err != nil {
			b.Errorf("location %d (%s): backfill: %v", i+1, l.loc, l.err)
		}
	}
}

// manyProcCPU is the CPU seconds each process of the deployment has used (PostgreSQL is
// not one of the harness's processes and is not counted).
type manyProcCPU struct{ worker, temporal, sims float64 }

func manyCPU(e *e2e.ProcEnv) manyProcCPU {
	return manyProcCPU{e.Worker.CPUSeconds(), e.Temporal.CPUSeconds(), e.Sims.CPUSeconds()}
}

func (c manyProcCPU) sub(o manyProcCPU) manyProcCPU {
	return manyProcCPU{c.worker - o.worker, c.temporal - o.temporal, c.sims - o.sims}
}

func manyStats(b *testing.B, e *e2e.ProcEnv) (ghlsim.Stats, rzsim.Stats) {
	b.Helper()
	g, err := e.GHL.Stats()
	if err != nil {
		b.Fatal(err)
	}
	rz, err := e.RZ.Stats()
	if err != nil {
		b.Fatal(err)
	}
	return g, rz
}

// manyCheck runs the e2e checker on each location's people (both sides and the links, as
// the seed says the first sync must leave them) and once on what is global: webhooks
// through the inbox, and no workflow failed or still busy. It returns the global findings.
func manyCheck(ctx context.Context, b *testing.B, e *e2e.ProcEnv, locs []*manyLoc) []string {
	b.Helper()
	m, err := syncmodel.ParseMapping([]byte(syncmodel.DefaultMappingYAML))
	if err != nil {
		b.Fatal(err)
	}
	snap, err := e.GHL.Snapshot()
	if err != nil {
		b.Fatal(err)
	}
	for _, l := range locs {
		w := e2e.World{GHLTasks: snap.Tasks, GHLNotes: snap.Notes}
		for _, c := range snap.Contacts {
			if c.LocationID == l.loc {
				w.GHLContacts = append(w.GHLContacts, c)
			}
		}
		if w.RZContacts, err = e.RZ.Contacts(l.rzToken); err != nil {
			b.Fatal(err)
		}
		w.Links = manyLinks(ctx, b, e, l.conn.ID)
		l.contacts = [2]int{len(w.GHLContacts), len(w.RZContacts)}
		l.ghlDup, l.rzDup = manyDuplicates(w)
		for _, f := range e2e.Check(m, e2e.NewTruth(l.seed.Expected), w, nil).Findings {
			l.findings = append(l.findings, f.String())
		}
	}
	world, err := e.ReadWorld(ctx, true)
	if err != nil {
		b.Fatal(err)
	}
	// People are checked per location above; here only webhooks and workflows.
	world.GHLContacts, world.RZContacts, world.Links = nil, nil, nil
	var out []string
	for _, f := range e2e.Check(m, e2e.NewTruth(nil), world, nil).Findings {
		out = append(out, f.String())
	}
	return out
}

func manyLinks(ctx context.Context, b *testing.B, e *e2e.ProcEnv, connID string) []store.Link {
	b.Helper()
	var out []store.Link
	for after := ""; ; {
		page, err := e.Store.ListLinks(ctx, connID, after, 500)
		if err != nil {
			b.Fatal(err)
		}
		if len(page) == 0 {
			return out
		}
		out = append(out, page...)
		after = page[len(page)-1].ID
	}
}

// manyDuplicates counts the extra copies of a seeded person on each side, a person known
// by e-mail or phone (benchPersonIndex: the simulators refuse a second contact with the
// same e-mail, not one with the same phone and another e-mail).
func manyDuplicates(w e2e.World) (ghlDup, rzDup int) {
	count := func(seen map[int]bool, phone, email string) int {
		i, ok := benchPersonIndex(phone, email)
		if !ok {
			return 0 // not a seeded person: the checker's "unexpected person"
		}
		dup := seen[i]
		seen[i] = true
		if dup {
			return 1
		}
		return 0
	}
	gs, rs := map[int]bool{}, map[int]bool{}
	for _, c := range w.GHLContacts {
		ghlDup += count(gs, c.Phone, c.Email)
	}
	for _, c := range w.RZContacts {
		rzDup += count(rs, c.Phone, c.Email)
	}
	return ghlDup, rzDup
}

// manySpread is the min, median and max of xs, and Jain's fairness index
// (Σx)² ÷ (n·Σx²): 1 when every location got the same, 1/n when one got everything.
func manySpread(xs []float64) (lo, med, hi, jain float64) {
	s := slices.Sorted(slices.Values(xs))
	if len(s) == 0 {
		return 0, 0, 0, 0
	}
	var sum, sq float64
	for _, x := range s {
		sum, sq = sum+x, sq+x*x
	}
	med = s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	if sq > 0 {
		jain = sum * sum / (float64(len(s)) * sq)
	}
	return s[0], med, s[len(s)-1], jain
}

// manyTotals are BenchmarkManyLocations' run-wide figures.
type manyTotals struct {
	locations, perLocation int
	backfill, idle         time.Duration
	global                 []string
	cpuBackfill, cpuIdle   manyProcCPU
	people, rzCalls        float64
}

// manyReport prints the per-location table and the fairness and cost figures, records
// the summary rows and fails the benchmark on a duplicate or a difference.
func manyReport(b *testing.B, locs []*manyLoc, t manyTotals) {
	rows := [][]string{{"location", "wall", "calls", "429s", "calls/s", "budget waits", "people (HL / RZ contacts)", "checker differences, duplicates"}}
	var walls, rates []float64
	var calls, limited int64
	var diffs, dups int
	for i, l := range locs {
		walls, rates = append(walls, l.wall.Seconds()), append(rates, l.callsPerSecond)
		calls, limited = calls+l.calls, limited+l.limited
		diffs, dups = diffs+len(l.findings), dups+l.ghlDup+l.rzDup
		rows = append(rows, []string{fmt.Sprint(i + 1), fmt.Sprintf("%.1f s", l.wall.Seconds()), fmt.Sprint(l.calls), fmt.Sprint(l.limited),
			fmt.Sprintf("%.2f", l.callsPerSecond), fmt.Sprintf("%d (%.1f s)", l.budget.Waits, l.budget.WaitTime.Seconds()),
			fmt.Sprintf("%d (%d / %d)", l.seed.People, l.contacts[0], l.contacts[1]), fmt.Sprintf("%d, %d", len(l.findings), l.ghlDup+l.rzDup)})
	}
	benchTable(fmt.Sprintf("BenchmarkManyLocations: %d locations × %d people, each location 100 calls per 10 s", t.locations, t.perLocation), rows)
	wLo, wMed, wHi, wJain := manySpread(walls)
	rLo, rMed, rHi, rJain := manySpread(rates)
	cpuPer := t.cpuIdle.worker * 1000 / t.people
	ghlPer, rzPer := float64(calls)/t.people, t.rzCalls/t.people
	summary := [][]string{
		{"wall time", fmt.Sprintf("all backfills %.1f s; idle after %.1f s", t.backfill.Seconds(), t.idle.Seconds())},
		{"fairness: backfill wall time", fmt.Sprintf("min %.1f / median %.1f / max %.1f s (max ÷ min %.2f; Jain %.3f)", wLo, wMed, wHi, wHi/wLo, wJain)},
		{"fairness: calls/s per location", fmt.Sprintf("min %.2f / median %.2f / max %.2f (limit 10; Jain %.3f)", rLo, rMed, rHi, rJain)},
		{"HighLevel calls", fmt.Sprintf("%d (%.2f / person), 429s %d", calls, ghlPer, limited)},
		{"Referrizer calls", fmt.Sprintf("%.0f (%.2f / person)", t.rzCalls, rzPer)},
		{"worker CPU", fmt.Sprintf("%.1f s to the last backfill result, %.1f s to idle = %.1f ms / person", t.cpuBackfill.worker, t.cpuIdle.worker, cpuPer)},
		{"other processes' CPU to idle", fmt.Sprintf("Temporal %.1f s, simulators %.1f s (PostgreSQL not measured)", t.cpuIdle.temporal, t.cpuIdle.sims)},
		{"checker", fmt.Sprintf("%d differences in people, %d duplicates; global (webhooks, workflows): %d %s", diffs, dups, len(t.global), strings.Join(t.global[:min(3, len(t.global))], "; "))},
	}
	for _, l := range locs {
		if len(l.findings) > 0 {
			summary = append(summary, []string{"  " + l.loc, strings.Join(l.findings[:min(3, len(l.findings))], "; ")})
		}
	}
	benchTable("fairness and cost", summary)
	b.ReportMetric(cpuPer, "worker-cpu-ms/person")
	b.ReportMetric(rJain, "jain-calls/s")
	bn := fmt.Sprintf("Many locations (%d × %d people)", t.locations, t.perLocation)
	benchRecord(bn, "per-location backfill wall time min / median / max", fmt.Sprintf("%.1f / %.1f / %.1f s (Jain %.3f)", wLo, wMed, wHi, wJain), "", nil)
	benchRecord(bn, "per-location calls/s min / median / max", fmt.Sprintf("%.2f / %.2f / %.2f (Jain %.3f; limit 10)", rLo, rMed, rHi, rJain), "", nil)
	benchRecord(bn, "HighLevel / Referrizer calls per person", fmt.Sprintf("%.2f / %.2f", ghlPer, rzPer), "", nil)
	benchRecord(bn, "worker CPU per person (to idle)", fmt.Sprintf("%.1f ms", cpuPer), "", nil)
	benchRecord(bn, "429s", fmt.Sprint(limited), "0", okp(limited == 0))
	benchRecord(bn, "duplicates, checker differences", fmt.Sprintf("%d, %d (+%d global)", dups, diffs, len(t.global)), "0, 0", okp(dups == 0 && diffs == 0 && len(t.global) == 0))
	benchNote("Many locations: the multi-process harness (worker binary, hlrz-temporal dev server, hlrz-sims, a PostgreSQL of its own), one worker process; every location has HighLevel's real limit, 100 per 10 s, of its own. Worker CPU is the worker process's (/proc), from the first backfill's start to idle; on a shared machine it is an upper bound.")
	benchPrintSummary()
	if dups > 0 || diffs > 0 || len(t.global) > 0 {
		b.Fatalf("many locations did not converge: %d duplicates, %d differences in people, %d global findings", dups, diffs, len(t.global))
	}
}
