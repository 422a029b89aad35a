package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/hlrz/hlrz/internal/app"
	"github.com/hlrz/hlrz/internal/domain"
	"github.com/hlrz/hlrz/internal/e2e"
	"github.com/hlrz/hlrz/internal/sim/ghlsim"
	"github.com/hlrz/hlrz/internal/sim/rzsim"
	"github.com/hlrz/hlrz/internal/store"
	"github.com/hlrz/hlrz/internal/syncmodel"
	"github.com/hlrz/hlrz/workflows"
)

// faultMapping is the default mapping plus a custom field both ways and three rules: a
// "vip" person gets a HighLevel "Welcome pack" task (created once: the rule's marker), a
// "welcomed" tag completes it, and a showed appointment records one Referrizer visit. Retried creates after a crash or an answer lost in transit
// are exactly where duplicate tasks come from.
const faultMapping = `custom_fields:
  - {key: plan, ghl: %s, rz: Plan, direction: both, conflict: newest-wins}
rules:
  - id: welcome
    on: contact
    when: '"vip" in person.tags'
    actions:
      - {type: create_ghl_task, title: Welcome pack, body: Send the welcome pack, due_in_days: 3}
  - id: welcomed
    on: contact
    when: '"welcomed" in person.tags'
    actions:
      - {type: complete_ghl_task, created_by: welcome}
  - id: visit
    on: appointments
    when: appointment.status == "showed"
    actions:
      - {type: record_rz_visit, points: 10}
`

// faultSize is the CI run or, with HLRZ_SOAK=1, the soak run.
type faultSize struct {
	name          string
	people        int
	cycles        int // live-edit cycles, each with a worker SIGKILL, PostgreSQL and Temporal restarts
	editsPerCycle int
	pollEvery     time.Duration
	reconcileEach time.Duration
}

func faultSizeFromEnv() faultSize {
	if os.Getenv("HLRZ_SOAK") == "1" {
		s := faultSize{name: "soak", people: 400, cycles: 3, editsPerCycle: 60, pollEvery: 3 * time.Second, reconcileEach: 20 * time.Second}
		if n, err := strconv.Atoi(os.Getenv("HLRZ_SOAK_PEOPLE")); err == nil && n > 0 {
			s.people = n
		}
		if n, err := strconv.Atoi(os.Getenv("HLRZ_SOAK_CYCLES")); err == nil && n > 0 {
			s.cycles = n
		}
		return s
	}
	return faultSize{name: "ci", people: 120, cycles: 1, editsPerCycle: 30, pollEvery: 3 * time.Second, reconcileEach: 15 * time.Second}
}

