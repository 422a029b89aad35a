package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/hlrz/hlrz/internal/domain"
	"github.com/hlrz/hlrz/internal/schedules"
	"github.com/hlrz/hlrz/internal/store"
)

const pausedByOperator = "paused by operator (starter connections pause)"

func (a *app) connectionsPauseCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "pause <connection|location>",
		Short: "Pause a connection: schedules paused, passes write nothing, webhooks are kept but not synced",
		Long: `pause marks the connection paused and pauses its poll and reconcile schedules. While it is
paused no activity calls either API for it (a pass fails without writing), and the relay keeps
its webhooks as ignored. resume undoes it. Workers cache a connection for up to 10 s.`,
		Args: exactArgs("<connection|location>"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.setPaused(cmd.Context(), args[0], true)
		},
	}
}

func (a *app) connectionsResumeCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "resume <connection|location>",
		Short: "Resume a paused connection: active again, schedules resumed",
		Args:  exactArgs("<connection|location>"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.setPaused(cmd.Context(), args[0], false)
		},
	}
}

func (a *app) setPaused(ctx context.Context, q string, pause bool) error {
	c, err := a.connectionArg(ctx, q)
	if err != nil {
		return err
	}
	status, reason, did := store.ConnPaused, pausedByOperator, "paused"
	if pause && c.Status != store.ConnActive && c.Status != store.ConnPaused {
		// Pausing would hide why it does not sync, and resume would then skip the fix.
		return invalidErr("connection %s is %s, not active: %s", c.ID, c.Status, nextStep(c))
	}
	if !pause {
		if err := refusePending(c); err != nil {
			return err
		}
		if c.Status != store.ConnPaused && c.Status != store.ConnActive {
			return invalidErr("connection %s is %s, not paused: %s", c.ID, c.Status, nextStep(c))
		}
		status, reason, did = store.ConnActive, "", "resumed"
	}
	st, err := a.store()
	if err != nil {
		return err
	}
	if err := st.SetConnectionStatus(ctx, c.ID, status, reason); err != nil {
		return fmt.Errorf("%s connection %s: %w", did, c.ID, err)
	}
	tc, _, err := a.temporal()
	if err != nil {
		return err
	}
	m := &schedules.Manager{Client: tc, TaskQueue: a.taskQueue()}
	if pause {
		err = m.Pause(ctx, c.ID, pausedByOperator)
	} else {
		err = m.Resume(ctx, c.ID, "resumed by operator (starter connections resume)")
	}
	if err != nil {
		return fmt.Errorf("connection %s %s, but its schedules were not: %w", c.ID, did, err)
	}
	states, err := m.Describe(ctx, c.ID)
	if err != nil {
		return err
	}
	if a.json() {
		a.printJSON(struct {
			Connection string            `json:"connection"`
			Status     string            `json:"status"`
			Schedules  []schedules.State `json:"schedules"`
		}{c.ID, string(status), states})
		return nil
	}
	a.printf("connection %s %s (status %s)\n", c.ID, did, status)
	for _, s := range states {
		switch {
		case s.Missing:
			a.printf("  %s schedule: not installed\n", s.Kind)
		case s.Paused:
			a.printf("  %s schedule: paused\n", s.Kind)
		default:
			a.printf("  %s schedule: active\n", s.Kind)
		}
	}
	return nil
}

func (a *app) connectionsDeleteCmd() *cobra.Command {
	var yes bool
	cmd := &cobra.Command{
		Use:   "delete <connection|location> [--yes]",
		Short: "Delete a connection: schedules, running workflows, tokens and every stored row of it",
		Long: `delete first prints exactly what it removes: the connection's schedules, its running workflows
(people, backfill, poll and reconcile runs; terminated), and its rows by table (tokens, links,
ledger, cursors, observations, match keys, dead letters, the connection). Without --yes it
stops there and removes nothing (exit 2). Nothing of it keeps running afterwards; webhooks for
its location are then kept as orphaned. Data in either API is not touched.`,
		Args: exactArgs("<connection|location>"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.deleteConnection(cmd.Context(), args[0], yes)
		},
	}
	cmd.Flags().BoolVar(&yes, "yes", false, "really delete")
	return cmd
}

