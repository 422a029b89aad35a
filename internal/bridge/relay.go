package bridge

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hlrz/hlrz/internal/domain"
	"github.com/hlrz/hlrz/internal/ghl"
	"github.com/hlrz/hlrz/internal/store"
)

// settleTimeout bounds recording a row's outcome. It runs detached from the relay's context:
// a signal that went out must be recorded as such even while the relay shuts down, or the
// next relay would send it again.
const settleTimeout = 10 * time.Second

// maxRelayPause caps the relay's wait after it failed to reach the store.
const maxRelayPause = 5 * time.Second

// RunRelay moves inbox events to Temporal until ctx is done, then returns nil. It polls every
// PollInterval when idle, at once when a batch was full, and backs off while the store is
// unreachable. Rows it holds when stopped are handed back for the next relay.
func (b *Bridge) RunRelay(ctx context.Context) error {
	b.log.Info("relay started", "relay", b.cfg.RelayID, "batch", b.cfg.BatchSize, "concurrency", b.cfg.Concurrency)
	defer b.log.Info("relay stopped", "relay", b.cfg.RelayID)
	failures := 0
	// Go ≥ 1.23 timers drop stale ticks on Stop and Reset, so no draining is needed.
	timer := time.NewTimer(b.cfg.PollInterval)
	defer timer.Stop()
	for {
		if ctx.Err() != nil {
			return nil
		}
		n, err := b.RelayOnce(ctx)
		var wait time.Duration
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			failures++
			wait = min(b.cfg.PollInterval<<min(failures, 10), maxRelayPause)
			b.log.Warn("relay: store unavailable", "relay", b.cfg.RelayID, "error", err, "retryIn", wait)
		case n >= b.cfg.BatchSize:
			failures = 0
			continue // more is probably waiting
		default:
			failures = 0
			wait = b.cfg.PollInterval
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		case <-b.wake:
			timer.Stop()
		}
	}
}

