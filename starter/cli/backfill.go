package cli

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/hlrz/hlrz/internal/dispatch"
	"github.com/hlrz/hlrz/internal/domain"
)

func (a *app) backfillCmd() *cobra.Command {
	var (
		detach, quiet bool
		every         time.Duration
	)
	cmd := &cobra.Command{
		Use:   "backfill",
		Short: "Link and first-sync every person of a connection, with a live progress bar",
		Long: `backfill starts the connection's Backfill workflow (or attaches to the one already running) and
shows its progress on stderr until it finishes: people seen on either side, linked, created,
failed, the rate and an ETA. Ctrl-C stops watching, not the backfill. --detach returns once it
is started; --output json prints the final progress on stdout.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.backfill(cmd.Context(), detach, quiet, every)
		},
	}
	cmd.Flags().BoolVar(&detach, "detach", false, "return as soon as the backfill is started")
	cmd.Flags().BoolVar(&quiet, "no-progress", false, "do not draw the progress bar")
	cmd.Flags().DurationVar(&every, "poll", 500*time.Millisecond, "how often to query the progress")
	return cmd
}

func (a *app) backfill(ctx context.Context, detach, quiet bool, every time.Duration) error {
	if every <= 0 {
		return usageErr("--poll: must be positive")
	}
	conn, err := a.connection()
	if err != nil {
		return err
	}
	if err := refusePending(conn); err != nil {
		return err
	}
	tc, _, err := a.temporal()
	if err != nil {
		return err
	}
	run, err := dispatch.StartBackfill(ctx, tc, a.taskQueue(), conn.ID)
	if err != nil {
		return err
	}
	id := domain.BackfillWorkflowID(conn.ID)
	if detach {
		if a.json() {
			a.printJSON(map[string]string{"connection": conn.ID, "workflowId": id, "runId": run.GetRunID()})
			return nil
		}
		a.printf("backfill of %s running as workflow %s (run %s); watch it with `starter backfill -c %s`\n", conn.ID, id, run.GetRunID(), conn.ID)
		return nil
	}

	bar := newBackfillBar(a, quiet)
	defer bar.close()
	done := make(chan error, 1)
	var final domain.BackfillProgress
	// Get follows the continue-as-new chain (one run per page) to the last run's result.
	go func() { done <- run.Get(ctx, &final) }()
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			if err != nil {
				if ctx.Err() != nil {
					return fmt.Errorf("stopped watching; backfill %s continues in the background: %w", id, ctx.Err())
				}
				return fmt.Errorf("backfill %s failed: %w", id, err)
			}
			bar.finish(final)
			if a.json() {
				a.printJSON(final)
				return nil
			}
			a.printf("backfill of %s done in %s: seen %d, linked %d, new %d, ambiguous %d, synced %d, created %d, failed %d\n",
				conn.ID, final.UpdatedAt.Sub(final.StartedAt).Round(time.Second), final.Seen, final.Linked, final.New,
				final.Ambiguous, final.Synced, final.Created, final.Failed)
			if final.Failed > 0 || final.Ambiguous > 0 {
				a.printf("see `starter deadletters list -c %s` for the failed and ambiguous people\n", conn.ID)
			}
			return nil
		case <-tick.C:
			qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			v, err := tc.QueryWorkflow(qctx, id, "", domain.QueryProgress)
			var p domain.BackfillProgress
			if err == nil {
				err = v.Get(&p)
			}
			cancel()
			// A query can miss between two runs of the chain; the next tick catches up.
			if err == nil {
				bar.update(p)
			}
		}
	}
}

// backfillBar draws the progress on stderr. Its total is the first passes requested so far,
// which grows page by page; it stays one ahead until the backfill is done, because the bar
// stops drawing for good once it reaches its total.
type backfillBar struct {
	bar *progressbar.ProgressBar
	w   io.Writer
}

func newBackfillBar(a *app, quiet bool) *backfillBar {
	if quiet {
		return &backfillBar{}
	}
	return &backfillBar{w: a.stderr, bar: progressbar.NewOptions(1,
		progressbar.OptionSetWriter(a.stderr),
		progressbar.OptionSetDescription("starting"),
		progressbar.OptionSetWidth(24),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("people"),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionSetRenderBlankState(true),
		progressbar.OptionThrottle(100*time.Millisecond),
	)}
}

func describe(p domain.BackfillProgress) string {
	return fmt.Sprintf("%s · seen %d · linked %d · synced %d/%d · created %d · failed %d",
		p.Phase, p.Seen, p.Linked, p.Synced, p.Started, p.Created, p.Failed)
}

func (b *backfillBar) update(p domain.BackfillProgress) {
	if b.bar == nil {
		return
	}
	b.bar.Describe(describe(p))
	b.bar.ChangeMax(p.Started + 1)
	_ = b.bar.Set(p.Synced + p.Failed)
}

func (b *backfillBar) finish(p domain.BackfillProgress) {
	if b.bar == nil {
		return
	}
	b.bar.Describe(describe(p))
	b.bar.ChangeMax(max(p.Started, 1))
	_ = b.bar.Finish()
	_, _ = fmt.Fprintln(b.w) // end the bar's line
}

func (b *backfillBar) close() {
	if b.bar != nil {
		_ = b.bar.Exit()
	}
}
