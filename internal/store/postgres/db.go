package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hlrz/hlrz/internal/store"
)

// dialect is what the shared methods (store.SQLStore) say differently on PostgreSQL.
var dialect = store.Dialect{
	// Row locks: a refresh waits for the one before it, a claim holds its contact's owner.
	ForUpdate: ` FOR UPDATE`,
	// Pairings and claims of one connection run one at a time: two touching the same ids
	// must not both decide to insert (or absorb each other's link).
	LockLinks: `SELECT pg_advisory_xact_lock(hashtext('links/' || $1))`,
	IsUnique:  isUnique,
	IsFK:      isFK,
}

func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

func isUnique(err error) bool { return pgCode(err) == "23505" }
func isFK(err error) bool     { return pgCode(err) == "23503" }

// querier is what a pool and a transaction both run.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// pgDB adapts a pool or a transaction to store.DB: pgx takes $N and time.Time as they are,
// and scans times in the local zone, which utcScan turns to UTC.
type pgDB struct{ q querier }

func (d pgDB) QueryRow(ctx context.Context, sql string, args ...any) store.Scanner {
	return utcRow{d.q.QueryRow(ctx, sql, args...)}
}

func (d pgDB) Query(ctx context.Context, sql string, args ...any) (store.RowSet, error) {
	rows, err := d.q.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	return utcRows{rows}, nil
}

func (d pgDB) Exec(ctx context.Context, sql string, args ...any) (int64, error) {
	tag, err := d.q.Exec(ctx, sql, args...)
	return tag.RowsAffected(), err
}

// poolDB is the pool as a store.TxDB.
type poolDB struct {
	pgDB
	pool *pgxpool.Pool
}

func (p poolDB) InTx(ctx context.Context, fn func(store.DB) error) error {
	return pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error { return fn(pgDB{tx}) })
}

// ExecBatch sends every statement in one round trip; a batch outside a transaction runs as
// one implicit transaction, so it is all or nothing.
func (p poolDB) ExecBatch(ctx context.Context, sql string, args [][]any) error {
	b := &pgx.Batch{}
	for _, a := range args {
		b.Queue(sql, a...)
	}
	return p.pool.SendBatch(ctx, b).Close()
}

type utcRow struct{ pgx.Row }

func (r utcRow) Scan(dest ...any) error { return utcScan(r.Row, dest) }

type utcRows struct{ pgx.Rows }

func (r utcRows) Scan(dest ...any) error { return utcScan(r.Rows, dest) }

// utcScan scans row into dest and turns the times among dest to UTC.
func utcScan(row store.Scanner, dest []any) error {
	err := row.Scan(dest...)
	for _, d := range dest {
		switch t := d.(type) {
		case *time.Time:
			if !t.IsZero() {
				*t = t.UTC()
			}
		case **time.Time:
			if *t != nil {
				u := (*t).UTC()
				*t = &u
			}
		}
	}
	return err
}
