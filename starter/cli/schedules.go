package cli

import (
	"context"
	"errors"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/api/serviceerror"

	"github.com/hlrz/hlrz/internal/domain"
	"github.com/hlrz/hlrz/internal/schedules"
	"github.com/hlrz/hlrz/internal/store"
)

func (a *app) schedulesCmd() *cobra.Command {
	var pollEvery, reconcileEvery time.Duration
	install := &cobra.Command{
		Use:   "install",
		Short: "Create the connection's poll and reconcile schedules, or update their intervals",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withSchedules(cmd.Context(), "installed", func(ctx context.Context, m *schedules.Manager, c store.Connection) error {
				if err := refusePending(c); err != nil {
					return err
				}
				return m.Install(ctx, c, pollEvery, reconcileEvery)
			})
		},
	}
	install.Flags().DurationVar(&pollEvery, "poll-every", 0, "Referrizer poll interval (default: the connection's setting, else "+domain.DefaultPollInterval.String()+")")
	install.Flags().DurationVar(&reconcileEvery, "reconcile-every", 0, "reconcile interval (default: the connection's setting, else "+domain.DefaultReconcileInterval.String()+")")

	var note string
	pause := &cobra.Command{
		Use:   "pause",
		Short: "Pause the connection's schedules (webhooks still sync; polling and reconcile stop)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withSchedules(cmd.Context(), "paused", func(ctx context.Context, m *schedules.Manager, c store.Connection) error {
				return m.Pause(ctx, c.ID, note)
			})
		},
	}
	resume := &cobra.Command{
		Use:   "resume",
		Short: "Resume the connection's schedules",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withSchedules(cmd.Context(), "resumed", func(ctx context.Context, m *schedules.Manager, c store.Connection) error {
				if err := refusePending(c); err != nil {
					return err
				}
				return m.Resume(ctx, c.ID, note)
			})
		},
	}
	for _, c := range []*cobra.Command{pause, resume} {
		c.Flags().StringVar(&note, "note", "by starter", "note recorded on the schedule")
	}
	trigger := &cobra.Command{
		Use:   "trigger <poll|reconcile>",
		Short: "Run one schedule now (skipped if that run is still going)",
		Args:  exactArgs("<poll|reconcile>"),
		RunE: func(cmd *cobra.Command, args []string) error {
			kind := args[0]
			if kind != schedules.Poll && kind != schedules.Reconcile {
				return usageErr("schedule kind %q: want %s or %s", kind, schedules.Poll, schedules.Reconcile)
			}
			return a.withSchedules(cmd.Context(), "triggered "+kind, func(ctx context.Context, m *schedules.Manager, c store.Connection) error {
				if err := refusePending(c); err != nil {
					return err
				}
				return m.Trigger(ctx, c.ID, kind)
			})
		},
	}
	return group("schedules", "Install, pause, resume or trigger a connection's poll and reconcile schedules", install, pause, resume, trigger)
}

// withSchedules runs one schedule operation on --connection and prints the schedules after it.
func (a *app) withSchedules(ctx context.Context, did string, op func(context.Context, *schedules.Manager, store.Connection) error) error {
	c, err := a.connection()
	if err != nil {
		return err
	}
	tc, _, err := a.temporal()
	if err != nil {
		return err
	}
	m := &schedules.Manager{Client: tc, TaskQueue: a.taskQueue()}
	if err := op(ctx, m, c); err != nil {
		if isNotFoundErr(err) {
			return notFoundErr("%v (install them with `starter schedules install`)", err)
		}
		return err
	}
	states, err := m.Describe(ctx, c.ID)
	if err != nil {
		return err
	}
	if a.json() {
		a.printJSON(struct {
			Connection string            `json:"connection"`
			Done       string            `json:"done"`
			Schedules  []schedules.State `json:"schedules"`
		}{c.ID, did, states})
		return nil
	}
	a.printf("schedules of %s %s\n", c.ID, did)
	for _, s := range states {
		switch {
		case s.Missing:
			a.printf("  %s (%s): not installed\n", s.Kind, s.ID)
		case s.Paused:
			a.printf("  %s (%s): paused (%s)\n", s.Kind, s.ID, s.Note)
		default:
			a.printf("  %s (%s): active, next run %s\n", s.Kind, s.ID, s.NextRun.Local().Format(time.DateTime))
		}
	}
	return nil
}

// isNotFoundErr recognises Temporal's not-found (a trigger of a schedule never installed).
func isNotFoundErr(err error) bool {
	var nf *serviceerror.NotFound
	return errors.As(err, &nf)
}
