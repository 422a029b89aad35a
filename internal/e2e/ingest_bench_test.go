package e2e_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hlrz/hlrz/internal/e2e"
	"github.com/hlrz/hlrz/internal/ghl"
	"github.com/hlrz/hlrz/internal/sim/ghlsim"
	"github.com/hlrz/hlrz/internal/store"
)

// BenchmarkBridgeIngestion posts signed ContactUpdate webhooks from concurrent clients to the
// bridge, for people of the realistic population synced by a backfill, in two phases:
//  1. echoes: each body is the person as synced, which the relay drops without a signal;
//  2. changes: each body carries a new last name that HighLevel (the simulator, its own
//     webhooks off meanwhile) really holds, so the relay signals and passes write it to
//     Referrizer. Several changes of one person arrive close together (a burst the debounce
//     coalesces).
//
// It measures how fast the bridge commits them durably, the relay's pace and what followed
// (signals, passes' calls), and checks every webhook was stored, no echo was signalled and
// every person's newest last name reached Referrizer.
func BenchmarkBridgeIngestion(b *testing.B) {
	echoes := benchInt("HLRZ_BENCH_WEBHOOKS", 20000)
	changes := benchInt("HLRZ_BENCH_CHANGE_WEBHOOKS", 2000)
	conc := benchInt("HLRZ_BENCH_CLIENTS", 16)
	people := benchInt("HLRZ_BENCH_INGEST_PEOPLE", 200)
	b.StopTimer() // only the posting is timed (phase)
	e := benchStart(b, e2e.Options{})
	benchBackfill(b, e, benchPopulation(people))
	in := benchIngest{e: e, conc: conc, run: fmt.Sprint(time.Now().UnixNano())}
	contacts := e.GHLContacts()

	bodies := make([][]byte, echoes)
	for i := range bodies {
		bodies[i] = in.body(b, contacts[i%len(contacts)], i)
	}
	echo := in.phase(b, "echoes", bodies)
	if echo.d.signals != 0 {
		b.Errorf("echo phase: the relay sent %.0f signals, want 0", echo.d.signals)
	}

	want, bodies := in.changeBodies(b, contacts, changes)
	change := in.phase(b, "changes", bodies)
	arrived := in.awaitChanges(b, want)

	bn := fmt.Sprintf("Bridge ingestion (%d people; %d echo then %d data-changing webhooks, %d clients)", len(contacts), echoes, changes, conc)
	for _, ph := range []benchIngestPhase{echo, change} {
		benchRecord(bn, ph.name+": accepted durably", fmt.Sprintf("%.0f webhooks/s", ph.rate()), "", nil)
		benchRecord(bn, ph.name+": response time p50 / p99", fmt.Sprintf("%s / %s", benchMS(benchPct(ph.lat, .5)), benchMS(benchPct(ph.lat, .99))), "", nil)
		benchRecord(bn, ph.name+": inbox rows = webhooks sent", fmt.Sprintf("%d = %d", ph.stored, ph.n), "equal", okp(ph.stored == ph.n && ph.accepted == ph.n))
		benchRecord(bn, ph.name+": relay settled every row", fmt.Sprintf("%.0f rows/s (%s)", float64(ph.n)/ph.relay.Seconds(), benchInboxString(ph.d.inbox)), "", nil)
	}
	benchRecord(bn, "echoes: signals", fmt.Sprintf("%.0f (%.0f echoes suppressed)", echo.d.signals, echo.d.echoesGHL), "0", okp(echo.d.signals == 0))
	benchRecord(bn, "changes: signals / passes' calls", fmt.Sprintf("%.0f signals (%.2f per webhook); HighLevel %d reads + %d writes, Referrizer %d reads + %d writes",
		change.d.signals, change.d.signals/float64(changes), change.d.ghlReads, change.d.ghlWrites, change.d.rzReads, change.d.rzWrites), "", nil)
	benchRecord(bn, "changes: every person's newest last name in Referrizer", fmt.Sprintf("%d of %d", len(want)-arrived.missing, len(want)),
		"all", okp(arrived.missing == 0))
	b.ReportMetric(echo.rate(), "echo-accepted/s")
	b.ReportMetric(change.rate(), "change-accepted/s")
	benchPrintSummary()
	for _, ph := range []benchIngestPhase{echo, change} {
		if ph.accepted != ph.n || ph.stored != ph.n {
			b.Fatalf("%s: accepted %d and stored %d of %d webhooks", ph.name, ph.accepted, ph.stored, ph.n)
		}
	}
}

