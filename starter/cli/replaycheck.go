package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/spf13/cobra"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"

	"github.com/hlrz/hlrz/internal/codec"
	"github.com/hlrz/hlrz/internal/domain"
)

// workflowTypes are the types replay-check samples.
var workflowTypes = []string{
	domain.ContactSyncName, domain.TagSyncName, domain.NoteSyncName, domain.TaskSyncName,
	domain.BackfillName, domain.ReferrizerPollName, domain.ReconcileName,
}

type replayFailure struct {
	Type             string `json:"type"`
	WorkflowID       string `json:"workflowId"`
	RunID            string `json:"runId"`
	Nondeterministic bool   `json:"nondeterministic"`
	Error            string `json:"error"`
}

type replayReport struct {
	Checked  int             `json:"checked"`
	ByType   map[string]int  `json:"byType"`
	Failures []replayFailure `json:"failures"`
	Verdict  string          `json:"verdict"` // "ok", "nondeterministic", "error"
	Query    string          `json:"query,omitempty"`
	Limit    int             `json:"limitPerType"`
	checked  []replayedRecord
}

type replayedRecord struct{ typ, id, run string }

func (a *app) replayCheckCmd() *cobra.Command {
	var (
		limit   int
		query   string
		verbose bool
	)
	cmd := &cobra.Command{
		Use:   "replay-check",
		Short: "Replay recent workflow histories against this build's workflow code; exit 4 on nondeterminism",
		Long: `replay-check is the pre-deploy gate: it lists the most recent executions of every workflow type
(running and closed, up to --limit per type), fetches their histories from Temporal and replays
them against the workflow code compiled into this binary, decrypting payloads with the
configured key. Any nondeterminism exits 4 and names the executions; other replay problems
exit 1. Build starter from the commit you are about to deploy.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if limit <= 0 {
				return usageErr("--limit: must be positive")
			}
			return a.replayCheck(cmd.Context(), limit, query, verbose)
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 20, "executions per workflow type")
	cmd.Flags().StringVar(&query, "query", "", "extra visibility filter, e.g. \"StartTime > '2025-01-01T00:00:00Z'\"")
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "list every replayed execution and show the SDK's replay log")
	return cmd
}

func (a *app) replayCheck(ctx context.Context, limit int, query string, verbose bool) error {
	tc, ns, err := a.temporal()
	if err != nil {
		return err
	}
	kr, err := a.keyring()
	if err != nil {
		return err
	}
	replayer, err := worker.NewWorkflowReplayerWithOptions(worker.WorkflowReplayerOptions{DataConverter: codec.DataConverter(kr)})
	if err != nil {
		return fmt.Errorf("replayer: %w", err)
	}
	a.opts.register(replayer)
	// The SDK logs each divergence with a stack trace; the report names them already, so the
	// traces go to stderr only with --verbose.
	logTo := io.Discard
	if verbose {
		logTo = a.stderr
	}
	logger := sdklog.NewStructuredLogger(slog.New(slog.NewTextHandler(logTo, &slog.HandlerOptions{Level: slog.LevelWarn})))

	rep := replayReport{ByType: map[string]int{}, Failures: []replayFailure{}, Query: query, Limit: limit}
	for _, typ := range workflowTypes {
		q := fmt.Sprintf("WorkflowType = '%s'", typ)
		if query != "" {
			q += " AND (" + query + ")"
		}
		resp, err := tc.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Namespace: ns, Query: q, PageSize: int32(limit)})
		var bad *serviceerror.InvalidArgument
		if errors.As(err, &bad) {
			return usageErr("--query: list %s executions with %q: %w", typ, q, err)
		}
		if err != nil {
			return fmt.Errorf("list %s executions: %w", typ, err)
		}
		for i, ex := range resp.Executions {
			if i >= limit {
				break
			}
			id, run := ex.GetExecution().GetWorkflowId(), ex.GetExecution().GetRunId()
			hist, err := fetchHistory(ctx, a, id, run)
			if err == nil {
				err = replayer.ReplayWorkflowHistory(logger, hist)
				rep.Checked++
				rep.ByType[typ]++
				rep.checked = append(rep.checked, replayedRecord{typ, id, run})
			}
			if err != nil {
				rep.Failures = append(rep.Failures, replayFailure{Type: typ, WorkflowID: id, RunID: run, Nondeterministic: nondeterministic(err), Error: oneLine(err)})
			}
		}
	}
	rep.Verdict = "ok"
	nd := 0
	for _, f := range rep.Failures {
		if f.Nondeterministic {
			nd++
		}
	}
	switch {
	case nd > 0:
		rep.Verdict = "nondeterministic"
	case len(rep.Failures) > 0:
		rep.Verdict = "error"
	}
	if a.json() {
		a.printJSON(rep)
	} else {
		a.writeReplayReport(rep, verbose)
	}
	switch {
	case nd > 0:
		return withCode(ExitNondeterminism, fmt.Errorf("%d of %d histories do not replay deterministically against this build; do not deploy it", nd, rep.Checked))
	case len(rep.Failures) > 0:
		return fmt.Errorf("%d histories could not be checked", len(rep.Failures))
	}
	return nil
}

func fetchHistory(ctx context.Context, a *app, id, run string) (*historypb.History, error) {
	it := a.tc.GetWorkflowHistory(ctx, id, run, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	h := &historypb.History{}
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			return nil, fmt.Errorf("fetch history: %w", err)
		}
		h.Events = append(h.Events, ev)
	}
	return h, nil
}

// nondeterministic recognises the SDK's replay mismatches: a command that differs from
// history ([TMPRL1100]), or a replay that ends differently from how the run ended.
func nondeterministic(err error) bool {
	s := err.Error()
	return strings.Contains(s, "TMPRL1100") || strings.Contains(s, "nondeterministic") ||
		strings.Contains(s, "doesn't return the same result as the last event")
}

func (a *app) writeReplayReport(rep replayReport, verbose bool) {
	if verbose {
		for _, r := range rep.checked {
			a.printf("replayed %s %s (run %s)\n", r.typ, r.id, r.run)
		}
	}
	for _, f := range rep.Failures {
		what := "ERROR"
		if f.Nondeterministic {
			what = "NONDETERMINISTIC"
		}
		a.printf("%s %s %s (run %s): %s\n", what, f.Type, f.WorkflowID, f.RunID, f.Error)
	}
	var parts []string
	for _, typ := range workflowTypes {
		if n := rep.ByType[typ]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", typ, n))
		}
	}
	if rep.Checked == 0 {
		a.printf("replay-check: no histories found to replay (nothing to compare against)\n")
		return
	}
	a.printf("replay-check: %s: %d histories replayed (%s), %d failed\n", rep.Verdict, rep.Checked, strings.Join(parts, ", "), len(rep.Failures))
}
