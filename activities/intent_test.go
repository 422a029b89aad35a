package activities

import (
	"context"
	"testing"
	"time"

	"github.com/hlrz/hlrz/internal/store"
	"github.com/hlrz/hlrz/internal/syncmodel"
)

// TestVisitDatePinnedAcrossAttempts: a visit "now" whose answer is lost at 23:59:59 and
// retried after midnight is sent with its first attempt's date, so Referrizer refuses it as
// that day's check-in instead of recording a second visit on the next day.
func TestVisitDatePinnedAcrossAttempts(t *testing.T) {
	ctx := context.Background()
	st := linkedStore(t, 0)
	link, _, err := st.EnsureLink(ctx, "c1", store.SideGHL, "g1")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 3, 23, 59, 59, 700e6, time.UTC)
	d := &Core{Store: st, Now: func() time.Time { return now }}
	visit := syncmodel.Action{Type: syncmodel.ActionVisit, Key: "welcome:0123456789ab"}

	first := visit
	if err := d.pinAction(ctx, link, &first); err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2026, 12, 3, 23, 59, 59, 0, time.UTC); !first.VisitDate.Equal(want) {
		t.Fatalf("first attempt dated %v, want %v", first.VisitDate, want)
	}
	now = now.Add(time.Minute) // the retry, on the next day
	retry := visit
	if err := d.pinAction(ctx, link, &retry); err != nil {
		t.Fatal(err)
	}
	if !retry.VisitDate.Equal(first.VisitDate) {
		t.Errorf("retry dated %v, want the first attempt's %v", retry.VisitDate, first.VisitDate)
	}
	other := syncmodel.Action{Type: syncmodel.ActionVisit, Key: "welcome:ba9876543210"}
	if err := d.pinAction(ctx, link, &other); err != nil {
		t.Fatal(err)
	}
	if !other.VisitDate.Equal(now.Truncate(time.Second)) {
		t.Errorf("another action dated %v, want its own first attempt %v", other.VisitDate, now.Truncate(time.Second))
	}
	// An appointment's visit keeps the appointment's date.
	appt := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	dated := syncmodel.Action{Type: syncmodel.ActionVisit, Key: "visit:aaaaaaaaaaaa", VisitDate: appt}
	if err := d.pinAction(ctx, link, &dated); err != nil || !dated.VisitDate.Equal(appt) {
		t.Errorf("dated visit became %v (%v)", dated.VisitDate, err)
	}
}