// TestFaultSuite runs the product as it is deployed (PostgreSQL, Temporal, the simulators
// and the worker, each its own process) through a backfill and live edits on both sides
// while both APIs fail (5xx, 429, writes applied and then answered with an error),
// HighLevel's webhooks are duplicated, reordered and lost, polls and reconciles run, and
// the worker is SIGKILLed mid-backfill and mid-edits, PostgreSQL is stopped immediately
// and Temporal is SIGKILLed, each started again on its data. Then the checker compares
// every person on each side with the truth (seed + every edit) and the report lists each
// fault with how often it fired, each check with its figures, and per kill the time until
// the people it affected converged.
//
// CI size by default; HLRZ_SOAK=1 runs the soak size (more people, several kill cycles):
//
//	HLRZ_SOAK=1 go test -run TestFaultSuite -timeout 60m -v ./internal/e2e/
func TestFaultSuite(t *testing.T) {
	size := faultSizeFromEnv()
	started := time.Now()
	ctx := context.Background()
	e := e2e.StartProcs(t)
	t.Logf("fault suite (%s): %d people, %d live-edit cycles; processes up in %s", size.name, size.people, size.cycles, time.Since(started).Round(time.Second))

	cf, err := e.GHL.AddCustomField(ghlsim.CustomField{LocationID: e.LocationID, Name: "Plan"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.RZ.CreateCustomField(e.RZToken, "Plan", "TEXT"); err != nil {
		t.Fatal(err)
	}
	mappingYAML := syncmodel.DefaultMappingYAML + fmt.Sprintf(faultMapping, cf.ID)
	m, err := syncmodel.ParseMapping([]byte(mappingYAML))
	if err != nil {
		t.Fatal(err)
	}
	seed, err := app.Seed(e.GHL, e.RZ, e.LocationID, e.RZToken, app.Population{People: size.people, GHLOnly: 0.5, RZOnly: 0.25, Both: 0.25, Extras: true,
		Custom: &app.SeedCustomField{Key: "plan", GHLID: cf.ID, RZName: "Plan"}})
	if err != nil {
		t.Fatal(err)
	}
	truth := e2e.NewTruth(seed.Expected)
	for _, p := range truth.People {
		if p.HasTag("vip") {
			p.Tasks = append(p.Tasks, e2e.WantTask{Title: "Welcome pack"})
		}
	}
	e.Connect([]byte(mappingYAML), store.Settings{DebounceMillis: 200, RZRequestsPerSec: 1000})
	if err := e.GHL.SetWebhooks(ghlsim.WebhookOptions{URL: e.WebhookURL(), DuplicateRate: 0.2, ReorderWindow: 5, LossRate: 0.05, RetryInterval: time.Second}); err != nil {
		t.Fatal(err)
	}
	e.StartWorker()

	fs := &faultSuite{t: t, e: e, m: m, truth: truth, size: size, busy: map[string]bool{}}
	fs.faultsOn()
	bg := fs.background(ctx)

	if _, err := app.StartBackfill(ctx, e.Client, e.TaskQueue, e.Conn.ID); err != nil {
		t.Fatal(err)
	}
	// Kill 1: the worker, mid-backfill.
	fs.waitProgress(func(p domain.BackfillProgress) bool { return p.Synced >= size.people/3 }, "a third of the people synced")
	fs.killWorker("worker SIGKILL mid-backfill", nil, nil)
	// Edits while the backfill runs, on whichever side each person already exists.
	fs.edits(size.editsPerCycle/2, false)
	// PostgreSQL stopped immediately (crash recovery on restart), mid-backfill.
	fs.waitProgress(func(p domain.BackfillProgress) bool {
		return p.Synced >= 2*size.people/3 || p.Phase == domain.PhaseDone
	}, "two thirds synced")
	fs.crashPostgres()
	fs.waitBackfillDone()
	t.Logf("phase: backfill done at +%s", time.Since(started).Round(time.Second))

	for cycle := 1; cycle <= size.cycles; cycle++ {
		// Kill 2: the worker, mid-live-edits; edits go on while it is down (HighLevel's
		// deliveries then fail and are lost: reconcile must repair them).
		fs.killWorker(fmt.Sprintf("worker SIGKILL mid-live-edits (cycle %d)", cycle), func() []string {
			return fs.edits(size.editsPerCycle/2, true)
		}, func() []string {
			return fs.edits(size.editsPerCycle/4, true)
		})
		fs.edits(size.editsPerCycle/4, true)
		fs.crashPostgres()
		fs.killTemporal(fmt.Sprintf("Temporal SIGKILL mid-live-edits (cycle %d)", cycle))
		fs.edits(size.editsPerCycle/4, true)
	}

	t.Logf("phase: live edits done at +%s", time.Since(started).Round(time.Second))
	// Faults off; let everything settle: deliveries, a poll and a reconcile, idle.
	bg.stop()
	fs.faultsOff()
	settleStart := time.Now()
	reconciles := 0
	for round := range 2 {
		if err := e.WaitIdle(ctx, 4*time.Minute); err != nil {
			t.Logf("settle round %d: %v", round, err)
		}
		t.Logf("phase: settle round %d idle at +%s", round, time.Since(started).Round(time.Second))
		if _, err := runProcWorkflow(ctx, e, "settle-poll", workflows.ReferrizerPoll, domain.PollInput{ConnectionID: e.Conn.ID, PageSize: 100}); err != nil {
			t.Errorf("settle poll: %v", err)
		}
		// The settle reconciles re-read everyone's notes, tasks and appointments (a sweep
		// window no longer than the run interval), standing in for the sweep's rotation over
		// days: a lost NoteCreate or AppointmentCreate is repaired only by that re-read.
		settle := domain.ReconcileInput{ConnectionID: e.Conn.ID, BudgetShare: 1, Every: time.Minute, SweepWithin: time.Minute, TasksWithin: time.Minute}
		if _, err := runProcWorkflow(ctx, e, "settle-reconcile", workflows.Reconcile, settle); err != nil {
			t.Errorf("settle reconcile: %v", err)
		} else {
			reconciles++
		}
	}
	if err := e.WaitIdle(ctx, 4*time.Minute); err != nil {
		t.Errorf("after settling: %v", err)
	}
	settled := time.Since(settleStart)
	fs.stopMeasuring()

	world, err := e.ReadWorld(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	world.Reconciles = reconciles
	faults := fs.firedFaults(bg)
	rep := e2e.Check(m, truth, world, faults)

	t.Logf("==== fault suite report (%s size, %s) ====", size.name, time.Since(started).Round(time.Second))
	for _, f := range faults {
		t.Logf("fault  %-58s fired %d", f.Name, f.Count)
	}
	for _, f := range rep.Figures {
		t.Logf("check  %-16s %s", f.Check, f.Text)
	}
	t.Logf("check  %-16s %d edits made (%d conflicting edits on both sides), settled %s after the faults stopped", "edits", fs.editCount, fs.conflicts, settled.Round(time.Second))
	for _, c := range fs.convergenceLines() {
		t.Logf("recovery %s", c)
	}
	byCheck := map[string]int{}
	for _, f := range rep.Findings {
		byCheck[f.Check]++
	}
	t.Logf("findings: %d %v", len(rep.Findings), byCheck)
	for i, f := range rep.Findings {
		if i == 120 {
			t.Errorf("… %d findings in all", len(rep.Findings))
			break
		}
		t.Error(f)
	}
	for _, f := range rep.Findings {
		if f.Person != "" && strings.Contains(f.Person, "@") {
			fs.explain(ctx, world, f.Person)
		}
	}
	if t.Failed() {
		// Keep the process logs for the post-mortem (the temp dirs go with the test).
		for _, p := range []*e2e.Proc{e.Worker, e.Temporal, e.Sims} {
			keep := filepath.Join(os.TempDir(), "hlrz-fault-"+p.Name+".log")
			if b, err := os.ReadFile(p.LogPath); err == nil && os.WriteFile(keep, b, 0o644) == nil {
				t.Logf("%s log kept in %s", p.Name, keep)
			}
		}
	}
}

// faultSuite is the scenario's state: the truth, what was edited, kills and their
// convergence measurements.
type faultSuite struct {
	t     *testing.T
	e     *e2e.ProcEnv
	m     *syncmodel.Mapping
	truth *e2e.Truth
	size  faultSize

	editCount, conflicts int
	seq                  int
	busy                 map[string]bool // people under a convergence measurement: not edited again
	cursor               int

	mu       sync.Mutex
	kills    []*killRecord
	measure  sync.WaitGroup
	stopMeas atomic.Bool
	pgCrash  int
}

type killRecord struct {
	name     string
	at       time.Time
	inFlight int // activities started and not finished at the kill
	running  int // running workflows at a Temporal kill
	people   map[string]*e2e.WantPerson
	took     time.Duration // until every affected person converged; 0 while not
	left     int
}

func (fs *faultSuite) faultsOn() { fs.faultsWithLatency(0) }

// faultsWithLatency turns the faults on with both APIs answering each call latency late (a
// slow API at the moment of a kill keeps activities in flight, which the kill is for).
func (fs *faultSuite) faultsWithLatency(latency time.Duration) {
	fs.t.Helper()
	gf := ghlsim.Faults{ErrorRate: 0.10, RateLimitRate: 0.05, AppliedThenFailRate: 0.05, RetryAfter: 500 * time.Millisecond, Latency: latency}
	rf := rzsim.Faults{ErrorRate: 0.10, RateLimitRate: 0.05, AppliedThenFailRate: 0.05, RetryAfterSeconds: 1, LatencyMs: int(latency / time.Millisecond)}
	if err := fs.e.GHL.SetFaults(gf); err != nil {
		fs.t.Fatal(err)
	}
	if err := fs.e.RZ.SetFaults(rf); err != nil {
		fs.t.Fatal(err)
	}
}

func (fs *faultSuite) faultsOff() {
	fs.t.Helper()
	if err := fs.e.GHL.SetFaults(ghlsim.Faults{}); err != nil {
		fs.t.Fatal(err)
	}
	if err := fs.e.RZ.SetFaults(rzsim.Faults{}); err != nil {
		fs.t.Fatal(err)
	}
	if err := fs.e.GHL.SetWebhooks(ghlsim.WebhookOptions{URL: fs.e.WebhookURL(), RetryInterval: time.Second}); err != nil {
		fs.t.Fatal(err)
	}
}

// bgLoop runs Referrizer polls and reconciles while the faults are on, as the schedules
// would; Temporal restarts make some of them fail to start or to report, which is counted.
// Stopping lets a run in flight finish (its own timeout bounds it), with the faults still
// on: a reconcile under faults can outlast the live-edit phase, and cancelling it would
// leave "reconciles completed during faults" at 0 on a loaded machine.
type bgLoop struct {
	stopping                                   chan struct{}
	wg                                         sync.WaitGroup
	polls, pollErrs, reconciles, reconcileErrs atomic.Int64
}

func (fs *faultSuite) background(ctx context.Context) *bgLoop {
	b := &bgLoop{stopping: make(chan struct{})}
	loop := func(every time.Duration, run func() error, ok, fail *atomic.Int64) {
		defer b.wg.Done()
		for {
			select {
			case <-b.stopping:
				return
			case <-ctx.Done():
				return
			case <-time.After(every):
			}
			if err := run(); err != nil {
				fail.Add(1)
			} else {
				ok.Add(1)
			}
		}
	}
	b.wg.Add(2)
	go loop(fs.size.pollEvery, func() error {
		_, err := runProcWorkflow(ctx, fs.e, "poll", workflows.ReferrizerPoll, domain.PollInput{ConnectionID: fs.e.Conn.ID, PageSize: 100})
		return err
	}, &b.polls, &b.pollErrs)
	go loop(fs.size.reconcileEach, func() error {
		_, err := runProcWorkflow(ctx, fs.e, "reconcile", workflows.Reconcile, domain.ReconcileInput{ConnectionID: fs.e.Conn.ID, BudgetShare: 1})
		return err
	}, &b.reconciles, &b.reconcileErrs)
	return b
}

func (b *bgLoop) stop() {
	close(b.stopping)
	b.wg.Wait()
}

var runSeq atomic.Int64

// runProcWorkflow starts a workflow on the worker's task queue and waits for its result.
func runProcWorkflow(ctx context.Context, e *e2e.ProcEnv, name string, wf, in any) (json.RawMessage, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	run, err := e.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: fmt.Sprintf("test-%s-%d-%d", name, time.Now().UnixNano(), runSeq.Add(1)), TaskQueue: e.TaskQueue,
	}, wf, in)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	var out json.RawMessage
	if err := run.Get(ctx, &out); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return out, nil
}

func (fs *faultSuite) progress() (domain.BackfillProgress, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var p domain.BackfillProgress
	v, err := fs.e.Client.QueryWorkflow(ctx, domain.BackfillWorkflowID(fs.e.Conn.ID), "", domain.QueryProgress)
	if err == nil {
		err = v.Get(&p)
	}
	return p, err
}

func (fs *faultSuite) waitProgress(cond func(domain.BackfillProgress) bool, what string) {
	fs.t.Helper()
	wait := fs.backfillBudget()
	deadline := time.Now().Add(wait)
	var last domain.BackfillProgress
	for time.Now().Before(deadline) {
		p, err := fs.progress()
		if err == nil {
			last = p
			if cond(p) {
				return
			}
		}
		time.Sleep(300 * time.Millisecond)
	}
	fs.t.Fatalf("backfill: waited %s for %s: %+v", wait, what, last)
}

// backfillBudget is how long the backfill may take: 6 minutes, plus 2 s a person beyond
// the CI size (the soak's backfill runs longer on these 2-core machines).
func (fs *faultSuite) backfillBudget() time.Duration {
	return 6*time.Minute + time.Duration(max(0, fs.size.people-120))*2*time.Second
}

func (fs *faultSuite) waitBackfillDone() {
	fs.t.Helper()
	budget := fs.backfillBudget() + 2*time.Minute
	ctx, cancel := context.WithTimeout(context.Background(), budget)
	defer cancel()
	run := fs.e.Client.GetWorkflow(ctx, domain.BackfillWorkflowID(fs.e.Conn.ID), "")
	var final domain.BackfillProgress
	for {
		err := run.Get(ctx, &final)
		if err == nil {
			fs.t.Logf("backfill done: %+v", final)
			return
		}
		if ctx.Err() != nil {
			fs.t.Fatalf("backfill not done after %s: %v", budget, err)
		}
		time.Sleep(time.Second) // e.g. Temporal unavailable for a moment
	}
}

// killWorker SIGKILLs the worker while before runs (edits whose passes the kill
// interrupts), counts the activities it abandoned, runs during (while it is down) and
// starts it again; the people affected (with activities in flight, or edited just before or
// while it was down) are then watched until they converge.
func (fs *faultSuite) killWorker(name string, before, during func() []string) {
	fs.t.Helper()
	// Kill while activities are running: both APIs slow down (so that a call is in flight
	// for a while, not a few milliseconds) and a watcher kills the worker the moment it
	// reports one, while the edits are still being made.
	fs.faultsWithLatency(400 * time.Millisecond)
	type killed struct {
		at       time.Time
		inFlight int
		people   []string
	}
	done := make(chan killed, 1)
	go func() {
		read := false // a kill that cannot see the worker's metrics must say so
		for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			n := fs.e.ActivitySlotsUsed()
			read = read || n >= 0
			if n > 0 {
				break
			}
		}
		if !read {
			fs.t.Errorf("%s: the worker's /metrics on %s never answered", name, fs.e.InternalAddr)
		}
		fs.e.KillWorker()
		k := killed{at: time.Now()}
		k.inFlight, k.people = fs.inFlightPeople()
		done <- k
	}()
	var editedBefore []string
	if before != nil {
		editedBefore = before()
	}
	k := <-done
	fs.faultsOn() // HighLevel at its usual speed again while the worker is down
	at, inFlight := k.at, k.inFlight
	affected := append(k.people, editedBefore...)
	if during != nil {
		affected = append(affected, during()...)
	}
	time.Sleep(time.Second)
	fs.e.StartWorker()
	fs.startMeasuring(&killRecord{name: name, at: at, inFlight: inFlight}, affected)
}

