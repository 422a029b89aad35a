// Package dispatch delivers events to people's ContactSync workflows. The bridge, the
// poller, the backfill and the CLI all go through here, so every ContactSync is started
// the same way (ID, task queue, search attributes, summary).
package dispatch

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/hlrz/hlrz/internal/domain"
)

// Dispatcher signals ContactSync workflows, starting them when needed.
type Dispatcher struct {
	Client    client.Client
	TaskQueue string
	// Debounce overrides ContactSync's default coalescing window when non-zero.
	Debounce ContactDebounce
	// QuietAfter is how long a ContactSync stays open with nothing to do: 0 means the
	// workflow's default, negative never to complete.
	QuietAfter time.Duration
}

// ContactDebounce is a per-connection debounce lookup; nil means the workflow default.
type ContactDebounce func(connectionID string) int

// Signal delivers ev to the person's ContactSync, starting it if it is not running.
func (d *Dispatcher) Signal(ctx context.Context, ref domain.Ref, ev domain.Event) error {
	if ref.ConnectionID == "" || ref.LinkID == "" {
		return fmt.Errorf("dispatch: incomplete ref %+v", ref)
	}
	in := domain.ContactSyncInput{Ref: ref, QuietAfter: d.QuietAfter}
	if d.Debounce != nil {
		if ms := d.Debounce(ref.ConnectionID); ms > 0 {
			in.Debounce = msDuration(ms)
		}
	}
	id := domain.ContactWorkflowID(ref.ConnectionID, ref.LinkID)
	_, err := d.Client.SignalWithStartWorkflow(ctx, id, domain.SignalEvent, ev, client.StartWorkflowOptions{
		ID:        id,
		TaskQueue: d.TaskQueue,
		TypedSearchAttributes: temporal.NewSearchAttributes(
			domain.SAConnection.ValueSet(ref.ConnectionID),
		),
		StaticSummary: fmt.Sprintf("Sync of person %s in connection %s", ref.LinkID, ref.ConnectionID),
		StaticDetails: "One entity workflow per linked person: it coalesces events into sync passes " +
			"(plan → apply → record base). Query `state` for the link, last pass and last error.",
	}, domain.ContactSyncName, in)
	if err != nil {
		return fmt.Errorf("signal %s: %w", id, err)
	}
	return nil
}

func msDuration(ms int) time.Duration { return time.Duration(ms) * time.Millisecond }

// StartBackfill starts a connection's backfill; one already running is left alone.
func StartBackfill(ctx context.Context, c client.Client, taskQueue, connectionID string) (client.WorkflowRun, error) {
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: domain.BackfillWorkflowID(connectionID), TaskQueue: taskQueue,
		StaticSummary: "Backfill of connection " + connectionID,
		StaticDetails: "Links every person across HighLevel and Referrizer (email, then phone) and gives each a first sync pass. Query `progress`.",
	}, domain.BackfillName, domain.BackfillInput{ConnectionID: connectionID})
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &started) {
		return c.GetWorkflow(ctx, domain.BackfillWorkflowID(connectionID), ""), nil
	}
	if err != nil {
		return nil, fmt.Errorf("start backfill of %s: %w", connectionID, err)
	}
	return run, nil
}