// benchIngest posts webhook bodies to one environment's bridge.
type benchIngest struct {
	e    *e2e.Env
	conc int
	run  string
}

// benchIngestPhase is what one phase's posting measured.
type benchIngestPhase struct {
	name                string
	n, accepted, stored int
	lat                 []time.Duration
	start               time.Time
	elapsed, relay      time.Duration
	d                   benchDelta
}

func (p benchIngestPhase) rate() float64 { return float64(p.accepted) / p.elapsed.Seconds() }

// body is a ContactUpdate webhook stating c as HighLevel holds it.
func (in benchIngest) body(tb testing.TB, c ghlsim.Contact, i int) []byte {
	body, err := json.Marshal(benchContactEvent(c, ghl.EventContactUpdate, fmt.Sprintf("bench-%s-%07d", in.run, i), time.Now()))
	if err != nil {
		tb.Fatal(err)
	}
	return body
}

// changeBodies changes the last name of the people round-robin, n times in all, in the
// simulator (its own webhooks off meanwhile: the bodies returned are HighLevel's webhooks
// for those changes), and returns each person's newest last name.
func (in benchIngest) changeBodies(tb testing.TB, contacts []ghlsim.Contact, n int) (map[string]string, [][]byte) {
	opts := in.e.GHL.Webhooks()
	off := opts
	off.URL = ""
	in.e.GHL.SetWebhooks(off)
	defer in.e.GHL.SetWebhooks(opts)
	want := map[string]string{}
	bodies := make([][]byte, n)
	for i := range bodies {
		c := contacts[i%len(contacts)]
		last := fmt.Sprintf("Changed%d", i)
		updated, err := in.e.GHL.UpdateContact(c.ID, ghlsim.ContactPatch{LastName: &last})
		if err != nil {
			tb.Fatal(err)
		}
		want[c.ID] = last
		bodies[i] = in.body(tb, updated, i+1_000_000)
	}
	return want, bodies
}