func (fs *faultSuite) killTemporal(name string) {
	fs.t.Helper()
	wfs, _ := fs.e.Workflows(context.Background(), false)
	running := 0
	for _, wf := range wfs {
		if wf.Status == "Running" {
			running++
		}
	}
	inFlight, people := fs.inFlightPeople()
	at := time.Now()
	fs.e.KillTemporal(2 * time.Second)
	fs.startMeasuring(&killRecord{name: name, at: at, inFlight: inFlight, running: running}, people)
}

func (fs *faultSuite) crashPostgres() {
	fs.t.Helper()
	fs.e.PG.Crash(2 * time.Second)
	fs.pgCrash++
}

// inFlightPeople lists started, unfinished activities and the people they belong to.
func (fs *faultSuite) inFlightPeople() (int, []string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	byWF, err := fs.e.InFlight(ctx)
	if err != nil {
		fs.t.Logf("in-flight activities: %v", err)
		return 0, nil
	}
	links := map[string]bool{}
	total := 0
	for id, n := range byWF {
		total += n
		if l := e2e.LinkOfWorkflow(id); l != "" {
			links[l] = true
		}
	}
	if len(links) == 0 {
		return total, nil
	}
	w, err := fs.e.ReadWorld(ctx, false)
	if err != nil {
		return total, nil
	}
	ghlEmail := map[string]string{}
	for _, c := range w.GHLContacts {
		ghlEmail[c.ID] = strings.ToLower(c.Email)
	}
	rzEmail := map[string]string{}
	for _, c := range w.RZContacts {
		rzEmail[c.ID] = strings.ToLower(c.Email)
	}
	var out []string
	for _, l := range w.Links {
		if !links[l.ID] {
			continue
		}
		email := ghlEmail[l.GHLContactID]
		if fs.truth.People[email] == nil {
			email = rzEmail[l.RZContactID]
		}
		if fs.truth.People[email] != nil {
			out = append(out, email)
		}
	}
	return total, out
}

