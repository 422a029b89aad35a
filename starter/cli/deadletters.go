package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/hlrz/hlrz/internal/dispatch"
	"github.com/hlrz/hlrz/internal/onboard"
	"github.com/hlrz/hlrz/internal/store"
)

// Dead letter kinds that are not ContactSync passes.
const kindAmbiguous = onboard.KindAmbiguous

type deadView struct {
	ID         int64           `json:"id"`
	Connection string          `json:"connection"`
	LinkID     string          `json:"linkId,omitempty"`
	WorkflowID string          `json:"workflowId,omitempty"`
	RunID      string          `json:"runId,omitempty"`
	Kind       string          `json:"kind"`
	State      string          `json:"state"`
	Error      string          `json:"error"`
	Input      json.RawMessage `json:"input,omitempty"`
	CreatedAt  time.Time       `json:"createdAt"`
	UpdatedAt  time.Time       `json:"updatedAt"`
}

func viewDead(d store.DeadLetter, withInput bool) deadView {
	v := deadView{ID: d.ID, Connection: d.ConnectionID, LinkID: d.LinkID, WorkflowID: d.WorkflowID, RunID: d.RunID,
		Kind: d.Kind, State: string(d.State), Error: d.Error, CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt}
	if withInput && json.Valid(d.Input) {
		v.Input = d.Input
	}
	return v
}

func (a *app) deadLettersCmd() *cobra.Command {
	var state string
	var limit int
	list := &cobra.Command{
		Use:   "list",
		Short: "List dead letters, newest first (all connections unless --connection)",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return a.listDeadLetters(cmd.Context(), state, limit) },
	}
	list.Flags().StringVar(&state, "state", string(store.DeadOpen), "open, replayed, discarded or all")
	list.Flags().IntVar(&limit, "limit", 50, "at most this many")

	show := &cobra.Command{
		Use:   "show <id>",
		Short: "Show a dead letter with its input",
		Args:  exactArgs("<id>"),
		RunE:  func(cmd *cobra.Command, args []string) error { return a.showDeadLetter(cmd.Context(), args[0]) },
	}
	replay := &cobra.Command{
		Use:   "replay <id>",
		Short: "Re-deliver a dead letter's work to the person's ContactSync, then mark it replayed",
		Long: `replay re-delivers an open ContactSync.* dead letter: the person's ContactSync workflow (started if
needed) gets a new operator event of the failed batch's kind (or "all" when the batch mixed
kinds) and runs a pass; the dead letter is marked replayed. Backfill.ambiguous-match dead
letters cannot be replayed (exit 1): pick the right contact with ` + "`starter link`" + `.`,
		Args: exactArgs("<id>"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.replayDead(cmd.Context(), args[0])
		},
	}
	discard := &cobra.Command{
		Use:   "discard <id>",
		Short: "Mark an open dead letter discarded (nothing is re-run)",
		Args:  exactArgs("<id>"),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := a.openDeadLetter(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return a.setDeadState(cmd.Context(), d, store.DeadDiscarded, "")
		},
	}
	return group("deadletters", "List, show, replay or discard work that exhausted its retries", list, show, replay, discard)
}

func (a *app) listDeadLetters(ctx context.Context, state string, limit int) error {
	st, err := a.store()
	if err != nil {
		return err
	}
	filter := store.DeadLetterState(state)
	switch filter {
	case store.DeadOpen, store.DeadReplayed, store.DeadDiscarded:
	case "all":
		filter = ""
	default:
		return usageErr("--state: %q is not open, replayed, discarded or all", state)
	}
	if limit <= 0 {
		return usageErr("--limit: must be positive")
	}
	ds, err := st.ListDeadLetters(ctx, a.connID, filter, limit)
	if err != nil {
		return fmt.Errorf("list dead letters: %w", err)
	}
	views := make([]deadView, 0, len(ds))
	for _, d := range ds {
		views = append(views, viewDead(d, false))
	}
	if a.json() {
		a.printJSON(views)
		return nil
	}
	if len(views) == 0 {
		a.printf("no %s dead letters\n", strings.ReplaceAll(state, "all", "(any state)"))
		return nil
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tCONNECTION\tPERSON\tKIND\tSTATE\tCREATED\tERROR")
	for _, v := range views {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", v.ID, v.Connection, orDash(v.LinkID), v.Kind, v.State,
			v.CreatedAt.Local().Format(time.DateTime), cell(v.Error))
	}
	return tw.Flush()
}

