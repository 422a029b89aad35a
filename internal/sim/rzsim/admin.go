package rzsim

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
)

// Stats counts API calls (never admin calls) since start or the last ResetStats.
type Stats struct {
	// Calls counts by route pattern, e.g. "GET /v1/contacts/{id}"; unrouted calls count as
	// "<METHOD> (unmatched)".
	Calls map[string]int64 `json:"calls"`
	Total int64            `json:"total"`
	// Writes counts every non-GET call, answered or faulted: a dry run must keep it at zero.
	Writes int64 `json:"writes"`
	// Faulted counts calls answered by fault injection.
	Faulted int64 `json:"faulted"`
	// FaultedRateLimited counts the injected faults that were 429s (the rest are errors).
	FaultedRateLimited int64 `json:"faultedRateLimited"`
	// AppliedThenFailed counts writes committed whose answer was then replaced by a 502
	// (AppliedThen5xx) or a dropped connection (AppliedThenDropped).
	AppliedThenFailed  int64 `json:"appliedThenFailed"`
	AppliedThen5xx     int64 `json:"appliedThen5xx"`
	AppliedThenDropped int64 `json:"appliedThenDropped"`
	// Notifications counts customer notifications the API would have sent: a contact write
	// with shouldSendNotification=true, or a visit dated today.
	Notifications int64 `json:"notifications"`
}

// Faults configure fault injection on /v1/ calls. The zero value injects nothing.
type Faults struct {
	// ErrorRate is the fraction of calls answered ErrorStatus (default 500).
	ErrorRate   float64 `json:"errorRate"`
	ErrorStatus int     `json:"errorStatus,omitempty"`
	// RateLimitRate is the fraction of calls answered 429.
	RateLimitRate float64 `json:"rateLimitRate"`
	// RetryAfterSeconds goes in the Retry-After header of injected 429s (0: no header);
	// RetryAfterHTTPDate sends it as an HTTP date instead of seconds.
	RetryAfterSeconds  int  `json:"retryAfterSeconds"`
	RetryAfterHTTPDate bool `json:"retryAfterHttpDate"`
	// LatencyMs delays every call.
	LatencyMs int `json:"latencyMs"`
	// ForceCount calls from now on are answered ForceStatus (e.g. 429 or 500), before any
	// random fault.
	ForceStatus int `json:"forceStatus,omitempty"`
	ForceCount  int `json:"forceCount"`
	// AppliedThenFailRate is the fraction of writes (non-GET calls) that are committed and
	// whose answer is then lost: half are answered 502, half have their connection dropped
	// without an answer. Only a write that succeeded loses its answer.
	AppliedThenFailRate float64 `json:"appliedThenFailRate"`
	// LoseAnswerOf makes a targeted, deterministic lost answer: for a route pattern (e.g.
	// "POST /v1/visits") the next N calls of it that succeed are committed and answered
	// 502. Counts left are shown by Faults.
	LoseAnswerOf map[string]int `json:"loseAnswerOf,omitempty"`
}

func (f Faults) validate() error {
	switch {
	case f.ErrorRate < 0 || f.ErrorRate > 1 || f.RateLimitRate < 0 || f.RateLimitRate > 1 ||
		f.AppliedThenFailRate < 0 || f.AppliedThenFailRate > 1:
		return errors.New("rates must be between 0 and 1")
	case f.ErrorStatus != 0 && (f.ErrorStatus < 400 || f.ErrorStatus > 599):
		return errors.New("errorStatus must be 4xx or 5xx")
	case f.ForceStatus != 0 && (f.ForceStatus < 400 || f.ForceStatus > 599):
		return errors.New("forceStatus must be 4xx or 5xx")
	case f.RetryAfterSeconds < 0 || f.LatencyMs < 0 || f.ForceCount < 0:
		return errors.New("retryAfterSeconds, latencyMs and forceCount must not be negative")
	}
	return nil
}

