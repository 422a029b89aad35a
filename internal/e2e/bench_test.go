package e2e_test

// Benchmarks: speed, cost and survival of the whole product (real Temporal, PostgreSQL,
// both simulators over HTTP, the App as the worker binary assembles it). They print numbers
// and report them with b.ReportMetric; they assert only functional outcomes (no duplicates,
// no failed backfill, every edit arrives), never speed. Run one at a time, once:
//
//	go test -run '^$' -bench 'BenchmarkBackfill' -benchtime 1x -timeout 2h ./internal/e2e/
//
// Sizes come from environment variables (see benchKnobs) so CI can run a smoke size. Every
// benchmark appends its rows to a summary and prints the whole summary so far at its end,
// so the last block printed covers every benchmark of the run, ready for the README.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/hlrz/hlrz/activities"
	"github.com/hlrz/hlrz/internal/app"
	"github.com/hlrz/hlrz/internal/codec"
	"github.com/hlrz/hlrz/internal/domain"
	"github.com/hlrz/hlrz/internal/e2e"
	"github.com/hlrz/hlrz/internal/ghl"
	"github.com/hlrz/hlrz/internal/sim/ghlsim"
	"github.com/hlrz/hlrz/internal/sim/rzsim"
	"github.com/hlrz/hlrz/internal/store"
	"github.com/hlrz/hlrz/internal/syncmodel"
	"github.com/hlrz/hlrz/workflows"
)

// ---- knobs ----

// benchKnobs documents every environment variable the benchmarks read, with its default.
var benchKnobs = []struct{ name, def, what string }{
	{"HLRZ_BENCH_PEOPLE", "10000", "BenchmarkBackfill: people seeded (60% HighLevel only, 20% Referrizer only, 20% both; extras in app.RealisticShares)"},
	{"HLRZ_BENCH_GHL_RATE_MAX", "1000", "HighLevel simulator burst limit (requests per interval) in Backfill, LiveEdit and SteadyState"},
	{"HLRZ_BENCH_GHL_RATE_INTERVAL_MS", "10000", "HighLevel simulator burst interval"},
	{"HLRZ_BENCH_EDITS", "1000", "BenchmarkLiveEditLatency: edits (one per person)"},
	{"HLRZ_BENCH_EDIT_RATE", "20", "BenchmarkLiveEditLatency: edits per second"},
	{"HLRZ_BENCH_DEBOUNCE_MS", "200,1000", "BenchmarkLiveEditLatency: debounce settings to run (one sub-benchmark each)"},
	{"HLRZ_BENCH_STEADY_EDITS", "10", "BenchmarkSteadyStateEdit: edits per direction (one person each)"},
	{"HLRZ_BENCH_WEBHOOKS", "20000", "BenchmarkBridgeIngestion: echo webhooks posted (phase 1: the people as synced)"},
	{"HLRZ_BENCH_CHANGE_WEBHOOKS", "2000", "BenchmarkBridgeIngestion: data-changing webhooks posted (phase 2: a new last name each, spread over the people)"},
	{"HLRZ_BENCH_INGEST_PEOPLE", "200", "BenchmarkBridgeIngestion: people backfilled (benchPopulation) whose webhooks are posted"},
	{"HLRZ_BENCH_CLIENTS", "16", "BenchmarkBridgeIngestion: concurrent HTTP clients"},
	{"HLRZ_BENCH_POLL_PEOPLE", "10000", "BenchmarkReferrizerPoll: people backfilled (benchPopulation) before the polls; all end linked and synced"},
	{"HLRZ_BENCH_POLLS", "3", "BenchmarkReferrizerPoll: polls measured"},
	{"HLRZ_BENCH_LOCATIONS", "10", "BenchmarkManyLocations: locations backfilling at once, each with HighLevel's real limit (100 per 10 s) of its own"},
	{"HLRZ_BENCH_LOCATION_PEOPLE", "50", "BenchmarkManyLocations: people per location (the BenchmarkBackfill population)"},
	{"HLRZ_BENCH_STALL_S", "90", "a draining backfill without progress this long is a stall (diagnosed, terminated, reported as a failure)"},
}

func benchInt(name string, def int) int {
	if v, err := strconv.Atoi(strings.TrimSpace(os.Getenv(name))); err == nil && v > 0 {
		return v
	}
	return def
}

func benchInts(name string, def []int) []int {
	var out []int
	for _, f := range strings.Split(os.Getenv(name), ",") {
		if v, err := strconv.Atoi(strings.TrimSpace(f)); err == nil && v > 0 {
			out = append(out, v)
		}
	}
	if len(out) == 0 {
		return def
	}
	return out
}

// benchGHLLimit is HighLevel's limit shape (100 per 10 s) scaled ×10 in rate, so a
// 10,000-person backfill takes minutes, not hours, while the client still has to pace
// itself against a burst window with the real headers.
func benchGHLLimit() (int, time.Duration) {
	return benchInt("HLRZ_BENCH_GHL_RATE_MAX", 1000), time.Duration(benchInt("HLRZ_BENCH_GHL_RATE_INTERVAL_MS", 10000)) * time.Millisecond
}

func benchLimitNote() string {
	n, iv := benchGHLLimit()
	return fmt.Sprintf("HighLevel simulator limit %d per %s = %.0f calls/s (HighLevel's real shape is 100 per 10 s = 10 calls/s; scaled ×%.0f in rate)",
		n, iv, float64(n)/iv.Seconds(), float64(n)/iv.Seconds()/10)
}

// ---- summary ----

type benchRow struct{ bench, measure, result, target, verdict string }

var benchSum struct {
	sync.Mutex
	rows  []benchRow
	notes []string
	pg    string
}

// benchRecord adds a summary row; ok is nil when the row has no target.
func benchRecord(bench, measure, result, target string, ok *bool) {
	v := ""
	if ok != nil {
		v = "met"
		if !*ok {
			v = "**missed**"
		}
	}
	benchSum.Lock()
	benchSum.rows = append(benchSum.rows, benchRow{bench, measure, result, target, v})
	benchSum.Unlock()
}

func benchNote(format string, args ...any) {
	benchSum.Lock()
	benchSum.notes = append(benchSum.notes, fmt.Sprintf(format, args...))
	benchSum.Unlock()
}

func okp(b bool) *bool { return &b }

// benchCommand reconstructs the go test command line from the test binary's flags, with
// the knobs that were set.
func benchCommand() string {
	var env []string
	for _, k := range benchKnobs {
		if v := os.Getenv(k.name); v != "" {
			env = append(env, k.name+"="+v)
		}
	}
	parts := append(env, "go", "test")
	for _, a := range os.Args[1:] {
		if !strings.HasPrefix(a, "-test.") {
			continue
		}
		a = "-" + strings.TrimPrefix(a, "-test.")
		if strings.HasPrefix(a, "-paniconexit0") || strings.HasPrefix(a, "-testlogfile") || strings.HasPrefix(a, "-gocoverdir") {
			continue
		}
		if k, v, ok := strings.Cut(a, "="); ok && strings.ContainsAny(v, "^$|*() ") {
			a = k + "='" + v + "'"
		}
		parts = append(parts, a)
	}
	return strings.Join(append(parts, "./internal/e2e/"), " ")
}

func benchCPUModel() string {
	raw, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

// benchPrintSummary prints every row recorded so far as Markdown.
func benchPrintSummary() {
	benchSum.Lock()
	defer benchSum.Unlock()
	var w strings.Builder
	fmt.Fprintf(&w, "\n---- summary (paste into README \"Performance\") ----\n\n")
	fmt.Fprintf(&w, "### Performance\n\n")
	fmt.Fprintf(&w, "Command: `%s`\n\n", benchCommand())
	fmt.Fprintf(&w, "Machine: %d CPUs (nproc; GOMAXPROCS %d), %s, %s/%s, %s", runtime.NumCPU(), runtime.GOMAXPROCS(0), benchCPUModel(), runtime.GOOS, runtime.GOARCH, runtime.Version())
	if benchSum.pg != "" {
		fmt.Fprintf(&w, ", %s", benchSum.pg)
	}
	fmt.Fprintf(&w, ". Temporal: temporaltest (in-process server, in-memory SQLite), worker, bridge, PostgreSQL and both simulators all on this machine.\n\n")
	fmt.Fprintf(&w, "| Benchmark | Measure | Result | Target | |\n|---|---|---|---|---|\n")
	for _, r := range benchSum.rows {
		fmt.Fprintf(&w, "| %s | %s | %s | %s | %s |\n", r.bench, r.measure, r.result, r.target, r.verdict)
	}
	if len(benchSum.notes) > 0 {
		fmt.Fprintf(&w, "\n")
		for _, n := range benchSum.notes {
			fmt.Fprintf(&w, "- %s\n", n)
		}
	}
	fmt.Fprintf(&w, "\n---- end of summary ----\n")
	fmt.Print(w.String())
}

// benchTable prints an aligned two- or three-column table to stdout.
func benchTable(title string, rows [][]string) {
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "\n== %s ==\n", title)
	tw := tabwriter.NewWriter(&buf, 0, 0, 2, ' ', 0)
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	_ = tw.Flush()
	fmt.Print(buf.String())
}

// ---- environment ----

func benchStart(b *testing.B, o e2e.Options) *e2e.Env {
	b.Helper()
	e := e2e.Start(b, o)
	benchSum.Lock()
	needPG := benchSum.pg == ""
	benchSum.Unlock()
	if needPG {
		ctx := context.Background()
		if c, err := pgx.Connect(ctx, e.DSN); err == nil {
			var v string
			if c.QueryRow(ctx, "SHOW server_version").Scan(&v) == nil {
				benchSum.Lock()
				benchSum.pg = "PostgreSQL " + strings.Fields(v)[0]
				benchSum.Unlock()
			}
			_ = c.Close(ctx)
		}
	}
	return e
}

