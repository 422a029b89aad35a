package store

import (
	"context"
	"sync"

	"github.com/hlrz/hlrz/internal/secrets"
)

// The methods both SQL drivers implement the same way are written once here (SQLStore), over
// a small query layer each driver adapts its database to (DB, TxDB), with the SQL text the
// dialects disagree on in a Dialect. A driver keeps for itself only the methods whose SQL
// differs in shape (claiming and extending inbox leases, matching keys, resealing, migrating).

// DB runs SQL for the shared methods: a pool, a connection or a transaction. Placeholders are
// $1, $2, … on every database (SQLite reads $N as the Nth argument, and a repeated $N as the
// same one). Times go in and come out as time.Time in UTC, a nullable time as *time.Time:
// the adapter stores them the way its database does.
type DB interface {
	QueryRow(ctx context.Context, sql string, args ...any) Scanner
	Query(ctx context.Context, sql string, args ...any) (RowSet, error)
	// Exec runs a statement and returns how many rows it changed.
	Exec(ctx context.Context, sql string, args ...any) (int64, error)
}

// RowSet is an open result set; the caller closes it.
type RowSet interface {
	Rows
	Close()
}

// TxDB is a database: a DB that also runs transactions and batches.
type TxDB interface {
	DB
	// InTx runs fn in one transaction, committed when fn returns nil and rolled back
	// otherwise. On SQLite the transaction holds the database's write lock from its start.
	InTx(ctx context.Context, fn func(tx DB) error) error
	// ExecBatch runs sql once for each argument list, all or nothing.
	ExecBatch(ctx context.Context, sql string, args [][]any) error
}

// Dialect is what the shared methods cannot say the same way on every database.
type Dialect struct {
	// ForUpdate ends a read that must lock its row for the rest of the transaction
	// (" FOR UPDATE"); empty where the transaction already holds the write lock.
	ForUpdate string
	// LockLinks, run first in a pairing or claiming transaction with the connection id as
	// $1, serialises pairings and claims of one connection; empty where the transaction's
	// write lock already does.
	LockLinks string
	// IsUnique and IsFK recognise a unique and a foreign-key violation.
	IsUnique, IsFK func(error) bool
}

// SQLStore is the Store methods that are the same on every SQL database. A driver embeds it
// and adds, or overrides with, the methods its dialect needs.
type SQLStore struct {
	db TxDB
	kr *secrets.Keyring
	d  Dialect
	// tokenLocks keeps concurrent refreshers inside one process from each taking a
	// connection to queue on the same row lock (and makes UpdateToken single-flight where
	// the database serialises whole transactions).
	tokenLocks sync.Map // key -> *sync.Mutex
}

// NewSQLStore returns the shared methods over db, sealing with kr.
func NewSQLStore(db TxDB, kr *secrets.Keyring, d Dialect) *SQLStore {
	return &SQLStore{db: db, kr: kr, d: d}
}

// lock takes the in-process lock named key and returns its release.
func (s *SQLStore) lock(key string) func() {
	mu, _ := s.tokenLocks.LoadOrStore(key, &sync.Mutex{})
	mu.(*sync.Mutex).Lock()
	return mu.(*sync.Mutex).Unlock
}

// queryAll runs query on db and scans every row with scan.
func queryAll[T any](ctx context.Context, db DB, scan func(Scanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := db.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return CollectRows(rows, scan)
}

// changedOne is nil when an update changed a row (n rows), else ErrNotFound naming what
// was looked for.
func changedOne(n int64, what string, args ...any) error {
	if n == 0 {
		return NotFound(what, args...)
	}
	return nil
}

// nullString stores an empty id as NULL, so that unique indexes ignore it.
func nullString(v string) any {
	if v == "" {
		return nil
	}
	return v
}
