package postgres

import (
	"context"
	"fmt"
	"time"
)

// PruneInbox implements store.Retention.
func (s *Store) PruneInbox(ctx context.Context, bodiesBefore, rowsBefore time.Time) (int64, int64, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE inbox SET body = ''::bytea WHERE state <> 'pending' AND received_at < $1 AND length(body) > 0`, bodiesBefore)
	if err != nil {
		return 0, 0, fmt.Errorf("prune inbox bodies: %w", err)
	}
	bodies := tag.RowsAffected()
	tag, err = s.pool.Exec(ctx, `DELETE FROM inbox WHERE state <> 'pending' AND received_at < $1`, rowsBefore)
	if err != nil {
		return bodies, 0, fmt.Errorf("prune inbox rows: %w", err)
	}
	return bodies, tag.RowsAffected(), nil
}

// PruneObservations implements store.Retention.
func (s *Store) PruneObservations(ctx context.Context, before time.Time) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM observations WHERE observed_at < $1`, before)
	if err != nil {
		return 0, fmt.Errorf("prune observations: %w", err)
	}
	return tag.RowsAffected(), nil
}