// removal is what deleting a connection removes.
type removal struct {
	Connection string             `json:"connection"`
	Schedules  []string           `json:"schedules"`
	Workflows  []string           `json:"workflows"`
	Rows       []store.TableCount `json:"rows"`
	Deleted    bool               `json:"deleted"`
}

func (a *app) deleteConnection(ctx context.Context, q string, yes bool) error {
	c, err := a.connectionArg(ctx, q)
	if err != nil {
		return err
	}
	st, err := a.store()
	if err != nil {
		return err
	}
	rm, ok := st.(store.ConnectionRemover)
	if !ok {
		return fmt.Errorf("this store cannot delete connections")
	}
	r, err := a.removalOf(ctx, rm, c.ID)
	if err != nil {
		return err
	}
	if !yes {
		a.printRemoval(r, "would remove")
		return usageErr("nothing removed: run again with --yes to delete connection %s", c.ID)
	}
	// Stop new work first: a paused connection's passes and relays write nothing.
	if err := st.SetConnectionStatus(ctx, c.ID, store.ConnPaused, "being deleted"); err != nil {
		return fmt.Errorf("pause connection %s: %w", c.ID, err)
	}
	if err := a.stopConnection(ctx, c.ID, r); err != nil {
		return err
	}
	if r.Rows, err = rm.DeleteConnection(ctx, c.ID); err != nil {
		return fmt.Errorf("delete connection %s: %w", c.ID, err)
	}
	r.Deleted = true
	a.printRemoval(r, "removed")
	return nil
}

// removalOf lists what deleting connection id removes, without changing anything.
func (a *app) removalOf(ctx context.Context, rm store.ConnectionRemover, id string) (removal, error) {
	r := removal{Connection: id, Schedules: []string{}, Workflows: []string{}}
	tc, ns, err := a.temporal()
	if err != nil {
		return r, err
	}
	states, err := (&schedules.Manager{Client: tc, TaskQueue: a.taskQueue()}).Describe(ctx, id)
	if err != nil {
		return r, err
	}
	for _, s := range states {
		if !s.Missing {
			r.Schedules = append(r.Schedules, s.ID)
		}
	}
	query := fmt.Sprintf("ExecutionStatus = 'Running' AND (%s = '%s' OR WorkflowId = '%s')", domain.SAConnection.GetName(), id, domain.BackfillWorkflowID(id))
	var token []byte
	for {
		resp, err := tc.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Namespace: ns, Query: query, NextPageToken: token})
		if err != nil {
			return r, fmt.Errorf("list running workflows of %s: %w", id, err)
		}
		for _, e := range resp.Executions {
			r.Workflows = append(r.Workflows, e.Execution.WorkflowId)
		}
		if token = resp.NextPageToken; len(token) == 0 {
			break
		}
	}
	if r.Rows, err = rm.ConnectionFootprint(ctx, id); err != nil {
		return r, err
	}
	return r, nil
}

// stopConnection deletes the schedules and terminates the workflows r lists.
func (a *app) stopConnection(ctx context.Context, id string, r removal) error {
	tc, _, err := a.temporal()
	if err != nil {
		return err
	}
	for _, sid := range r.Schedules {
		if err := tc.ScheduleClient().GetHandle(ctx, sid).Delete(ctx); err != nil && !isNotFoundErr(err) {
			return fmt.Errorf("delete schedule %s: %w", sid, err)
		}
	}
	for _, wid := range r.Workflows {
		err := tc.TerminateWorkflow(ctx, wid, "", "connection "+id+" deleted by operator")
		if err != nil && !isNotFoundErr(err) && !errors.Is(err, context.Canceled) {
			return fmt.Errorf("terminate %s: %w", wid, err)
		}
	}
	return nil
}

func (a *app) printRemoval(r removal, verb string) {
	if a.json() {
		a.printJSON(r)
		return
	}
	a.printf("connection %s: %s\n", r.Connection, verb)
	a.printf("  schedules (%d):\n", len(r.Schedules))
	for _, s := range r.Schedules {
		a.printf("    %s\n", s)
	}
	a.printf("  running workflows, terminated (%d):\n", len(r.Workflows))
	for _, w := range r.Workflows {
		a.printf("    %s\n", w)
	}
	a.printf("  stored rows:\n")
	for _, t := range r.Rows {
		a.printf("    %-13s %d\n", t.Table, t.Rows)
	}
}
