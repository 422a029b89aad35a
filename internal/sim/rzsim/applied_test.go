package rzsim_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hlrz/hlrz/internal/sim/rzsim"
)

// lostAnswer sends an API write and reports how its answer was lost: "dropped", or the
// status it got.
func (h *harness) lostAnswer(method, path string, body any) string {
	h.t.Helper()
	raw, err := json.Marshal(body)
	if err != nil {
		h.t.Fatal(err)
	}
	req, err := http.NewRequest(method, h.url+path, bytes.NewReader(raw))
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "dropped"
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return http.StatusText(resp.StatusCode)
}

// TestAppliedThenFailed: with appliedThenFailRate 1 every write is committed and its answer
// lost, half as a 502 and half as a dropped connection; a refused write keeps its answer.
func TestAppliedThenFailed(t *testing.T) {
	now := time.Date(2025, 6, 15, 15, 30, 0, 0, time.UTC)
	h := newHarness(t, rzsim.Options{Seed: 3, Now: func() time.Time { return now }})
	if r := h.api("POST", "/v1/custom-fields", map[string]any{"name": "Tier", "type": "TEXT"}); r.status != http.StatusCreated {
		t.Fatalf("create field: %d %s", r.status, r.body)
	}
	if r := h.admin("POST", "/admin/faults", map[string]any{"appliedThenFailRate": 1}); r.status != http.StatusOK {
		t.Fatalf("POST /admin/faults: %d %s", r.status, r.body)
	}
	if h.admin("POST", "/admin/faults", map[string]any{"appliedThenFailRate": 2}).status != http.StatusBadRequest {
		t.Error("appliedThenFailRate 2 accepted")
	}
	if got := h.sim.Faults().AppliedThenFailRate; got != 1 {
		t.Fatalf("appliedThenFailRate = %v", got)
	}
	outcomes := map[string]int{}
	lose := func(method, path string, body any) {
		t.Helper()
		o := h.lostAnswer(method, path, body)
		if o != "dropped" && o != http.StatusText(http.StatusBadGateway) {
			t.Errorf("%s %s answered %s, want 502 or a dropped connection", method, path, o)
		}
		outcomes[o]++
	}

	lose("POST", "/v1/contacts", map[string]any{"email": "ann@example.com", "firstName": "Ann"})
	cs := h.sim.Contacts(token)
	if len(cs) != 1 {
		t.Fatalf("contact not committed: %+v", cs)
	}
	id := cs[0].ID
	if r := h.api("GET", "/v1/contacts/"+id, nil); r.status != http.StatusOK {
		t.Fatalf("GET under appliedThenFailRate: %d", r.status)
	}
	lose("PUT", "/v1/contacts/"+id, map[string]any{"email": "ann@example.com", "firstName": "Anne"})
	lose("PUT", "/v1/contacts/"+id, map[string]any{"email": "ann@example.com", "firstName": "Anne", "labels": []string{"vip"}, "customFields": map[string]any{"Tier": "gold"}})
	lose("POST", "/v1/visits", map[string]any{"contactId": id, "points": 5})
	lose("POST", "/v1/custom-fields", map[string]any{"name": "Level", "type": "TEXT"})

	c := h.sim.Contacts(token)[0]
	if c.FirstName != "Anne" || strings.Join(c.Labels, ",") != "vip" || string(c.CustomFields["Tier"]) != `"gold"` {
		t.Errorf("writes not committed: %+v", c)
	}
	if v := h.sim.Visits(token); len(v) != 1 {
		t.Errorf("visit not committed: %d visits", len(v))
	}
	if f := h.sim.CustomFields(token); len(f) != 2 {
		t.Errorf("custom field not committed: %d fields", len(f))
	}
	const writes = 5
	st := h.sim.Stats()
	if st.AppliedThenFailed != writes || st.AppliedThen5xx+st.AppliedThenDropped != writes {
		t.Errorf("stats: appliedThenFailed %d (5xx %d, dropped %d), want %d", st.AppliedThenFailed, st.AppliedThen5xx, st.AppliedThenDropped, writes)
	}
	if st.AppliedThen5xx == 0 || st.AppliedThenDropped == 0 || int64(outcomes["dropped"]) != st.AppliedThenDropped {
		t.Errorf("want both 502s and dropped connections: outcomes %v, stats %+v", outcomes, st)
	}

	// A refused write (second visit the same day) keeps its answer and is not counted.
	if o := h.lostAnswer("POST", "/v1/visits", map[string]any{"contactId": id}); o != http.StatusText(http.StatusBadRequest) {
		t.Errorf("refused write answered %s, want 400", o)
	}
	if got := h.sim.Stats().AppliedThenFailed; got != writes {
		t.Errorf("a refused write was counted: %d", got)
	}
	if err := h.sim.SetFaults(rzsim.Faults{}); err != nil {
		t.Fatal(err)
	}
	if o := h.lostAnswer("PUT", "/v1/contacts/"+id, map[string]any{"email": "ann@example.com"}); o != http.StatusText(http.StatusOK) {
		t.Errorf("write after faults off: %s", o)
	}
}

// TestLoseAnswerOf: a targeted lost answer hits exactly the next successful call of the
// named route, once; a refused call keeps its answer and does not use it up.
func TestLoseAnswerOf(t *testing.T) {
	now := time.Date(2025, 6, 15, 15, 30, 0, 0, time.UTC)
	h := newHarness(t, rzsim.Options{Seed: 3, Now: func() time.Time { return now }})
	if r := h.api("POST", "/v1/contacts", map[string]any{"email": "ann@example.com", "firstName": "Ann"}); r.status >= 300 {
		t.Fatalf("create contact: %d %s", r.status, r.body)
	}
	id := h.sim.Contacts(token)[0].ID
	if err := h.sim.SetFaults(rzsim.Faults{LoseAnswerOf: map[string]int{"POST /v1/visits": 1}}); err != nil {
		t.Fatal(err)
	}
	if o := h.lostAnswer("PUT", "/v1/contacts/"+id, map[string]any{"email": "ann@example.com", "firstName": "Anne"}); o != http.StatusText(http.StatusOK) {
		t.Errorf("contact PUT answered %s, want 200", o)
	}
	if o := h.lostAnswer("POST", "/v1/visits", map[string]any{"contactId": id}); o != http.StatusText(http.StatusBadGateway) {
		t.Errorf("first visit answered %s, want 502", o)
	}
	if v := h.sim.Visits(token); len(v) != 1 {
		t.Errorf("visit not committed: %d visits", len(v))
	}
	if o := h.lostAnswer("POST", "/v1/visits", map[string]any{"contactId": id}); o != http.StatusText(http.StatusBadRequest) {
		t.Errorf("second visit the same day answered %s, want 400", o)
	}
	if left := h.sim.Faults().LoseAnswerOf["POST /v1/visits"]; left != 0 {
		t.Errorf("%d targeted losses left, want 0", left)
	}
}