// SetFaults replaces the fault configuration.
func (s *Server) SetFaults(f Faults) error {
	if err := f.validate(); err != nil {
		return fmt.Errorf("rzsim: faults: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = f
	s.faults.LoseAnswerOf = maps.Clone(f.LoseAnswerOf)
	return nil
}

// Faults returns the fault configuration, with ForceCount as what is left of it.
func (s *Server) Faults() Faults {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.faults
	out.LoseAnswerOf = maps.Clone(out.LoseAnswerOf)
	return out
}

// ForceNext answers the next n API calls with status, leaving other faults as they are.
func (s *Server) ForceNext(status, n int) error {
	s.mu.Lock()
	f := s.faults
	s.mu.Unlock()
	f.ForceStatus, f.ForceCount = status, n
	return s.SetFaults(f)
}

// drawFault decides whether this call fails. Callers hold s.mu. The generator is drawn
// from only for rates that are set, so enabling one fault does not reshuffle another.
func (s *Server) drawFault() (status, retryAfter int, httpDate bool) {
	f := &s.faults
	retryAfter, httpDate = f.RetryAfterSeconds, f.RetryAfterHTTPDate
	if f.ForceCount > 0 {
		f.ForceCount--
		if f.ForceStatus == 0 {
			return http.StatusInternalServerError, retryAfter, httpDate
		}
		return f.ForceStatus, retryAfter, httpDate
	}
	if f.RateLimitRate > 0 && s.rng.Float64() < f.RateLimitRate {
		return http.StatusTooManyRequests, retryAfter, httpDate
	}
	if f.ErrorRate > 0 && s.rng.Float64() < f.ErrorRate {
		if f.ErrorStatus == 0 {
			return http.StatusInternalServerError, 0, false
		}
		return f.ErrorStatus, retryAfter, httpDate
	}
	return 0, 0, false
}

// Stats returns a copy of the call counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Calls = maps.Clone(s.stats.Calls)
	return st
}

// ResetStats zeroes the call counters (e.g. between benchmark phases).
func (s *Server) ResetStats() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats = Stats{Calls: map[string]int64{}}
}

var errNoAccount = &APIError{Status: http.StatusUnauthorized, Code: "UNKNOWN_ACCOUNT", Message: "no account for this token"}

// AdminCreateContact creates a contact as a person in Referrizer would (same validation as
// the API; no notification is counted).
func (s *Server) AdminCreateContact(token string, c Contact) (Contact, error) {
	obj, err := toObject(c)
	if err != nil {
		return Contact{}, err
	}
	return s.adminWrite(token, func(a *account) (*record, *APIError) {
		return s.insert(a, obj, false, "in Referrizer")
	})
}

// AdminUpdateContact edits a contact as a person in Referrizer would: edit receives the
// current contact and changes it in place; the result is validated like a PUT. edit runs
// under the server lock and must not call the Server.
func (s *Server) AdminUpdateContact(token, id string, edit func(*Contact)) (Contact, error) {
	return s.adminWrite(token, func(a *account) (*record, *APIError) {
		rec := a.contacts[id]
		if rec == nil {
			return nil, notFound("contact")
		}
		c := a.render(rec)
		edit(&c)
		obj, err := toObject(c)
		if err != nil {
			return nil, badRequest("ILLEGAL_ARGUMENT", "%v", err)
		}
		return s.replace(a, id, obj, false, "in Referrizer")
	})
}

// AdminAddLabel adds a label to a contact (no-op if present).
func (s *Server) AdminAddLabel(token, id, label string) (Contact, error) {
	return s.AdminUpdateContact(token, id, func(c *Contact) {
		if !slices.Contains(c.Labels, label) {
			c.Labels = append(c.Labels, label)
		}
	})
}

// AdminRemoveLabel removes a label from a contact (no-op if absent).
func (s *Server) AdminRemoveLabel(token, id, label string) (Contact, error) {
	return s.AdminUpdateContact(token, id, func(c *Contact) {
		c.Labels = slices.DeleteFunc(c.Labels, func(l string) bool { return l == label })
	})
}

// AdminDeleteContact deletes a contact.
func (s *Server) AdminDeleteContact(token, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.accounts[token]
	if a == nil {
		return errNoAccount
	}
	if e := s.remove(a, id); e != nil {
		return e
	}
	return nil
}

func (s *Server) adminWrite(token string, op func(*account) (*record, *APIError)) (Contact, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.accounts[token]
	if a == nil {
		return Contact{}, errNoAccount
	}
	rec, e := op(a)
	if e != nil {
		return Contact{}, e
	}
	return a.render(rec), nil
}

// Contacts returns every contact of the account in creation order, for convergence checks.
func (s *Server) Contacts(token string) []Contact {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.accounts[token]
	if a == nil {
		return nil
	}
	out := make([]Contact, 0, len(a.ordered))
	for _, rec := range a.ordered {
		out = append(out, a.render(rec))
	}
	return out
}

