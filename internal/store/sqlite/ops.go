package sqlite

import (
	"bytes"
	"context"
	"fmt"
	"strings"

	"github.com/hlrz/hlrz/internal/store"
)

var (
	_ store.Resealer          = (*Store)(nil)
	_ store.ConnectionRemover = (*Store)(nil)
)

// Reseal re-encrypts every sealed value under the primary key. The dev store is small: each
// column is read whole and each stale row rewritten only if it still holds the value read.
func (s *Store) Reseal(ctx context.Context) ([]store.ResealCount, error) {
	var out []store.ResealCount
	for _, c := range store.SealedColumns {
		resealed, current, err := s.resealColumn(ctx, c)
		if err != nil {
			return out, err
		}
		out = store.AddResealCount(out, c.Table, resealed, current)
	}
	return out, nil
}

type sealedRow struct {
	rowid int64
	ids   []string
	val   []byte
}

func (s *Store) resealColumn(ctx context.Context, c store.SealedColumn) (resealed, current int64, err error) {
	rows, err := s.db.pool.QueryContext(ctx, `SELECT rowid, CAST(`+c.Column+` AS BLOB), `+strings.Join(c.IDs, ", ")+` FROM `+c.Table+
		` WHERE `+c.Column+` IS NOT NULL AND length(`+c.Column+`) > 0`)
	if err != nil {
		return 0, 0, fmt.Errorf("reseal %s.%s: read: %w", c.Table, c.Column, err)
	}
	prefix := c.Prefix(s.kr)
	var stale []sealedRow
	for rows.Next() {
		r := sealedRow{ids: make([]string, len(c.IDs))}
		dst := []any{&r.rowid, &r.val}
		for i := range r.ids {
			dst = append(dst, &r.ids[i])
		}
		if err := rows.Scan(dst...); err != nil {
			_ = rows.Close()
			return 0, 0, fmt.Errorf("reseal %s.%s: scan: %w", c.Table, c.Column, err)
		}
		if bytes.HasPrefix(r.val, prefix) {
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
		next, err := c.Reseal(s.kr, r.ids, r.val)
		if err != nil {
			return resealed, current, fmt.Errorf("reseal %s.%s: %w", c.Table, c.Column, err)
		}
		old, val := any(r.val), any(next)
		if c.Text {
			old, val = string(r.val), string(next)
		}
		res, err := s.db.pool.ExecContext(ctx, `UPDATE `+c.Table+` SET `+c.Column+` = ? WHERE rowid = ? AND `+c.Column+` = ?`, val, r.rowid, old)
		if err != nil {
			return resealed, current, fmt.Errorf("reseal %s.%s: write: %w", c.Table, c.Column, err)
		}
		n, _ := res.RowsAffected()
		resealed += n
	}
	return resealed, current, nil
}
