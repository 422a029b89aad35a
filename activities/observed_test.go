package activities

import (
	"context"
	"testing"
	"time"

	"github.com/hlrz/hlrz/internal/store"
)

// TestObservedUsesOnlyFreshRecordsNewerThanTheBase pins when a pass may take a bulk-read
// record instead of reading the person: never when it predates the person's base (it could
// undo what that pass wrote) and never past the age bound.
func TestObservedUsesOnlyFreshRecordsNewerThanTheBase(t *testing.T) {
	ctx := context.Background()
	st := linkedStore(t, 0)
	read := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	if err := st.PutObservations(ctx, "c1", store.SideGHL, []store.Observation{
		{ContactID: "g1", Body: []byte(`{"id":"g1","lastName":"Bulk"}`), ObservedAt: read},
	}); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name      string
		id        string
		now, base time.Time
		want      bool
	}{
		{"fresh, newer than the base", "g1", read.Add(time.Minute), read.Add(-time.Hour), true},
		{"a backfill's last pass, 29 min after its page", "g1", read.Add(29 * time.Minute), time.Time{}, true},
		{"older than the age bound", "g1", read.Add(31 * time.Minute), time.Time{}, false},
		{"read before the base was recorded", "g1", read.Add(time.Minute), read.Add(time.Second), false},
		{"read at the same instant as the base", "g1", read.Add(time.Minute), read, false},
		{"never observed", "g2", read.Add(time.Minute), time.Time{}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := &Core{Store: st, Now: func() time.Time { return c.now }}
			var got struct {
				ID       string `json:"id"`
				LastName string `json:"lastName"`
			}
			at, ok := d.observed(ctx, 0, "c1", store.SideGHL, c.id, c.base, &got)
			if ok != c.want {
				t.Fatalf("observed = %v, want %v", ok, c.want)
			}
			if ok && !at.Equal(read) {
				t.Fatalf("observed at %v, want the page's read time %v", at, read)
			}
			if ok && (got.ID != "g1" || got.LastName != "Bulk") {
				t.Fatalf("decoded %+v, want the stored record", got)
			}
		})
	}
}
