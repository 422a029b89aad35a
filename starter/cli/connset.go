package cli

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hlrz/hlrz/internal/domain"
	"github.com/hlrz/hlrz/internal/schedules"
	"github.com/hlrz/hlrz/internal/store"
	"github.com/hlrz/hlrz/internal/syncmodel"
	"github.com/hlrz/hlrz/workflows"
)

// Connection setting keys of `connections set`, and their bounds.
const (
	keyDebounce     = "debounce"
	keyPoll         = "poll-interval"
	keyReconcile    = "reconcile-interval"
	keyRegion       = "phone-region"
	keyDeletePolicy = "delete-policy"
	keyBudgetShare  = "budget-share"

	maxDebounce = 10 * time.Minute
	maxInterval = 24 * time.Hour
)

var settingKeys = []string{keyDebounce, keyPoll, keyReconcile, keyRegion, keyDeletePolicy, keyBudgetShare}

// settingsHelp lists the keys with their defaults, taken from the constants the code uses.
func settingsHelp() string {
	return fmt.Sprintf(`Keys (the value "default" clears a setting, so the built-in default applies):
  %-19s a Go duration, at most %s (default %s): how long a person's edits are gathered into one pass
  %-19s whole minutes, 1m to %s (default %s): the Referrizer poll schedule
  %-19s whole minutes, 1m to %s (default %s): the reconcile schedule
  %-19s ISO 3166 two-letter code (default: the mapping's phone_region): phones without a country code
  %-19s %s (default: the mapping's delete_policy)
  %-19s share of the HighLevel rate budget the reconcile may use, 0.01 to 1 or 1%% to 100%% (default %g)`,
		keyDebounce, maxDebounce, workflows.DefaultDebounce,
		keyPoll, maxInterval, domain.DefaultPollInterval,
		keyReconcile, maxInterval, domain.DefaultReconcileInterval,
		keyRegion,
		keyDeletePolicy, strings.Join(syncmodel.DeletePolicies(), ", "),
		keyBudgetShare, domain.DefaultReconcileShare)
}

func (a *app) connectionsSetCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "set <connection|location> key=value...",
		Short: "Change a connection's settings (debounce, intervals, phone region, delete policy, budget share)",
		Long: `set changes settings of the connection named by its id or its HighLevel location id. Every
value is checked before anything is saved. A changed poll or reconcile interval or budget share
updates the connection's installed schedules at once; a changed debounce applies to people
whose workflow starts (or continues as new) after it.

` + settingsHelp(),
		Example: `  starter connections set gym-1 debounce=2s poll-interval=10m
  starter connections set Ve9EPM428h8vShlRW1KT delete-policy=ignore budget-share=25%
  starter connections set gym-1 phone-region=default`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 2 {
				return usageErr("%s takes a connection or location and at least one key=value (got %d argument(s))", cmd.CommandPath(), len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.setSettings(cmd.Context(), args[0], args[1:])
		},
	}
}

// connectionArg finds a connection by id or by HighLevel location id.
func (a *app) connectionArg(ctx context.Context, q string) (store.Connection, error) {
	st, err := a.store()
	if err != nil {
		return store.Connection{}, err
	}
	c, err := st.GetConnection(ctx, q)
	if errors.Is(err, store.ErrNotFound) {
		c, err = st.ConnectionByLocation(ctx, q)
	}
	if errors.Is(err, store.ErrNotFound) {
		return c, notFoundErr("no connection with id or HighLevel location %q (see `starter connections list`)", q)
	}
	if err != nil {
		return c, fmt.Errorf("read connection %s: %w", q, err)
	}
	return c, nil
}

func (a *app) setSettings(ctx context.Context, q string, pairs []string) error {
	c, err := a.connectionArg(ctx, q)
	if err != nil {
		return err
	}
	next := c.Settings
	var changed []string
	for _, p := range pairs {
		key, val, ok := strings.Cut(p, "=")
		if !ok || key == "" {
			return usageErr("%q is not key=value", p)
		}
		if err := applySetting(&next, key, strings.TrimSpace(val)); err != nil {
			return err
		}
		changed = append(changed, key)
	}
	schedulesChanged := next.PollEveryMinutes != c.Settings.PollEveryMinutes ||
		next.ReconcileMinutes != c.Settings.ReconcileMinutes || next.ReconcileBudgetPc != c.Settings.ReconcileBudgetPc
	c.Settings = next
	st, err := a.store()
	if err != nil {
		return err
	}
	saved, err := st.PutConnection(ctx, c)
	if err != nil {
		return fmt.Errorf("save settings of %s: %w", c.ID, err)
	}
	sched := "unchanged"
	if schedulesChanged {
		if sched, err = a.updateSchedules(ctx, saved); err != nil {
			return err
		}
	}
	if a.json() {
		a.printJSON(struct {
			Connection string         `json:"connection"`
			Changed    []string       `json:"changed"`
			Settings   store.Settings `json:"settings"`
			Schedules  string         `json:"schedules"`
		}{saved.ID, changed, saved.Settings, sched})
		return nil
	}
	s := saved.Settings
	a.printf("connection %s: set %s\n", saved.ID, strings.Join(changed, ", "))
	a.printf("  phone region %s, delete policy %s, debounce %s, poll every %s, reconcile every %s, budget share %s\n",
		orDefault(s.DefaultRegion), orDefault(s.DeletePolicy), setting(s.DebounceMillis, "ms"),
		setting(s.PollEveryMinutes, "min"), setting(s.ReconcileMinutes, "min"), setting(s.ReconcileBudgetPc, "%"))
	a.printf("  schedules: %s\n", sched)
	return nil
}

