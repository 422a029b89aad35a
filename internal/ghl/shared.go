package ghl

import (
	"context"
	"fmt"
	"time"
)

// SharedLimiter spends one location's burst and daily allowance across every worker process
// serving it. HighLevel counts requests per app and location, not per process: a Budget on
// its own would let each of N processes send the whole allowance, N times too many.
// internal/store/postgres implements it with one row per location.
type SharedLimiter interface {
	// Reserve claims the next send slot of the location and says how long to wait for it.
	// When the slot is further away than r.MaxWait nothing is claimed (Granted false), so a
	// caller that gives up does not leave an unused slot behind.
	Reserve(ctx context.Context, r Reservation) (Slot, error)
	// Pause holds every process's requests to the location for d (after a 429).
	Pause(ctx context.Context, locationID string, d time.Duration) error
}

// Reservation asks for one send slot under a limit.
type Reservation struct {
	LocationID string
	Max        int           // requests per Window
	Window     time.Duration // the burst interval plus slack
	DailyLimit int           // requests per UTC day
	MaxWait    time.Duration // claim nothing when the slot is further away
}

// Slot is a Reserve answer.
type Slot struct {
	Wait    time.Duration // until the slot (≤ 0: now)
	Granted bool          // the slot is claimed; false when Wait > MaxWait
	Daily   bool          // the daily allowance is what holds the request
}

// noDeadlineWait bounds a reservation for a caller without a deadline.
const noDeadlineWait = time.Hour

// acquireShared waits for a slot from the shared limiter. It returns an ErrRateLimited
// *APIError when the slot is beyond ctx's deadline, like the local wait does.
func (b *Budget) acquireShared(ctx context.Context, op string) error {
	b.mu.Lock()
	r := Reservation{LocationID: b.loc, Max: b.max, Window: b.interval + b.slack, DailyLimit: b.dailyLimit, MaxWait: noDeadlineWait}
	b.mu.Unlock()
	if dl, ok := ctx.Deadline(); ok {
		r.MaxWait = time.Until(dl)
	}
	slot, err := b.shared.Reserve(ctx, r)
	if err != nil {
		return fmt.Errorf("ghl: %s: reserve a request slot: %w", op, err)
	}
	if !slot.Granted {
		msg := "burst allowance used up"
		if slot.Daily {
			msg = "daily request allowance used up"
		}
		return &APIError{Op: op, kind: ErrRateLimited, Message: msg + " (shared across workers)", retryAfter: slot.Wait}
	}
	if slot.Wait <= 0 {
		return nil
	}
	start := time.Now()
	timer := time.NewTimer(slot.Wait)
	defer timer.Stop()
	b.mu.Lock()
	b.waits++
	b.mu.Unlock()
	select {
	case <-ctx.Done():
		b.addWait(time.Since(start))
		return ctx.Err()
	case <-timer.C:
	}
	b.addWait(time.Since(start))
	return nil
}

// sharePause tells the other processes about a 429. Best effort: the local pause holds
// this process either way, and the others learn from their own next answer.
func (b *Budget) sharePause(wait time.Duration) {
	if b.shared == nil || wait <= 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = b.shared.Pause(ctx, b.loc, wait)
}
