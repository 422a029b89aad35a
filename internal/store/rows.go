package store

import (
	"errors"
	"fmt"
)

// Helpers for the drivers' row handling, so that a driver's method is its SQL and its
// scanning and nothing else.

// Scanner is one row of a driver's result: pgx.Row and pgx.Rows, *sql.Row and *sql.Rows.
type Scanner interface {
	Scan(dest ...any) error
}

// Rows is a driver's result set as CollectRows reads it; the caller closes it.
type Rows interface {
	Scanner
	Next() bool
	Err() error
}

// CollectRows scans every row of rows with scan, in order.
func CollectRows[T any](rows Rows, scan func(Scanner) (T, error)) ([]T, error) {
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// NotFound wraps ErrNotFound with what was looked for.
func NotFound(what string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(what, args...), ErrNotFound)
}

// OneRow passes a single-row read through, turning the driver's no-row error (noRows)
// into ErrNotFound naming what was looked for.
func OneRow[T any](v T, err, noRows error, what string, args ...any) (T, error) {
	if errors.Is(err, noRows) {
		return v, NotFound(what, args...)
	}
	return v, err
}

// CollectMap reads two-column rows into a map from the first column to the second.
func CollectMap[K ~string, V any](rows Rows) (map[K]V, error) {
	out := map[K]V{}
	for rows.Next() {
		var k string
		var v V
		if err := rows.Scan(&k, &v); err != nil {
			return nil, err
		}
		out[K(k)] = v
	}
	return out, rows.Err()
}

// CollectPairs reads two-text-column rows, handing each pair to add.
func CollectPairs(rows Rows, add func(a, b string)) error {
	for rows.Next() {
		var a, b string
		if err := rows.Scan(&a, &b); err != nil {
			return err
		}
		add(a, b)
	}
	return rows.Err()
}

// LedgerLinkID and LedgerObject pick the key column a driver's ledger scan fills.
func LedgerLinkID(e *LedgerEntry) *string { return &e.LinkID }
func LedgerObject(e *LedgerEntry) *string { return &e.Object }
