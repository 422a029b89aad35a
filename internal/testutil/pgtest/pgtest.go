// Package pgtest gives each test its own empty PostgreSQL database on the server named by
// HLRZ_TEST_PG (default: the local server .ci/run starts). A missing server fails the test;
// it is never skipped.
package pgtest

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hlrz/hlrz/internal/store"
)

// EnvVar names the admin connection string used to create test databases.
const EnvVar = "HLRZ_TEST_PG"

// AdminDSN is the server tests use.
func AdminDSN() string {
	if v := os.Getenv(EnvVar); v != "" {
		return v
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

// NewDatabase creates a fresh database and returns its connection string; it is dropped
// when the test ends.
func NewDatabase(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, AdminDSN())
	if err != nil {
		t.Fatalf("pgtest: PostgreSQL is required (set %s or run .ci/run, which starts it): %v", EnvVar, err)
	}
	defer admin.Close(ctx)
	name := "hlrz_t_" + store.NewID()
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, AdminDSN())
		if err != nil {
			t.Logf("pgtest: drop %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Logf("pgtest: drop %s: %v", name, err)
		}
	})
	u, err := url.Parse(AdminDSN())
	if err != nil {
		t.Fatalf("pgtest: %s must be a URL: %v", EnvVar, err)
	}
	u.Path = "/" + name
	return u.String()
}

// MustExec runs statements against dsn, for tests that inspect raw rows.
func MustExec(t testing.TB, dsn, sql string, args ...any) {
	t.Helper()
	ctx := context.Background()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(fmt.Errorf("pgtest: connect: %w", err))
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, sql, args...); err != nil {
		t.Fatal(fmt.Errorf("pgtest: exec: %w", err))
	}
}
