package sqlite

import (
	"context"
	"fmt"
	"time"
)

// PruneInbox implements store.Retention.
func (s *Store) PruneInbox(ctx context.Context, bodiesBefore, rowsBefore time.Time) (int64, int64, error) {
	res, err := s.db.ExecContext(ctx, `UPDATE inbox SET body = X'' WHERE state <> 'pending' AND received_at < ? AND length(body) > 0`, micros(bodiesBefore))
	if err != nil {
		return 0, 0, fmt.Errorf("prune inbox bodies: %w", err)
	}
	bodies, _ := res.RowsAffected()
	res, err = s.db.ExecContext(ctx, `DELETE FROM inbox WHERE state <> 'pending' AND received_at < ?`, micros(rowsBefore))
	if err != nil {
		return bodies, 0, fmt.Errorf("prune inbox rows: %w", err)
	}
	rows, _ := res.RowsAffected()
	return bodies, rows, nil
}

// PruneObservations implements store.Retention.
func (s *Store) PruneObservations(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM observations WHERE observed_at < ?`, micros(before))
	if err != nil {
		return 0, fmt.Errorf("prune observations: %w", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}
