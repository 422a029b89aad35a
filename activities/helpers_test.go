package activities

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/hlrz/hlrz/internal/secrets"
	"github.com/hlrz/hlrz/internal/store"
	"github.com/hlrz/hlrz/internal/store/sqlite"
)

// testStore is an empty SQLite store of the test's own.
func testStore(t *testing.T) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "hlrz.db"), secrets.NewRandom())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	return st
}

// linkedStore is a store with connection c1 and n people linked on both sides (g00/r00…).
func linkedStore(t *testing.T, n int) *sqlite.Store {
	t.Helper()
	ctx := context.Background()
	st := testStore(t)
	if _, err := st.PutConnection(ctx, store.Connection{ID: "c1"}); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if _, err := st.PairLink(ctx, "c1", fmt.Sprintf("g%02d", i), fmt.Sprintf("r%02d", i)); err != nil {
			t.Fatal(err)
		}
	}
	return st
}
