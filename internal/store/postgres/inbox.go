package postgres

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/hlrz/hlrz/internal/store"
)

// ClaimInbox leases due pending events to owner. SKIP LOCKED lets several relays claim
// disjoint batches at once; the lease makes a crashed relay's rows claimable again.
func (s *Store) ClaimInbox(ctx context.Context, owner string, limit int, lease time.Duration) ([]store.InboxEvent, error) {
	now := store.Now()
	rows, err := s.db.Query(ctx, `
		UPDATE inbox SET claimed_by = $1, claimed_until = $2, attempts = attempts + 1
		WHERE id IN (
			SELECT id FROM inbox
			WHERE state = 'pending' AND next_attempt_at <= $3 AND (claimed_until IS NULL OR claimed_until < $3)
			ORDER BY next_attempt_at, id LIMIT $4
			FOR UPDATE SKIP LOCKED)
		RETURNING `+store.InboxCols, owner, now.Add(lease), now, limit)
	if err != nil {
		return nil, fmt.Errorf("claim inbox: %w", err)
	}
	defer rows.Close()
	out, err := store.CollectRows(rows, s.ScanInbox)
	if err != nil {
		return nil, fmt.Errorf("claim inbox: %w", err)
	}
	// RETURNING does not keep the subquery's order.
	sortInbox(out)
	return out, nil
}

func sortInbox(evs []store.InboxEvent) {
	sort.Slice(evs, func(i, j int) bool {
		if !evs[i].NextAttemptAt.Equal(evs[j].NextAttemptAt) {
			return evs[i].NextAttemptAt.Before(evs[j].NextAttemptAt)
		}
		return evs[i].ID < evs[j].ID
	})
}

// ExtendInbox renews owner's lease on the rows among ids it still holds.
func (s *Store) ExtendInbox(ctx context.Context, owner string, ids []int64, lease time.Duration) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	n, err := s.db.Exec(ctx, `UPDATE inbox SET claimed_until = $1
		WHERE claimed_by = $2 AND state = 'pending' AND claimed_until IS NOT NULL AND id = ANY($3)`,
		store.Now().Add(lease), owner, ids)
	if err != nil {
		return 0, fmt.Errorf("extend inbox leases: %w", err)
	}
	return int(n), nil
}

// MatchContacts maps keys to the contact ids on side that carry them, in one query.
func (s *Store) MatchContacts(ctx context.Context, connID string, side store.Side, keys []string) (map[string][]string, error) {
	lookup, back := store.MatchKeyDigests(s.kr, keys)
	rows, err := s.db.Query(ctx, `SELECT key, contact_id FROM match_keys WHERE connection_id = $1 AND side = $2 AND key = ANY($3) ORDER BY key, contact_id`,
		connID, string(side), lookup)
	if err != nil {
		return nil, fmt.Errorf("match contacts: %w", err)
	}
	defer rows.Close()
	out := map[string][]string{}
	err = store.CollectPairs(rows, func(k, id string) { store.AddMatch(out, back[k], id) })
	return out, err
}
