package syncmodel

import (
	"cmp"
	"slices"
)

// Candidate is a record offered for first-link matching.
type Candidate struct {
	ID    string `json:"id"`
	Email string `json:"email,omitempty"`
	Phone string `json:"phone,omitempty"`
}

// MatchPair links a HighLevel record to a Referrizer record.
type MatchPair struct {
	GHL string `json:"ghl"`
	RZ  string `json:"rz"`
	By  string `json:"by"` // "email" or "phone"
}

// Ambiguity is a match key shared by records that cannot be paired one to one. Every record
// listed is left unlinked for an operator to decide.
type Ambiguity struct {
	By  string   `json:"by"`  // "email" or "phone"
	Key string   `json:"key"` // the normalized e-mail or E.164 phone
	GHL []string `json:"ghl"`
	RZ  []string `json:"rz"`
}

// MatchResult is the outcome of Match. All lists are sorted.
type MatchResult struct {
	Pairs        []MatchPair `json:"pairs,omitempty"`
	Ambiguous    []Ambiguity `json:"ambiguous,omitempty"`
	UnmatchedGHL []string    `json:"unmatchedGhl,omitempty"`
	UnmatchedRZ  []string    `json:"unmatchedRz,omitempty"`
}

// MatchKeys returns a record's match keys, e-mail first: "email:<lower-cased>" and
// "phone:<E.164>" (only a phone that parses in region counts). Activities can index records
// by these keys across pages with the same rule Match uses.
func MatchKeys(email, phone, region string) []string {
	var out []string
	if k := EmailKey(email); k != "" {
		out = append(out, "email:"+k)
	}
	if k, ok := e164(phone, region); ok {
		out = append(out, "phone:"+k)
	}
	return out
}

// Match links records on first sync: by normalized e-mail, then, for records the e-mail did
// not settle, by E.164 phone (region is the default for phones without a country code). A
// key pairs two records only when exactly one record on each side has it. A key shared
// otherwise is reported in Ambiguous (all its records, on both sides), and its records not
// already paired stay unlinked: never guessed. Runs in linear time (plus sorting the output)
// by indexing both sides by key; a repeated ID on one side counts once.
func Match(ghl, rz []Candidate, region string) MatchResult {
	g, r := newMatchSide(ghl, region), newMatchSide(rz, region)
	var res MatchResult
	pairOf := map[string]string{} // ghl id → rz id, and "rz:"+id → ghl id
	blocked := map[string]bool{}  // side-qualified ids
	free := func(s Side, id string) bool {
		q := string(s) + ":" + id
		return !blocked[q] && pairOf[q] == ""
	}
	for _, kind := range []string{"email", "phone"} {
		gi, ri := g.byEmail, r.byEmail
		if kind == "phone" {
			gi, ri = g.byPhone, r.byPhone
		}
		for _, key := range sortedKeys(ri) {
			gs, rs := gi[key], ri[key]
			if len(gs) == 0 {
				continue
			}
			if len(gs) == 1 && len(rs) == 1 && free(SideGHL, gs[0]) && free(SideRZ, rs[0]) {
				res.Pairs = append(res.Pairs, MatchPair{GHL: gs[0], RZ: rs[0], By: kind})
				pairOf["ghl:"+gs[0]], pairOf["rz:"+rs[0]] = rs[0], gs[0]
				continue
			}
			// Records already paired with each other under this key are consistent; anything
			// else sharing it is ambiguous.
			involved := false
			for _, id := range gs {
				if free(SideGHL, id) || !slices.Contains(rs, pairOf["ghl:"+id]) {
					involved = true
				}
			}
			for _, id := range rs {
				if free(SideRZ, id) || !slices.Contains(gs, pairOf["rz:"+id]) {
					involved = true
				}
			}
			if !involved {
				continue
			}
			res.Ambiguous = append(res.Ambiguous, Ambiguity{By: kind, Key: key, GHL: sorted(gs), RZ: sorted(rs)})
			for _, id := range gs {
				if free(SideGHL, id) {
					blocked["ghl:"+id] = true
				}
			}
			for _, id := range rs {
				if free(SideRZ, id) {
					blocked["rz:"+id] = true
				}
			}
		}
	}
	for _, id := range g.ids {
		if free(SideGHL, id) {
			res.UnmatchedGHL = append(res.UnmatchedGHL, id)
		}
	}
	for _, id := range r.ids {
		if free(SideRZ, id) {
			res.UnmatchedRZ = append(res.UnmatchedRZ, id)
		}
	}
	slices.SortFunc(res.Pairs, func(a, b MatchPair) int { return cmp.Or(cmp.Compare(a.GHL, b.GHL), cmp.Compare(a.RZ, b.RZ)) })
	slices.Sort(res.UnmatchedGHL)
	slices.Sort(res.UnmatchedRZ)
	return res
}

// matchSide indexes one side's candidates by key.
type matchSide struct {
	ids              []string
	byEmail, byPhone map[string][]string
}

func newMatchSide(cs []Candidate, region string) matchSide {
	s := matchSide{byEmail: map[string][]string{}, byPhone: map[string][]string{}}
	seen := make(map[string]bool, len(cs))
	for _, c := range cs {
		if c.ID == "" || seen[c.ID] {
			continue
		}
		seen[c.ID] = true
		s.ids = append(s.ids, c.ID)
		if k := EmailKey(c.Email); k != "" {
			s.byEmail[k] = append(s.byEmail[k], c.ID)
		}
		if k, ok := e164(c.Phone, region); ok {
			s.byPhone[k] = append(s.byPhone[k], c.ID)
		}
	}
	return s
}

func sortedKeys(m map[string][]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func sorted(ids []string) []string { return slices.Sorted(slices.Values(ids)) }
