package postgres

import (
	"context"
	"fmt"
	"strings"

	"github.com/hlrz/hlrz/internal/store"
)

var _ store.Resealer = (*Store)(nil)

// stale is the condition of a value of c not sealed under the primary key; $1 is the
// prefix such values lack.
func stale(c store.SealedColumn) string {
	if c.Text {
		return c.Column + ` <> '' AND left(` + c.Column + `, length($1::text)) <> $1::text`
	}
	return c.Column + ` IS NOT NULL AND length(` + c.Column + `) > 0 AND substring(` + c.Column + ` from 1 for length($1::bytea)) <> $1::bytea`
}

func prefixArg(c store.SealedColumn, p []byte) any {
	if c.Text {
		return string(p)
	}
	return p
}

// Reseal re-encrypts every sealed value under the primary key, in batches; each row is
// rewritten only if it still holds the value read, so a concurrent write is never undone.
func (s *Store) Reseal(ctx context.Context) ([]store.ResealCount, error) {
	return store.ResealColumns(ctx, s.resealColumn)
}

// resealColumn reseals c's stale values, then counts those already current.
func (s *Store) resealColumn(ctx context.Context, c store.SealedColumn) (resealed, current int64, err error) {
	if resealed, err = s.resealStale(ctx, c); err != nil {
		return resealed, 0, err
	}
	err = s.pool.QueryRow(ctx, `SELECT count(*) FROM `+c.Table+` WHERE length(`+c.Column+`) > 0 AND NOT (`+stale(c)+`)`,
		prefixArg(c, c.Prefix(s.kr))).Scan(&current)
	if err != nil {
		return resealed, 0, fmt.Errorf("reseal %s.%s: count: %w", c.Table, c.Column, err)
	}
	return resealed, current - resealed, nil
}

type sealedRow = store.SealedRow[string] // keyed by ctid

func (s *Store) resealStale(ctx context.Context, c store.SealedColumn) (int64, error) {
	var total int64
	for {
		batch, err := s.staleRows(ctx, c)
		if err != nil {
			return total, err
		}
		var done int64
		for _, r := range batch {
			next, err := c.Reseal(s.kr, r.IDs, r.Val)
			if err != nil {
				return total, fmt.Errorf("reseal %s.%s: %w", c.Table, c.Column, err)
			}
			tag, err := s.pool.Exec(ctx, `UPDATE `+c.Table+` SET `+c.Column+` = $1 WHERE ctid = $2::tid AND `+c.Column+` = $3`,
				prefixArg(c, next), r.Key, prefixArg(c, r.Val))
			if err != nil {
				return total, fmt.Errorf("reseal %s.%s: write: %w", c.Table, c.Column, err)
			}
			done += tag.RowsAffected()
		}
		total += done
		if len(batch) == 0 || done == 0 {
			return total, nil
		}
	}
}

func (s *Store) staleRows(ctx context.Context, c store.SealedColumn) ([]sealedRow, error) {
	col := c.Column
	if c.Text {
		col = `convert_to(` + c.Column + `, 'UTF8')`
	}
	rows, err := s.pool.Query(ctx, `SELECT ctid::text, `+col+`, `+strings.Join(c.IDs, ", ")+` FROM `+c.Table+` WHERE `+stale(c)+` LIMIT 500`,
		prefixArg(c, c.Prefix(s.kr)))
	if err != nil {
		return nil, fmt.Errorf("reseal %s.%s: read: %w", c.Table, c.Column, err)
	}
	defer rows.Close()
	batch, err := store.CollectRows(rows, func(row store.Scanner) (sealedRow, error) { return store.ScanSealedRow[string](row, c) })
	if err != nil {
		return nil, fmt.Errorf("reseal %s.%s: read: %w", c.Table, c.Column, err)
	}
	return batch, nil
}