// startMeasuring freezes the truth of the affected people and watches, in the background,
// until each holds it on both sides.
func (fs *faultSuite) startMeasuring(k *killRecord, emails []string) {
	k.people = map[string]*e2e.WantPerson{}
	for _, email := range emails {
		if p := fs.truth.People[email]; p != nil {
			cp := *p
			cp.Tags, cp.Notes, cp.Tasks = slices.Clone(p.Tags), slices.Clone(p.Notes), slices.Clone(p.Tasks)
			cp.Custom = maps.Clone(p.Custom)
			k.people[email] = &cp
			fs.busy[email] = true // not edited again: its truth is frozen for the measurement
		}
	}
	fs.mu.Lock()
	fs.kills = append(fs.kills, k)
	fs.mu.Unlock()
	if len(k.people) == 0 {
		return
	}
	sub := &e2e.Truth{People: k.people}
	fs.measure.Add(1)
	go func() {
		defer fs.measure.Done()
		for !fs.stopMeas.Load() {
			w, err := fs.e.ReadWorld(context.Background(), false)
			if err == nil {
				rep := e2e.Check(fs.m, sub, w, nil)
				left := map[string]bool{}
				for _, f := range rep.Findings {
					if k.people[strings.ToLower(f.Person)] != nil {
						left[strings.ToLower(f.Person)] = true
					}
				}
				fs.mu.Lock()
				k.left = len(left)
				if len(left) == 0 {
					k.took = time.Since(k.at)
					fs.mu.Unlock()
					return
				}
				fs.mu.Unlock()
			}
			time.Sleep(time.Second)
		}
	}()
}

