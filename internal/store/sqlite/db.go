package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/hlrz/hlrz/internal/store"
)

// dialect is what the shared methods (store.SQLStore) say differently on SQLite: nothing
// to lock row by row, since every transaction begins IMMEDIATE and holds the write lock.
var dialect = store.Dialect{IsUnique: isUnique, IsFK: isFK}

func isUnique(err error) bool {
	return err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed")
}

func isFK(err error) bool {
	return err != nil && strings.Contains(err.Error(), "FOREIGN KEY constraint failed")
}

// Times are stored as unix microseconds (UTC), so they sort and compare as integers.
func micros(t time.Time) int64 { return t.UTC().UnixMicro() }

func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

// querier is what a database and a transaction both run.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// sqlDB adapts a database or a transaction to store.DB: the driver reads $N as the Nth
// argument; time.Time arguments are stored as microseconds and read back from them.
type sqlDB struct{ q querier }

func (d sqlDB) QueryRow(ctx context.Context, query string, args ...any) store.Scanner {
	return microsRow{d.q.QueryRowContext(ctx, query, toMicros(args)...)}
}

func (d sqlDB) Query(ctx context.Context, query string, args ...any) (store.RowSet, error) {
	rows, err := d.q.QueryContext(ctx, query, toMicros(args)...)
	if err != nil {
		return nil, err
	}
	return microsRows{rows}, nil
}

func (d sqlDB) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	res, err := d.q.ExecContext(ctx, query, toMicros(args)...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// fileDB is the database as a store.TxDB.
type fileDB struct {
	sqlDB
	pool *sql.DB
}

// inTx runs fn in a transaction; _txlock=immediate makes it take the write lock at BEGIN.
func (f fileDB) inTx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := f.pool.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

func (f fileDB) InTx(ctx context.Context, fn func(store.DB) error) error {
	return f.inTx(ctx, func(tx *sql.Tx) error { return fn(sqlDB{tx}) })
}

// ExecBatch runs the statement, prepared once, for each argument list in one transaction.
func (f fileDB) ExecBatch(ctx context.Context, query string, args [][]any) error {
	return f.inTx(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, query)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, a := range args {
			if _, err := stmt.ExecContext(ctx, toMicros(a)...); err != nil {
				return err
			}
		}
		return nil
	})
}

// toMicros returns args with every time.Time as microseconds.
func toMicros(args []any) []any {
	out := make([]any, len(args))
	for i, a := range args {
		if t, ok := a.(time.Time); ok {
			a = micros(t)
		}
		out[i] = a
	}
	return out
}

type microsRow struct{ row *sql.Row }

func (r microsRow) Scan(dest ...any) error { return scanMicros(r.row, dest) }

type microsRows struct{ *sql.Rows }

func (r microsRows) Scan(dest ...any) error { return scanMicros(r.Rows, dest) }
func (r microsRows) Close()                 { _ = r.Rows.Close() }

// scanMicros scans row into dest, reading a *time.Time (or a nullable **time.Time) from a
// microseconds column.
func scanMicros(row store.Scanner, dest []any) error {
	dst := make([]any, len(dest))
	var fill []func()
	for i, d := range dest {
		switch t := d.(type) {
		case *time.Time:
			var v int64
			dst[i], fill = &v, append(fill, func() { *t = fromMicros(v) })
		case **time.Time:
			var v sql.NullInt64
			dst[i], fill = &v, append(fill, func() { *t = nullMicros(v) })
		default:
			dst[i] = d
		}
	}
	if err := row.Scan(dst...); err != nil {
		return err
	}
	for _, f := range fill {
		f()
	}
	return nil
}

func nullMicros(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMicros(v.Int64)
	return &t
}
