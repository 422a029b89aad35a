// Package activities wraps the two APIs and the store for the workflows. Each activity is
// idempotent (a retry after a crash writes nothing twice) and classifies its errors for
// Temporal: non-retryable types for what retrying cannot fix, NextRetryDelay for 429s.
package activities

import (
	"log/slog"
	"time"

	"go.temporal.io/sdk/worker"

	"github.com/hlrz/hlrz/internal/connector"
	"github.com/hlrz/hlrz/internal/domain"
	"github.com/hlrz/hlrz/internal/metrics"
	"github.com/hlrz/hlrz/internal/store"
)

// Core is what every activity struct that talks to the APIs reads: the store, the
// connections' clients, the metrics, the log and the clock. Each struct adds what only it needs.
type Core struct {
	Store   store.Store
	Conns   *connector.Registry
	Metrics *metrics.Metrics // optional
	Log     *slog.Logger     // nil means slog.Default()
	Now     func() time.Time // nil means time.Now
}

func (d *Core) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

func (d *Core) log() *slog.Logger {
	if d.Log != nil {
		return d.Log
	}
	return slog.Default()
}

// Contacts plans and applies the field sync of a person.
type Contacts struct {
	Core
	// RZFreshness bounds how old the Referrizer contact read while planning may be for apply
	// to PUT it back without reading it again (Referrizer has no conditional update, so a
	// short bound keeps the lost-update window short). Default 5 s.
	RZFreshness time.Duration
	// GHLFreshness is how old the HighLevel read behind a plan may be for apply to update
	// fields there without reading again (HighLevel has no conditional update). Default 1 s.
	GHLFreshness time.Duration
	// ObservationTTL bounds how old a bulk-read record may be for a pass to use it; see
	// observationTTL.
	ObservationTTL time.Duration
}

func (a *Contacts) rzFreshness() time.Duration {
	if a.RZFreshness > 0 {
		return a.RZFreshness
	}
	return 5 * time.Second
}

func (a *Contacts) ghlFreshness() time.Duration {
	if a.GHLFreshness > 0 {
		return a.GHLFreshness
	}
	return time.Second
}

// Objects plans and applies tags, notes and tasks (the children's activities).
type Objects struct {
	Core
	ObservationTTL time.Duration // see Contacts.ObservationTTL
}

// Backfill pages a connection's contacts, links them and starts their first passes.
type Backfill struct {
	Core
	Signal domain.Signaler
}

// Poller detects Referrizer changes, since Referrizer has no webhooks.
type Poller struct {
	Core
	Signal domain.Signaler
	// SignalConcurrency bounds concurrent signals from one poll. Default 8.
	SignalConcurrency int
}

// Reconciler catches what HighLevel's webhooks do not report.
type Reconciler struct {
	Core
	Signal domain.Signaler
}

// observationTTL bounds how old a bulk-read record (backfill or poll page) may be for a
// pass started by that read to use it instead of fetching the person; ttl <= 0 means the
// default, 30 min: a backfill reads every page before its passes start, and at ~10
// people/s a 10,000-person backfill's last pass comes 15 min after its page; with 10 min a
// third of the people were read again (0.53 extra HighLevel reads per person). The age
// bound is a backstop only: a webhook, an operator or a record older than the person's
// base always forces a fresh read.
func observationTTL(ttl time.Duration) time.Duration {
	if ttl > 0 {
		return ttl
	}
	return 30 * time.Minute
}

// Register registers every activity struct on a worker, each given the part of core (and
// the signaler) it uses.
func Register(r worker.ActivityRegistry, core Core, signal domain.Signaler) {
	r.RegisterActivity(&Contacts{Core: core})
	r.RegisterActivity(&Objects{Core: core})
	r.RegisterActivity(&Backfill{Core: core, Signal: signal})
	r.RegisterActivity(&Poller{Core: core, Signal: signal})
	r.RegisterActivity(&Reconciler{Core: core, Signal: signal})
	r.RegisterActivity(&Ops{Store: core.Store})
}