// RelayOnce claims one batch of due inbox rows and settles each: signalled, echo, ignored,
// orphaned or failed, or back to pending with a backoff. It returns how many rows it claimed;
// the error is only for a failed claim. When ctx ends mid-batch, rows not yet handled are
// released at once so a restarted relay picks them up without waiting for the lease.
func (b *Bridge) RelayOnce(ctx context.Context) (int, error) {
	b.maybeUpdateGauges(ctx)
	rows, err := b.store.ClaimInbox(ctx, b.cfg.RelayID, b.cfg.BatchSize, b.cfg.Lease)
	if err != nil {
		return 0, fmt.Errorf("relay: claim inbox: %w", err)
	}
	if len(rows) == 0 {
		return 0, nil
	}
	stopRenew := b.renewLeases(ctx, rows)
	defer stopRenew()
	// Once one signal fails, Temporal is probably down: the rest of the batch is put back
	// with a backoff instead of each waiting out its own signal timeout.
	var tripped atomic.Bool
	next := make(chan store.InboxEvent)
	var wg sync.WaitGroup
	for range min(b.cfg.Concurrency, len(rows)) {
		wg.Go(func() {
			for ev := range next {
				b.settle(ctx, ev, b.handle(ctx, ev, &tripped))
			}
		})
	}
	fed := 0
feed:
	for _, ev := range rows {
		if ctx.Err() != nil {
			break
		}
		select {
		case next <- ev:
			fed++
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	for _, ev := range rows[fed:] {
		b.settle(ctx, ev, outcome{release: true})
	}
	return len(rows), nil
}

// renewLeases keeps the batch's rows leased to this relay until the returned stop is
// called; rows already settled are no longer held and are left alone by the store.
func (b *Bridge) renewLeases(ctx context.Context, rows []store.InboxEvent) (stop func()) {
	ids := make([]int64, len(rows))
	for i, r := range rows {
		ids[i] = r.ID
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(max(b.cfg.Lease/3, 10*time.Millisecond))
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				if _, err := b.store.ExtendInbox(ctx, b.cfg.RelayID, ids, b.cfg.Lease); err != nil {
					b.log.Warn("relay: renew leases", "rows", len(ids), "error", err)
				}
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}

// outcome is what became of one inbox row.
type outcome struct {
	final   store.InboxState // set when the row is done
	note    string
	err     error // retry with backoff
	release bool  // hand back now, untouched (the relay is stopping)
}

func done(state store.InboxState, note string) outcome { return outcome{final: state, note: note} }

func retry(err error) outcome { return outcome{err: err} }

// handle works out one row's outcome. Failures that may pass (store, Temporal, HighLevel
// API) are retried; only events that can never be signalled are finished without a signal.
func (b *Bridge) handle(ctx context.Context, ev store.InboxEvent, tripped *atomic.Bool) outcome {
	if ctx.Err() != nil {
		return outcome{release: true}
	}
	env, err := ghl.DecodeWebhook(ev.Body)
	if err != nil {
		return done(store.InboxFailed, "body no longer decodes: "+err.Error())
	}
	switch env.Type {
	case ghl.EventAppInstall:
		return b.install(ctx, env)
	case ghl.EventAppUninstall:
		return b.uninstall(ctx, env)
	}
	kind, ok := KindOf(env.Type)
	if !ok {
		return done(store.InboxIgnored, "unknown event type")
	}
	conn, out, ok := b.syncingConnection(ctx, env)
	if !ok {
		return out
	}
	contactID, out, ok := b.contactOf(ctx, conn, env, kind)
	if !ok {
		return out
	}
	link, created, out, ok := b.linkContact(ctx, conn, contactID, kind)
	if !ok {
		return out
	}

	// A new link has no ledger yet, so it cannot be our echo.
	if b.cfg.Echo != nil && !created {
		echo, err := b.cfg.Echo.IsEcho(ctx, conn, link, env)
		switch {
		case err != nil:
			// Fail open: a needless signal costs one sync pass, a dropped one loses a change.
			b.log.Warn("relay: echo check failed; signalling", "inboxId", ev.ID, "webhookId", env.WebhookID, "connection", conn.ID, "link", link.ID, "error", err)
		case echo:
			b.metrics.Echoes.WithLabelValues(domain.SourceGHL).Inc()
			return done(store.InboxEcho, "")
		}
	}
	b.observe(ctx, ev, env, conn, link)
	return b.signal(ctx, ev, env, kind, conn, link, tripped)
}

// observe records a contact event's body for the pass it triggers (Config.Observe). A
// failure costs only that pass a read of the contact, so it is logged, not retried.
func (b *Bridge) observe(ctx context.Context, ev store.InboxEvent, env ghl.Envelope, conn store.Connection, link store.Link) {
	if b.cfg.Observe == nil {
		return
	}
	if err := b.cfg.Observe.ObserveContact(ctx, conn, env, ev.Body, ev.ReceivedAt); err != nil {
		b.log.Warn("relay: webhook body not recorded; the pass reads the contact", "inboxId", ev.ID, "webhookId", env.WebhookID, "connection", conn.ID, "link", link.ID, "error", err)
	}
}

// syncingConnection finds the connection of the event's location; ok is false (with the
// outcome to settle) when there is none or it does not sync now.
func (b *Bridge) syncingConnection(ctx context.Context, env ghl.Envelope) (conn store.Connection, _ outcome, ok bool) {
	conn, err := b.store.ConnectionByLocation(ctx, env.LocationID)
	if errors.Is(err, store.ErrNotFound) {
		return conn, done(store.InboxOrphaned, "no connection for location"), false
	}
	if err != nil {
		return conn, retry(fmt.Errorf("look up connection of location %s: %w", env.LocationID, err)), false
	}
	switch conn.Status {
	case store.ConnPaused:
		return conn, done(store.InboxIgnored, "connection "+conn.ID+" is paused"), false
	case store.ConnPending:
		// Nothing syncs before the Referrizer credential exists; the backfill that follows
		// `starter connect` reads every contact, so nothing is lost by not linking now.
		return conn, done(store.InboxIgnored, "connection "+conn.ID+" is pending (no Referrizer credential yet)"), false
	}
	return conn, outcome{}, true
}

// contactOf returns the HighLevel contact the event is about; a task event may name only
// the task, whose contact is then looked up.
func (b *Bridge) contactOf(ctx context.Context, conn store.Connection, env ghl.Envelope, kind string) (string, outcome, bool) {
	contactID := env.ContactID
	if contactID == "" && kind == domain.KindTasks && env.ObjectID != "" {
		title := ""
		if te, ok := env.Payload.(*ghl.TaskEvent); ok && te != nil {
			title = te.Title
		}
		out, id := b.resolveTask(ctx, conn, env.ObjectID, title)
		if id == "" {
			return "", out, false
		}
		contactID = id
	}
	if contactID == "" {
		return "", done(store.InboxIgnored, "event names no contact"), false
	}
	return contactID, outcome{}, true
}

// linkContact finds (or, except for a deletion, creates) the person's link.
func (b *Bridge) linkContact(ctx context.Context, conn store.Connection, contactID, kind string) (link store.Link, created bool, _ outcome, ok bool) {
	var err error
	if kind == domain.KindContactDeleted {
		// A person we never linked was never synced: there is nothing to delete elsewhere,
		// and creating a link for a deleted contact would only start a pointless workflow.
		link, err = b.store.LinkBy(ctx, conn.ID, store.SideGHL, contactID)
		if errors.Is(err, store.ErrNotFound) {
			return link, false, done(store.InboxIgnored, "deleted contact was never linked"), false
		}
	} else {
		link, created, err = b.store.EnsureLink(ctx, conn.ID, store.SideGHL, contactID)
	}
	if err != nil {
		return link, created, retry(fmt.Errorf("link contact of connection %s: %w", conn.ID, err)), false
	}
	return link, created, outcome{}, true
}

// signal sends the event to the person's workflow; after one failed signal the rest of the
// batch is retried unsent.
func (b *Bridge) signal(ctx context.Context, ev store.InboxEvent, env ghl.Envelope, kind string, conn store.Connection, link store.Link, tripped *atomic.Bool) outcome {
	if tripped.Load() {
		return retry(errors.New("not signalled: an earlier signal of the batch failed"))
	}
	occurred := env.Timestamp
	if occurred.IsZero() {
		occurred = ev.ReceivedAt
	}
	event := domain.Event{Source: domain.SourceGHL, ID: env.WebhookID, Kind: kind, OccurredAt: occurred.UTC()}
	if kind == domain.KindNotes || kind == domain.KindTasks || kind == domain.KindAppointment {
		event.ObjectID = env.ObjectID
	}
	ref := domain.Ref{ConnectionID: conn.ID, LinkID: link.ID}
	sctx, cancel := context.WithTimeout(ctx, b.cfg.SignalTimeout)
	err := b.sig.Signal(sctx, ref, event)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return outcome{release: true}
		}
		tripped.Store(true)
		return retry(fmt.Errorf("signal %s/%s: %w", conn.ID, link.ID, err))
	}
	b.metrics.Signals.Inc()
	b.log.Debug("relay: signalled", "inboxId", ev.ID, "webhookId", env.WebhookID, "connection", conn.ID, "link", link.ID, "kind", kind)
	return done(store.InboxSignalled, "")
}

// resolveTask finds the contact of a task event that came without one. It returns the
// contact id, or "" with the row's outcome.
func (b *Bridge) resolveTask(ctx context.Context, conn store.Connection, taskID, title string) (outcome, string) {
	if b.cfg.Tasks == nil {
		return done(store.InboxFailed, "task event without contactId and no task resolver configured"), ""
	}
	id, err := b.cfg.Tasks.ResolveTaskContact(ctx, conn, taskID, title)
	switch {
	case errors.Is(err, ghl.ErrNotFound) || errors.Is(err, store.ErrNotFound):
		return done(store.InboxIgnored, "task without contactId no longer exists"), ""
	case err != nil:
		return retry(fmt.Errorf("resolve contact of task %s: %w", taskID, err)), ""
	case id == "":
		return done(store.InboxIgnored, "task has no contact"), ""
	}
	return outcome{}, id
}

// settle records an outcome. It runs detached from ctx (see settleTimeout); if it fails the
// row's lease runs out and another claim handles it again, at worst signalling twice, which
// ContactSync dedupes by event id.
func (b *Bridge) settle(ctx context.Context, ev store.InboxEvent, out outcome) {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), settleTimeout)
	defer cancel()
	var err error
	switch {
	case out.final != "":
		err = b.store.FinishInbox(sctx, ev.ID, out.final, clip(out.note, 500))
		if out.final == store.InboxFailed || out.final == store.InboxOrphaned {
			b.log.Warn("relay: event not signalled", "inboxId", ev.ID, "webhookId", ev.DedupeKey, "locationId", ev.LocationID, "state", string(out.final), "note", out.note)
		} else if out.final != store.InboxSignalled {
			b.log.Debug("relay: event not signalled", "inboxId", ev.ID, "webhookId", ev.DedupeKey, "state", string(out.final), "note", out.note)
		}
	case out.release:
		err = b.store.RetryInbox(sctx, ev.ID, time.Now(), ev.LastError)
	default:
		delay := b.backoff(ev.Attempts)
		err = b.store.RetryInbox(sctx, ev.ID, time.Now().Add(delay), clip(out.err.Error(), 1000))
		// While Temporal is down every pending row fails each round: warn on attempts 1, 2, 4,
		// 8, … so the log shows the outage without a line per row per minute.
		level := b.log.Debug
		if ev.Attempts&(ev.Attempts-1) == 0 {
			level = b.log.Warn
		}
		level("relay: will retry", "inboxId", ev.ID, "webhookId", ev.DedupeKey, "attempts", ev.Attempts, "retryIn", delay.Round(time.Millisecond), "error", out.err)
	}
	if err != nil {
		b.log.Error("relay: record outcome; the row is retried when its lease ends", "inboxId", ev.ID, "error", err)
	}
}

