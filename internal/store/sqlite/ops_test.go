package sqlite_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/hlrz/hlrz/internal/secrets"
	"github.com/hlrz/hlrz/internal/store"
	"github.com/hlrz/hlrz/internal/store/sqlite"
)

func openWith(t *testing.T, path, spec string) *sqlite.Store {
	t.Helper()
	kr, err := secrets.Parse(spec)
	if err != nil {
		t.Fatal(err)
	}
	s, err := sqlite.Open(context.Background(), path, kr)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestResealAndDeleteConnection rotates the key, reseals every sealed value under the new
// one (then nothing more), reads everything with the new key alone, and deletes the
// connection with all its rows.
func TestResealAndDeleteConnection(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "hlrz.db")
	oldSpec, newSpec := secrets.GenerateSpec("old"), secrets.GenerateSpec("new")
	s := openWith(t, path, oldSpec)
	if _, err := s.PutConnection(ctx, store.Connection{ID: "c1", GHLLocationID: "loc1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutToken(ctx, store.Token{ConnectionID: "c1", Kind: store.TokenGHL, Mode: store.AuthPrivate, AccessToken: "secret-access"}); err != nil {
		t.Fatal(err)
	}
	l, _, err := s.EnsureLink(ctx, "c1", store.SideGHL, "g1")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutLedger(ctx, store.LedgerEntry{ConnectionID: "c1", LinkID: l.ID, Object: "contact", Snapshot: []byte(`{"firstName":"Ada"}`), Hash: "h"}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutObservations(ctx, "c1", store.SideGHL, []store.Observation{{ContactID: "g1", Body: []byte(`{"id":"g1"}`), ObservedAt: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	dl, err := s.AddDeadLetter(ctx, store.DeadLetter{ConnectionID: "c1", Kind: "K", Input: []byte(`{"a":1}`), Error: "e"})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.InsertInbox(ctx, store.InboxEvent{DedupeKey: "w1", Source: "ghl", EventType: "ContactUpdate", Body: []byte(`{"x":1}`), ReceivedAt: time.Now(), State: store.InboxPending}); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s = openWith(t, path, newSpec+","+oldSpec)
	first, err := s.Reseal(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{"tokens": 1, "company_tokens": 0, "inbox": 1, "ledger": 1, "observations": 1, "dead_letters": 1}
	for _, c := range first {
		if c.Resealed != want[c.Table] || c.Current != 0 {
			t.Errorf("first reseal of %s: %+v, want %d resealed", c.Table, c, want[c.Table])
		}
	}
	again, err := s.Reseal(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range again {
		if c.Resealed != 0 || c.Current != want[c.Table] {
			t.Errorf("second reseal of %s: %+v", c.Table, c)
		}
	}
	s.Close()

	s = openWith(t, path, newSpec)
	defer s.Close()
	if tok, err := s.GetToken(ctx, "c1", store.TokenGHL); err != nil || tok.AccessToken != "secret-access" {
		t.Errorf("token with the new key alone: %v", err)
	}
	if e, err := s.GetLedger(ctx, "c1", l.ID, "contact"); err != nil || string(e.Snapshot) != `{"firstName":"Ada"}` {
		t.Errorf("ledger with the new key alone: %v", err)
	}
	if o, err := s.GetObservation(ctx, "c1", store.SideGHL, "g1"); err != nil || string(o.Body) != `{"id":"g1"}` {
		t.Errorf("observation with the new key alone: %v", err)
	}
	if d, err := s.GetDeadLetter(ctx, dl); err != nil || string(d.Input) != `{"a":1}` {
		t.Errorf("dead letter with the new key alone: %v", err)
	}

	foot, err := s.ConnectionFootprint(ctx, "c1")
	if err != nil {
		t.Fatal(err)
	}
	gone, err := s.DeleteConnection(ctx, "c1")
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]int64{}
	for i, c := range gone {
		rows[c.Table] = c.Rows
		if foot[i] != c {
			t.Errorf("footprint %+v, deleted %+v", foot[i], c)
		}
	}
	for table, n := range map[string]int64{"tokens": 1, "links": 1, "ledger": 1, "observations": 1, "dead_letters": 1, "connections": 1} {
		if rows[table] != n {
			t.Errorf("deleted %d rows of %s, want %d", rows[table], table, n)
		}
	}
	if _, err := s.GetConnection(ctx, "c1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("connection after delete: %v", err)
	}
	if _, err := s.DeleteConnection(ctx, "c1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second delete: %v", err)
	}
}
