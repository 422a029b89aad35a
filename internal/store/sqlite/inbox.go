package sqlite

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/hlrz/hlrz/internal/store"
)

// ClaimInbox leases due pending events to owner. The transaction's write lock (BEGIN
// IMMEDIATE) serialises claimers, which is what SKIP LOCKED achieves on PostgreSQL.
func (s *Store) ClaimInbox(ctx context.Context, owner string, limit int, lease time.Duration) ([]store.InboxEvent, error) {
	now := store.Now()
	var out []store.InboxEvent
	err := s.db.InTx(ctx, func(tx store.DB) error {
		rows, err := tx.Query(ctx, `SELECT `+store.InboxCols+` FROM inbox
			WHERE state = 'pending' AND next_attempt_at <= $1 AND (claimed_until IS NULL OR claimed_until < $1)
			ORDER BY next_attempt_at, id LIMIT $2`, now, limit)
		if err != nil {
			return err
		}
		out, err = store.CollectRows(rows, s.ScanInbox)
		rows.Close()
		if err != nil {
			return err
		}
		for i := range out {
			out[i].Attempts++
			if _, err := tx.Exec(ctx, `UPDATE inbox SET claimed_by = $1, claimed_until = $2, attempts = attempts + 1 WHERE id = $3`,
				owner, now.Add(lease), out[i].ID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("claim inbox: %w", err)
	}
	return out, nil
}

// ExtendInbox renews owner's lease on the rows among ids it still holds; SQLite has no
// arrays, so the ids go as a list of placeholders.
func (s *Store) ExtendInbox(ctx context.Context, owner string, ids []int64, lease time.Duration) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	args := []any{store.Now().Add(lease), owner}
	for _, id := range ids {
		args = append(args, id)
	}
	n, err := s.db.Exec(ctx, `UPDATE inbox SET claimed_until = ?
		WHERE claimed_by = ? AND state = 'pending' AND claimed_until IS NOT NULL AND id IN (?`+strings.Repeat(", ?", len(ids)-1)+`)`, args...)
	if err != nil {
		return 0, fmt.Errorf("extend inbox leases: %w", err)
	}
	return int(n), nil
}

// MatchContacts maps keys to the contact ids on side that carry them, 500 keys a query
// (SQLite has no arrays, and a statement takes a bounded number of placeholders).
func (s *Store) MatchContacts(ctx context.Context, connID string, side store.Side, keys []string) (map[string][]string, error) {
	out := map[string][]string{}
	lookup, back := store.MatchKeyDigests(s.kr, keys)
	for start := 0; start < len(lookup); start += 500 {
		chunk := lookup[start:min(start+500, len(lookup))]
		args := []any{connID, string(side)}
		for _, k := range chunk {
			args = append(args, k)
		}
		rows, err := s.db.Query(ctx, `SELECT key, contact_id FROM match_keys WHERE connection_id = ? AND side = ? AND key IN (?`+
			strings.Repeat(", ?", len(chunk)-1)+`) ORDER BY key, contact_id`, args...)
		if err != nil {
			return nil, fmt.Errorf("match contacts: %w", err)
		}
		err = store.CollectPairs(rows, func(k, id string) { store.AddMatch(out, back[k], id) })
		rows.Close()
		if err != nil {
			return nil, err
		}
	}
	for _, ids := range out {
		sort.Strings(ids)
	}
	return out, nil
}
