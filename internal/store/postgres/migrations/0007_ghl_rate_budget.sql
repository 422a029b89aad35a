-- One HighLevel rate budget per location, shared by every worker process (ghl.SharedLimiter).
-- slots holds the send slots granted last, oldest first, at most the burst maximum: a new
-- slot may start only when the slot max places back has left the window, which is the
-- sliding-window rule HighLevel counts by. day/day_count count the UTC day's slots.
CREATE TABLE ghl_rate_budget (
    location_id  text PRIMARY KEY,
    slots        timestamptz[] NOT NULL DEFAULT '{}',
    paused_until timestamptz NOT NULL DEFAULT '-infinity',
    day          date NOT NULL DEFAULT '1970-01-01',
    day_count    integer NOT NULL DEFAULT 0
);

-- ghl_rate_reserve claims the location's next slot in one round trip and one transaction:
-- the row lock serialises the processes, and "now" is read after the lock is held, from
-- the database's clock, so every process's slots are on one clock and in order.
CREATE FUNCTION ghl_rate_reserve(loc text, max_n integer, win_us bigint, daily integer, max_wait_us bigint,
    OUT wait_us bigint, OUT granted boolean, OUT daily_blocked boolean)
LANGUAGE plpgsql AS $$
DECLARE
    r ghl_rate_budget;
    now_ts timestamptz;
    n integer;
    slot timestamptz;
    slot_day date;
    used integer;
BEGIN
    SELECT * INTO r FROM ghl_rate_budget WHERE location_id = loc FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO ghl_rate_budget (location_id) VALUES (loc) ON CONFLICT DO NOTHING;
        SELECT * INTO r FROM ghl_rate_budget WHERE location_id = loc FOR UPDATE;
    END IF;
    now_ts := clock_timestamp();
    n := coalesce(array_length(r.slots, 1), 0);
    slot := greatest(now_ts, r.paused_until);
    IF n > 0 THEN
        slot := greatest(slot, r.slots[n]); -- slots stay in order
    END IF;
    IF n >= max_n THEN
        slot := greatest(slot, r.slots[n - max_n + 1] + win_us * interval '1 microsecond');
    END IF;
    slot_day := (slot AT TIME ZONE 'UTC')::date;
    used := CASE WHEN slot_day = r.day THEN r.day_count ELSE 0 END;
    daily_blocked := used >= daily;
    IF daily_blocked THEN
        -- HighLevel does not say when its day rolls over; like ghl.Budget, assume UTC midnight.
        slot := (slot_day + 1)::timestamp AT TIME ZONE 'UTC';
    END IF;
    wait_us := floor(extract(epoch FROM slot - now_ts) * 1000000)::bigint;
    granted := NOT daily_blocked AND wait_us <= max_wait_us;
    IF granted THEN
        UPDATE ghl_rate_budget
           SET slots = r.slots[greatest(1, n - max_n + 2):n] || slot, day = slot_day, day_count = used + 1
         WHERE location_id = loc;
    END IF;
END $$;
