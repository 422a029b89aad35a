package e2e_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/hlrz/hlrz/internal/e2e"
	"github.com/hlrz/hlrz/internal/sim/ghlsim"
	"github.com/hlrz/hlrz/internal/store"
)

// ghlReadCount is how many HighLevel read calls the simulator has answered.
func ghlReadCount(e *e2e.Env) int64 {
	var n int64
	for op, c := range e.GHL.Stats().Operations {
		if !ghlWriteOps[op] {
			n += c
		}
	}
	return n
}

// A field edit and a tag edit in HighLevel reach Referrizer without a HighLevel call: the
// signed webhook's body is HighLevel's own statement of the contact, and the pass plans
// with it instead of reading the contact (issue 21, item 5).
func TestHighLevelEditCostsNoHighLevelCall(t *testing.T) {
	e := e2e.Start(t, e2e.Options{})
	c, err := e.GHL.CreateContact(ghlsim.Contact{LocationID: e.LocationID, FirstName: "Wren", LastName: "Hale", Email: "wren@example.com", Phone: "+15550123", Tags: []string{"member"}})
	if err != nil {
		t.Fatal(err)
	}
	e.Eventually(60*time.Second, "Wren in Referrizer", func() (bool, string) {
		r, ok := rzByEmail(e, "wren@example.com")
		return ok && slices.Contains(r.Labels, "member"), fmt.Sprintf("%+v", r)
	})
	waitIdle(t, e)
	// The first sync's base is recorded; the edits below come later than the clock margin.
	time.Sleep(3 * time.Second)

	edits := []struct {
		what string
		edit func() error
		done func() (bool, string)
	}{
		{"field edit (last name)",
			func() error {
				_, err := e.GHL.UpdateContact(c.ID, ghlsim.ContactPatch{LastName: new("Marsh")})
				return err
			},
			func() (bool, string) {
				r, _ := rzByEmail(e, "wren@example.com")
				return r.LastName == "Marsh", r.LastName
			}},
		{"tag edit",
			func() error { _, err := e.GHL.AddTags(c.ID, "yoga"); return err },
			func() (bool, string) {
				r, _ := rzByEmail(e, "wren@example.com")
				return slices.Contains(r.Labels, "yoga"), fmt.Sprint(r.Labels)
			}},
	}
	for _, ed := range edits {
		reads, inbox := ghlReadCount(e), signalled(t, e)
		if err := ed.edit(); err != nil {
			t.Fatal(err)
		}
		e.Eventually(60*time.Second, ed.what+" in Referrizer", ed.done)
		waitIdle(t, e)
		if n := signalled(t, e) - inbox; n < 1 {
			t.Fatalf("%s: %d webhooks signalled, want the edit's", ed.what, n)
		}
		if n := ghlReadCount(e) - reads; n != 0 {
			t.Errorf("%s cost %d HighLevel reads (%v), want 0", ed.what, n, e.GHL.Stats().Operations)
		}
	}
}

func signalled(t *testing.T, e *e2e.Env) int {
	t.Helper()
	counts, err := e.Store.InboxCounts(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return counts[store.InboxSignalled]
}
