package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/hlrz/hlrz/internal/domain"
	"github.com/hlrz/hlrz/internal/ghl"
	"github.com/hlrz/hlrz/internal/schedules"
	"github.com/hlrz/hlrz/internal/store"
)

// statusOut is `status` as JSON.
type statusOut struct {
	Inbox         map[store.InboxState]int `json:"inbox"`
	OldestPending time.Time                `json:"oldestPending,omitzero"`
	// BudgetsUnavailable says why the worker's rate budgets could not be read.
	BudgetsUnavailable string       `json:"budgetsUnavailable,omitempty"`
	Connections        []connStatus `json:"connections"`
}

type connStatus struct {
	ID           string `json:"id"`
	Name         string `json:"name"`
	Status       string `json:"status"`
	StatusReason string `json:"statusReason,omitempty"`
	// Next is what an operator must do before the connection syncs (pending, reconnect
	// required); empty when nothing.
	Next            string            `json:"next,omitempty"`
	LocationID      string            `json:"locationId"`
	Schedules       []schedules.State `json:"schedules"`
	DeadLettersOpen int               `json:"deadLettersOpen"`
	// ErrorPeople counts running ContactSync workflows whose last pass failed.
	ErrorPeople  int64         `json:"errorPeople"`
	RecentErrors []personError `json:"recentErrors,omitempty"`
	// Budget is the worker's HighLevel rate budget for the location; nil when unavailable
	// or when the worker has not called HighLevel for it yet.
	Budget *ghl.BudgetStats `json:"budget,omitempty"`
}

type personError struct {
	WorkflowID string    `json:"workflowId"`
	LastPass   time.Time `json:"lastPass,omitzero"`
	LastError  string    `json:"lastError,omitempty"`
}

const recentErrors = 5

