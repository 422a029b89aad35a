package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/hlrz/hlrz/internal/ghl"
)

// RateLimiter is ghl.SharedLimiter on the store's database: one row per location
// (ghl_rate_budget) that every worker process reserves HighLevel send slots from, so the
// processes together stay within the location's burst and daily limits. One round trip per
// request: at HighLevel's 10 requests/s per location that is 10 short transactions a second
// per busy location.
type RateLimiter struct{ s *Store }

// RateLimiter returns the shared HighLevel rate limiter.
func (s *Store) RateLimiter() *RateLimiter { return &RateLimiter{s: s} }

var _ ghl.SharedLimiter = (*RateLimiter)(nil)

// Reserve claims the location's next send slot (ghl_rate_reserve in migration 0007).
func (l *RateLimiter) Reserve(ctx context.Context, r ghl.Reservation) (ghl.Slot, error) {
	var waitUS int64
	var slot ghl.Slot
	err := l.s.pool.QueryRow(ctx, `SELECT wait_us, granted, daily_blocked FROM ghl_rate_reserve($1, $2, $3, $4, $5)`,
		r.LocationID, r.Max, r.Window.Microseconds(), r.DailyLimit, r.MaxWait.Microseconds()).Scan(&waitUS, &slot.Granted, &slot.Daily)
	if err != nil {
		return ghl.Slot{}, fmt.Errorf("reserve HighLevel slot for %s: %w", r.LocationID, err)
	}
	slot.Wait = time.Duration(waitUS) * time.Microsecond
	return slot, nil
}

// Pause holds the location's slots until d from now on the database's clock; a longer
// pause already set stays.
func (l *RateLimiter) Pause(ctx context.Context, locationID string, d time.Duration) error {
	_, err := l.s.pool.Exec(ctx, `INSERT INTO ghl_rate_budget AS b (location_id, paused_until)
		VALUES ($1, clock_timestamp() + $2 * interval '1 microsecond')
		ON CONFLICT (location_id) DO UPDATE SET paused_until = greatest(b.paused_until, excluded.paused_until)`,
		locationID, d.Microseconds())
	if err != nil {
		return fmt.Errorf("pause HighLevel budget of %s: %w", locationID, err)
	}
	return nil
}