// benchBackfill seeds pop, runs the backfill to its result and waits until everything is
// idle. It fails the benchmark on a failed backfill.
func benchBackfill(b *testing.B, e *e2e.Env, pop app.Population) (app.SeedResult, domain.BackfillProgress) {
	b.Helper()
	seed, err := app.Seed(e.GHL, e.RZ, e.LocationID, e.RZToken, pop)
	if err != nil {
		b.Fatal(err)
	}
	prog, _ := benchRunBackfill(b, e, false)
	benchSettle(b, e, 3*time.Second+benchDebounce(e), 30*time.Minute)
	return seed, prog
}

// benchStall is how long a draining backfill may go without a person reporting back
// before the benchmark calls it stalled (the workflow itself waits up to 2 h).
func benchStall() time.Duration {
	return time.Duration(benchInt("HLRZ_BENCH_STALL_S", 90)) * time.Second
}

// benchRunBackfill runs the backfill to its result. A backfill that fails is fatal. One that
// stalls while draining (people whose first pass never reports back) is diagnosed and
// terminated, so the rest of the numbers can still be taken; stalled is then true. When
// strict (BenchmarkBackfill, which measures the backfill) the stall fails the benchmark;
// otherwise (a benchmark's setup) it is noted after a shorter wait, and the setup goes on
// once the people are synced.
func benchRunBackfill(b *testing.B, e *e2e.Env, strict bool) (prog domain.BackfillProgress, stalled bool) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Hour)
	defer cancel()
	run, err := app.StartBackfill(ctx, e.Client, e.App.Config.TaskQueue, e.Conn.ID)
	if err != nil {
		b.Fatal(err)
	}
	result := make(chan error, 1)
	go func() { result <- run.Get(ctx, &prog) }()
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	start, lastLog := time.Now(), time.Now()
	var last domain.BackfillProgress
	lastMove := time.Now()
	for {
		select {
		case err := <-result:
			if err != nil {
				b.Fatalf("backfill failed: %v", err)
			}
			if prog.Failed > 0 {
				b.Fatalf("backfill: %d first passes failed: %+v", prog.Failed, prog)
			}
			return prog, false
		case <-tick.C:
		}
		var p domain.BackfillProgress
		v, err := e.Client.QueryWorkflow(ctx, domain.BackfillWorkflowID(e.Conn.ID), "", domain.QueryProgress)
		if err == nil {
			err = v.Get(&p)
		}
		if err != nil {
			continue // between runs (continue-as-new) or busy
		}
		if p.Phase != last.Phase || p.Synced+p.Failed != last.Synced+last.Failed || p.Started != last.Started || p.Pages != last.Pages {
			last, lastMove = p, time.Now()
		}
		if time.Since(lastLog) >= 15*time.Second {
			g := e.GHL.Stats()
			fmt.Fprintf(os.Stderr, "bench: %5.0fs backfill %s pages %d seen %d linked %d started %d synced %d created %d failed %d; HighLevel calls %d (429 %d), Referrizer calls %d\n",
				time.Since(start).Seconds(), p.Phase, p.Pages, p.Seen, p.Linked, p.Started, p.Synced, p.Created, p.Failed, g.Requests, g.RateLimited, e.RZ.Stats().Total)
			lastLog = time.Now()
		}
		stallAfter := benchStall()
		if !strict {
			stallAfter = min(stallAfter, 20*time.Second)
		}
		if p.Phase == domain.PhaseDraining && p.InFlight() > 0 && time.Since(lastMove) > stallAfter {
			if err := e.Client.TerminateWorkflow(ctx, domain.BackfillWorkflowID(e.Conn.ID), "", "benchmark: backfill stalled while draining"); err != nil {
				b.Fatalf("terminate stalled backfill: %v", err)
			}
			if !strict {
				benchNote("%s: the setup backfill stalled (%d of %d first passes never reported back); terminated after %s and went on.", b.Name(), p.InFlight(), p.Started, stallAfter)
				return p, true
			}
			b.Errorf("backfill stalled: draining for %s with %d first passes never reported back (the workflow would wait up to 2 h): %+v",
				time.Since(lastMove).Round(time.Second), p.InFlight(), p)
			benchDiagnoseLostNotify(b, e)
			benchNote("**Backfill stalled**: %d of %d first passes never reported back to the draining backfill, which waits for them up to 2 h; the benchmark terminated it after %s without progress. The diagnosis in the output shows the person-done signals were received by a backfill run that then continued-as-new without counting them.",
				p.InFlight(), p.Started, stallAfter)
			return p, true
		}
	}
}

// benchDiagnoseLostNotify finds ContactSync workflows that were asked by the backfill to
// report their pass (an event with ReplyTo) more often than they reported (person-done
// signals, counted), and prints how each one's history ends.
func benchDiagnoseLostNotify(tb testing.TB, e *e2e.Env) {
	tb.Helper()
	ctx := context.Background()
	dc := codec.DataConverter(e2e.TestKeyring())
	type acc struct {
		asked, told, failed int
		runs                []string
	}
	byID := map[string]*acc{}
	var order []string
	var token []byte
	for {
		resp, err := e.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Namespace: e.Namespace, PageSize: 1000, NextPageToken: token,
			Query: fmt.Sprintf("WorkflowType = '%s'", domain.ContactSyncName)})
		if err != nil {
			tb.Logf("diagnose: list: %v", err)
			return
		}
		for _, ex := range resp.Executions {
			id, run := ex.GetExecution().GetWorkflowId(), ex.GetExecution().GetRunId()
			a := byID[id]
			if a == nil {
				a = &acc{}
				byID[id] = a
				order = append(order, id)
			}
			var tail []string
			initiated := map[int64]int{}
			iter := e.Client.GetWorkflowHistory(ctx, id, run, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
			for iter.HasNext() {
				ev, err := iter.Next()
				if err != nil {
					break
				}
				name := strings.TrimPrefix(ev.GetEventType().String(), "EVENT_TYPE_")
				if at := ev.GetWorkflowExecutionSignaledEventAttributes(); at != nil && at.GetSignalName() == domain.SignalEvent {
					var in domain.Event
					if dc.FromPayloads(at.GetInput(), &in) == nil && in.ReplyTo != "" {
						a.asked++
						name += "(reply-to)"
					}
				}
				if at := ev.GetWorkflowExecutionStartedEventAttributes(); at != nil {
					// A continued run carries earlier requests in its state.
					var in domain.ContactSyncInput
					if dc.FromPayloads(at.GetInput(), &in) == nil && in.State != nil {
						a.asked += len(in.State.Notify)
					}
				}
				if at := ev.GetSignalExternalWorkflowExecutionInitiatedEventAttributes(); at != nil && at.GetSignalName() == domain.SignalPersonDone {
					var d domain.PersonDone
					if dc.FromPayloads(at.GetInput(), &d) == nil {
						a.told += max(d.Count, 1)
						initiated[ev.GetEventId()] = max(d.Count, 1)
					}
				}
				if at := ev.GetSignalExternalWorkflowExecutionFailedEventAttributes(); at != nil {
					n := initiated[at.GetInitiatedEventId()]
					a.told -= n
					a.failed += n
					name += "(" + at.GetCause().String() + ")"
				}
				tail = append(tail, name)
			}
			if len(tail) > 8 {
				tail = tail[len(tail)-8:]
			}
			a.runs = append(a.runs, fmt.Sprintf("run %s (%s) ends …%s", run, strings.TrimPrefix(ex.GetStatus().String(), "WORKFLOW_EXECUTION_STATUS_"), strings.Join(tail, " → ")))
		}
		token = resp.NextPageToken
		if len(token) == 0 {
			break
		}
	}
	// What the backfill's runs received.
	received, runs := 0, 0
	token = nil
	for {
		resp, err := e.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Namespace: e.Namespace, PageSize: 1000, NextPageToken: token,
			Query: fmt.Sprintf("WorkflowType = '%s'", domain.BackfillName)})
		if err != nil {
			break
		}
		for _, ex := range resp.Executions {
			runs++
			// Per run: synced when it started, person-done received, synced it handed on.
			in, got, out := -1, 0, -1
			var tail []string
			iter := e.Client.GetWorkflowHistory(ctx, ex.GetExecution().GetWorkflowId(), ex.GetExecution().GetRunId(), false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
			for iter.HasNext() {
				ev, err := iter.Next()
				if err != nil {
					break
				}
				name := strings.TrimPrefix(ev.GetEventType().String(), "EVENT_TYPE_")
				if at := ev.GetWorkflowExecutionStartedEventAttributes(); at != nil {
					var bi domain.BackfillInput
					in = 0
					if dc.FromPayloads(at.GetInput(), &bi) == nil && bi.State != nil {
						in = bi.State.Progress.Synced + bi.State.Progress.Failed
					}
				}
				if at := ev.GetWorkflowExecutionContinuedAsNewEventAttributes(); at != nil {
					var bi domain.BackfillInput
					if dc.FromPayloads(at.GetInput(), &bi) == nil && bi.State != nil {
						out = bi.State.Progress.Synced + bi.State.Progress.Failed
					}
				}
				if at := ev.GetWorkflowExecutionSignaledEventAttributes(); at != nil && at.GetSignalName() == domain.SignalPersonDone {
					var d domain.PersonDone
					if dc.FromPayloads(at.GetInput(), &d) == nil {
						received += max(d.Count, 1)
						got += max(d.Count, 1)
						name += fmt.Sprintf("(person-done ×%d)", max(d.Count, 1))
					}
				}
				tail = append(tail, fmt.Sprintf("%d %s", ev.GetEventId(), name))
			}
			if out >= 0 && in >= 0 && out-in != got {
				fmt.Printf("  backfill run %s: started with %d reported, received %d, handed on %d: %d lost; its last events: %s\n",
					ex.GetExecution().GetRunId(), in, got, out, in+got-out, strings.Join(tail[max(len(tail)-14, 0):], " → "))
			}
		}
		token = resp.NextPageToken
		if len(token) == 0 {
			break
		}
	}
	asked, told, failed := 0, 0, 0
	for _, a := range byID {
		asked, told, failed = asked+a.asked, told+a.told, failed+a.failed
	}
	fmt.Printf("  diagnosis: ContactSync workflows were asked %d times to report, reported %d (plus %d signals that failed); the backfill's %d runs received %d\n",
		asked, told, failed, runs, received)
	lost := 0
	for _, id := range order {
		a := byID[id]
		if a.asked <= a.told && a.failed == 0 {
			continue
		}
		lost++
		if lost <= 10 {
			fmt.Printf("  lost person-done: %s asked %d, told %d, failed %d\n", id, a.asked, a.told, a.failed)
			for _, r := range a.runs {
				fmt.Printf("    %s\n", r)
			}
		}
	}
	fmt.Printf("  %d ContactSync workflows owe the backfill a person-done signal\n", lost)
}

