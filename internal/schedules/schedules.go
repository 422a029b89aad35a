// Package schedules manages each connection's Temporal Schedules: the Referrizer poll
// (Referrizer has no webhooks) and the reconcile run (HighLevel sends no TaskUpdate).
package schedules

import (
	"context"
	"errors"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/hlrz/hlrz/internal/domain"
	"github.com/hlrz/hlrz/internal/store"
)

// Kinds of schedule a connection has.
const (
	Poll      = "poll"
	Reconcile = "reconcile"
)

// Manager installs and drives schedules.
type Manager struct {
	Client    client.Client
	TaskQueue string
}

// IDs returns a connection's schedule ids by kind.
func IDs(connectionID string) map[string]string {
	return map[string]string{Poll: domain.PollScheduleID(connectionID), Reconcile: domain.ReconcileScheduleID(connectionID)}
}

func intervals(c store.Connection) (poll, reconcile time.Duration) {
	poll, reconcile = domain.DefaultPollInterval, domain.DefaultReconcileInterval
	if c.Settings.PollEveryMinutes > 0 {
		poll = time.Duration(c.Settings.PollEveryMinutes) * time.Minute
	}
	if c.Settings.ReconcileMinutes > 0 {
		reconcile = time.Duration(c.Settings.ReconcileMinutes) * time.Minute
	}
	return poll, reconcile
}

// Install creates the connection's schedules, or updates their interval if they exist.
// Overlap policy is skip: a poll still running when the next is due is not doubled.
func (m *Manager) Install(ctx context.Context, c store.Connection, pollEvery, reconcileEvery time.Duration) error {
	p, r := intervals(c)
	if pollEvery > 0 {
		p = pollEvery
	}
	if reconcileEvery > 0 {
		r = reconcileEvery
	}
	share := domain.DefaultReconcileShare
	if c.Settings.ReconcileBudgetPc > 0 {
		share = float64(c.Settings.ReconcileBudgetPc) / 100
	}
	specs := []struct {
		id, wf string
		every  time.Duration
		arg    any
		memo   string
	}{
		{domain.PollScheduleID(c.ID), domain.ReferrizerPollName, p, domain.PollInput{ConnectionID: c.ID, PageSize: 100}, "Pages Referrizer contacts and signals changed people"},
		{domain.ReconcileScheduleID(c.ID), domain.ReconcileName, r, domain.ReconcileInput{ConnectionID: c.ID, BudgetShare: share, Every: r}, "Repairs what HighLevel's webhooks missed: changed contacts, open tasks, notes, deletes"},
	}
	for _, s := range specs {
		opts := client.ScheduleOptions{
			ID:      s.id,
			Spec:    client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: s.every}}},
			Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_SKIP,
			Action: &client.ScheduleWorkflowAction{
				ID: s.id, Workflow: s.wf, Args: []any{s.arg}, TaskQueue: m.TaskQueue,
				TypedSearchAttributes: temporal.NewSearchAttributes(domain.SAConnection.ValueSet(c.ID)),
				StaticSummary:         s.memo + " for connection " + c.ID,
			},
			Note: s.memo,
		}
		_, err := m.Client.ScheduleClient().Create(ctx, opts)
		if errors.Is(err, temporal.ErrScheduleAlreadyRunning) {
			every, action := s.every, opts.Action
			err = m.Client.ScheduleClient().GetHandle(ctx, s.id).Update(ctx, client.ScheduleUpdateOptions{
				DoUpdate: func(in client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
					in.Description.Schedule.Spec = &client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: every}}}
					in.Description.Schedule.Action = action // its input carries the interval and budget share
					return &client.ScheduleUpdate{Schedule: &in.Description.Schedule}, nil
				},
			})
		}
		if err != nil {
			return fmt.Errorf("install schedule %s: %w", s.id, err)
		}
	}
	return nil
}

// Pause pauses every schedule of a connection; a missing schedule is not an error.
func (m *Manager) Pause(ctx context.Context, connectionID, note string) error {
	return m.each(ctx, connectionID, func(h client.ScheduleHandle) error {
		return h.Pause(ctx, client.SchedulePauseOptions{Note: note})
	})
}

// Resume resumes every schedule of a connection.
func (m *Manager) Resume(ctx context.Context, connectionID, note string) error {
	return m.each(ctx, connectionID, func(h client.ScheduleHandle) error {
		return h.Unpause(ctx, client.ScheduleUnpauseOptions{Note: note})
	})
}

// Trigger runs one schedule now.
func (m *Manager) Trigger(ctx context.Context, connectionID, kind string) error {
	id, ok := IDs(connectionID)[kind]
	if !ok {
		return fmt.Errorf("unknown schedule kind %q (want %s or %s)", kind, Poll, Reconcile)
	}
	if err := m.Client.ScheduleClient().GetHandle(ctx, id).Trigger(ctx, client.ScheduleTriggerOptions{Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_SKIP}); err != nil {
		return fmt.Errorf("trigger %s: %w", id, err)
	}
	return nil
}

// State is a schedule as `starter status` shows it.
type State struct {
	ID      string    `json:"id"`
	Kind    string    `json:"kind"`
	Paused  bool      `json:"paused"`
	Note    string    `json:"note,omitempty"`
	NextRun time.Time `json:"nextRun,omitzero"`
	Missing bool      `json:"missing,omitempty"`
}

// Describe returns the state of a connection's schedules, poll first.
func (m *Manager) Describe(ctx context.Context, connectionID string) ([]State, error) {
	var out []State
	for _, kind := range []string{Poll, Reconcile} {
		id := IDs(connectionID)[kind]
		d, err := m.Client.ScheduleClient().GetHandle(ctx, id).Describe(ctx)
		var nf *serviceerror.NotFound
		if errors.As(err, &nf) {
			out = append(out, State{ID: id, Kind: kind, Missing: true})
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("describe %s: %w", id, err)
		}
		s := State{ID: id, Kind: kind, Paused: d.Schedule.State.Paused, Note: d.Schedule.State.Note}
		if len(d.Info.NextActionTimes) > 0 {
			s.NextRun = d.Info.NextActionTimes[0]
		}
		out = append(out, s)
	}
	return out, nil
}

func (m *Manager) each(ctx context.Context, connectionID string, fn func(client.ScheduleHandle) error) error {
	for _, kind := range []string{Poll, Reconcile} {
		id := IDs(connectionID)[kind]
		err := fn(m.Client.ScheduleClient().GetHandle(ctx, id))
		var nf *serviceerror.NotFound
		if errors.As(err, &nf) {
			continue
		}
		if err != nil {
			return fmt.Errorf("schedule %s: %w", id, err)
		}
	}
	return nil
}

// PauseSchedules is Pause under the name the webhook bridge asks for (AppUninstall).
func (m *Manager) PauseSchedules(ctx context.Context, connectionID, note string) error {
	return m.Pause(ctx, connectionID, note)
}

// ResumeSchedules is Resume under the name the webhook bridge asks for (re-install).
func (m *Manager) ResumeSchedules(ctx context.Context, connectionID, note string) error {
	return m.Resume(ctx, connectionID, note)
}
