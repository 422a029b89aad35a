package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hlrz/hlrz/internal/secrets"
	"github.com/hlrz/hlrz/internal/store"
	"github.com/hlrz/hlrz/internal/store/sqlite"
	"github.com/hlrz/hlrz/internal/store/storetest"
)

func open(t *testing.T) store.Store {
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "hlrz.db"), secrets.NewRandom())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) { storetest.Run(t, open) }

func TestReopenKeepsDataAndTokensEncrypted(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "hlrz.db")
	kr := secrets.NewRandom()
	s, err := sqlite.Open(ctx, path, kr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutConnection(ctx, store.Connection{ID: "c1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutToken(ctx, store.Token{ConnectionID: "c1", Kind: store.TokenGHL, Mode: store.AuthPrivate, AccessToken: "secret-access"}); err != nil {
		t.Fatal(err)
	}
	s.Close()

	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	var access string
	if err := raw.QueryRow(`SELECT access_sealed FROM tokens`).Scan(&access); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	if strings.Contains(access, "secret") {
		t.Errorf("token stored in clear: %q", access)
	}

	s, err = sqlite.Open(ctx, path, kr) // migrations are not re-applied
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tok, err := s.GetToken(ctx, "c1", store.TokenGHL)
	if err != nil || tok.AccessToken != "secret-access" {
		t.Errorf("after reopen: %v, %v", tok, err)
	}
}

// Personal data is sealed at rest; see storetest.AtRest.
func TestDataAtRest(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hlrz.db")
	storetest.AtRest(t, func(t *testing.T, kr *secrets.Keyring) store.Store {
		s, err := sqlite.Open(context.Background(), path, kr)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}, func(t *testing.T, tables ...string) string {
		raw, err := sql.Open("sqlite", path)
		if err != nil {
			t.Fatal(err)
		}
		defer raw.Close()
		var b strings.Builder
		for _, table := range tables {
			rows, err := raw.Query("SELECT * FROM " + table)
			if err != nil {
				t.Fatal(err)
			}
			cols, _ := rows.Columns()
			for rows.Next() {
				vals := make([]any, len(cols))
				ptrs := make([]any, len(cols))
				for i := range vals {
					ptrs[i] = &vals[i]
				}
				if err := rows.Scan(ptrs...); err != nil {
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