func benchDebounce(e *e2e.Env) time.Duration {
	return time.Duration(e.Conn.Settings.DebounceMillis) * time.Millisecond
}

// ---- counters ----

// ghlWriteOps are the HighLevel simulator's mutating operations (api.go routes with write).
var ghlWriteOps = map[string]bool{
	"upsert-contact": true, "create-contact": true, "update-contact": true, "delete-contact": true,
	"add-tags": true, "remove-tags": true, "create-task": true, "update-task": true, "delete-task": true,
	"update-task-completed": true, "create-note": true, "update-note": true, "delete-note": true,
}

type benchSnapshot struct {
	at      time.Time
	ghl     ghlsim.Stats
	rz      rzsim.Stats
	budget  ghl.BudgetStats
	metrics map[string]float64 // "name{label=value}" → value
	inbox   map[store.InboxState]int
}

func benchSnap(tb testing.TB, e *e2e.Env) benchSnapshot {
	tb.Helper()
	s := benchSnapshot{at: time.Now(), ghl: e.GHL.Stats(), rz: e.RZ.Stats(), metrics: map[string]float64{}}
	s.budget = e.App.Conns.Budgets().Stats()[e.LocationID]
	fams, err := e.App.Metrics.Registry.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	for _, f := range fams {
		if !strings.HasPrefix(f.GetName(), "hlrz_") {
			continue
		}
		for _, m := range f.GetMetric() {
			key := f.GetName()
			for _, l := range m.GetLabel() {
				key += "{" + l.GetName() + "=" + l.GetValue() + "}"
			}
			switch {
			case m.GetCounter() != nil:
				s.metrics[key] = m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				s.metrics[key] = m.GetGauge().GetValue()
			}
		}
	}
	s.inbox, err = e.Store.InboxCounts(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func (s benchSnapshot) ghlReads() int64 {
	var n int64
	for op, c := range s.ghl.Operations {
		if !ghlWriteOps[op] {
			n += c
		}
	}
	return n
}

func (s benchSnapshot) ghlWrites() int64 {
	var n int64
	for op, c := range s.ghl.Operations {
		if ghlWriteOps[op] {
			n += c
		}
	}
	return n
}

func (s benchSnapshot) rzReads() int64 { return s.rz.Total - s.rz.Writes }

func (s benchSnapshot) inboxTotal() int {
	n := 0
	for _, v := range s.inbox {
		n += v
	}
	return n
}

// benchDelta is what happened between two snapshots.
type benchDelta struct {
	ghlReads, ghlWrites, ghl429, rzReads, rzWrites int64
	signals, echoesGHL                             float64
	inbox                                          map[store.InboxState]int
	budget429, budgetWaits                         int64
	budgetWait                                     time.Duration
	ghlOps                                         map[string]int64
	rzCalls                                        map[string]int64
}

func benchDiff(a, b benchSnapshot) benchDelta {
	d := benchDelta{
		ghlReads: b.ghlReads() - a.ghlReads(), ghlWrites: b.ghlWrites() - a.ghlWrites(), ghl429: b.ghl.RateLimited - a.ghl.RateLimited,
		rzReads: b.rzReads() - a.rzReads(), rzWrites: b.rz.Writes - a.rz.Writes,
		signals:   b.metrics["hlrz_signals_total"] - a.metrics["hlrz_signals_total"],
		echoesGHL: b.metrics["hlrz_echoes_suppressed_total{source=ghl}"] - a.metrics["hlrz_echoes_suppressed_total{source=ghl}"],
		inbox:     map[store.InboxState]int{},
		budget429: b.budget.RateLimited - a.budget.RateLimited, budgetWaits: b.budget.Waits - a.budget.Waits,
		budgetWait: b.budget.WaitTime - a.budget.WaitTime,
		ghlOps:     map[string]int64{}, rzCalls: map[string]int64{},
	}
	for k, v := range b.inbox {
		if n := v - a.inbox[k]; n != 0 {
			d.inbox[k] = n
		}
	}
	for k, v := range b.ghl.Operations {
		if n := v - a.ghl.Operations[k]; n != 0 {
			d.ghlOps[k] = n
		}
	}
	for k, v := range b.rz.Calls {
		if n := v - a.rz.Calls[k]; n != 0 {
			d.rzCalls[k] = n
		}
	}
	return d
}

func benchMapString[V int | int64](m map[string]V) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return m[keys[i]] > m[keys[j]] || m[keys[i]] == m[keys[j]] && keys[i] < keys[j] })
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

func benchInboxString(m map[store.InboxState]int) string {
	s := map[string]int{}
	for k, v := range m {
		s[string(k)] = v
	}
	return benchMapString(s)
}

// ---- Temporal history ----

type benchTypeHist struct {
	execs, running int
	events         int64
}

type benchHist struct {
	execs, running int
	events         int64
	byType         map[string]*benchTypeHist
	sampleIDs      map[string][2]string
}

// benchHistory sums the history length of every execution of the namespace: closed runs
// from visibility (final), running ones from DescribeWorkflowExecution (visibility's value
// for a running execution can lag).
func benchHistory(tb testing.TB, e *e2e.Env) benchHist {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	h := benchHist{byType: map[string]*benchTypeHist{}, sampleIDs: map[string][2]string{}}
	type running struct{ typ, id, run string }
	var open []running
	var token []byte
	for {
		// Small pages, retried: each call has the SDK's 10 s RPC deadline, and a 1,000-row page
		// of the in-process server's SQLite visibility store can take longer under load.
		var resp *workflowservice.ListWorkflowExecutionsResponse
		var err error
		for attempt := 0; attempt < 5; attempt++ {
			if resp, err = e.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Namespace: e.Namespace, PageSize: 200, NextPageToken: token}); err == nil {
				break
			}
		}
		if err != nil {
			tb.Fatalf("list workflows: %v", err)
		}
		for _, ex := range resp.Executions {
			typ := ex.GetType().GetName()
			th := h.byType[typ]
			if th == nil {
				th = &benchTypeHist{}
				h.byType[typ] = th
			}
			th.execs++
			h.execs++
			if _, ok := h.sampleIDs[typ]; !ok {
				h.sampleIDs[typ] = [2]string{ex.GetExecution().GetWorkflowId(), ex.GetExecution().GetRunId()}
			}
			if ex.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
				th.running++
				h.running++
				open = append(open, running{typ, ex.GetExecution().GetWorkflowId(), ex.GetExecution().GetRunId()})
				continue
			}
			th.events += ex.GetHistoryLength()
			h.events += ex.GetHistoryLength()
		}
		token = resp.NextPageToken
		if len(token) == 0 {
			break
		}
	}
	var mu sync.Mutex
	var firstErr error
	work := make(chan running)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for r := range work {
				d, err := e.Client.DescribeWorkflowExecution(ctx, r.id, r.run)
				mu.Lock()
				if err != nil {
					if firstErr == nil {
						firstErr = err
					}
				} else {
					n := d.GetWorkflowExecutionInfo().GetHistoryLength()
					h.byType[r.typ].events += n
					h.events += n
				}
				mu.Unlock()
			}
		})
	}
	for _, r := range open {
		work <- r
	}
	close(work)
	wg.Wait()
	if firstErr != nil {
		tb.Fatalf("describe workflow: %v", firstErr)
	}
	return h
}

// benchEventMix counts the event types of one execution's history.
func benchEventMix(tb testing.TB, e *e2e.Env, id, run string) map[string]int {
	tb.Helper()
	mix := map[string]int{}
	iter := e.Client.GetWorkflowHistory(context.Background(), id, run, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for iter.HasNext() {
		ev, err := iter.Next()
		if err != nil {
			tb.Fatalf("history of %s: %v", id, err)
		}
		mix[strings.TrimPrefix(ev.GetEventType().String(), "EVENT_TYPE_")]++
	}
	return mix
}

func benchHistoryLength(tb testing.TB, e *e2e.Env, id string) int64 {
	tb.Helper()
	d, err := e.Client.DescribeWorkflowExecution(context.Background(), id, "")
	if err != nil {
		tb.Fatalf("describe %s: %v", id, err)
	}
	return d.GetWorkflowExecutionInfo().GetHistoryLength()
}

// ---- waiting ----

// benchFingerprint summarises every counter that moves while the product works; clean is
// false while webhooks or inbox rows are pending or a non-entity workflow runs.
func benchFingerprint(e *e2e.Env) (fp string, clean bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	g, r := e.GHL.Stats(), e.RZ.Stats()
	counts, err := e.Store.InboxCounts(ctx)
	if err != nil {
		return err.Error(), false
	}
	resp, err := e.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
		Namespace: e.Namespace, PageSize: 5,
		Query: fmt.Sprintf("ExecutionStatus = 'Running' AND WorkflowType != '%s'", domain.ContactSyncName),
	})
	if err != nil {
		return err.Error(), false
	}
	clean = g.Webhooks.Pending == 0 && counts[store.InboxPending] == 0 && len(resp.Executions) == 0
	fp = fmt.Sprintf("ghl=%d rz=%d wh=%d/%d inbox=%v other=%d", g.Requests, r.Total, g.Webhooks.Enqueued, g.Webhooks.Acknowledged, counts, len(resp.Executions))
	return fp, clean
}