// phase signs and posts bodies from conc clients and waits for the relay to settle them.
func (in benchIngest) phase(b *testing.B, name string, bodies [][]byte) benchIngestPhase {
	key := in.e.GHL.Webhooks().Key
	if key == nil {
		b.Fatal("the harness configures no webhook key")
	}
	sigs := make([]string, len(bodies))
	for i, body := range bodies {
		sigs[i] = base64.StdEncoding.EncodeToString(ed25519.Sign(key, body))
	}
	ph := benchIngestPhase{name: name, n: len(bodies)}
	s0 := benchSnap(b, in.e)
	b.StartTimer()
	ph.start = time.Now()
	status, lat := in.post(bodies, sigs)
	ph.elapsed = time.Since(ph.start)
	b.StopTimer()
	s1 := benchSnap(b, in.e)
	ctx := context.Background()
	in.e.Eventually(30*time.Minute, "the relay to settle every row", func() (bool, string) {
		c, err := in.e.Store.InboxCounts(ctx)
		return err == nil && c[store.InboxPending] == 0, fmt.Sprint(c, err)
	})
	ph.relay = time.Since(ph.start)
	benchSettle(b, in.e, 3*time.Second+benchDebounce(in.e), 10*time.Minute)
	ph.d = benchDiff(s0, benchSnap(b, in.e))
	ph.stored = s1.inboxTotal() - s0.inboxTotal()
	codes := map[string]int{}
	for _, s := range status {
		codes[strconv.Itoa(s)]++
		if s >= 200 && s < 300 {
			ph.accepted++
		}
	}
	slices.Sort(lat)
	ph.lat = lat
	benchTable(fmt.Sprintf("BenchmarkBridgeIngestion, %s: %d signed ContactUpdate webhooks, %d clients", name, len(bodies), in.conc), [][]string{
		{"accepted (2xx)", fmt.Sprintf("%d in %.2f s = %.0f /s (HTTP statuses: %s)", ph.accepted, ph.elapsed.Seconds(), ph.rate(), benchMapString(codes))},
		{"response time", fmt.Sprintf("p50 %s, p99 %s, max %s", benchMS(benchPct(lat, .5)), benchMS(benchPct(lat, .99)), benchMS(benchPct(lat, 1)))},
		{"inbox rows committed", fmt.Sprintf("%d (want %d)", ph.stored, len(bodies))},
		{"relay (concurrently)", fmt.Sprintf("all rows settled %.1f s after the first post (%.0f rows/s): %s", ph.relay.Seconds(), float64(len(bodies))/ph.relay.Seconds(), benchInboxString(ph.d.inbox))},
		{"then", fmt.Sprintf("signals %.0f, echoes suppressed %.0f; HighLevel %d reads + %d writes, Referrizer %d reads + %d writes", ph.d.signals, ph.d.echoesGHL, ph.d.ghlReads, ph.d.ghlWrites, ph.d.rzReads, ph.d.rzWrites)},
	})
	return ph
}

// post sends each body with its signature from conc clients; it returns each one's HTTP
// status (0: no answer) and response time.
func (in benchIngest) post(bodies [][]byte, sigs []string) ([]int, []time.Duration) {
	url := "http://" + in.e.App.HTTPAddr + "/webhooks/ghl"
	hc := &http.Client{Transport: &http.Transport{MaxIdleConns: in.conc, MaxIdleConnsPerHost: in.conc, MaxConnsPerHost: in.conc}, Timeout: 30 * time.Second}
	status, lat := make([]int, len(bodies)), make([]time.Duration, len(bodies))
	var mu sync.Mutex
	next := 0
	var wg sync.WaitGroup
	for range in.conc {
		wg.Go(func() {
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= len(bodies) {
					return
				}
				req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, url, bytes.NewReader(bodies[i]))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set(ghl.SignatureHeader, sigs[i])
				t0 := time.Now()
				if resp, err := hc.Do(req); err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					_ = resp.Body.Close()
					status[i] = resp.StatusCode
				}
				lat[i] = time.Since(t0)
			}
		})
	}
	wg.Wait()
	return status, lat
}

// benchArrival says how many people's newest change is not in Referrizer, and when the
// check ended.
type benchArrival struct {
	missing int
	after   time.Time
}

// awaitChanges waits (up to 5 min) for every person's newest last name (want, by HighLevel
// contact id) to be on their linked Referrizer contact.
func (in benchIngest) awaitChanges(tb testing.TB, want map[string]string) benchArrival {
	ctx := context.Background()
	rzOf := map[string]string{}
	for ghlID := range want {
		l, err := in.e.Store.LinkBy(ctx, in.e.Conn.ID, store.SideGHL, ghlID)
		if err != nil || l.RZContactID == "" {
			tb.Fatalf("person %s not linked: %+v %v", ghlID, l, err)
		}
		rzOf[l.RZContactID] = ghlID
	}
	var out benchArrival
	deadline := time.Now().Add(5 * time.Minute)
	for {
		out.missing = len(want)
		for _, c := range in.e.RZContacts() {
			if g, ok := rzOf[c.ID]; ok && c.LastName == want[g] {
				out.missing--
			}
		}
		out.after = time.Now()
		if out.missing == 0 || out.after.After(deadline) {
			return out
		}
		time.Sleep(200 * time.Millisecond)
	}
}
