package syncmodel

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestMatch(t *testing.T) {
	tests := []struct {
		name    string
		ghl, rz []Candidate
		want    MatchResult
	}{
		{
			name: "e-mail, case-insensitive and trimmed",
			ghl:  []Candidate{{ID: "g1", Email: "Ann@X.com "}},
			rz:   []Candidate{{ID: "r1", Email: "ann@x.com"}},
			want: MatchResult{Pairs: []MatchPair{{GHL: "g1", RZ: "r1", By: "email"}}},
		},
		{
			name: "phone in any format when e-mail does not match",
			ghl:  []Candidate{{ID: "g1", Email: "a@x.com", Phone: "(212) 555-0182"}},
			rz:   []Candidate{{ID: "r1", Email: "other@x.com", Phone: "+1 212 555 0182"}},
			want: MatchResult{Pairs: []MatchPair{{GHL: "g1", RZ: "r1", By: "phone"}}},
		},
		{
			name: "e-mail beats phone",
			ghl:  []Candidate{{ID: "g1", Email: "a@x.com", Phone: "2125550182"}, {ID: "g2", Email: "b@x.com", Phone: "2125550199"}},
			rz:   []Candidate{{ID: "r1", Email: "a@x.com", Phone: "2125550199"}},
			want: MatchResult{Pairs: []MatchPair{{GHL: "g1", RZ: "r1", By: "email"}}, Ambiguous: []Ambiguity{
				{By: "phone", Key: "+12125550199", GHL: []string{"g2"}, RZ: []string{"r1"}}}},
		},
		{
			name: "one e-mail on two HighLevel records is ambiguous, and phone does not break the tie",
			ghl:  []Candidate{{ID: "g1", Email: "a@x.com", Phone: "2125550182"}, {ID: "g2", Email: "A@x.com"}},
			rz:   []Candidate{{ID: "r1", Email: "a@x.com", Phone: "2125550182"}},
			want: MatchResult{Ambiguous: []Ambiguity{
				{By: "email", Key: "a@x.com", GHL: []string{"g1", "g2"}, RZ: []string{"r1"}},
				{By: "phone", Key: "+12125550182", GHL: []string{"g1"}, RZ: []string{"r1"}},
			}},
		},
		{
			name: "one Referrizer record matching a HighLevel record already paired",
			ghl:  []Candidate{{ID: "g1", Email: "a@x.com", Phone: "2125550182"}},
			rz:   []Candidate{{ID: "r1", Email: "a@x.com"}, {ID: "r2", Phone: "212-555-0182"}},
			want: MatchResult{
				Pairs:     []MatchPair{{GHL: "g1", RZ: "r1", By: "email"}},
				Ambiguous: []Ambiguity{{By: "phone", Key: "+12125550182", GHL: []string{"g1"}, RZ: []string{"r2"}}},
			},
		},
		{
			name: "pair agreeing on both keys is not ambiguous",
			ghl:  []Candidate{{ID: "g1", Email: "a@x.com", Phone: "2125550182"}},
			rz:   []Candidate{{ID: "r1", Email: "a@x.com", Phone: "2125550182"}},
			want: MatchResult{Pairs: []MatchPair{{GHL: "g1", RZ: "r1", By: "email"}}},
		},
		{
			name: "shared phone, two on each side",
			ghl:  []Candidate{{ID: "g1", Phone: "2125550182"}, {ID: "g2", Phone: "2125550182"}},
			rz:   []Candidate{{ID: "r1", Phone: "2125550182"}, {ID: "r2", Phone: "+12125550182"}},
			want: MatchResult{Ambiguous: []Ambiguity{{By: "phone", Key: "+12125550182", GHL: []string{"g1", "g2"}, RZ: []string{"r1", "r2"}}}},
		},
		{
			name: "unmatched, unparseable phones and blank keys never match",
			ghl:  []Candidate{{ID: "g1", Phone: "555-0100"}, {ID: "g2"}, {ID: "g3", Email: "only@ghl.com"}},
			rz:   []Candidate{{ID: "r1", Phone: "555-0100"}, {ID: "r2", Email: " "}},
			want: MatchResult{UnmatchedGHL: []string{"g1", "g2", "g3"}, UnmatchedRZ: []string{"r1", "r2"}},
		},
		{
			name: "a repeated id counts once; empty ids are skipped",
			ghl:  []Candidate{{ID: "g1", Email: "a@x.com"}, {ID: "g1", Email: "a@x.com"}, {Email: "a@x.com"}},
			rz:   []Candidate{{ID: "r1", Email: "a@x.com"}},
			want: MatchResult{Pairs: []MatchPair{{GHL: "g1", RZ: "r1", By: "email"}}},
		},
		{
			name: "many people, sorted output",
			ghl:  []Candidate{{ID: "g3", Email: "c@x.com"}, {ID: "g1", Email: "a@x.com"}, {ID: "g2", Phone: "2125550100"}},
			rz:   []Candidate{{ID: "r9", Email: "a@x.com"}, {ID: "r8", Email: "c@x.com"}, {ID: "r7", Phone: "212 555 0100"}, {ID: "r6"}},
			want: MatchResult{
				Pairs:       []MatchPair{{GHL: "g1", RZ: "r9", By: "email"}, {GHL: "g2", RZ: "r7", By: "phone"}, {GHL: "g3", RZ: "r8", By: "email"}},
				UnmatchedRZ: []string{"r6"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Match(tt.ghl, tt.rz, "US")
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Match (-want +got):\n%s", diff)
			}
			checkMatchInvariants(t, tt.ghl, tt.rz, got)
		})
	}
}

