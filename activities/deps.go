// Package activities wraps the two APIs and the store for the workflows. Each activity is
// idempotent (a retry after a crash writes nothing twice) and classifies its errors for
// Temporal: non-retryable types for what retrying cannot fix, NextRetryDelay for 429s.
package activities

import (
	"log/slog"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/hlrz/hlrz/internal/connector"
	"github.com/hlrz/hlrz/internal/metrics"
	"github.com/hlrz/hlrz/internal/store"
)

// Deps are what every activity needs; the activity structs embed a pointer to one.
type Deps struct {
	Store  store.Store
	Conns  *connector.Registry
	Signal Signaler
	// Temporal and TaskQueue let activities pause schedules (AppUninstall).
	Temporal  client.Client
	TaskQueue string
	Metrics   *metrics.Metrics // optional
	Log       *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// RZFreshness bounds how old the Referrizer contact read while planning may be for apply
	// to PUT it back without reading it again (Referrizer has no conditional update, so a
	// short bound keeps the lost-update window short). Default 5 s.
	RZFreshness time.Duration
	// ObservationTTL bounds how old a bulk-read record (backfill or poll page) may be for a
	// pass started by that read to use it instead of fetching the person. Default 30 min: a
	// backfill reads every page before its passes start, and at ~10 people/s a 10,000-person
	// backfill's last pass comes 15 min after its page; with 10 min a third of the people
	// were read again (0.53 extra HighLevel reads per person). The age bound is a backstop
	// only: a webhook, an operator or a record older than the person's base always forces a
	// fresh read.
	ObservationTTL time.Duration
	// PollSignalConcurrency bounds concurrent signals from one poll. Default 8.
	PollSignalConcurrency int
}

func (d *Deps) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

func (d *Deps) rzFreshness() time.Duration {
	if d.RZFreshness > 0 {
		return d.RZFreshness
	}
	return 5 * time.Second
}

func (d *Deps) observationTTL() time.Duration {
	if d.ObservationTTL > 0 {
		return d.ObservationTTL
	}
	return 30 * time.Minute
}

func (d *Deps) log() *slog.Logger {
	if d.Log != nil {
		return d.Log
	}
	return slog.Default()
}

// Contacts plans and applies the field sync of a person.
type Contacts struct{ *Deps }

// Objects plans and applies tags, notes and tasks (the children's activities).
type Objects struct{ *Deps }

// Backfill pages a connection's contacts, links them and starts their first passes.
type Backfill struct{ *Deps }

// Poller detects Referrizer changes, since Referrizer has no webhooks.
type Poller struct{ *Deps }

// Reconciler catches what HighLevel's webhooks do not report.
type Reconciler struct{ *Deps }

// Register registers every activity struct on a worker.
func Register(r worker.ActivityRegistry, d *Deps) {
	r.RegisterActivity(&Contacts{d})
	r.RegisterActivity(&Objects{d})
	r.RegisterActivity(&Backfill{d})
	r.RegisterActivity(&Poller{d})
	r.RegisterActivity(&Reconciler{d})
	r.RegisterActivity(&Ops{Store: d.Store})
}
