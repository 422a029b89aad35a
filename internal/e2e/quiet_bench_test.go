package e2e_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"

	"github.com/hlrz/hlrz/internal/app"
	"github.com/hlrz/hlrz/internal/domain"
	"github.com/hlrz/hlrz/internal/e2e"
)

// BenchmarkQuietWorkflows counts the people's open ContactSync workflows right after a
// backfill and again once the quiet time has passed: with
// quiet completion, open workflows follow active people, not all people.
func BenchmarkQuietWorkflows(b *testing.B) {
	n := benchInt("HLRZ_BENCH_PEOPLE", 300)
	quiet := time.Duration(benchInt("HLRZ_BENCH_QUIET_S", 10)) * time.Second
	b.StopTimer()
	e := benchStart(b, e2e.Options{Tune: func(o *app.Options) { o.Config.ContactQuietAfter = quiet }})
	benchBackfill(b, e, benchPopulation(n))
	busy := benchOpenContactSyncs(b, e)
	e.Eventually(quiet+5*time.Minute, "every quiet workflow to complete", func() (bool, string) {
		open := benchOpenContactSyncs(b, e)
		return open.running == 0, fmt.Sprintf("%d running", open.running)
	})
	quietNow := benchOpenContactSyncs(b, e)
	per := func(v int64) float64 { return float64(v) * 1000 / float64(n) }
	bn := fmt.Sprintf("Open workflows (%d people, quiet time %s)", n, quiet)
	benchRecord(bn, "running ContactSync per 1,000 people: just after the backfill / after the quiet time",
		fmt.Sprintf("%.0f / %.0f", per(busy.running), per(quietNow.running)), "≈ active people", okp(quietNow.running == 0))
	benchNote("Open workflows: a completed run's history stays in Temporal only until the namespace's retention period; the running ones are what a Temporal cluster keeps in memory and mutable state.")
	benchPrintSummary()
}

type benchOpen struct{ running int64 }

// benchOpenContactSyncs counts running ContactSync workflows.
func benchOpenContactSyncs(tb testing.TB, e *e2e.Env) benchOpen {
	ctx := context.Background()
	var out benchOpen
	var token []byte
	for {
		resp, err := e.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Namespace: e.Namespace, PageSize: 1000, NextPageToken: token,
			Query: fmt.Sprintf("WorkflowType = '%s' AND ExecutionStatus = 'Running'", domain.ContactSyncName),
		})
		if err != nil {
			tb.Fatal(err)
		}
		out.running += int64(len(resp.Executions))
		if token = resp.NextPageToken; len(token) == 0 {
			return out
		}
	}
}