// benchSettle waits until the product is idle: no webhook or inbox row pending, no
// backfill, poll or child running, no API call for quiet, and the summed history of every
// workflow unchanged across quiet (so no ContactSync was mid-pass or in its debounce). It
// returns the final history and when the last change was seen (zero if none was seen after
// it started looking).
func benchSettle(tb testing.TB, e *e2e.Env, quiet, timeout time.Duration) (benchHist, time.Time) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	fp, since := "", time.Now()
	var lastChange time.Time // zero until a change is seen after the first look
	first := true
	var lastHist *benchHist
	lastLog := time.Now()
	for time.Now().Before(deadline) {
		cur, clean := benchFingerprint(e)
		if time.Since(lastLog) > 15*time.Second {
			fmt.Fprintf(os.Stderr, "bench: waiting for idle: clean %v, %s\n", clean, cur)
			lastLog = time.Now()
		}
		if cur != fp || !clean {
			if !first {
				lastChange = time.Now()
			}
			first = false
			fp, since = cur, time.Now()
			time.Sleep(250 * time.Millisecond)
			continue
		}
		first = false
		if time.Since(since) < quiet {
			time.Sleep(250 * time.Millisecond)
			continue
		}
		h := benchHistory(tb, e)
		if lastHist != nil && h.events == lastHist.events && h.execs == lastHist.execs && h.running == lastHist.running {
			return h, lastChange
		}
		if lastHist != nil {
			lastChange = time.Now() // histories still moved: the last change is now at the earliest
		}
		lastHist = &h
		time.Sleep(quiet)
	}
	cur, _ := benchFingerprint(e)
	tb.Fatalf("timed out after %s waiting for the product to go idle: %s", timeout, cur)
	return benchHist{}, time.Time{}
}

func benchPoll(tb testing.TB, e *e2e.Env) (activities.PollResult, time.Duration) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	start := time.Now()
	run, err := e.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: "bench-poll-" + fmt.Sprint(time.Now().UnixNano()), TaskQueue: e.App.Config.TaskQueue,
	}, workflows.ReferrizerPoll, domain.PollInput{ConnectionID: e.Conn.ID, PageSize: 100})
	if err != nil {
		tb.Fatal(err)
	}
	var res activities.PollResult
	if err := run.Get(ctx, &res); err != nil {
		tb.Fatalf("poll: %v", err)
	}
	return res, time.Since(start)
}

// ---- people ----

// benchPersonIndex maps a seeded contact back to its person number: app.Seed gives person
// i the phone +1555 followed by i in 7 digits (or "(555) 00i-iiii" on the Referrizer side of
// a phone-only match) and an email ending in i before the @.
func benchPersonIndex(phone, email string) (int, bool) {
	var d []byte
	for i := 0; i < len(phone); i++ {
		if phone[i] >= '0' && phone[i] <= '9' {
			d = append(d, phone[i])
		}
	}
	if len(d) >= 10 && string(d[len(d)-10:len(d)-7]) == "555" {
		if n, err := strconv.Atoi(string(d[len(d)-7:])); err == nil {
			return n, true
		}
	}
	local, _, ok := strings.Cut(email, "@")
	if !ok {
		return 0, false
	}
	j := len(local)
	for j > 0 && local[j-1] >= '0' && local[j-1] <= '9' {
		j--
	}
	if n, err := strconv.Atoi(local[j:]); err == nil {
		return n, true
	}
	return 0, false
}

type benchPeople struct {
	ghl, rz                        int // contacts on each side
	ghlDup, rzDup                  int // extra copies of a person on one side
	ghlMissing, rzMissing, unknown int
	examples                       []string
}

// benchCheckPeople checks that each of the n seeded people appears exactly once on each side.
func benchCheckPeople(e *e2e.Env, n int) benchPeople {
	var p benchPeople
	count := func(side string, idx int, ok bool, counts []int, desc string) {
		if !ok || idx < 0 || idx >= n {
			p.unknown++
			if len(p.examples) < 5 {
				p.examples = append(p.examples, side+" unknown person: "+desc)
			}
			return
		}
		counts[idx]++
	}
	gc, rc := make([]int, n), make([]int, n)
	for _, c := range e.GHLContacts() {
		p.ghl++
		i, ok := benchPersonIndex(c.Phone, c.Email)
		count("HighLevel", i, ok, gc, c.Email+" "+c.Phone)
	}
	for _, c := range e.RZContacts() {
		p.rz++
		i, ok := benchPersonIndex(c.Phone, c.Email)
		count("Referrizer", i, ok, rc, c.Email+" "+c.Phone)
	}
	for i := range n {
		switch {
		case gc[i] == 0:
			p.ghlMissing++
		case gc[i] > 1:
			p.ghlDup += gc[i] - 1
		}
		switch {
		case rc[i] == 0:
			p.rzMissing++
		case rc[i] > 1:
			p.rzDup += rc[i] - 1
		}
		if (gc[i] != 1 || rc[i] != 1) && len(p.examples) < 5 {
			p.examples = append(p.examples, fmt.Sprintf("person %d: HighLevel ×%d, Referrizer ×%d", i, gc[i], rc[i]))
		}
	}
	return p
}

// benchPopulation is BenchmarkBackfill's population: 60% of the people only in HighLevel,
// 20% only in Referrizer, 20% in both, with app.RealisticShares of tags, notes, tasks and
// labels (README "Performance").
func benchPopulation(n int) app.Population {
	return app.Population{People: n, GHLOnly: 0.6, RZOnly: 0.2, Both: 0.2, Extras: true, Shares: &app.RealisticShares}
}

// benchExtras counts what the seeded people carry besides their contact.
func benchExtras(seed app.SeedResult) string {
	var tagged, noted, tasked, notes, tasks int
	for _, p := range seed.Expected {
		if len(p.Tags) > 0 {
			tagged++
		}
		if len(p.Notes) > 0 {
			noted++
		}
		if len(p.Tasks) > 0 {
			tasked++
		}
		notes += len(p.Notes)
		tasks += len(p.Tasks)
	}
	return fmt.Sprintf("%d people with tags or labels; %d with notes (%d notes); %d with open tasks (%d tasks)", tagged, noted, notes, tasked, tasks)
}

// benchCheckMerge compares both sides with the seed's expected first sync using the e2e
// checker: tags and labels merged, notes and tasks still on HighLevel and projected into
// Referrizer's digests and status labels. It returns the findings.
func benchCheckMerge(tb testing.TB, e *e2e.Env, seed app.SeedResult) []string {
	tb.Helper()
	m, err := syncmodel.ParseMapping([]byte(syncmodel.DefaultMappingYAML))
	if err != nil {
		tb.Fatal(err)
	}
	snap := e.GHL.Snapshot()
	w := e2e.World{GHLContacts: e.GHLContacts(), GHLTasks: snap.Tasks, GHLNotes: snap.Notes, RZContacts: e.RZContacts()}
	for after := ""; ; {
		page, err := e.Store.ListLinks(context.Background(), e.Conn.ID, after, 500)
		if err != nil {
			tb.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		w.Links = append(w.Links, page...)
		after = page[len(page)-1].ID
	}
	var out []string
	for _, f := range e2e.Check(m, e2e.NewTruth(seed.Expected), w, nil).Findings {
		out = append(out, f.String())
	}
	return out
}

// ---- statistics ----

func benchPct(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func benchMS(d time.Duration) string {
	return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond))
}