// updateSchedules re-installs the connection's schedules with its new settings when they are
// installed; it says what it did.
func (a *app) updateSchedules(ctx context.Context, c store.Connection) (string, error) {
	tc, _, err := a.temporal()
	if err != nil {
		return "", err
	}
	m := &schedules.Manager{Client: tc, TaskQueue: a.taskQueue()}
	states, err := m.Describe(ctx, c.ID)
	if err != nil {
		return "", err
	}
	if !slices.ContainsFunc(states, func(s schedules.State) bool { return !s.Missing }) {
		return "not installed (`starter schedules install` uses the new settings)", nil
	}
	if err := m.Install(ctx, c, 0, 0); err != nil {
		return "", fmt.Errorf("settings saved, but updating the schedules failed (run `starter schedules install`): %w", err)
	}
	return "updated", nil
}

// applySetting validates one key=value and stores it in s.
func applySetting(s *store.Settings, key, val string) error {
	reset := val == "default"
	switch key {
	case keyDebounce:
		if reset {
			s.DebounceMillis = 0
			return nil
		}
		d, err := boundedDuration(key, val, time.Millisecond, maxDebounce)
		s.DebounceMillis = int(d / time.Millisecond)
		return err
	case keyPoll, keyReconcile:
		mins := 0
		if !reset {
			d, err := boundedDuration(key, val, time.Minute, maxInterval)
			if err != nil {
				return err
			}
			if d%time.Minute != 0 {
				return invalidErr("%s=%s: must be a whole number of minutes (e.g. 5m, 1h)", key, val)
			}
			mins = int(d / time.Minute)
		}
		if key == keyPoll {
			s.PollEveryMinutes = mins
		} else {
			s.ReconcileMinutes = mins
		}
	case keyRegion:
		if !reset && !syncmodel.ValidRegion(val) {
			return invalidErr("%s=%s: unknown region; want an ISO 3166 two-letter code such as US, GB or DE", key, val)
		}
		s.DefaultRegion = strings.ToUpper(val)
		if reset {
			s.DefaultRegion = ""
		}
	case keyDeletePolicy:
		if !reset && !slices.Contains(syncmodel.DeletePolicies(), val) {
			return invalidErr("%s=%s: unknown policy; want one of %s", key, val, strings.Join(syncmodel.DeletePolicies(), ", "))
		}
		s.DeletePolicy = val
		if reset {
			s.DeletePolicy = ""
		}
	case keyBudgetShare:
		pc, err := budgetPercent(val, reset)
		s.ReconcileBudgetPc = pc
		return err
	default:
		return usageErr("unknown setting %q; keys: %s", key, strings.Join(settingKeys, ", "))
	}
	return nil
}

func boundedDuration(key, val string, lo, hi time.Duration) (time.Duration, error) {
	d, err := time.ParseDuration(val)
	if err != nil {
		return 0, invalidErr("%s=%s: not a duration (e.g. 500ms, 5m, 1h)", key, val)
	}
	if d < lo || d > hi {
		return 0, invalidErr("%s=%s: out of range, want %s to %s", key, val, lo, hi)
	}
	return d, nil
}

// budgetPercent parses a share as a fraction (0.25) or a percentage (25%) into whole percent.
func budgetPercent(val string, reset bool) (int, error) {
	if reset {
		return 0, nil
	}
	num, pct := strings.CutSuffix(val, "%")
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || math.IsNaN(f) {
		return 0, invalidErr("%s=%s: not a number (e.g. 0.25 or 25%%)", keyBudgetShare, val)
	}
	if !pct {
		f *= 100
	}
	f = math.Round(f*1e6) / 1e6 // 0.29*100 is 28.999…
	if f < 1 || f > 100 {
		return 0, invalidErr("%s=%s: out of range, want 0.01 to 1 (1%% to 100%%)", keyBudgetShare, val)
	}
	if f != math.Trunc(f) {
		return 0, invalidErr("%s=%s: give a whole percentage (e.g. 0.25 or 25%%)", keyBudgetShare, val)
	}
	return int(f), nil
}