func (a *app) statusCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Per connection: schedules, dead letters, people in error, HighLevel rate budget; and the inbox",
		Long: `status shows, for --connection or every connection: its schedules (next run, paused), open dead
letters, people whose last sync pass failed (running ContactSync workflows with HlrzStatus =
"error") and the HighLevel rate budget used today, read from the worker's /status/budgets at
--worker-url ("unavailable" when the worker cannot be reached). The webhook inbox is shared by
all connections and shown once.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return a.status(cmd.Context()) },
	}
}

func (a *app) status(ctx context.Context) error {
	st, err := a.store()
	if err != nil {
		return err
	}
	var conns []store.Connection
	if a.connID != "" {
		c, err := a.connection()
		if err != nil {
			return err
		}
		conns = []store.Connection{c}
	} else if conns, err = st.ListConnections(ctx); err != nil {
		return fmt.Errorf("list connections: %w", err)
	}
	tc, ns, err := a.temporal()
	if err != nil {
		return err
	}
	out := statusOut{Connections: []connStatus{}}
	if out.Inbox, err = st.InboxCounts(ctx); err != nil {
		return fmt.Errorf("inbox counts: %w", err)
	}
	if out.OldestPending, err = st.OldestPending(ctx); err != nil {
		return fmt.Errorf("oldest pending inbox event: %w", err)
	}
	budgets, berr := a.budgets(ctx)
	if berr != nil {
		out.BudgetsUnavailable = berr.Error()
	}
	mgr := &schedules.Manager{Client: tc, TaskQueue: a.taskQueue()}
	for _, c := range conns {
		cs := connStatus{ID: c.ID, Name: c.Name, Status: string(c.Status), StatusReason: c.StatusReason, Next: nextStep(c), LocationID: c.GHLLocationID}
		if cs.Schedules, err = mgr.Describe(ctx, c.ID); err != nil {
			return err
		}
		dead, err := st.ListDeadLetters(ctx, c.ID, store.DeadOpen, 10000)
		if err != nil {
			return fmt.Errorf("dead letters of %s: %w", c.ID, err)
		}
		cs.DeadLettersOpen = len(dead)
		query := fmt.Sprintf("WorkflowType = '%s' AND %s = '%s' AND %s = '%s' AND ExecutionStatus = 'Running'",
			domain.ContactSyncName, domain.SAConnection.GetName(), c.ID, domain.SAStatus.GetName(), domain.StatusError)
		count, err := tc.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Namespace: ns, Query: query})
		if err != nil {
			return fmt.Errorf("count people in error of %s: %w", c.ID, err)
		}
		cs.ErrorPeople = count.GetCount()
		if cs.ErrorPeople > 0 {
			list, err := tc.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Namespace: ns, Query: query, PageSize: recentErrors})
			if err != nil {
				return fmt.Errorf("list people in error of %s: %w", c.ID, err)
			}
			for _, ex := range list.Executions {
				cs.RecentErrors = append(cs.RecentErrors, a.personError(ctx, ex.GetExecution().GetWorkflowId()))
			}
		}
		if b, ok := budgets[c.GHLLocationID]; ok {
			cs.Budget = &b
		}
		out.Connections = append(out.Connections, cs)
	}
	if a.json() {
		a.printJSON(out)
		return nil
	}
	a.writeStatus(out, berr)
	return nil
}

// personError reads a person's last error through the state query; a person whose worker
// is busy still shows, without the detail.
func (a *app) personError(ctx context.Context, workflowID string) personError {
	pe := personError{WorkflowID: workflowID}
	qctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	v, err := a.tc.QueryWorkflow(qctx, workflowID, "", domain.QueryState)
	var s domain.ContactState
	if err == nil && v.Get(&s) == nil {
		pe.LastPass, pe.LastError = s.LastPass, s.LastError
	}
	return pe
}

// budgets reads the worker's HighLevel rate budgets by location.
func (a *app) budgets(ctx context.Context) (map[string]ghl.BudgetStats, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	u := strings.TrimRight(a.workerURL, "/") + "/status/budgets"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("--worker-url: %w", err)
	}
	resp, err := a.opts.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("worker at %s: %w", a.workerURL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("worker at %s: GET /status/budgets: HTTP %d", a.workerURL, resp.StatusCode)
	}
	var out map[string]ghl.BudgetStats
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&out); err != nil {
		return nil, fmt.Errorf("worker at %s: decode budgets: %w", a.workerURL, err)
	}
	return out, nil
}

func (a *app) writeStatus(out statusOut, budgetErr error) {
	now := time.Now()
	for _, c := range out.Connections {
		status := c.Status
		if c.StatusReason != "" {
			status += " (" + c.StatusReason + ")"
		}
		a.printf("connection %s (%s): %s, HighLevel location %s\n", c.ID, c.Name, status, c.LocationID)
		if c.Status == string(store.ConnPending) {
			a.printf("  not syncing yet: no links, workflows or dead letters until its Referrizer token is added\n")
		}
		if c.Next != "" {
			a.printf("  next: %s\n", c.Next)
		}
		tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
		for _, s := range c.Schedules {
			var state string
			switch {
			case s.Missing:
				state = "not installed (starter schedules install)"
			case s.Paused:
				state = "paused"
				if s.Note != "" {
					state += ": " + s.Note
				}
			case !s.NextRun.IsZero():
				state = fmt.Sprintf("next run %s (in %s)", s.NextRun.Local().Format(time.TimeOnly), s.NextRun.Sub(now).Round(time.Second))
			default:
				state = "no run scheduled"
			}
			fmt.Fprintf(tw, "  schedule %s\t%s\n", s.Kind, state)
		}
		fmt.Fprintf(tw, "  dead letters open\t%d\n", c.DeadLettersOpen)
		fmt.Fprintf(tw, "  people in error\t%d\n", c.ErrorPeople)
		for _, e := range c.RecentErrors {
			fmt.Fprintf(tw, "    %s\t%s\n", e.WorkflowID, orDash(e.LastError))
		}
		switch {
		case budgetErr != nil:
			fmt.Fprintf(tw, "  HighLevel budget today\tunavailable (%s)\n", oneLine(budgetErr))
		case c.Budget == nil:
			fmt.Fprintf(tw, "  HighLevel budget today\tno HighLevel calls by this worker yet\n")
		default:
			b := c.Budget
			fmt.Fprintf(tw, "  HighLevel budget today\t%d requests used; burst %d per %s, %d rate-limited, %d in flight\n",
				b.DailyUsed, b.Max, b.Interval, b.RateLimited, b.InFlight)
		}
		_ = tw.Flush()
	}
	if len(out.Connections) == 0 {
		a.printf("no connections; create one with `starter connect`\n")
	}
	states := make([]string, 0, len(out.Inbox))
	for s, n := range out.Inbox {
		states = append(states, fmt.Sprintf("%s %d", s, n))
	}
	slices.Sort(states)
	line := "inbox (all connections): " + orDash(strings.Join(states, ", "))
	if !out.OldestPending.IsZero() {
		line += fmt.Sprintf("; oldest pending %s ago", now.Sub(out.OldestPending).Round(time.Second))
	}
	a.printf("%s\n", line)
}