func benchF(v float64) string {
	switch {
	case v == math.Trunc(v) && math.Abs(v) < 1e9:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case math.Abs(v) >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	default:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
}

// ==== 1. Backfill ====

// BenchmarkBackfill links and first-syncs a mixed population under HighLevel's rate-limit
// shape and reports calls per person, 429s, rate-budget utilisation, Temporal history events
// per person, wall time and duplicates.
func BenchmarkBackfill(b *testing.B) {
	n := benchInt("HLRZ_BENCH_PEOPLE", 10000)
	rateMax, rateIv := benchGHLLimit()
	e := benchStart(b, e2e.Options{GHL: ghlsim.Options{RateMax: rateMax, RateInterval: rateIv}})
	ctx := context.Background()
	seed, err := app.Seed(e.GHL, e.RZ, e.LocationID, e.RZToken, benchPopulation(n))
	if err != nil {
		b.Fatal(err)
	}
	e.GHL.ResetStats()
	e.RZ.ResetStats()
	s0 := benchSnap(b, e)

	// Sample HighLevel's request counter and the backfill phase while it runs.
	type sample struct {
		at       time.Time
		requests int64
	}
	var (
		smu      sync.Mutex
		samples  []sample
		phaseAt  = map[string]time.Time{}
		phaseSeq []string
		// The last time any API call or webhook delivery happened.
		lastAct   string
		lastActAt time.Time
	)
	stop := make(chan struct{})
	var sampler sync.WaitGroup
	sampler.Go(func() {
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		i := 0
		for {
			select {
			case <-stop:
				return
			case now := <-tick.C:
				st := e.GHL.Stats()
				act := fmt.Sprint(st.Requests, st.Webhooks.Acknowledged, e.RZ.Stats().Total)
				smu.Lock()
				samples = append(samples, sample{now, st.Requests})
				if act != lastAct {
					lastAct, lastActAt = act, now
				}
				smu.Unlock()
				if i++; i%4 == 0 {
					if v, err := e.Client.QueryWorkflow(ctx, domain.BackfillWorkflowID(e.Conn.ID), "", domain.QueryProgress); err == nil {
						var p domain.BackfillProgress
						if v.Get(&p) == nil && p.Phase != "" {
							smu.Lock()
							if _, seen := phaseAt[p.Phase]; !seen {
								phaseAt[p.Phase] = now
								phaseSeq = append(phaseSeq, p.Phase)
							}
							smu.Unlock()
						}
					}
				}
			}
		}
	})

	b.ResetTimer()
	start := time.Now()
	prog, stalled := benchRunBackfill(b, e, true)
	backfillTime := time.Since(start)
	if stalled {
		backfillTime -= benchStall() // the stall window is waiting, not work
	}
	sBackfill := benchSnap(b, e)
	hist, lastChange := benchSettle(b, e, 3*time.Second+benchDebounce(e), 60*time.Minute)
	b.StopTimer()
	close(stop)
	sampler.Wait()
	// Idle since the backfill's result, its last API call or webhook, or the last change
	// the idle wait saw, whichever is latest.
	idleAt := start.Add(backfillTime)
	smu.Lock()
	if lastActAt.After(idleAt) {
		idleAt = lastActAt
	}
	smu.Unlock()
	if lastChange.After(idleAt) {
		idleAt = lastChange
	}
	idleTime := idleAt.Sub(start)
	s1 := benchSnap(b, e)

	d := benchDiff(s0, s1)
	people := benchCheckPeople(e, n)
	links, err := e.Store.CountLinks(ctx, e.Conn.ID)
	if err != nil {
		b.Fatal(err)
	}

	// Rate budget utilisation: achieved calls/s during the backfill ÷ allowed calls/s; also
	// the busiest window of one interval.
	allowed := float64(rateMax) / rateIv.Seconds()
	ghlCallsBackfill := float64(sBackfill.ghl.Requests - s0.ghl.Requests)
	util := ghlCallsBackfill / backfillTime.Seconds() / allowed
	peak := 0.0
	var firstCall, lastCall time.Time
	smu.Lock()
	for i, s := range samples {
		if s.requests > 0 && firstCall.IsZero() {
			firstCall = s.at
		}
		if i > 0 && s.requests != samples[i-1].requests {
			lastCall = s.at
		}
		j := sort.Search(len(samples), func(j int) bool { return !samples[j].at.Before(s.at.Add(rateIv)) })
		if j < len(samples) {
			peak = max(peak, float64(samples[j].requests-s.requests)/float64(rateMax))
		}
	}
	var phases [][]string
	for i, ph := range phaseSeq {
		end := start.Add(backfillTime)
		if i+1 < len(phaseSeq) {
			end = phaseAt[phaseSeq[i+1]]
		}
		phases = append(phases, []string{"  phase " + ph, fmt.Sprintf("%.1f s", end.Sub(phaseAt[ph]).Seconds())})
	}
	smu.Unlock()
	activeUtil := 0.0
	if lastCall.After(firstCall) {
		activeUtil = ghlCallsBackfill / lastCall.Sub(firstCall).Seconds() / allowed
	}

	fn := float64(n)
	ghlPer := float64(d.ghlReads+d.ghlWrites) / fn
	rzPer := float64(d.rzReads+d.rzWrites) / fn
	histPer := float64(hist.events) / fn
	dups := people.ghlDup + people.rzDup

	rows := [][]string{
		{"people seeded", fmt.Sprintf("%d (HighLevel %d, Referrizer %d; in both: %d by email, %d by phone only)", n, seed.GHLContacts, seed.RZContacts, seed.MatchByEmail, seed.MatchByPhone)},
		{"  extras", benchExtras(seed)},
		{"rate limit", benchLimitNote()},
		{"debounce", benchDebounce(e).String()},
		{"backfill result", fmt.Sprintf("%+v", prog)},
		{"wall time: backfill workflow", fmt.Sprintf("%.1f s (%.0f people/s)", backfillTime.Seconds(), fn/backfillTime.Seconds())},
		{"wall time: until idle", fmt.Sprintf("%.1f s (echo webhooks relayed, last passes done)", idleTime.Seconds())},
	}
	rows = append(rows, phases...)
	rows = append(rows,
		[]string{"HighLevel calls / person", fmt.Sprintf("%.2f (%d reads + %d writes = %.2f + %.2f)", ghlPer, d.ghlReads, d.ghlWrites, float64(d.ghlReads)/fn, float64(d.ghlWrites)/fn)},
		[]string{"  by operation", benchMapString(d.ghlOps)},
		[]string{"Referrizer calls / person", fmt.Sprintf("%.2f (%d reads + %d writes)", rzPer, d.rzReads, d.rzWrites)},
		[]string{"  by call", benchMapString(d.rzCalls)},
		[]string{"429s received", fmt.Sprintf("simulator %d, client budget %d (budget waits %d, %.1f s waited in total)", d.ghl429, d.budget429, d.budgetWaits, d.budgetWait.Seconds())},
		[]string{"rate budget utilisation", fmt.Sprintf("%.2f over the backfill (%.1f of %.0f calls/s); %.2f while HighLevel calls were being made (%.1f s); busiest %s window %.2f",
			util, ghlCallsBackfill/backfillTime.Seconds(), allowed, activeUtil, lastCall.Sub(firstCall).Seconds(), rateIv, peak)},
		[]string{"Temporal history events / person", fmt.Sprintf("%.1f (%d events in %d executions, %d running)", histPer, hist.events, hist.execs, hist.running)},
	)
	types := make([]string, 0, len(hist.byType))
	for t := range hist.byType {
		types = append(types, t)
	}
	sort.Slice(types, func(i, j int) bool { return hist.byType[types[i]].events > hist.byType[types[j]].events })
	for _, t := range types {
		th := hist.byType[t]
		rows = append(rows, []string{"  " + t, fmt.Sprintf("%d executions, %d events (%.1f / person, %.1f / execution)", th.execs, th.events, float64(th.events)/fn, float64(th.events)/float64(th.execs))})
	}
	mismatches := expectedMismatches(e, seed.Expected)
	merge := benchCheckMerge(b, e, seed)
	mismatches = append(mismatches, merge...)
	rows = append(rows,
		[]string{"signals sent", fmt.Sprintf("%.0f (%.2f / person); HighLevel echoes suppressed %.0f", d.signals, d.signals/fn, d.echoesGHL)},
		[]string{"inbox rows", benchInboxString(d.inbox)},
		[]string{"links", fmt.Sprint(links)},
		[]string{"people on each side", fmt.Sprintf("HighLevel %d, Referrizer %d (want %d each)", people.ghl, people.rz, n)},
		[]string{"duplicates created", fmt.Sprintf("%d (HighLevel %d, Referrizer %d); missing: HighLevel %d, Referrizer %d; unidentifiable %d", dups, people.ghlDup, people.rzDup, people.ghlMissing, people.rzMissing, people.unknown)},
		[]string{"differences from the expected first-sync merge", fmt.Sprintf("%d %s", len(mismatches), strings.Join(mismatches[:min(3, len(mismatches))], "; "))},
	)
	benchTable(fmt.Sprintf("BenchmarkBackfill: %d people", n), rows)
	for _, t := range []string{domain.ContactSyncName, domain.TagSyncName, domain.NoteSyncName, domain.TaskSyncName} {
		if ids, ok := hist.sampleIDs[t]; ok {
			fmt.Printf("  sample %s %s events: %s\n", t, ids[0], benchMapString(benchEventMix(b, e, ids[0], ids[1])))
		}
	}

	b.ReportMetric(ghlPer, "ghl-calls/person")
	b.ReportMetric(rzPer, "rz-calls/person")
	b.ReportMetric(float64(d.ghl429), "429s")
	b.ReportMetric(util, "rate-util")
	b.ReportMetric(histPer, "events/person")
	b.ReportMetric(idleTime.Seconds(), "s-to-idle")
	b.ReportMetric(float64(dups), "duplicates")

	bn := fmt.Sprintf("Backfill (%d people)", n)
	benchRecord(bn, "HighLevel calls / person", fmt.Sprintf("%.2f (%.2f reads + %.2f writes)", ghlPer, float64(d.ghlReads)/fn, float64(d.ghlWrites)/fn), "≤ 1.3", okp(ghlPer <= 1.3))
	benchRecord(bn, "Referrizer calls / person", fmt.Sprintf("%.2f (%.2f reads + %.2f writes)", rzPer, float64(d.rzReads)/fn, float64(d.rzWrites)/fn), "≤ 1.5", okp(rzPer <= 1.5))
	benchRecord(bn, "429s received", fmt.Sprintf("%d (budget saw %d)", d.ghl429, d.budget429), "0", okp(d.ghl429 == 0 && d.budget429 == 0))
	benchRecord(bn, "rate-budget utilisation", fmt.Sprintf("%.2f (%.1f of %.0f calls/s; busiest window %.2f)", util, ghlCallsBackfill/backfillTime.Seconds(), allowed, peak), "≥ 0.85", okp(util >= 0.85))
	benchRecord(bn, "Temporal history events / person", fmt.Sprintf("%.1f", histPer), "≤ 40", okp(histPer <= 40))
	benchRecord(bn, "wall time", fmt.Sprintf("%.0f s backfill, %.0f s until idle (%.0f people/s)", backfillTime.Seconds(), idleTime.Seconds(), fn/idleTime.Seconds()), "", nil)
	benchRecord(bn, "duplicates created", fmt.Sprint(dups), "0", okp(dups == 0))
	benchNote("Backfill: %s.", benchLimitNote())
	benchPrintSummary()

	if dups > 0 || people.ghlMissing > 0 || people.rzMissing > 0 || len(mismatches) > 0 {
		b.Fatalf("backfill did not converge: %+v; %d people differ from the expected merge", people, len(mismatches))
	}
}

// ==== 2. Live edit latency ====

// BenchmarkLiveEditLatency measures HighLevel edit → signed webhook → bridge → ContactSync →
// Referrizer write, once per debounce setting.
func BenchmarkLiveEditLatency(b *testing.B) {
	for _, ms := range benchInts("HLRZ_BENCH_DEBOUNCE_MS", []int{200, 1000}) {
		b.Run(fmt.Sprintf("debounce=%dms", ms), func(b *testing.B) { benchLiveEdit(b, ms) })
	}
}

func benchLiveEdit(b *testing.B, debounceMS int) {
	edits := benchInt("HLRZ_BENCH_EDITS", 1000)
	rate := benchInt("HLRZ_BENCH_EDIT_RATE", 20)
	rateMax, rateIv := benchGHLLimit()
	e := benchStart(b, e2e.Options{
		GHL:      ghlsim.Options{RateMax: rateMax, RateInterval: rateIv},
		Settings: store.Settings{DebounceMillis: debounceMS},
	})
	ctx := context.Background()
	// The realistic population: after the backfill everyone is on both sides.
	benchBackfill(b, e, benchPopulation(edits))

	type target struct {
		ghlID, rzID, wf, last string
		sent                  time.Time
	}
	var targets []*target
	for _, c := range e.GHLContacts() {
		l, err := e.Store.LinkBy(ctx, e.Conn.ID, store.SideGHL, c.ID)
		if err != nil || l.RZContactID == "" {
			b.Fatalf("person %s not linked after the backfill: %+v %v", c.ID, l, err)
		}
		targets = append(targets, &target{ghlID: c.ID, rzID: l.RZContactID, wf: domain.ContactWorkflowID(e.Conn.ID, l.ID)})
	}
	sort.Slice(targets, func(i, j int) bool { return targets[i].ghlID < targets[j].ghlID })
	targets = targets[:min(edits, len(targets))]
	s0 := benchSnap(b, e)

	b.ResetTimer()
	tick := time.NewTicker(time.Second / time.Duration(rate))
	start := time.Now()
	for i, t := range targets {
		<-tick.C
		t.last = fmt.Sprintf("Live%05d", i)
		t.sent = time.Now()
		if _, err := e.GHL.UpdateContact(t.ghlID, ghlsim.ContactPatch{LastName: &t.last}); err != nil {
			b.Fatal(err)
		}
	}
	tick.Stop()
	sendTime := time.Since(start)
	byRZ := map[string]*target{}
	for _, t := range targets {
		byRZ[t.rzID] = t
	}
	lat := map[string]time.Duration{}
	e.Eventually(5*time.Minute, "every edit in Referrizer", func() (bool, string) {
		for _, c := range e.RZContacts() {
			if t := byRZ[c.ID]; t != nil && c.LastName == t.last {
				lat[c.ID] = c.UpdatedAt.Sub(t.sent)
			}
		}
		return len(lat) == len(targets), fmt.Sprintf("%d of %d arrived", len(lat), len(targets))
	})
	b.StopTimer()
	benchSettle(b, e, 3*time.Second+benchDebounce(e), 10*time.Minute)
	s1 := benchSnap(b, e)
	d := benchDiff(s0, s1)

	// When the bridge committed each edit's webhook, to split the latency.
	arrive := map[string]time.Time{} // HighLevel contact id → first receipt of a ContactUpdate
	if conn, err := pgx.Connect(ctx, e.DSN); err == nil {
		rows, err := conn.Query(ctx, "SELECT received_at, body FROM inbox WHERE event_type = 'ContactUpdate' AND received_at >= $1", start.Add(-time.Second))
		if err == nil {
			for rows.Next() {
				var at time.Time
				var body []byte
				if rows.Scan(&at, &body) != nil {
					continue
				}
				var ev struct {
					ID string `json:"id"`
				}
				if json.Unmarshal(body, &ev) == nil {
					if old, ok := arrive[ev.ID]; !ok || at.Before(old) {
						arrive[ev.ID] = at
					}
				}
			}
			rows.Close()
		}
		_ = conn.Close(ctx)
	}

	var all, toBridge, afterBridge []time.Duration
	for _, t := range targets {
		all = append(all, lat[t.rzID])
		if at, ok := arrive[t.ghlID]; ok {
			toBridge = append(toBridge, at.Sub(t.sent))
			afterBridge = append(afterBridge, lat[t.rzID]-at.Sub(t.sent))
		}
	}
	for _, s := range [][]time.Duration{all, toBridge, afterBridge} {
		slices.Sort(s)
	}
	line := func(s []time.Duration) string {
		return fmt.Sprintf("p50 %s, p95 %s, p99 %s, max %s", benchMS(benchPct(s, .5)), benchMS(benchPct(s, .95)), benchMS(benchPct(s, .99)), benchMS(benchPct(s, 1)))
	}
	debounce := benchDebounce(e)
	p99 := benchPct(all, .99)
	targetP99 := debounce + time.Second
	fn := float64(len(targets))
	benchTable(fmt.Sprintf("BenchmarkLiveEditLatency: %d edits at %d/s, debounce %s", len(targets), rate, debounce), [][]string{
		{"edits", fmt.Sprintf("%d, one per person, HighLevel last name, paced %d/s (sent in %.1f s)", len(targets), rate, sendTime.Seconds())},
		{"debounce", fmt.Sprintf("%s (connection setting DebounceMillis=%d; the product default is %s)", debounce, debounceMS, workflows.DefaultDebounce)},
		{"rate limit", benchLimitNote()},
		{"latency edit → Referrizer stored", line(all)},
		{"  edit → bridge committed webhook", line(toBridge)},
		{"  bridge → Referrizer stored", line(afterBridge)},
		{"target", fmt.Sprintf("p99 ≤ debounce + 1 s = %s", targetP99)},
		{"HighLevel calls / edit", fmt.Sprintf("%.2f reads, %.2f writes (%s)", float64(d.ghlReads)/fn, float64(d.ghlWrites)/fn, benchMapString(d.ghlOps))},
		{"Referrizer calls / edit", fmt.Sprintf("%.2f reads, %.2f writes (%s)", float64(d.rzReads)/fn, float64(d.rzWrites)/fn, benchMapString(d.rzCalls))},
		{"signals / edit", fmt.Sprintf("%.2f", d.signals/fn)},
		{"inbox rows", benchInboxString(d.inbox)},
		{"429s", fmt.Sprintf("simulator %d, budget %d", d.ghl429, d.budget429)},
	})
	// Anatomy of the median and the slowest edit: their ContactSync's events from the signal on.
	anatomy := func(which string, want time.Duration) {
		for _, t := range targets {
			if lat[t.rzID] != want {
				continue
			}
			debounceIn := "?"
			if d, err := e.Client.DescribeWorkflowExecution(ctx, t.wf, ""); err == nil {
				first := e.Client.GetWorkflowHistory(ctx, t.wf, d.GetWorkflowExecutionInfo().GetExecution().GetRunId(), false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
				if first.HasNext() {
					if ev, err := first.Next(); err == nil {
						var in domain.ContactSyncInput
						if codec.DataConverter(e2e.TestKeyring()).FromPayloads(ev.GetWorkflowExecutionStartedEventAttributes().GetInput(), &in) == nil {
							debounceIn = in.Debounce.String()
						}
					}
				}
			}
			fmt.Printf("  anatomy of the %s edit (%s, %s, sent %.1f s into the run; its input's debounce %s): ms after the edit, then the event\n",
				which, t.wf, benchMS(want), t.sent.Sub(start).Seconds(), debounceIn)
			if at, ok := arrive[t.ghlID]; ok {
				fmt.Printf("    %6.0f  bridge committed the webhook\n", float64(at.Sub(t.sent))/1e6)
			}
			iter := e.Client.GetWorkflowHistory(ctx, t.wf, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
			for iter.HasNext() {
				ev, err := iter.Next()
				if err != nil {
					break
				}
				if off := ev.GetEventTime().AsTime().Sub(t.sent); off >= 0 {
					extra := ""
					if at := ev.GetTimerStartedEventAttributes(); at != nil {
						extra = " (start to fire " + at.GetStartToFireTimeout().AsDuration().String() + ")"
					}
					if at := ev.GetActivityTaskScheduledEventAttributes(); at != nil {
						extra = " " + at.GetActivityType().GetName()
					}
					fmt.Printf("    %6.0f  %s%s\n", float64(off)/1e6, strings.TrimPrefix(ev.GetEventType().String(), "EVENT_TYPE_"), extra)
				}
			}
			fmt.Printf("    %6.0f  Referrizer stored the new value\n", float64(want)/1e6)
			return
		}
	}
	anatomy("median", benchPct(all, .5))
	anatomy("slowest", benchPct(all, 1))
	b.ReportMetric(float64(benchPct(all, .5))/1e6, "p50-ms")
	b.ReportMetric(float64(benchPct(all, .95))/1e6, "p95-ms")
	b.ReportMetric(float64(p99)/1e6, "p99-ms")
	b.ReportMetric(float64(benchPct(all, 1))/1e6, "max-ms")
	bn := fmt.Sprintf("Live edit latency (%d edits at %d/s, debounce %s)", len(targets), rate, debounce)
	benchRecord(bn, "edit → Referrizer p50 / p95 / p99 / max", fmt.Sprintf("%s / %s / %s / %s", benchMS(benchPct(all, .5)), benchMS(benchPct(all, .95)), benchMS(p99), benchMS(benchPct(all, 1))),
		fmt.Sprintf("p99 ≤ %s", targetP99), okp(p99 <= targetP99))
	benchRecord(bn, "  of which edit → bridge (p50 / p99)", fmt.Sprintf("%s / %s", benchMS(benchPct(toBridge, .5)), benchMS(benchPct(toBridge, .99))), "", nil)
	benchPrintSummary()
}

// ==== 3. Steady-state edit ====

type benchEditCost struct {
	ghlReads, ghlWrites, rzReads, rzWrites, events int64
	signals                                        float64
}

type benchEditAvg struct{ ghlR, ghlW, rzR, rzW, ev, sig, maxEv float64 }

func benchAvgCost(cs []benchEditCost) (out benchEditAvg) {
	for _, c := range cs {
		out.ghlR += float64(c.ghlReads)
		out.ghlW += float64(c.ghlWrites)
		out.rzR += float64(c.rzReads)
		out.rzW += float64(c.rzWrites)
		out.ev += float64(c.events)
		out.sig += c.signals
		out.maxEv = max(out.maxEv, float64(c.events))
	}
	if n := float64(len(cs)); n > 0 {
		out.ghlR, out.ghlW, out.rzR, out.rzW, out.ev, out.sig = out.ghlR/n, out.ghlW/n, out.rzR/n, out.rzW/n, out.ev/n, out.sig/n
	}
	return out
}

// benchRZEdits is the outcome of Referrizer edits that reach HighLevel through the poll.
type benchRZEdits struct {
	costs                           []benchEditCost
	echoRows, signalledRows, extras int // HighLevel's webhooks of our writes; passes beyond one
	echoMetric                      float64
	pollCalls                       int
}

// BenchmarkSteadyStateEdit measures one field edit on an already-synced person, in each
// direction, and what the echo of our own write costs. Group A is edited in HighLevel
// (first name) and afterwards in Referrizer (last name); group B only in Referrizer.
func BenchmarkSteadyStateEdit(b *testing.B) {
	edits := benchInt("HLRZ_BENCH_STEADY_EDITS", 10)
	rateMax, rateIv := benchGHLLimit()
	e := benchStart(b, e2e.Options{GHL: ghlsim.Options{RateMax: rateMax, RateInterval: rateIv}})
	ctx := context.Background()
	benchBackfill(b, e, benchPopulation(2*edits))
	quiet := 2*time.Second + benchDebounce(e)

	type person struct{ ghlID, rzID, wf string }
	var people []person
	for _, c := range e.GHLContacts() {
		l, err := e.Store.LinkBy(ctx, e.Conn.ID, store.SideGHL, c.ID)
		if err != nil || l.RZContactID == "" {
			b.Fatalf("person %s not linked: %v", c.ID, err)
		}
		people = append(people, person{c.ID, l.RZContactID, domain.ContactWorkflowID(e.Conn.ID, l.ID)})
	}
	sort.Slice(people, func(i, j int) bool { return people[i].ghlID < people[j].ghlID })
	groupA, groupB := people[:edits], people[edits:2*edits]
	rzContact := func(id string) rzsim.Contact {
		for _, c := range e.RZContacts() {
			if c.ID == id {
				return c
			}
		}
		return rzsim.Contact{}
	}
	passes := func(wf string) int {
		v, err := e.Client.QueryWorkflow(ctx, wf, "", domain.QueryState)
		if err != nil {
			b.Fatalf("query %s: %v", wf, err)
		}
		var st domain.ContactState
		if err := v.Get(&st); err != nil {
			b.Fatal(err)
		}
		return st.Passes
	}
	firstOf := func(i int) string { return fmt.Sprintf("Steady%03d", i) }
	lastOf := func(i int) string { return fmt.Sprintf("RzEdit%03d", i) }

	// rzEdits edits each person's last name in Referrizer, polls, and waits for HighLevel.
	rzEdits := func(group []person, offset int) benchRZEdits {
		var out benchRZEdits
		for i, p := range group {
			s0, h0, p0 := benchSnap(b, e), benchHistoryLength(b, e, p.wf), passes(p.wf)
			last := lastOf(offset + i)
			if _, err := e.RZ.AdminUpdateContact(e.RZToken, p.rzID, func(c *rzsim.Contact) { c.LastName = last }); err != nil {
				b.Fatal(err)
			}
			res, _ := benchPoll(b, e)
			out.pollCalls += res.Calls
			e.Eventually(time.Minute, "Referrizer edit in HighLevel", func() (bool, string) {
				c, _ := e.GHL.Contact(p.ghlID)
				return c.LastName == last, c.LastName
			})
			benchSettle(b, e, quiet, 5*time.Minute)
			s1, h1, p1 := benchSnap(b, e), benchHistoryLength(b, e, p.wf), passes(p.wf)
			d := benchDiff(s0, s1)
			// The poll's list calls are shared by every contact; the pass's own reads are the rest.
			out.costs = append(out.costs, benchEditCost{d.ghlReads, d.ghlWrites, d.rzReads - int64(res.Calls), d.rzWrites, h1 - h0, d.signals - float64(res.Signals)})
			out.echoRows += d.inbox[store.InboxEcho]
			out.signalledRows += d.inbox[store.InboxSignalled]
			out.echoMetric += d.echoesGHL
			out.extras += p1 - p0 - 1
			if res.Signals != 1 {
				b.Errorf("poll after a Referrizer edit signalled %d people, want 1", res.Signals)
			}
		}
		return out
	}

	b.ResetTimer()
	// 1. HighLevel → Referrizer (group A, first name).
	var toRZ []benchEditCost
	for i, p := range groupA {
		s0, h0 := benchSnap(b, e), benchHistoryLength(b, e, p.wf)
		first := firstOf(i)
		if _, err := e.GHL.UpdateContact(p.ghlID, ghlsim.ContactPatch{FirstName: &first}); err != nil {
			b.Fatal(err)
		}
		e.Eventually(time.Minute, "HighLevel edit in Referrizer", func() (bool, string) {
			c := rzContact(p.rzID)
			return c.FirstName == first, c.FirstName
		})
		benchSettle(b, e, quiet, 5*time.Minute)
		s1, h1 := benchSnap(b, e), benchHistoryLength(b, e, p.wf)
		d := benchDiff(s0, s1)
		toRZ = append(toRZ, benchEditCost{d.ghlReads, d.ghlWrites, d.rzReads, d.rzWrites, h1 - h0, d.signals})
	}
	// 2. Our writes to Referrizer come back only through the poll: it must find no change.
	var echoPollSignals, echoPollCalls, echoPollWrites int
	{
		s0 := benchSnap(b, e)
		res, _ := benchPoll(b, e)
		benchSettle(b, e, quiet, 5*time.Minute)
		d := benchDiff(s0, benchSnap(b, e))
		echoPollSignals, echoPollCalls, echoPollWrites = res.Signals, res.Calls, int(d.rzWrites+d.ghlWrites)
	}
	// 3. Referrizer → HighLevel on people last synced by the backfill (group B).
	rb := rzEdits(groupB, edits)
	// 4. The same on people edited in HighLevel since the backfill (group A).
	ra := rzEdits(groupA, 0)
	b.StopTimer()

	// Both sides must agree on every person.
	diverged := 0
	for i, p := range people {
		g, _ := e.GHL.Contact(p.ghlID)
		r := rzContact(p.rzID)
		wantFirst, wantLast := g.FirstName, lastOf(i)
		if i < edits {
			wantFirst = firstOf(i)
		}
		if g.FirstName != wantFirst || r.FirstName != wantFirst || g.LastName != wantLast || r.LastName != wantLast {
			diverged++
			b.Errorf("person %d diverged: HighLevel %q %q, Referrizer %q %q, want %q %q", i, g.FirstName, g.LastName, r.FirstName, r.LastName, wantFirst, wantLast)
		}
	}
	if diverged > 0 {
		benchNote("**Steady-state edit: %d of %d people diverged.**", diverged, len(people))
	}
	// Referrizer's own timeline of the first person of group A shows every change we made.
	var timeline []string
	if ra.extras > 0 || diverged > 0 {
		req, _ := http.NewRequest(http.MethodGet, e.RZURL+"/v1/contacts/"+groupA[0].rzID+"/activities?perPage=100", nil)
		req.Header.Set("Authorization", "Bearer "+e.RZToken)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			var acts []struct{ Date, Description string }
			_ = json.NewDecoder(resp.Body).Decode(&acts)
			_ = resp.Body.Close()
			for i := len(acts) - 1; i >= 0; i-- {
				timeline = append(timeline, acts[i].Date+" "+acts[i].Description)
			}
		}
	}

	a, rB, rA := benchAvgCost(toRZ), benchAvgCost(rb.costs), benchAvgCost(ra.costs)
	ev := func(x benchEditAvg) string { return fmt.Sprintf("%s (max %s)", benchF(x.ev), benchF(x.maxEv)) }
	echo := func(r benchRZEdits) string {
		return fmt.Sprintf("%d of %d stored as echo, %d signalled; echoes metric %.0f; extra passes %d", r.echoRows, len(r.costs), r.signalledRows, r.echoMetric, r.extras)
	}
	benchTable(fmt.Sprintf("BenchmarkSteadyStateEdit: %d edits per column", edits), [][]string{
		{"", "A: HighLevel edit (first name)", "B: Referrizer edit (last name)", "A: Referrizer edit after the HighLevel edit"},
		{"HighLevel reads / edit", benchF(a.ghlR), benchF(rB.ghlR), benchF(rA.ghlR)},
		{"HighLevel writes / edit", benchF(a.ghlW), benchF(rB.ghlW), benchF(rA.ghlW)},
		{"Referrizer reads / edit (poll's list excluded)", benchF(a.rzR), benchF(rB.rzR), benchF(rA.rzR)},
		{"Referrizer writes / edit", benchF(a.rzW), benchF(rB.rzW), benchF(rA.rzW)},
		{"ContactSync history events / edit", ev(a), ev(rB), ev(rA)},
		{"signals / edit (the poll's own excluded)", benchF(a.sig), benchF(rB.sig), benchF(rA.sig)},
		{"echo of our write", fmt.Sprintf("next poll: %d signals, %d list calls, %d writes", echoPollSignals, echoPollCalls, echoPollWrites), echo(rb), echo(ra)},
		{"poll list calls / poll", "", benchF(float64(rb.pollCalls) / float64(edits)), benchF(float64(ra.pollCalls) / float64(edits))},
	})
	if len(timeline) > 0 {
		fmt.Printf("  Referrizer timeline of group A's first person (%s):\n", groupA[0].rzID)
		for _, t := range timeline {
			fmt.Printf("    %s\n", t)
		}
	}
	b.ReportMetric(a.ghlR, "ghl-reads/edit")
	b.ReportMetric(a.rzR, "rz-reads/edit")
	b.ReportMetric(a.rzW, "rz-writes/edit")
	b.ReportMetric(a.ev, "events/edit")
	b.ReportMetric(rB.ev, "events/rz-edit")
	b.ReportMetric(float64(rb.signalledRows), "echo-signals")

	bn := fmt.Sprintf("Steady-state edit (%d per kind)", edits)
	benchRecord(bn, "HighLevel edit: HighLevel reads / Referrizer reads + writes", fmt.Sprintf("%s / %s + %s", benchF(a.ghlR), benchF(a.rzR), benchF(a.rzW)), "0 / ≤ 1 + 1", okp(a.ghlR == 0 && a.rzR <= 1 && a.rzW <= 1))
	benchRecord(bn, "HighLevel edit: history events", ev(a), "≤ 25", okp(a.maxEv <= 25))
	benchRecord(bn, "echo of our Referrizer write: signals at the next poll", fmt.Sprint(echoPollSignals), "0", okp(echoPollSignals == 0))
	benchRecord(bn, "Referrizer edit: HighLevel reads + writes / Referrizer reads + writes (besides the poll's list)", fmt.Sprintf("%s + %s / %s + %s", benchF(rB.ghlR), benchF(rB.ghlW), benchF(rB.rzR), benchF(rB.rzW)), "≤ 1 + 1 / ≤ 1 + 0", okp(rB.ghlR <= 1 && rB.ghlW <= 1 && rB.rzR <= 1 && rB.rzW == 0))
	benchRecord(bn, "Referrizer edit: history events", ev(rB), "≤ 25", okp(rB.maxEv <= 25))
	benchRecord(bn, "echo of our HighLevel write: signals / API calls", fmt.Sprintf("%d / %s (%d of %d webhooks stored as echo)", rb.signalledRows, benchF(float64(rb.extras)*rB.ghlR), rb.echoRows, edits),
		"0 / 0", okp(rb.signalledRows == 0 && rb.extras == 0 && rb.echoRows == edits))
	benchRecord(bn, "Referrizer edit after a HighLevel edit: calls (GHL r+w / RZ r+w), events, echo signals, extra passes", fmt.Sprintf("%s + %s / %s + %s, %s, %d, %d", benchF(rA.ghlR), benchF(rA.ghlW), benchF(rA.rzR), benchF(rA.rzW), benchF(rA.ev), ra.signalledRows, ra.extras),
		"as B", okp(rA.ghlR <= 1 && rA.ghlW <= 1 && rA.rzR <= 1 && rA.rzW == 0 && rA.maxEv <= 25 && ra.signalledRows == 0 && ra.extras == 0))
	benchPrintSummary()
}

// ==== 4. Bridge ingestion ====

// benchContactEvent is a Contact* webhook body as HighLevel (and ghlsim) sends it.
func benchContactEvent(c ghlsim.Contact, typ, webhookID string, ts time.Time) map[string]any {
	iso := func(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }
	tags := c.Tags
	if tags == nil {
		tags = []string{}
	}
	cfs := make([]map[string]any, 0, len(c.CustomFields))
	for _, f := range c.CustomFields {
		cfs = append(cfs, map[string]any{"id": f.ID, "value": f.Value})
	}
	m := map[string]any{"type": typ, "locationId": c.LocationID, "id": c.ID, "dateAdded": iso(c.DateAdded), "dnd": c.DND,
		"tags": tags, "attachments": []any{}, "customFields": cfs, "timestamp": iso(ts), "webhookId": webhookID}
	for k, v := range map[string]string{
		"address1": c.Address1, "city": c.City, "state": c.State, "companyName": c.CompanyName, "country": c.Country,
		"source": c.Source, "dateOfBirth": c.DateOfBirth, "email": c.Email, "name": c.Name(), "firstName": c.FirstName,
		"lastName": c.LastName, "phone": c.Phone, "postalCode": c.PostalCode, "website": c.Website, "assignedTo": c.AssignedTo,
	} {
		if v != "" {
			m[k] = v
		}
	}
	return m
}

// ==== 5. Referrizer poll ====

// BenchmarkReferrizerPoll measures polls of unchanged, linked and synced Referrizer contacts.
func BenchmarkReferrizerPoll(b *testing.B) {
	n := benchInt("HLRZ_BENCH_POLL_PEOPLE", 10000)
	polls := benchInt("HLRZ_BENCH_POLLS", 3)
	e := benchStart(b, e2e.Options{})
	// The realistic population (benchPopulation): the backfill links the pairs and creates
	// everyone else on the side they lack, so every person ends on both sides.
	benchBackfill(b, e, benchPopulation(n))
	if got := len(e.RZContacts()); got != n {
		b.Fatalf("Referrizer holds %d contacts, want %d", got, n)
	}

	type pollRun struct {
		res  activities.PollResult
		wall time.Duration
		d    benchDelta
	}
	var runs []pollRun
	b.ResetTimer()
	for range polls {
		s0 := benchSnap(b, e)
		res, wall := benchPoll(b, e)
		s1 := benchSnap(b, e)
		runs = append(runs, pollRun{res, wall, benchDiff(s0, s1)})
	}
	b.StopTimer()
	// Anything a poll signalled must have run and settled before we call it a clean result.
	benchSettle(b, e, 3*time.Second+benchDebounce(e), 10*time.Minute)

	rows := [][]string{{"poll", "Referrizer calls", "calls / 100 contacts", "pages", "seen", "signals", "changed/new/missing", "writes (RZ+GHL)", "activity time", "workflow time"}}
	var maxCalls, maxWrites, maxSignals float64
	var totWall time.Duration
	for i, r := range runs {
		calls := float64(r.d.rzReads + r.d.rzWrites)
		writes := float64(r.d.rzWrites + r.d.ghlWrites)
		maxCalls, maxWrites, maxSignals = max(maxCalls, calls), max(maxWrites, writes), max(maxSignals, float64(r.res.Signals))
		totWall += r.wall
		rows = append(rows, []string{fmt.Sprint(i + 1), fmt.Sprintf("%.0f (%s)", calls, benchMapString(r.d.rzCalls)), benchF(calls / float64(n) * 100), fmt.Sprint(r.res.Pages), fmt.Sprint(r.res.Seen),
			fmt.Sprintf("%d (metric %.0f)", r.res.Signals, r.d.signals), fmt.Sprintf("%d/%d/%d", r.res.Changed, r.res.New, r.res.Missing), benchF(writes),
			fmt.Sprintf("%.2f s", r.res.Duration.Seconds()), fmt.Sprintf("%.2f s", r.wall.Seconds())})
	}
	benchTable(fmt.Sprintf("BenchmarkReferrizerPoll: %d unchanged, linked, synced Referrizer contacts (realistic population), page size 100", n), rows)
	avgWall := totWall / time.Duration(len(runs))
	per100 := maxCalls / float64(n) * 100
	b.ReportMetric(maxCalls, "calls/poll")
	b.ReportMetric(per100, "calls/100-contacts")
	b.ReportMetric(maxWrites, "writes")
	b.ReportMetric(maxSignals, "signals")
	b.ReportMetric(avgWall.Seconds(), "s/poll")
	bn := fmt.Sprintf("Referrizer poll (%d unchanged contacts)", n)
	benchRecord(bn, "calls per poll (per 100 contacts)", fmt.Sprintf("%.0f (%.2f)", maxCalls, per100), "1 per 100", okp(per100 <= 1.0001))
	benchRecord(bn, "writes / signals per poll", fmt.Sprintf("%.0f / %.0f", maxWrites, maxSignals), "0 / 0", okp(maxWrites == 0 && maxSignals == 0))
	benchRecord(bn, "time per poll", fmt.Sprintf("%.1f s (%.0f contacts/s)", avgWall.Seconds(), float64(n)/avgWall.Seconds()), "", nil)
	benchPrintSummary()
}