func (a *app) showDeadLetter(ctx context.Context, id string) error {
	d, err := a.deadLetter(ctx, id)
	if err != nil {
		return err
	}
	v := viewDead(d, true)
	if a.json() {
		a.printJSON(v)
		return nil
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "id\t%d\nconnection\t%s\nperson (link)\t%s\nworkflow\t%s\nrun\t%s\nkind\t%s\nstate\t%s\ncreated\t%s\nupdated\t%s\nerror\t%s\n",
		v.ID, v.Connection, orDash(v.LinkID), orDash(v.WorkflowID), orDash(v.RunID), v.Kind, v.State,
		v.CreatedAt.Local().Format(time.DateTime), v.UpdatedAt.Local().Format(time.DateTime), v.Error)
	_ = tw.Flush()
	if len(v.Input) > 0 {
		var pretty strings.Builder
		enc := json.NewEncoder(&pretty)
		enc.SetIndent("", "  ")
		if err := enc.Encode(v.Input); err == nil {
			a.printf("input:\n%s", pretty.String())
		}
	}
	if d.Kind == kindAmbiguous {
		a.printf("%s\n", ambiguousHelp)
	}
	return nil
}

const ambiguousHelp = "this Referrizer contact matched several HighLevel contacts, so the backfill linked none: " +
	"pair it with the right one with `starter link <ghl-contact-id> <rz-contact-id>`, then discard this dead letter"

func (a *app) deadLetter(ctx context.Context, arg string) (store.DeadLetter, error) {
	id, err := strconv.ParseInt(arg, 10, 64)
	if err != nil || id <= 0 {
		return store.DeadLetter{}, usageErr("dead letter id %q is not a positive number", arg)
	}
	st, err := a.store()
	if err != nil {
		return store.DeadLetter{}, err
	}
	d, err := st.GetDeadLetter(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return d, notFoundErr("dead letter %d not found", id)
	}
	if err != nil {
		return d, fmt.Errorf("read dead letter %d: %w", id, err)
	}
	return d, nil
}

func (a *app) openDeadLetter(ctx context.Context, arg string) (store.DeadLetter, error) {
	d, err := a.deadLetter(ctx, arg)
	if err != nil {
		return d, err
	}
	if d.State != store.DeadOpen {
		return d, fmt.Errorf("dead letter %d is %s already", d.ID, d.State)
	}
	return d, nil
}

func (a *app) replayDead(ctx context.Context, arg string) error {
	d, err := a.openDeadLetter(ctx, arg)
	if err != nil {
		return err
	}
	if d.Kind == kindAmbiguous {
		return fmt.Errorf("dead letter %d (%s) cannot be replayed: %s", d.ID, d.Kind, ambiguousHelp)
	}
	st, err := a.store()
	if err != nil {
		return err
	}
	conn, err := st.GetConnection(ctx, d.ConnectionID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("read connection %s: %w", d.ConnectionID, err)
	}
	tc, _, err := a.temporal()
	if err != nil {
		return err
	}
	disp := &dispatch.Dispatcher{Client: tc, TaskQueue: a.taskQueue(), Debounce: func(string) int { return conn.Settings.DebounceMillis }}
	r, err := onboard.Replay(ctx, st, disp, d)
	switch {
	case errors.Is(err, onboard.ErrGone):
		return notFoundErr("%v", err)
	case errors.Is(err, onboard.ErrBadInput):
		return withCode(ExitInvalid, err)
	case err != nil:
		return err
	}
	d.ConnectionID, d.LinkID, d.WorkflowID, d.State = r.Ref.ConnectionID, r.Ref.LinkID, r.WorkflowID, store.DeadReplayed
	return a.reportDeadState(d, r.Kind)
}

func (a *app) setDeadState(ctx context.Context, d store.DeadLetter, state store.DeadLetterState, kind string) error {
	st, err := a.store()
	if err != nil {
		return err
	}
	if err := st.SetDeadLetterState(ctx, d.ID, state); err != nil {
		return fmt.Errorf("mark dead letter %d %s: %w", d.ID, state, err)
	}
	d.State = state
	return a.reportDeadState(d, kind)
}

func (a *app) reportDeadState(d store.DeadLetter, kind string) error {
	state := d.State
	if a.json() {
		out := struct {
			deadView
			ReplayedAs string `json:"replayedAs,omitempty"`
		}{viewDead(d, false), kind}
		a.printJSON(out)
		return nil
	}
	if state == store.DeadReplayed {
		a.printf("dead letter %d replayed: a %q pass was sent to person %s (workflow %s)\n", d.ID, kind, d.LinkID, d.WorkflowID)
		return nil
	}
	a.printf("dead letter %d %s\n", d.ID, state)
	return nil
}