// Snapshot returns every account's contacts in creation order.
func (s *Server) Snapshot() map[AccountID][]Contact {
	s.mu.Lock()
	tokens := make([]string, 0, len(s.accounts))
	ids := make([]AccountID, 0, len(s.accounts))
	for t, a := range s.accounts {
		tokens, ids = append(tokens, t), append(ids, a.id)
	}
	s.mu.Unlock()
	out := make(map[AccountID][]Contact, len(tokens))
	for i, t := range tokens {
		out[ids[i]] = s.Contacts(t)
	}
	return out
}

// CustomFields returns the account's custom field definitions in creation order.
func (s *Server) CustomFields(token string) []CustomField {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.accounts[token]
	if a == nil {
		return nil
	}
	var out []CustomField
	for _, f := range a.sortedFields() {
		out = append(out, f.view())
	}
	return out
}

// Visits returns the account's visits in the order they were posted.
func (s *Server) Visits(token string) []Visit {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.accounts[token]
	if a == nil {
		return nil
	}
	out := make([]Visit, 0, len(a.visits))
	for _, v := range a.visits {
		out = append(out, v.Visit)
	}
	return out
}

func toObject(c Contact) (map[string]json.RawMessage, error) {
	raw, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("rzsim: encode contact: %w", err)
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, fmt.Errorf("rzsim: encode contact: %w", err)
	}
	return obj, nil
}

// mergePatch applies an RFC 7396 JSON merge patch: null deletes, objects merge, anything
// else replaces.
func mergePatch(target, patch map[string]json.RawMessage) {
	for k, v := range patch {
		if isNull(v) {
			delete(target, k)
			continue
		}
		var sub map[string]json.RawMessage
		if json.Unmarshal(v, &sub) == nil && sub != nil {
			var cur map[string]json.RawMessage
			if json.Unmarshal(target[k], &cur) != nil || cur == nil {
				cur = map[string]json.RawMessage{}
			}
			mergePatch(cur, sub)
			target[k], _ = json.Marshal(cur)
			continue
		}
		target[k] = v
	}
}

func (s *Server) adminRoutes() {
	m := s.admin
	m.HandleFunc("POST /admin/accounts", s.adminAddAccount)
	m.HandleFunc("GET /admin/contacts", s.scoped(s.adminListContacts))
	m.HandleFunc("POST /admin/contacts", s.scoped(s.adminCreate))
	m.HandleFunc("GET /admin/contacts/{id}", s.scoped(s.adminGet))
	m.HandleFunc("PATCH /admin/contacts/{id}", s.scoped(s.adminPatch))
	m.HandleFunc("DELETE /admin/contacts/{id}", s.scoped(s.adminDelete))
	m.HandleFunc("POST /admin/contacts/{id}/labels", s.scoped(s.adminAddLabel))
	m.HandleFunc("DELETE /admin/contacts/{id}/labels/{label}", s.scoped(s.adminRemoveLabel))
	m.HandleFunc("GET /admin/visits", s.scoped(func(w http.ResponseWriter, _ *http.Request, token string) {
		writeJSON(w, http.StatusOK, s.Visits(token))
	}))
	m.HandleFunc("GET /admin/custom-fields", s.scoped(func(w http.ResponseWriter, _ *http.Request, token string) {
		writeJSON(w, http.StatusOK, nonNil(s.CustomFields(token)))
	}))
	m.HandleFunc("GET /admin/stats", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, s.Stats()) })
	m.HandleFunc("DELETE /admin/stats", func(w http.ResponseWriter, r *http.Request) {
		s.ResetStats()
		w.WriteHeader(http.StatusNoContent)
	})
	m.HandleFunc("GET /admin/faults", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, s.Faults()) })
	m.HandleFunc("POST /admin/faults", s.adminSetFaults)
	m.HandleFunc("/admin/", func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, &APIError{Status: http.StatusNotFound, Code: "RESOURCE_NOT_FOUND", Message: "no such admin endpoint"})
	})
}

// scoped resolves the X-Account-Token header to an account token.
func (s *Server) scoped(h func(http.ResponseWriter, *http.Request, string)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		token := r.Header.Get(AdminAccountHeader)
		if s.account(token) == nil {
			s.writeError(w, errNoAccount)
			return
		}
		h(w, r, token)
	}
}