func (fs *faultSuite) stopMeasuring() {
	fs.stopMeas.Store(true)
	fs.measure.Wait()
}

func (fs *faultSuite) convergenceLines() []string {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	var out []string
	for _, k := range fs.kills {
		what := fmt.Sprintf("%d activities in flight", k.inFlight)
		if k.running > 0 {
			what += fmt.Sprintf(", %d workflows running", k.running)
		}
		switch {
		case len(k.people) == 0:
			out = append(out, fmt.Sprintf("%s: %s; no person affected", k.name, what))
		case k.took > 0:
			verdict := "within"
			if k.took > 30*time.Second {
				verdict = "OVER"
			}
			out = append(out, fmt.Sprintf("%s: %s; all %d affected people converged %s after the kill (%s the 30 s target)", k.name, what, len(k.people), k.took.Round(100*time.Millisecond), verdict))
		default:
			out = append(out, fmt.Sprintf("%s: %s; %d of %d affected people had not converged by the end of the run", k.name, what, k.left, len(k.people)))
		}
	}
	return out
}

func (fs *faultSuite) firedFaults(bg *bgLoop) []e2e.Fault {
	fs.t.Helper()
	gst, err := fs.e.GHL.Stats()
	if err != nil {
		fs.t.Fatal(err)
	}
	rst, err := fs.e.RZ.Stats()
	if err != nil {
		fs.t.Fatal(err)
	}
	g5xx := 0
	for code, n := range gst.Statuses {
		if c, _ := strconv.Atoi(code); c >= 500 {
			g5xx += int(n)
		}
	}
	out := []e2e.Fault{
		{Name: "HighLevel API 5xx (10%)", Count: g5xx},
		{Name: "HighLevel API 429 (5%)", Count: int(gst.RateLimited)},
		{Name: "Referrizer API 5xx (10%)", Count: int(rst.Faulted - rst.FaultedRateLimited)},
		{Name: "Referrizer API 429 (5%)", Count: int(rst.FaultedRateLimited)},
		{Name: "HighLevel write applied, then 5xx or dropped (5%)", Count: int(gst.AppliedThenFailed)},
		{Name: "Referrizer write applied, then 5xx or dropped (5%)", Count: int(rst.AppliedThenFailed)},
		{Name: "webhooks duplicated (20%)", Count: int(gst.Webhooks.Duplicates)},
		{Name: "webhooks reordered (windows of 5)", Count: int(gst.Webhooks.Reordered)},
		{Name: "webhooks lost: HighLevel gave up (5%)", Count: int(gst.Webhooks.GivenUp)},
		{Name: "webhooks lost: receiver down or failing", Count: int(gst.Webhooks.Lost)},
		{Name: "Referrizer polls completed during faults", Count: int(bg.polls.Load())},
		{Name: "reconciles completed during faults", Count: int(bg.reconciles.Load())},
		{Name: "PostgreSQL immediate stops with crash recovery", Count: fs.e.PG.CrashRecoveries()},
	}
	fs.mu.Lock()
	for _, k := range fs.kills {
		n := k.inFlight
		if k.running > n {
			n = k.running
		}
		out = append(out, e2e.Fault{Name: k.name + " (activities in flight)", Count: n})
	}
	fs.mu.Unlock()
	out = append(out, e2e.Fault{Name: fmt.Sprintf("polls / reconciles interrupted by restarts: %d / %d (informational)", bg.pollErrs.Load(), bg.reconcileErrs.Load()), Count: 1})
	return out
}