// checkMatchInvariants: every record is in exactly one of paired, ambiguous-and-unpaired,
// or unmatched; nobody is paired twice.
func checkMatchInvariants(t *testing.T, ghl, rz []Candidate, r MatchResult) {
	t.Helper()
	seen := map[string]int{}
	for _, p := range r.Pairs {
		seen["ghl:"+p.GHL]++
		seen["rz:"+p.RZ]++
	}
	amb := map[string]bool{}
	for _, a := range r.Ambiguous {
		for _, id := range a.GHL {
			amb["ghl:"+id] = true
		}
		for _, id := range a.RZ {
			amb["rz:"+id] = true
		}
	}
	for _, id := range r.UnmatchedGHL {
		seen["ghl:"+id]++
	}
	for _, id := range r.UnmatchedRZ {
		seen["rz:"+id]++
	}
	for side, cs := range map[string][]Candidate{"ghl": ghl, "rz": rz} {
		for _, c := range cs {
			if c.ID == "" {
				continue
			}
			k := side + ":" + c.ID
			if n := seen[k]; n > 1 || (n == 0 && !amb[k]) {
				t.Errorf("%s appears %d times (ambiguous: %v)", k, n, amb[k])
			}
		}
	}
}

func TestMatchKeys(t *testing.T) {
	got := MatchKeys(" Ann@X.com ", "(212) 555-0182", "US")
	if diff := cmp.Diff([]string{"email:ann@x.com", "phone:+12125550182"}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if got := MatchKeys("", "555-0100", "US"); len(got) != 0 {
		t.Errorf("no usable keys = %v", got)
	}
}

// population returns n people per side: most match by e-mail, some by phone only, a few
// share an e-mail (ambiguous), the rest exist on one side.
func population(n int) (ghl, rz []Candidate) {
	for i := range n {
		phone := fmt.Sprintf("+1212%07d", i)
		switch {
		case i%10 == 0: // phone only
			ghl = append(ghl, Candidate{ID: fmt.Sprintf("g%d", i), Email: fmt.Sprintf("g%d@ghl.com", i), Phone: phone})
			rz = append(rz, Candidate{ID: fmt.Sprintf("r%d", i), Phone: phone})
		case i%100 == 1: // shared e-mail on HighLevel
			ghl = append(ghl, Candidate{ID: fmt.Sprintf("g%d", i), Email: "family@x.com"})
			rz = append(rz, Candidate{ID: fmt.Sprintf("r%d", i), Email: fmt.Sprintf("solo%d@x.com", i)})
		default:
			ghl = append(ghl, Candidate{ID: fmt.Sprintf("g%d", i), Email: fmt.Sprintf("p%d@x.com", i), Phone: phone})
			rz = append(rz, Candidate{ID: fmt.Sprintf("r%d", i), Email: fmt.Sprintf("P%d@X.com", i)})
		}
	}
	rz = append(rz, Candidate{ID: "r-family", Email: "family@x.com"})
	return ghl, rz
}

func TestMatchTenThousand(t *testing.T) {
	ghl, rz := population(10_000)
	start := time.Now()
	r := Match(ghl, rz, "US")
	elapsed := time.Since(start)
	// 10,000 - 100 (shared e-mail) pairs; the 100 plus r-family ambiguous; 100 solos unmatched.
	if len(r.Pairs) != 9_900 || len(r.Ambiguous) != 1 || len(r.Ambiguous[0].GHL) != 100 || len(r.UnmatchedRZ) != 100 || len(r.UnmatchedGHL) != 0 {
		t.Errorf("pairs %d, ambiguous %d, unmatched %d/%d", len(r.Pairs), len(r.Ambiguous), len(r.UnmatchedGHL), len(r.UnmatchedRZ))
	}
	checkMatchInvariants(t, ghl, rz, r)
	// A quadratic match would take minutes here; keep a generous bound for a shared machine.
	if elapsed > 10*time.Second {
		t.Errorf("Match of 10,000 × 10,000 took %v", elapsed)
	}
}

func BenchmarkMatch10k(b *testing.B) {
	ghl, rz := population(10_000)
	b.ResetTimer()
	for b.Loop() {
		Match(ghl, rz, "US")
	}
}