// backoff is RetryBase·2^(attempts-1) with ±20 % jitter (so replicas retrying a burst do not
// stay in step), capped at RetryMax.
func (b *Bridge) backoff(attempts int) time.Duration {
	d := b.cfg.RetryBase
	for i := 1; i < attempts && d < b.cfg.RetryMax; i++ {
		d *= 2
	}
	d = min(d, b.cfg.RetryMax)
	jitter := 0.8 + 0.4*rand.Float64()
	return min(time.Duration(float64(d)*jitter), b.cfg.RetryMax)
}

// maybeUpdateGauges refreshes the inbox depth and lag gauges at most every GaugeEvery: the
// counts scan the inbox, which is not worth doing on every poll.
func (b *Bridge) maybeUpdateGauges(ctx context.Context) {
	now := time.Now()
	last := b.lastGauges.Load()
	if last != 0 && now.Sub(time.Unix(0, last)) < b.cfg.GaugeEvery {
		return
	}
	if !b.lastGauges.CompareAndSwap(last, now.UnixNano()) {
		return
	}
	if err := b.UpdateGauges(ctx); err != nil {
		b.log.Warn("relay: update inbox gauges", "error", err)
	}
}

// UpdateGauges sets InboxDepth to the number of pending events and RelayLag to the age of
// the oldest one.
func (b *Bridge) UpdateGauges(ctx context.Context) error {
	counts, err := b.store.InboxCounts(ctx)
	if err != nil {
		return fmt.Errorf("inbox counts: %w", err)
	}
	b.metrics.InboxDepth.Set(float64(counts[store.InboxPending]))
	oldest, err := b.store.OldestPending(ctx)
	if err != nil {
		return fmt.Errorf("oldest pending: %w", err)
	}
	lag := 0.0
	if !oldest.IsZero() {
		lag = max(time.Since(oldest).Seconds(), 0)
	}
	b.metrics.RelayLag.Set(lag)
	return nil
}

// KindOf maps a HighLevel event type to the Event kind ContactSync acts on. App events and
// unknown types have no kind.
func KindOf(eventType string) (string, bool) {
	switch eventType {
	case ghl.EventContactCreate, ghl.EventContactUpdate, ghl.EventContactDndUpdate:
		return domain.KindContact, true
	case ghl.EventContactDelete:
		return domain.KindContactDeleted, true
	case ghl.EventContactTagUpdate:
		return domain.KindTags, true
	case ghl.EventNoteCreate, ghl.EventNoteUpdate, ghl.EventNoteDelete:
		return domain.KindNotes, true
	case ghl.EventTaskCreate, ghl.EventTaskComplete, ghl.EventTaskDelete:
		return domain.KindTasks, true
	case ghl.EventAppointmentCreate, ghl.EventAppointmentUpdate, ghl.EventAppointmentDelete:
		return domain.KindAppointment, true
	}
	return "", false
}
