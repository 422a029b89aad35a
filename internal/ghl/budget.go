package ghl

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// HighLevel's documented limits per app and location.
const (
	DefaultBurstMax      = 100
	DefaultBurstInterval = 10 * time.Second
	DefaultDailyLimit    = 200_000
)

// Rate-limit response headers.
const (
	HeaderRateMax            = "X-RateLimit-Max"
	HeaderRateRemaining      = "X-RateLimit-Remaining"
	HeaderRateInterval       = "X-RateLimit-Interval-Milliseconds"
	HeaderRateDailyLimit     = "X-RateLimit-Limit-Daily"
	HeaderRateDailyRemaining = "X-RateLimit-Daily-Remaining"
)

// BudgetConfig sets a budget's starting limits; response headers override Max, Interval and
// DailyLimit as soon as HighLevel reports them.
type BudgetConfig struct {
	Max        int           // requests per Interval; default 100
	Interval   time.Duration // default 10s
	DailyLimit int           // default 200,000
	// Slack widens the window the budget counts over, so requests that leave together but
	// arrive spread out (network jitter) cannot land 101 in one server window. Default
	// Interval/20. With a Shared limiter it also covers the time between a slot's grant
	// and the request leaving (the database round trip, a busy scheduler).
	Slack time.Duration
	// Shared, when set, spends each location's allowance together with every other process
	// that uses the same limiter; the local accounting below still applies on top.
	Shared SharedLimiter
}

func (c BudgetConfig) withDefaults() BudgetConfig {
	if c.Max <= 0 {
		c.Max = DefaultBurstMax
	}
	if c.Interval <= 0 {
		c.Interval = DefaultBurstInterval
	}
	if c.DailyLimit <= 0 {
		c.DailyLimit = DefaultDailyLimit
	}
	return c
}

// BudgetStats is a snapshot of a budget's counters.
type BudgetStats struct {
	Requests    int64         `json:"requests"`    // requests let through
	Waits       int64         `json:"waits"`       // requests that had to wait first
	WaitTime    time.Duration `json:"waitTime"`    // time spent waiting, summed over concurrent waiters
	RateLimited int64         `json:"rateLimited"` // 429 answers seen
	DailyUsed   int64         `json:"dailyUsed"`   // requests used today: HighLevel's count plus our sends it may not have seen
	InFlight    int           `json:"inFlight"`
	Max         int           `json:"max"`      // current burst limit
	Interval    time.Duration `json:"interval"` // current burst interval
}

// Budget paces requests to one location so they stay under HighLevel's burst and daily limits
// instead of collecting 429s. It counts requests when they are sent (so in-flight requests
// count), learns the real limits and the remaining allowance from response headers (which
// also covers other processes spending the same allowance), and after a 429 holds every
// request until the server's wait is over. Safe for concurrent use; share one per location
// through Budgets.
type Budget struct {
	mu          sync.Mutex
	loc         string
	shared      SharedLimiter
	max         int
	interval    time.Duration
	slack       time.Duration
	fixedSlack  bool
	dailyLimit  int
	sends       []time.Time // send times inside the window, oldest first
	open        map[*Ticket]struct{}
	pausedUntil time.Time

	// obs is the freshest "X-RateLimit-Remaining" we saw, pinned to the send time of the
	// request it answered. Requests sent after that instant, and those sent before it but
	// still in flight then (obsPending), may not be counted in it yet.
	obsAt        time.Time
	obsRemaining int
	obsPending   int
	obsValid     bool

	// The daily count only falls during a day, so the lowest "X-RateLimit-Daily-Remaining"
	// is the freshest, whatever order responses come back in; a higher one is believed only
	// on a new UTC day. Sends after that request (by seq), and those before it still in flight
	// then (dailyPending), may be missing from it.
	seq            int64 // sends so far
	dailyRemaining int
	dailyObsSeq    int64
	dailyPending   int
	dailyDay       string
	dailyValid     bool

	requests, waits, limited int64
	waitTime                 time.Duration
}

// NewBudget returns a budget with cfg's starting limits; it ignores cfg.Shared, which needs
// a location (NewSharedBudget).
func NewBudget(cfg BudgetConfig) *Budget {
	cfg.Shared = nil
	return NewSharedBudget(cfg, "")
}

