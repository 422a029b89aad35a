package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/spf13/cobra"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/hlrz/hlrz/activities"
	"github.com/hlrz/hlrz/internal/connector"
	"github.com/hlrz/hlrz/internal/domain"
	"github.com/hlrz/hlrz/internal/referrizer"
	"github.com/hlrz/hlrz/internal/store"
	"github.com/hlrz/hlrz/internal/syncmodel"
	"github.com/hlrz/hlrz/workflows"
)

const personHelp = `<person> is a link id, a HighLevel contact id, a Referrizer contact id, or an e-mail address
(looked up in the store's match index, then by a read on each side's API).`

func (a *app) syncCmd() *cobra.Command {
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "sync <person>",
		Short: "Run one sync pass for a person now and print the plan it applied",
		Long: `sync asks the person's ContactSync workflow (starting it if needed) to run a pass now, through
its sync-now update, waits for the pass and prints the plan that was applied. A person found by
e-mail who has no link yet is linked first. Exit 1 when the pass failed (see deadletters).

` + personHelp,
		Example: `  starter sync nora@example.com
  starter sync -c gym-1 -o json 7fKq2mVxQ9`,
		Args: exactArgs("<person>"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			return a.syncPerson(ctx, args[0])
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", 2*time.Minute, "how long to wait for the pass")
	return cmd
}

func (a *app) syncPerson(ctx context.Context, q string) error {
	conn, err := a.connection()
	if err != nil {
		return err
	}
	if err := refusePending(conn); err != nil {
		return err
	}
	if conn.Status != store.ConnActive {
		return fmt.Errorf("connection %s is %s (%s): the worker does not sync it; reconnect it with `starter connect`", conn.ID, conn.Status, conn.StatusReason)
	}
	link, err := a.resolvePerson(ctx, conn, q, true)
	if err != nil {
		return err
	}
	tc, _, err := a.temporal()
	if err != nil {
		return err
	}
	ref := domain.Ref{ConnectionID: conn.ID, LinkID: link.ID}
	in := domain.ContactSyncInput{Ref: ref}
	if ms := conn.Settings.DebounceMillis; ms > 0 {
		in.Debounce = time.Duration(ms) * time.Millisecond
	}
	id := domain.ContactWorkflowID(conn.ID, link.ID)
	// Same start options as internal/dispatch, so a workflow the CLI starts looks like any other.
	start := tc.NewWithStartWorkflowOperation(client.StartWorkflowOptions{
		ID: id, TaskQueue: a.taskQueue(),
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		TypedSearchAttributes:    temporal.NewSearchAttributes(domain.SAConnection.ValueSet(conn.ID)),
		StaticSummary:            fmt.Sprintf("Sync of person %s in connection %s", link.ID, conn.ID),
		StaticDetails: "One entity workflow per linked person: it coalesces events into sync passes " +
			"(plan → apply → record base). Query `state` for the link, last pass and last error.",
	}, workflows.ContactSync, in)
	h, err := tc.UpdateWithStartWorkflow(ctx, client.UpdateWithStartWorkflowOptions{
		StartWorkflowOperation: start,
		UpdateOptions:          client.UpdateWorkflowOptions{UpdateName: domain.UpdateSyncNow, WaitForStage: client.WorkflowUpdateStageCompleted},
	})
	if err != nil {
		return fmt.Errorf("sync-now %s: %w", id, err)
	}
	var res workflows.PassResult
	if err := h.Get(ctx, &res); err != nil {
		return fmt.Errorf("sync-now %s: %w", id, err)
	}
	var plan *syncmodel.Plan
	if len(res.Plan) > 0 {
		plan = new(syncmodel.Plan)
		if err := json.Unmarshal(res.Plan, plan); err != nil {
			return fmt.Errorf("decode the applied plan: %w", err)
		}
	}
	if a.json() {
		a.printJSON(struct {
			Connection string          `json:"connection"`
			LinkID     string          `json:"linkId"`
			WorkflowID string          `json:"workflowId"`
			Pass       int             `json:"pass"`
			Summary    string          `json:"summary"`
			Plan       json.RawMessage `json:"plan,omitempty"`
			Error      string          `json:"error,omitempty"`
		}{conn.ID, link.ID, id, res.Pass, res.Summary, res.Plan, res.Error})
	} else {
		a.printf("person %s (HighLevel %s, Referrizer %s), connection %s: pass %d\n", link.ID, orDash(link.GHLContactID), orDash(link.RZContactID), conn.ID, res.Pass)
		a.printf("summary: %s\n", res.Summary)
		if plan != nil {
			a.printf("applied plan: %s\n", plan.Summary())
			writeChanges(a.stdout, *plan)
		}
	}
	if res.Error != "" {
		return fmt.Errorf("pass %d of %s failed: %s", res.Pass, id, res.Error)
	}
	return nil
}

func (a *app) planCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "plan <person>",
		Short: "Dry run: read both sides of a person and print the plan a pass would apply, writing nothing",
		Long: `plan reads the person on both sides and the last synced base, and prints what a sync pass would
do: the contact fields as a side-by-side table (field | HighLevel | base | Referrizer | action),
with conflicts and how they resolve; the tag and label changes; whether the notes and tasks
digests (and task status labels) would be rewritten; and every rule action (rule, action type)
the contact, tags, notes and tasks plans call for. It plans in this process with the worker's
own planning activities, makes no write call to either API and changes no link, ledger entry,
dead letter or workflow.

` + personHelp,
		Args: exactArgs("<person>"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.planPerson(cmd.Context(), args[0])
		},
	}
	return cmd
}

