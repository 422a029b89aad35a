package activities

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/hlrz/hlrz/internal/domain"
	"github.com/hlrz/hlrz/internal/store"
)

// The rotating re-read reads each run's quota, resumes where the previous run stopped,
// wraps around, never reads anyone twice in one run, and so reads everyone within the bound.
func TestRotationCoversEveryoneWithinTheBound(t *testing.T) {
	ctx := context.Background()
	const n = 25
	st := linkedStore(t, n)
	if _, _, err := st.EnsureLink(ctx, "c1", store.SideGHL, "one-sided"); err != nil { // not in the sweep
		t.Fatal(err)
	}
	in := domain.ReconcileInput{ConnectionID: "c1", PageSize: 3, Every: 30 * time.Minute, SweepWithin: 2 * time.Hour}
	var reads []string
	d := &drift{Reconciler: &Reconciler{Core: Core{Store: st}}, in: in, pace: func(context.Context) error { return nil },
		read: func(_ context.Context, _ string, p person, _ *domain.ReconcileResult) error {
			reads = append(reads, p.link.GHLContactID)
			return nil
		}}
	quota := rotationQuota(n, in.Every, in.SweepWithin) // 4 runs: 7 a run
	if quota != 7 {
		t.Fatalf("quota = %d, want 7", quota)
	}
	seen := map[string]int{}
	for run := 1; run <= 4; run++ {
		reads = nil
		var rot domain.Rotation
		var res domain.ReconcileResult
		for steps := 0; ; steps++ {
			if steps > 10 {
				t.Fatalf("run %d does not finish", run)
			}
			done, err := d.rotate(ctx, domain.ReconcileSweep, &rot, &res)
			if err != nil {
				t.Fatal(err)
			}
			if done {
				break
			}
		}
		if len(reads) > quota {
			t.Errorf("run %d read %d people, quota %d", run, len(reads), quota)
		}
		once := map[string]bool{}
		for _, id := range reads {
			if once[id] {
				t.Errorf("run %d read %s twice: %v", run, id, reads)
			}
			once[id] = true
			seen[id]++
		}
		t.Logf("run %d read %v", run, reads)
	}
	if len(seen) != n {
		t.Errorf("four runs read %d of %d people", len(seen), n)
	}
	// A bound shorter than the interval reads everyone every run, once, wrapping around,
	// even when people leave the rotation during the run (its quota was counted before).
	d.in.SweepWithin = time.Minute
	reads = nil
	var rot domain.Rotation
	if done, err := d.rotate(ctx, domain.ReconcileSweep, &rot, &domain.ReconcileResult{}); err != nil || done {
		t.Fatalf("first step: done %v, err %v", done, err)
	}
	links, err := st.ListLinks(ctx, "c1", "", 100)
	if err != nil {
		t.Fatal(err)
	}
	gone := 0
	for _, l := range links {
		if l.GHLContactID != "" && l.RZContactID != "" && !slices.Contains(reads, l.GHLContactID) && gone < 5 {
			if err := st.MarkLinkDeleted(ctx, "c1", l.ID, true); err != nil {
				t.Fatal(err)
			}
			gone++
		}
	}
	for steps := 0; ; steps++ {
		if steps > 20 {
			t.Fatal("the run does not finish")
		}
		done, err := d.rotate(ctx, domain.ReconcileSweep, &rot, &domain.ReconcileResult{})
		if err != nil {
			t.Fatal(err)
		}
		if done {
			break
		}
	}
	once := map[string]bool{}
	for _, id := range reads {
		if once[id] {
			t.Errorf("read %s twice: %v", id, reads)
		}
		once[id] = true
	}
	if len(once) != n-gone {
		t.Errorf("one run with everyone due read %d of %d: %v", len(once), n-gone, reads)
	}
}

// A re-read that fails part-way through a step keeps what it read: the step ends without an
// error at the person before the failure, and the next step starts at the failed person; a
// step whose first read fails returns the error (retried with backoff).
func TestRotationKeepsProgressWhenAReadFails(t *testing.T) {
	ctx := context.Background()
	st := linkedStore(t, 6)
	in := domain.ReconcileInput{ConnectionID: "c1", PageSize: 100, Every: time.Hour, SweepWithin: time.Hour}
	var reads []string
	calls := 0 // the third person in the rotation's order fails twice
	d := &drift{Reconciler: &Reconciler{Core: Core{Store: st}}, in: in, pace: func(context.Context) error { return nil },
		read: func(_ context.Context, _ string, p person, _ *domain.ReconcileResult) error {
			calls++
			if calls == 3 || calls == 4 {
				return fmt.Errorf("injected 500 reading %s", p.link.GHLContactID)
			}
			reads = append(reads, p.link.GHLContactID)
			return nil
		}}
	var rot domain.Rotation
	var res domain.ReconcileResult
	var errs int
	for steps := 0; ; steps++ {
		if steps > 10 {
			t.Fatal("the sweep does not finish")
		}
		done, err := d.rotate(ctx, domain.ReconcileSweep, &rot, &res)
		if err != nil {
			errs++
			continue
		}
		if done {
			break
		}
	}
	got := slices.Sorted(slices.Values(reads)) // the rotation's order is the links' (random) ids
	if want := []string{"g00", "g01", "g02", "g03", "g04", "g05"}; !slices.Equal(got, want) {
		t.Errorf("reads = %v, want each of %v once", reads, want)
	}
	if errs != 1 {
		t.Errorf("%d steps failed, want 1 (the step that began at the failing person, once)", errs)
	}
}
