package postgres_test

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/hlrz/hlrz/internal/secrets"
	"github.com/hlrz/hlrz/internal/store"
	"github.com/hlrz/hlrz/internal/store/postgres"
	"github.com/hlrz/hlrz/internal/store/storetest"
	"github.com/hlrz/hlrz/internal/testutil/pgtest"
)

func open(t *testing.T) store.Store {
	s, err := postgres.Open(context.Background(), pgtest.NewDatabase(t), secrets.NewRandom())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) { storetest.Run(t, open) }

// Two processes starting together must apply each migration exactly once.
func TestConcurrentMigrations(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	kr := secrets.NewRandom()
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := postgres.Open(context.Background(), dsn, kr)
			if err == nil {
				s.Close()
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("opener %d: %v", i, err)
		}
	}
	c, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	var n int
	if err := c.QueryRow(context.Background(), `SELECT count(*) FROM schema_migrations`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	files, err := fs.Glob(os.DirFS("migrations"), "*.sql")
	if err != nil {
		t.Fatal(err)
	}
	if n != len(files) {
		t.Errorf("schema_migrations rows = %d, want one per migration file (%d)", n, len(files))
	}
}

// Tokens are sealed at rest: the raw column never holds the secret.
func TestTokensEncryptedAtRest(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	ctx := context.Background()
	s, err := postgres.Open(ctx, dsn, secrets.NewRandom())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.PutConnection(ctx, store.Connection{ID: "c1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutToken(ctx, store.Token{ConnectionID: "c1", Kind: store.TokenGHL, Mode: store.AuthOAuth, AccessToken: "secret-access", RefreshToken: "secret-refresh"}); err != nil {
		t.Fatal(err)
	}
	var access, refresh string
	if err := s.Pool().QueryRow(ctx, `SELECT access_sealed, refresh_sealed FROM tokens`).Scan(&access, &refresh); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(access+refresh, "secret") || !strings.HasPrefix(access, "dev.") {
		t.Errorf("token stored in clear or without key id: %q %q", access, refresh)
	}
	// A store opened with another key cannot read it, and says so.
	other, err := postgres.Open(ctx, dsn, secrets.NewRandom())
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := other.GetToken(ctx, "c1", store.TokenGHL); err == nil || strings.Contains(err.Error(), "secret-access") {
		t.Errorf("GetToken with wrong key: err = %v", err)
	}
}

func TestBadDSN(t *testing.T) {
	_, err := postgres.Open(context.Background(), "postgres://user:hunter2@host:notaport/db", secrets.NewRandom())
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("bad DSN: err = %v (must fail without echoing the password)", err)
	}
}

// Personal data is sealed at rest; see storetest.AtRest.
func TestDataAtRest(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	storetest.AtRest(t, func(t *testing.T, kr *secrets.Keyring) store.Store {
		s, err := postgres.Open(context.Background(), dsn, kr)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}, func(t *testing.T, tables ...string) string {
		conn, err := pgx.Connect(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		var b strings.Builder
		for _, table := range tables {
			rows, err := conn.Query(context.Background(), "SELECT * FROM "+table)
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				vals, err := rows.Values()
				if err != nil {
					t.Fatal(err)
				}
				for _, v := range vals {
					fmt.Fprintf(&b, "%s\n", v)
				}
			}
			rows.Close()
		}
		return b.String()
	})
}