// fieldRow is one line of the side-by-side plan.
type fieldRow struct {
	Field  string `json:"field"`
	GHL    string `json:"ghl"`
	Base   string `json:"base"`
	RZ     string `json:"rz"`
	Action string `json:"action"`
}

func (a *app) planPerson(ctx context.Context, q string) error {
	conn, err := a.connection()
	if err != nil {
		return err
	}
	link, err := a.resolvePerson(ctx, conn, q, false)
	if err != nil {
		return err
	}
	c, err := a.conn(ctx, conn.ID)
	if err != nil {
		return err
	}
	st, err := a.store()
	if err != nil {
		return err
	}
	reg, err := a.connectors()
	if err != nil {
		return err
	}
	// The activities themselves, run here: no Temporal, no signal, and DryRun skips every write.
	core := activities.Core{Store: st, Conns: reg, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	in := domain.PlanInput{
		Ref:    domain.Ref{ConnectionID: conn.ID, LinkID: link.ID},
		Events: []domain.Event{{Source: domain.SourceOperator, Kind: domain.KindAll, OccurredAt: time.Now()}},
		DryRun: true,
	}
	cp, err := (&activities.Contacts{Core: core}).PlanContact(ctx, in)
	if err != nil {
		return fmt.Errorf("plan %s: %w", link.ID, err)
	}
	var plan syncmodel.Plan
	if len(cp.Plan) > 0 {
		if err := json.Unmarshal(cp.Plan, &plan); err != nil {
			return fmt.Errorf("decode plan: %w", err)
		}
	}
	objects, objActions, err := planObjects(ctx, core, in)
	if err != nil {
		return fmt.Errorf("plan %s: %w", link.ID, err)
	}
	actions, err := contactActions(cp.Actions)
	if err != nil {
		return err
	}
	actions = append(actions, objActions...)
	sides, err := a.readSides(ctx, c, link, cp)
	if err != nil {
		return err
	}
	rows := planRows(c.Mapping, plan, sides)
	writes := cp.Writes || len(actions) > 0
	for _, o := range objects {
		writes = writes || o.Changed
	}
	out := planOutput{conn.ID, link.ID, cp.GHLID, cp.RZID, true, cp.Summary, writes, cp.Created, cp.Deleted, sides.base == nil, rows, cp.Plan, objects, actions}
	if a.json() {
		a.printJSON(out)
		return nil
	}
	a.printPlan(out, plan)
	return nil
}

// planOutput is what `starter plan` prints.
type planOutput struct {
	Connection  string           `json:"connection"`
	LinkID      string           `json:"linkId"`
	GHLID       string           `json:"ghlId,omitempty"`
	RZID        string           `json:"rzId,omitempty"`
	DryRun      bool             `json:"dryRun"`
	Summary     string           `json:"summary"`
	Writes      bool             `json:"writes"`
	Created     []string         `json:"created,omitempty"`
	Deleted     []string         `json:"deleted,omitempty"`
	FirstSync   bool             `json:"firstSync"`
	Fields      []fieldRow       `json:"fields"`
	Plan        json.RawMessage  `json:"plan"`
	Objects     []objectPlanView `json:"objects"`
	RuleActions []ruleActionView `json:"ruleActions"`
}

func (a *app) printPlan(out planOutput, plan syncmodel.Plan) {
	a.printf("dry run for person %s (HighLevel %s, Referrizer %s), connection %s\n", out.LinkID, orDash(out.GHLID), orDash(out.RZID), out.Connection)
	a.printf("plan: %s\n", out.Summary)
	if out.FirstSync {
		a.printf("no synced base yet: this would be the person's first sync\n")
	}
	writePlanTable(a.stdout, plan, out.Fields)
	writeObjectPlans(a.stdout, out.Objects, out.RuleActions)
	if !out.Writes {
		a.printf("nothing to write\n")
	}
}

// planSides are the person's records for display: nil means absent (or gone, per the flag).
type planSides struct {
	ghl, base, rz   *syncmodel.Person
	ghlGone, rzGone bool
}

// readSides reads what the table shows. PlanContact does not return the records it read, so
// HighLevel is read once more (a read), and Referrizer is taken from the plan when it has it.
func (a *app) readSides(ctx context.Context, c *connector.Conn, link store.Link, cp activities.ContactPlan) (planSides, error) {
	var s planSides
	m := c.Mapping
	if id := cp.GHLID; id != "" {
		gc, err := c.GHL.GetContact(ctx, id)
		switch {
		case isNotFound(err):
			s.ghlGone = true
		case err != nil:
			return s, fmt.Errorf("read HighLevel contact %s: %w", id, err)
		default:
			s.ghl = new(m.Normalize(*activities.GHLPerson(m, &gc)))
		}
	}
	if id := cp.RZID; id != "" {
		var rc referrizer.Contact
		if len(cp.RZRaw) > 0 && json.Unmarshal(cp.RZRaw, &rc) == nil {
			s.rz = new(m.Normalize(*activities.RZPerson(m, &rc)))
		} else {
			rc, err := c.RZ.GetContact(ctx, id)
			switch {
			case isNotFound(err):
				s.rzGone = true
			case err != nil:
				return s, fmt.Errorf("read Referrizer contact %s: %w", id, err)
			default:
				s.rz = new(m.Normalize(*activities.RZPerson(m, &rc)))
			}
		}
	}
	st, err := a.store()
	if err != nil {
		return s, err
	}
	e, err := st.GetLedger(ctx, link.ConnectionID, link.ID, activities.ObjContact)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return s, fmt.Errorf("read the synced base: %w", err)
	default:
		var b syncmodel.Person
		if err := json.Unmarshal(e.Snapshot, &b); err != nil {
			return s, fmt.Errorf("decode the synced base: %w", err)
		}
		s.base = &b
	}
	return s, nil
}