// NewSharedBudget returns the budget of locationID; with cfg.Shared set, it spends the
// location's allowance together with every other process using that limiter.
func NewSharedBudget(cfg BudgetConfig, locationID string) *Budget {
	cfg = cfg.withDefaults()
	b := &Budget{max: cfg.Max, interval: cfg.Interval, dailyLimit: cfg.DailyLimit, slack: cfg.Slack, fixedSlack: cfg.Slack > 0,
		open: map[*Ticket]struct{}{}, loc: locationID, shared: cfg.Shared}
	if !b.fixedSlack {
		b.slack = b.interval / 20
	}
	return b
}

// Ticket is one admitted request; report its outcome with Done.
type Ticket struct {
	b      *Budget
	sentAt time.Time
	seq    int64
	done   bool
}

// Acquire waits until a request may be sent and admits it. When the wait would outlast ctx's
// deadline, or the daily allowance is spent, it returns an *APIError matching ErrRateLimited
// with the wait, so a Temporal activity can reschedule instead of sleeping out its timeout.
func (b *Budget) Acquire(ctx context.Context, op string) (*Ticket, error) {
	if b.shared != nil {
		if err := b.acquireShared(ctx, op); err != nil {
			return nil, err
		}
	}
	waited := false
	for {
		b.mu.Lock()
		now := time.Now()
		d, daily := b.delayLocked(now)
		if d <= 0 {
			b.sends = append(b.sends, now)
			b.requests++
			b.seq++
			t := &Ticket{b: b, sentAt: now, seq: b.seq}
			b.open[t] = struct{}{}
			b.mu.Unlock()
			return t, nil
		}
		if !waited {
			waited = true
			b.waits++
		}
		b.mu.Unlock()
		if daily {
			return nil, &APIError{Op: op, kind: ErrRateLimited, Message: "daily request allowance used up", retryAfter: d}
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
			return nil, &APIError{Op: op, kind: ErrRateLimited, Message: "burst allowance used up", retryAfter: d}
		}
		start := time.Now()
		timer := time.NewTimer(d)
		select {
		case <-ctx.Done():
			timer.Stop()
			b.addWait(time.Since(start))
			return nil, ctx.Err()
		case <-timer.C:
		}
		b.addWait(time.Since(start))
	}
}

func (b *Budget) addWait(d time.Duration) {
	b.mu.Lock()
	b.waitTime += d
	b.mu.Unlock()
}

// delayLocked says how long a new request must wait; daily is true when the daily allowance
// is what blocks it.
func (b *Budget) delayLocked(now time.Time) (d time.Duration, daily bool) {
	window := b.interval + b.slack
	cut := now.Add(-window)
	i := 0
	for i < len(b.sends) && !b.sends[i].After(cut) {
		i++
	}
	b.sends = b.sends[i:]

	if b.dailyValid && b.dailyRemaining-b.dailyPending-int(b.seq-b.dailyObsSeq) <= 0 {
		// HighLevel does not say when the day rolls over; assume UTC midnight and let the
		// caller come back then (a fresh response will correct us).
		y, m, dd := now.UTC().Date()
		return time.Date(y, m, dd+1, 0, 0, 0, 0, time.UTC).Sub(now), true
	}
	if b.pausedUntil.After(now) {
		d = b.pausedUntil.Sub(now)
	}
	if n := len(b.sends); n >= b.max {
		d = max(d, b.sends[n-b.max].Add(window).Sub(now))
	}
	// With a shared limiter the other processes' sends are already in the slots; holding on a
	// "Remaining: 0" they caused would wait out a whole window for a slot that opens sooner.
	if b.obsValid && b.shared == nil {
		expires := b.obsAt.Add(window)
		if !expires.After(now) {
			b.obsValid = false
		} else {
			after := 0
			for _, t := range b.sends {
				if t.After(b.obsAt) {
					after++
				}
			}
			if after+b.obsPending >= b.obsRemaining {
				d = max(d, expires.Sub(now))
			}
		}
	}
	return d, false
}

// Done records the response (nil header for a transport failure) and, for a 429, returns
// how long HighLevel asked to wait: Retry-After when sent, else the burst interval. Every
// later request waits that long too, in every process sharing the budget's limiter.
func (t *Ticket) Done(h http.Header, status int) time.Duration {
	wait := t.record(h, status)
	t.b.sharePause(wait)
	return wait
}