// answer writes a contact result or the error behind it.
func (s *Server) answer(w http.ResponseWriter, status int, c Contact, err error) {
	var e *APIError
	switch {
	case errors.As(err, &e):
		s.writeError(w, e)
	case err != nil:
		s.writeError(w, badRequest("ILLEGAL_ARGUMENT", "%v", err))
	default:
		writeJSON(w, status, c)
	}
}

func (s *Server) adminAddAccount(w http.ResponseWriter, r *http.Request) {
	obj, e := readObject(r)
	if e != nil {
		s.writeError(w, e)
		return
	}
	var token string
	if json.Unmarshal(obj["token"], &token) != nil || strings.TrimSpace(token) == "" {
		s.writeError(w, badRequest("MISSING_REQUIRED_FIELD", "token is required"))
		return
	}
	writeJSON(w, http.StatusCreated, map[string]AccountID{"accountId": s.AddAccount(token)})
}

func (s *Server) adminListContacts(w http.ResponseWriter, r *http.Request, token string) {
	writeJSON(w, http.StatusOK, nonNil(s.Contacts(token)))
}

func (s *Server) adminGet(w http.ResponseWriter, r *http.Request, token string) {
	c, err := s.adminWrite(token, func(a *account) (*record, *APIError) {
		if rec := a.contacts[r.PathValue("id")]; rec != nil {
			return rec, nil
		}
		return nil, notFound("contact")
	})
	s.answer(w, http.StatusOK, c, err)
}

func (s *Server) adminCreate(w http.ResponseWriter, r *http.Request, token string) {
	obj, e := readObject(r)
	if e != nil {
		s.writeError(w, e)
		return
	}
	c, err := s.adminWrite(token, func(a *account) (*record, *APIError) {
		return s.insert(a, obj, false, "in Referrizer")
	})
	s.answer(w, http.StatusCreated, c, err)
}

// adminPatch edits with merge-patch semantics, as a person changing a few fields would.
func (s *Server) adminPatch(w http.ResponseWriter, r *http.Request, token string) {
	patch, e := readObject(r)
	if e != nil {
		s.writeError(w, e)
		return
	}
	id := r.PathValue("id")
	c, err := s.adminWrite(token, func(a *account) (*record, *APIError) {
		rec := a.contacts[id]
		if rec == nil {
			return nil, notFound("contact")
		}
		obj, err := toObject(a.render(rec))
		if err != nil {
			return nil, badRequest("ILLEGAL_ARGUMENT", "%v", err)
		}
		mergePatch(obj, patch)
		return s.replace(a, id, obj, false, "in Referrizer")
	})
	s.answer(w, http.StatusOK, c, err)
}

func (s *Server) adminDelete(w http.ResponseWriter, r *http.Request, token string) {
	if err := s.AdminDeleteContact(token, r.PathValue("id")); err != nil {
		s.answer(w, 0, Contact{}, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) adminAddLabel(w http.ResponseWriter, r *http.Request, token string) {
	obj, e := readObject(r)
	if e != nil {
		s.writeError(w, e)
		return
	}
	var label string
	if json.Unmarshal(obj["label"], &label) != nil || label == "" {
		s.writeError(w, badRequest("MISSING_REQUIRED_FIELD", "label is required"))
		return
	}
	c, err := s.AdminAddLabel(token, r.PathValue("id"), label)
	s.answer(w, http.StatusOK, c, err)
}

func (s *Server) adminRemoveLabel(w http.ResponseWriter, r *http.Request, token string) {
	c, err := s.AdminRemoveLabel(token, r.PathValue("id"), r.PathValue("label"))
	s.answer(w, http.StatusOK, c, err)
}

func (s *Server) adminSetFaults(w http.ResponseWriter, r *http.Request) {
	var f Faults
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields() // a typo in a fault knob should fail loudly, not inject nothing
	if err := dec.Decode(&f); err != nil {
		s.writeError(w, badRequest("ILLEGAL_ARGUMENT", "faults body: %v", err))
		return
	}
	if err := s.SetFaults(f); err != nil {
		s.writeError(w, badRequest("ILLEGAL_ARGUMENT", "%v", err))
		return
	}
	writeJSON(w, http.StatusOK, s.Faults())
}
