package ghlsim_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/hlrz/hlrz/internal/sim/ghlsim"
)

// TestRateLimitPerLocation: HighLevel counts its burst limit per app and location, so one
// location spending its whole window leaves another location's window untouched; the
// by-location counters split requests and 429s the same way.
func TestRateLimitPerLocation(t *testing.T) {
	const loc2, pit2 = "locSim00000000000002", "pit-sim-test-0002"
	f := newFixture(t, ghlsim.Options{RateMax: 3, RateInterval: time.Minute})
	f.sim.AddPrivateToken(loc2, pit2)
	ids := map[string]string{}
	for token, l := range map[string]string{pit: loc, pit2: loc2} {
		c, err := f.sim.CreateContact(ghlsim.Contact{LocationID: l, Email: "a@example.com"})
		if err != nil {
			t.Fatal(err)
		}
		ids[token] = c.ID
	}
	// The first location spends its window and is refused; the second then still gets all of
	// its own (a limit shared by the locations would refuse it at once).
	for _, token := range []string{pit, pit2} {
		for i := range 4 {
			want := http.StatusOK
			if i == 3 {
				want = http.StatusTooManyRequests
			}
			if st, _, _ := f.call(t, "GET", "/contacts/"+ids[token], token, nil); st != want {
				t.Fatalf("token %s call %d: %d, want %d", token, i, st, want)
			}
		}
	}
	st := f.sim.Stats()
	for _, l := range []string{loc, loc2} {
		if st.RequestsByLocation[l] != 4 || st.RateLimitedByLocation[l] != 1 {
			t.Errorf("%s: %d requests, %d 429s; want 4 and 1", l, st.RequestsByLocation[l], st.RateLimitedByLocation[l])
		}
	}
	if st.Requests != 8 || st.RateLimited != 2 {
		t.Errorf("totals: %d requests, %d 429s; want 8 and 2", st.Requests, st.RateLimited)
	}
	f.contract(t)
}