// edits makes n edits through the simulators' admin APIs, as people in HighLevel and
// Referrizer would, and records each in the truth. Before the backfill is done
// (linked=false) only edits that need no counterpart are made. It returns the people edited.
func (fs *faultSuite) edits(n int, linked bool) []string {
	fs.t.Helper()
	snap, err := fs.e.GHL.Snapshot()
	if err != nil {
		fs.t.Fatal(err)
	}
	rzs, err := fs.e.RZ.Contacts(fs.e.RZToken)
	if err != nil {
		fs.t.Fatal(err)
	}
	ghlBy, rzBy := map[string]ghlsim.Contact{}, map[string]rzsim.Contact{}
	for _, c := range snap.Contacts {
		if c.LocationID == fs.e.LocationID {
			ghlBy[strings.ToLower(c.Email)] = c
		}
	}
	for _, c := range rzs {
		rzBy[strings.ToLower(c.Email)] = c
	}
	tasksBy := map[string][]ghlsim.Task{}
	for _, tk := range snap.Tasks {
		tasksBy[tk.ContactID] = append(tasksBy[tk.ContactID], tk)
	}
	emails := slices.Sorted(maps.Keys(fs.truth.People))
	var out []string
	kinds := 13
	if !linked {
		kinds = 4
	}
	for made, tries := 0, 0; made < n && tries < 10*n; tries++ {
		fs.cursor++
		email := emails[(fs.cursor*7)%len(emails)]
		if fs.busy[email] || slices.Contains(out, email) {
			continue
		}
		p := fs.truth.People[email]
		g, inGHL := ghlBy[email]
		z, inRZ := rzBy[email]
		if linked && (!inGHL || !inRZ) {
			continue
		}
		fs.seq++
		k := fs.seq
		ok := true
		var err error
		switch fs.seq % kinds {
		case 0: // HighLevel last name
			if !inGHL {
				ok = false
				break
			}
			last := fmt.Sprintf("Edited%d", k)
			_, err = fs.e.GHL.UpdateContact(g.ID, ghlsim.ContactPatch{LastName: &last})
			p.LastName = last
		case 1: // HighLevel tag
			if !inGHL {
				ok = false
				break
			}
			tag := fmt.Sprintf("edit-tag-%d", k)
			_, err = fs.e.GHL.AddTags(g.ID, tag)
			p.AddTag(tag)
		case 2: // Referrizer label
			if !inRZ {
				ok = false
				break
			}
			label := fmt.Sprintf("edit-label-%d", k)
			_, err = fs.e.RZ.AdminAddLabel(fs.e.RZToken, z.ID, label)
			p.AddTag(label)
		case 3: // HighLevel note
			if !inGHL {
				ok = false
				break
			}
			body := fmt.Sprintf("Edit %d: called about the schedule.", k)
			_, err = fs.e.GHL.CreateNote(g.ID, ghlsim.Note{Body: body})
			p.Notes = append(p.Notes, body)
		case 4: // Referrizer first name
			first := fmt.Sprintf("Rz%d", k)
			_, err = fs.e.RZ.PatchContact(fs.e.RZToken, z.ID, map[string]any{"firstName": first})
			p.FirstName = first
		case 5: // HighLevel task
			title := fmt.Sprintf("Follow-up %d", k)
			_, err = fs.e.GHL.CreateTask(g.ID, ghlsim.Task{Title: title, Body: "Ask about renewal", DueDate: time.Now().Add(48 * time.Hour)})
			p.Tasks = append(p.Tasks, e2e.WantTask{Title: title})
		case 6: // complete an open HighLevel task made by a person
			i := slices.IndexFunc(tasksBy[g.ID], func(tk ghlsim.Task) bool { return !tk.Completed && tk.Title != "Welcome pack" })
			j := slices.IndexFunc(p.Tasks, func(tk e2e.WantTask) bool { return i >= 0 && tk.Title == tasksBy[g.ID][i].Title && !tk.Completed })
			if i < 0 || j < 0 {
				ok = false
				break
			}
			_, err = fs.e.GHL.CompleteTask(tasksBy[g.ID][i].ID, true)
			p.Tasks[j].Completed = true
		case 7: // "vip": the welcome rule creates a task
			if p.HasTag("vip") {
				ok = false
				break
			}
			_, err = fs.e.GHL.AddTags(g.ID, "vip")
			p.AddTag("vip")
			p.Tasks = append(p.Tasks, e2e.WantTask{Title: "Welcome pack"})
		case 8: // custom field in HighLevel
			v := fmt.Sprintf("ghl-plan-%d", k)
			raw, _ := json.Marshal(v)
			_, err = fs.e.GHL.UpdateContact(g.ID, ghlsim.ContactPatch{CustomFields: []ghlsim.CustomFieldInput{{ID: customID(fs.m), Value: raw}}})
			setCustom(p, v)
		case 9: // custom field in Referrizer
			v := fmt.Sprintf("rz-plan-%d", k)
			_, err = fs.e.RZ.PatchContact(fs.e.RZToken, z.ID, map[string]any{"customFields": map[string]any{"Plan": v}})
			setCustom(p, v)
		case 10: // the same field changed on both sides: newest wins (HighLevel, a second later)
			rzLast, ghlLast := fmt.Sprintf("RzLast%d", k), fmt.Sprintf("GhlLast%d", k)
			if _, err = fs.e.RZ.PatchContact(fs.e.RZToken, z.ID, map[string]any{"lastName": rzLast}); err == nil {
				time.Sleep(1100 * time.Millisecond)
				_, err = fs.e.GHL.UpdateContact(g.ID, ghlsim.ContactPatch{LastName: &ghlLast})
			}
			p.LastName = ghlLast
			fs.conflicts++
		case 11: // "welcomed" completes the welcome task the rule made (once it exists)
			i := slices.IndexFunc(tasksBy[g.ID], func(tk ghlsim.Task) bool { return tk.Title == "Welcome pack" && !tk.Completed })
			j := slices.IndexFunc(p.Tasks, func(tk e2e.WantTask) bool { return tk.Title == "Welcome pack" && !tk.Completed })
			if i < 0 || j < 0 || p.HasTag("welcomed") {
				ok = false
				break
			}
			_, err = fs.e.GHL.AddTags(g.ID, "welcomed")
			p.AddTag("welcomed")
			p.Tasks[j].Completed = true
		}
		if fs.seq%kinds == 12 { // a showed appointment: the visit rule records one visit
			start := time.Now().Add(-time.Hour).UTC().Truncate(time.Minute)
			_, err = fs.e.GHL.CreateAppointment(g.ID, ghlsim.Appointment{Title: "Trial class", Status: "showed", StartTime: start, EndTime: start.Add(time.Hour)})
			p.Visits++
		}
		if err != nil {
			fs.t.Fatalf("edit %d (%s): %v", k, email, err)
		}
		if ok {
			made++
			fs.editCount++
			out = append(out, email)
		}
	}
	return out
}

