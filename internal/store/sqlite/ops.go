package sqlite

import (
	"bytes"
	"context"
	"fmt"
	"strings"

	"github.com/hlrz/hlrz/internal/store"
)

var _ store.Resealer = (*Store)(nil)

// Reseal re-encrypts every sealed value under the primary key. The dev store is small: each
// column is read whole and each stale row rewritten only if it still holds the value read.
func (s *Store) Reseal(ctx context.Context) ([]store.ResealCount, error) {
	return store.ResealColumns(ctx, s.resealColumn)
}

type sealedRow = store.SealedRow[int64] // keyed by rowid

func (s *Store) resealColumn(ctx context.Context, c store.SealedColumn) (resealed, current int64, err error) {
	rows, err := s.db.pool.QueryContext(ctx, `SELECT rowid, CAST(`+c.Column+` AS BLOB), `+strings.Join(c.IDs, ", ")+` FROM `+c.Table+
		` WHERE `+c.Column+` IS NOT NULL AND length(`+c.Column+`) > 0`)
	if err != nil {
		return 0, 0, fmt.Errorf("reseal %s.%s: read: %w", c.Table, c.Column, err)
	}
	prefix := c.Prefix(s.kr)
	var stale []sealedRow
	for rows.Next() {
		r, err := store.ScanSealedRow[int64](rows, c)
		if err != nil {
			_ = rows.Close()
			return 0, 0, err
		}
		if bytes.HasPrefix(r.Val, prefix) {
			current++
		} else {
			stale = append(stale, r)
		}
	}
	_ = rows.Close()
	if err := rows.Err(); err != nil {
		return 0, 0, fmt.Errorf("reseal %s.%s: read: %w", c.Table, c.Column, err)
	}
	for _, r := range stale {
		next, err := c.Reseal(s.kr, r.IDs, r.Val)
		if err != nil {
			return resealed, current, fmt.Errorf("reseal %s.%s: %w", c.Table, c.Column, err)
		}
		old, val := any(r.Val), any(next)
		if c.Text {
			old, val = string(r.Val), string(next)
		}
		res, err := s.db.pool.ExecContext(ctx, `UPDATE `+c.Table+` SET `+c.Column+` = ? WHERE rowid = ? AND `+c.Column+` = ?`, val, r.Key, old)
		if err != nil {
			return resealed, current, fmt.Errorf("reseal %s.%s: write: %w", c.Table, c.Column, err)
		}
		n, _ := res.RowsAffected()
		resealed += n
	}
	return resealed, current, nil
}