// record is Done under the budget's lock.
func (t *Ticket) record(h http.Header, status int) time.Duration {
	b := t.b
	b.mu.Lock()
	defer b.mu.Unlock()
	if t.done {
		return 0
	}
	t.done = true
	delete(b.open, t)
	if h == nil {
		return 0
	}
	// Requests sent before t and still open may reach the server after it answered t.
	pendingBefore := func(before func(o *Ticket) bool) int {
		n := 0
		for o := range b.open {
			if before(o) {
				n++
			}
		}
		return n
	}
	if v, ok := headerInt(h, HeaderRateMax); ok && v > 0 {
		b.max = v
	}
	if v, ok := headerInt(h, HeaderRateInterval); ok && v > 0 {
		b.interval = time.Duration(v) * time.Millisecond
		if !b.fixedSlack {
			b.slack = b.interval / 20
		}
	}
	if v, ok := headerInt(h, HeaderRateRemaining); ok && v >= 0 && (!b.obsValid || !t.sentAt.Before(b.obsAt)) {
		b.obsAt, b.obsRemaining, b.obsValid = t.sentAt, v, true
		b.obsPending = pendingBefore(func(o *Ticket) bool { return o.sentAt.Before(t.sentAt) })
	}
	if v, ok := headerInt(h, HeaderRateDailyLimit); ok && v > 0 {
		b.dailyLimit = v
	}
	day := time.Now().UTC().Format(time.DateOnly)
	if v, ok := headerInt(h, HeaderRateDailyRemaining); ok && v >= 0 && (!b.dailyValid || v <= b.dailyRemaining || day != b.dailyDay) {
		b.dailyRemaining, b.dailyObsSeq, b.dailyDay, b.dailyValid = v, t.seq, day, true
		b.dailyPending = pendingBefore(func(o *Ticket) bool { return o.seq < t.seq })
	}
	if status != http.StatusTooManyRequests {
		return 0
	}
	b.limited++
	wait := retryAfterHeader(h, time.Now())
	if wait <= 0 {
		wait = b.interval
	}
	if until := time.Now().Add(wait); until.After(b.pausedUntil) {
		b.pausedUntil = until
	}
	return wait
}

// Stats returns the budget's counters.
func (b *Budget) Stats() BudgetStats {
	b.mu.Lock()
	defer b.mu.Unlock()
	used := b.seq
	if b.dailyValid {
		used = int64(b.dailyLimit-b.dailyRemaining+b.dailyPending) + (b.seq - b.dailyObsSeq)
	}
	return BudgetStats{
		Requests: b.requests, Waits: b.waits, WaitTime: b.waitTime, RateLimited: b.limited,
		DailyUsed: used, InFlight: len(b.open), Max: b.max, Interval: b.interval,
	}
}

func headerInt(h http.Header, key string) (int, bool) {
	v := h.Get(key)
	if v == "" {
		return 0, false
	}
	n, err := strconv.Atoi(v)
	return n, err == nil
}

// retryAfterHeader parses Retry-After as seconds or an HTTP date.
func retryAfterHeader(h http.Header, now time.Time) time.Duration {
	v := h.Get("Retry-After")
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil && secs >= 0 {
		return time.Duration(secs * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// Budgets hands out one Budget per location, so every client of a location in the process
// spends the same allowance.
type Budgets struct {
	cfg BudgetConfig
	mu  sync.Mutex
	m   map[string]*Budget
}

// NewBudgets returns a registry whose budgets start from cfg.
func NewBudgets(cfg BudgetConfig) *Budgets {
	return &Budgets{cfg: cfg, m: map[string]*Budget{}}
}

// For returns the location's budget, creating it on first use.
func (r *Budgets) For(locationID string) *Budget {
	r.mu.Lock()
	defer r.mu.Unlock()
	b, ok := r.m[locationID]
	if !ok {
		b = NewSharedBudget(r.cfg, locationID)
		r.m[locationID] = b
	}
	return b
}

// Stats returns every location's counters.
func (r *Budgets) Stats() map[string]BudgetStats {
	r.mu.Lock()
	bs := make(map[string]*Budget, len(r.m))
	for k, v := range r.m {
		bs[k] = v
	}
	r.mu.Unlock()
	out := make(map[string]BudgetStats, len(bs))
	for k, b := range bs {
		out[k] = b.Stats()
	}
	return out
}