func customID(m *syncmodel.Mapping) string { return m.CustomFields()[0].GHLID }

func setCustom(p *e2e.WantPerson, v string) {
	if p.Custom == nil {
		p.Custom = map[string]string{}
	}
	p.Custom["plan"] = v
}

// explain logs what the post-mortem of a person with a finding starts from: their ids, the
// rule actions the ledger records as done, the webhooks about them and their outcomes.
func (fs *faultSuite) explain(ctx context.Context, w e2e.World, email string) {
	var ghlID string
	for _, c := range w.GHLContacts {
		if strings.EqualFold(c.Email, email) {
			ghlID = c.ID
		}
	}
	for _, l := range w.Links {
		if ghlID == "" || l.GHLContactID != ghlID {
			continue
		}
		entries, err := fs.e.Store.LedgerEntriesOf(ctx, l.ConnectionID, l.ID, "action:", "", 200)
		var done []string
		for _, e := range entries {
			done = append(done, e.Object)
		}
		fs.t.Logf("explain %s: link %s (GHL %s, RZ %s, created %s); rule actions done %v (%v)", email, l.ID, l.GHLContactID, l.RZContactID, l.CreatedAt.Format(time.RFC3339), done, err)
	}
	for _, rec := range w.Webhooks {
		if ghlID != "" && rec.ContactID == ghlID {
			fs.t.Logf("explain %s: webhook %s %s %s", email, rec.WebhookID, rec.Type, rec.Outcome)
		}
	}
}
