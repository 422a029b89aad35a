package activities

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/hlrz/hlrz/internal/referrizer"
	"github.com/hlrz/hlrz/internal/sim/rzsim"
)

// TestReferrizerWritesInARowReadOnce: a write right after another edits the contact as
// Referrizer answered the first (no read), and a write after the freshness bound reads
// again, keeping an edit made in Referrizer meanwhile.
func TestReferrizerWritesInARowReadOnce(t *testing.T) {
	ctx := context.Background()
	w := newSimWorld(t)
	clock := time.Now()
	w.core.Now = func() time.Time { return clock }
	rc, err := w.rz.AdminCreateContact(w.rzToken, rzsim.Contact{FirstName: "Ada", Email: "ada@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := w.core.Conns.Get(ctx, w.conn.ID)
	if err != nil {
		t.Fatal(err)
	}
	write := func(label string) (gets int64) {
		t.Helper()
		before := w.rz.Stats().Calls["GET /v1/contacts/{id}"]
		if _, err := w.core.updateRZ(ctx, conn, rc.ID, referrizer.ContactPatch{AddLabels: []string{label}}, nil); err != nil {
			t.Fatalf("write %s: %v", label, err)
		}
		return w.rz.Stats().Calls["GET /v1/contacts/{id}"] - before
	}
	if n := write("a"); n != 1 {
		t.Errorf("first write read %d times, want 1", n)
	}
	clock = clock.Add(rzWriteFreshness / 2)
	if n := write("b"); n != 0 {
		t.Errorf("write right after it read %d times, want 0 (edits the first write's answer)", n)
	}
	if _, err := w.rz.AdminUpdateContact(w.rzToken, rc.ID, func(c *rzsim.Contact) { c.LastName = "Lovelace" }); err != nil {
		t.Fatal(err)
	}
	clock = clock.Add(rzWriteFreshness)
	if n := write("c"); n != 1 {
		t.Errorf("write after the freshness bound read %d times, want 1", n)
	}
	got := w.rz.Contacts(w.rzToken)
	if len(got) != 1 || got[0].LastName != "Lovelace" || !slices.Equal(got[0].Labels, []string{"a", "b", "c"}) {
		t.Errorf("Referrizer holds %+v, want Ada Lovelace labelled a, b, c", got)
	}
}
