package referrizer_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hlrz/hlrz/internal/referrizer"
	"github.com/hlrz/hlrz/internal/sim/rzsim"
)

const token = "eyJhbGciOiJIUzI1NiJ9.test-account-token"

type env struct {
	sim *rzsim.Server
	url string
	rz  *referrizer.Client
}

// newEnv starts the simulator over real HTTP and a client for it with no rate limit, so
// tests run fast; TestRequestRateLimit covers the limiter.
func newEnv(t *testing.T, opts rzsim.Options, copts ...referrizer.Option) *env {
	t.Helper()
	opts.Tokens = append(opts.Tokens, token)
	sim := rzsim.New(opts)
	ts := httptest.NewServer(sim.Handler())
	t.Cleanup(ts.Close)
	return &env{sim: sim, url: ts.URL, rz: newClient(t, ts.URL, token, copts...)}
}

func newClient(t *testing.T, url, tok string, copts ...referrizer.Option) *referrizer.Client {
	t.Helper()
	rz, err := referrizer.New(tok, append([]referrizer.Option{referrizer.WithBaseURL(url), referrizer.WithRateLimit(0, 0)}, copts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return rz
}

// seed creates n contacts as a person in Referrizer would, returning them in creation order.
func (e *env) seed(t *testing.T, n int) []rzsim.Contact {
	t.Helper()
	out := make([]rzsim.Contact, n)
	for i := range n {
		c, err := e.sim.AdminCreateContact(token, rzsim.Contact{FirstName: fmt.Sprintf("P%03d", i), Email: fmt.Sprintf("p%03d@example.com", i)})
		if err != nil {
			t.Fatal(err)
		}
		out[i] = c
	}
	return out
}

// asError asserts err is a *referrizer.Error of the given kind.
func asError(t *testing.T, err error, kind referrizer.Kind) *referrizer.Error {
	t.Helper()
	var e *referrizer.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not a *referrizer.Error", err, err)
	}
	if e.Kind != kind {
		t.Fatalf("kind = %s, want %s (%v)", e.Kind, kind, err)
	}
	return e
}

func TestNew(t *testing.T) {
	if _, err := referrizer.New(" "); err == nil {
		t.Error("empty token accepted")
	}
	for _, u := range []string{"ftp://x", "://", "http://", "api.referrizer.com"} {
		if _, err := referrizer.New(token, referrizer.WithBaseURL(u)); err == nil {
			t.Errorf("base URL %q accepted", u)
		}
	}
	if _, err := referrizer.New(token, referrizer.WithRateLimit(-1, 1)); err == nil {
		t.Error("negative rate accepted")
	}
	rz, err := referrizer.New(token)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{fmt.Sprint(rz), fmt.Sprintf("%+v", rz), fmt.Sprintf("%#v", rz)} {
		if strings.Contains(s, token) || !strings.Contains(s, referrizer.DefaultBaseURL) {
			t.Errorf("formatted client %q leaks the token or hides the base URL", s)
		}
	}
}

func TestContactCRUD(t *testing.T) {
	e := newEnv(t, rzsim.Options{})
	ctx := context.Background()
	if _, err := e.rz.EnsureCustomField(ctx, "Tier", ""); err != nil {
		t.Fatal(err)
	}

	in := referrizer.Contact{
		ID: "ignored", FirstName: "Ada", LastName: "Lovelace", Email: "ada@example.com", Phone: "+15550102000",
		BirthDate: "1815-12-10", Type: "LEAD", Description: "from HighLevel", Labels: []string{"vip"},
		ShouldSendNotification: true, UnsubscribedFromText: true,
	}
	in.SetCustomText("Tier", "gold")
	created, err := e.rz.CreateContact(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if len(created.ID) != 32 || created.ID == "ignored" || created.FirstName != "Ada" || created.CreatedAt.IsZero() ||
		!created.UnsubscribedFromText || created.BirthDate != "1815-12-10" || !slices.Equal(created.Labels, []string{"vip"}) {
		t.Fatalf("created = %+v", created)
	}
	if n := e.sim.Stats().Notifications; n != 0 {
		t.Fatalf("create asked Referrizer to notify the customer (%d notifications)", n)
	}

	got, err := e.rz.GetContact(ctx, created.ID)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := got.CustomText("Tier"); v != "gold" || got.Email != "ada@example.com" || got.Type != "LEAD" || got.Description != "from HighLevel" {
		t.Fatalf("got = %+v", got)
	}

	updated, err := e.rz.UpdateContact(ctx, created.ID, referrizer.ContactPatch{
		FirstName: new("Augusta"), AddLabels: []string{"ghl-task-open"}, RemoveLabels: []string{"vip"},
		SetCustomText: map[string]string{"Tier": "silver"}, UnsubscribedFromText: new(false),
	})
	if err != nil {
		t.Fatal(err)
	}
	if updated.FirstName != "Augusta" || !slices.Equal(updated.Labels, []string{"ghl-task-open"}) || updated.UnsubscribedFromText || updated.LastName != "Lovelace" {
		t.Fatalf("updated = %+v", updated)
	}

	// A patch that changes nothing sends no PUT.
	puts := e.sim.Stats().Calls["PUT /v1/contacts/{id}"]
	same, err := e.rz.UpdateContact(ctx, created.ID, referrizer.ContactPatch{AddLabels: []string{"ghl-task-open"}, FirstName: new("Augusta")})
	if err != nil || same.FirstName != "Augusta" {
		t.Fatalf("no-op update: %+v %v", same, err)
	}
	if after := e.sim.Stats().Calls["PUT /v1/contacts/{id}"]; after != puts {
		t.Fatalf("no-op update sent %d PUTs", after-puts)
	}

	// The edit function can veto the write.
	veto := errors.New("plan changed")
	if _, err := e.rz.UpdateContactFunc(ctx, created.ID, func(*referrizer.Contact) error { return veto }); !errors.Is(err, veto) {
		t.Fatalf("edit error not returned: %v", err)
	}

	if err := e.rz.DeleteContact(ctx, created.ID); err != nil {
		t.Fatal(err)
	}
	_, err = e.rz.GetContact(ctx, created.ID)
	if !errors.Is(err, referrizer.ErrNotFound) || asError(t, err, referrizer.KindNotFound).Retryable() {
		t.Fatalf("get after delete: %v", err)
	}
	if err := e.rz.DeleteContact(ctx, created.ID); !errors.Is(err, referrizer.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	if _, err := e.rz.UpdateContact(ctx, created.ID, referrizer.ContactPatch{FirstName: new("X")}); !errors.Is(err, referrizer.ErrNotFound) {
		t.Fatalf("update of a deleted contact: %v", err)
	}

	// Malformed ids never reach the server.
	before := e.rz.Calls()
	for _, id := range []string{"", "../custom-fields", "a/b", "x?y"} {
		if _, err := e.rz.GetContact(ctx, id); !errors.Is(err, referrizer.ErrValidation) {
			t.Errorf("GetContact(%q): %v", id, err)
		}
	}
	if e.rz.Calls() != before {
		t.Fatal("malformed ids were sent")
	}
	if st := e.sim.Stats(); st.Total != e.rz.Calls() {
		t.Fatalf("client counted %d calls, simulator saw %d", e.rz.Calls(), st.Total)
	}
	if n := e.sim.Stats().Notifications; n != 0 {
		t.Fatalf("%d customer notifications", n)
	}
}

// TestUpdatePreservesUnknownFields seeds what a real account may hold beyond our model and
// checks that GET-merge-PUT against a full-replace server keeps all of it.
func TestUpdatePreservesUnknownFields(t *testing.T) {
	e := newEnv(t, rzsim.Options{})
	ctx := context.Background()
	if _, err := e.rz.CreateCustomField(ctx, referrizer.CustomField{Name: "Member Tier", Type: "DROPDOWN", Options: []string{"gold", "silver"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.rz.CreateCustomField(ctx, referrizer.CustomField{Name: "Visits", Type: "NUMBER"}); err != nil {
		t.Fatal(err)
	}
	fields, err := e.rz.EnsureProjectionFields(ctx, referrizer.ProjectionFieldNames{})
	if err != nil {
		t.Fatal(err)
	}
	seeded, err := e.sim.AdminCreateContact(token, rzsim.Contact{
		FirstName: "Lin", Email: "lin@example.com", BirthDate: "1990-04-01", Labels: []string{"member"},
		UnsubscribedFromEmail: true,
		CustomFields:          map[string]json.RawMessage{"Member Tier": json.RawMessage(`"gold"`), "Visits": json.RawMessage(`12`)},
		Extra: map[string]json.RawMessage{
			"loyaltyPoints": json.RawMessage(`120`),
			"referralCode":  json.RawMessage(`"LIN-42"`),
			"address":       json.RawMessage(`{"city":"Lyon","zip":"69001"}`),
		},
	})
	if err != nil {
		t.Fatal(err)
	}

	_, err = e.rz.UpdateContact(ctx, seeded.ID, referrizer.ContactPatch{
		LastName:      new("Wu"),
		AddLabels:     []string{"ghl-task-open"},
		SetCustomText: map[string]string{fields.Notes.Name: "2025-06-01 Called back", fields.Tasks.Name: "[ ] Send offer (due 2025-06-20)"},
	})
	if err != nil {
		t.Fatal(err)
	}
	after := e.sim.Contacts(token)[0]
	for k, want := range map[string]string{"loyaltyPoints": `120`, "referralCode": `"LIN-42"`, "address": `{"city":"Lyon","zip":"69001"}`} {
		if got := string(after.Extra[k]); got != want {
			t.Errorf("unknown field %s = %s after update, want %s", k, got, want)
		}
	}
	if string(after.CustomFields["Member Tier"]) != `"gold"` || string(after.CustomFields["Visits"]) != `12` {
		t.Errorf("custom fields the client does not touch changed: %v", after.CustomFields)
	}
	if string(after.CustomFields["GHL Notes"]) != `"2025-06-01 Called back"` || string(after.CustomFields["GHL Tasks"]) == "" {
		t.Errorf("projection fields not written: %v", after.CustomFields)
	}
	if after.LastName != "Wu" || after.FirstName != "Lin" || after.BirthDate != "1990-04-01" || !after.UnsubscribedFromEmail ||
		!slices.Equal(after.Labels, []string{"member", "ghl-task-open"}) {
		t.Errorf("modelled fields after update: %+v", after)
	}
	if !after.CreatedAt.Equal(seeded.CreatedAt) {
		t.Errorf("createdAt moved: %v -> %v", seeded.CreatedAt, after.CreatedAt)
	}
}

func TestListContactsAndFilters(t *testing.T) {
	e := newEnv(t, rzsim.Options{})
	ctx := context.Background()
	seeded := e.seed(t, 250)
	if _, err := e.sim.AdminUpdateContact(token, seeded[7].ID, func(c *rzsim.Contact) { c.Phone = "+1 (555) 010-2000" }); err != nil {
		t.Fatal(err)
	}

	p1, err := e.rz.ListContacts(ctx, referrizer.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(p1.Contacts) != 100 || p1.Total != 250 || p1.Page != 1 || p1.PerPage != 100 || !p1.HasNext() || p1.Contacts[0].ID != seeded[0].ID {
		t.Fatalf("page 1: %d contacts, total %d, page %d/%d", len(p1.Contacts), p1.Total, p1.Page, p1.PerPage)
	}
	p3, err := e.rz.ListContacts(ctx, referrizer.ListOptions{Page: 3})
	if err != nil {
		t.Fatal(err)
	}
	if len(p3.Contacts) != 50 || p3.HasNext() || p3.Contacts[49].ID != seeded[249].ID {
		t.Fatalf("page 3: %d contacts, HasNext %v", len(p3.Contacts), p3.HasNext())
	}
	desc, err := e.rz.ListContacts(ctx, referrizer.ListOptions{PerPage: 1, Sort: "createdAt", Order: "desc"})
	if err != nil || desc.Contacts[0].ID != seeded[249].ID {
		t.Fatalf("desc: %v %v", desc, err)
	}

	byEmail, err := e.rz.ListContacts(ctx, referrizer.ListOptions{Email: "P042@Example.com"})
	if err != nil || len(byEmail.Contacts) != 1 || byEmail.Contacts[0].ID != seeded[42].ID || byEmail.Total != 1 || byEmail.HasNext() {
		t.Fatalf("email filter: %+v %v", byEmail, err)
	}
	byPhone, err := e.rz.ListContacts(ctx, referrizer.ListOptions{Phone: "+15550102000"})
	if err != nil || len(byPhone.Contacts) != 1 || byPhone.Contacts[0].ID != seeded[7].ID {
		t.Fatalf("phone filter: %+v %v", byPhone, err)
	}
	none, err := e.rz.ListContacts(ctx, referrizer.ListOptions{Email: "nobody@example.com"})
	if err != nil || len(none.Contacts) != 0 || none.Total != 0 || none.HasNext() {
		t.Fatalf("no match: %+v %v", none, err)
	}

	calls := e.rz.Calls()
	for _, bad := range []referrizer.ListOptions{{PerPage: 101}, {PerPage: -1}, {Page: -2}} {
		if _, err := e.rz.ListContacts(ctx, bad); !errors.Is(err, referrizer.ErrValidation) {
			t.Errorf("%+v: %v", bad, err)
		}
	}
	if e.rz.Calls() != calls {
		t.Fatal("invalid list options were sent")
	}
	// The server's own rejection of a bad sort surfaces as a validation error.
	_, err = e.rz.ListContacts(ctx, referrizer.ListOptions{Sort: "email"})
	if ee := asError(t, err, referrizer.KindValidation); ee.Code != "ILLEGAL_ARGUMENT" || ee.StatusCode != 400 {
		t.Fatalf("bad sort: %v", err)
	}
}

// TestPagerWithEditsBetweenPages walks 250 contacts in pages of 100 while a person edits,
// creates and deletes in Referrizer between pages, and checks the documented guarantees.
func TestPagerWithEditsBetweenPages(t *testing.T) {
	ctx := context.Background()

	t.Run("edits and creates", func(t *testing.T) {
		e := newEnv(t, rzsim.Options{})
		seeded := e.seed(t, 250)
		p := e.rz.NewPager(referrizer.ListOptions{})
		seen := map[string]referrizer.Contact{}
		var pages []int
		for !p.Done() {
			pages = append(pages, p.NextPage())
			page, err := p.Next(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range page.Contacts {
				if _, dup := seen[c.ID]; dup {
					t.Fatalf("contact returned twice")
				}
				seen[c.ID] = c
			}
			if len(pages) == 1 {
				edit := func(i int, name string) {
					if _, err := e.sim.AdminUpdateContact(token, seeded[i].ID, func(c *rzsim.Contact) { c.FirstName = name }); err != nil {
						t.Fatal(err)
					}
				}
				edit(10, "EditedSeen")   // already read: this walk keeps the old version
				edit(150, "EditedAhead") // not read yet: this walk sees the edit
				if _, err := e.sim.AdminCreateContact(token, rzsim.Contact{Email: "late@example.com"}); err != nil {
					t.Fatal(err)
				}
			}
		}
		if !slices.Equal(pages, []int{1, 2, 3}) || p.NextPage() != 4 {
			t.Fatalf("pages read: %v, next %d", pages, p.NextPage())
		}
		if len(seen) != 251 {
			t.Fatalf("saw %d contacts, want all 250 plus the one created mid-walk (order is by creation)", len(seen))
		}
		if seen[seeded[10].ID].FirstName != "P010" || seen[seeded[150].ID].FirstName != "EditedAhead" {
			t.Fatalf("versions: %q %q", seen[seeded[10].ID].FirstName, seen[seeded[150].ID].FirstName)
		}
		// Done pagers stay done.
		if page, err := p.Next(ctx); err != nil || len(page.Contacts) != 0 {
			t.Fatalf("Next after Done: %v %v", page, err)
		}
	})

	t.Run("delete shifts one contact out of this walk", func(t *testing.T) {
		e := newEnv(t, rzsim.Options{})
		seeded := e.seed(t, 250)
		p := e.rz.NewPager(referrizer.ListOptions{})
		seen := map[string]bool{}
		for first := true; !p.Done(); first = false {
			page, err := p.Next(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range page.Contacts {
				seen[c.ID] = true
			}
			if first {
				if err := e.sim.AdminDeleteContact(token, seeded[5].ID); err != nil {
					t.Fatal(err)
				}
			}
		}
		var missed []int
		for i, c := range seeded {
			if !seen[c.ID] && i != 5 {
				missed = append(missed, i)
			}
		}
		if !slices.Equal(missed, []int{100}) {
			t.Fatalf("missed %v, want exactly the contact at the page boundary [100]", missed)
		}
		// Hence: absence from a walk is not deletion; GetContact tells.
		if _, err := e.rz.GetContact(ctx, seeded[100].ID); err != nil {
			t.Fatalf("the missed contact should still exist: %v", err)
		}
		if _, err := e.rz.GetContact(ctx, seeded[5].ID); !errors.Is(err, referrizer.ErrNotFound) {
			t.Fatalf("the deleted contact: %v", err)
		}
		n := 0
		for _, err := range e.rz.AllContacts(ctx, referrizer.ListOptions{}) {
			if err != nil {
				t.Fatal(err)
			}
			n++
		}
		if n != 249 {
			t.Fatalf("next walk saw %d, want 249", n)
		}
	})

	t.Run("inserts ahead are de-duplicated", func(t *testing.T) {
		// Newest-first order pushes everything back when contacts are created mid-walk:
		// the next page repeats the tail of the last one, and the pager drops those.
		e := newEnv(t, rzsim.Options{})
		e.seed(t, 250)
		p := e.rz.NewPager(referrizer.ListOptions{Sort: "createdAt", Order: "desc"})
		var sizes []int
		ids := map[string]int{}
		for !p.Done() {
			page, err := p.Next(ctx)
			if err != nil {
				t.Fatal(err)
			}
			sizes = append(sizes, len(page.Contacts))
			for _, c := range page.Contacts {
				ids[c.ID]++
			}
			if len(sizes) == 1 {
				for i := range 3 {
					if _, err := e.sim.AdminCreateContact(token, rzsim.Contact{Email: fmt.Sprintf("new%d@example.com", i)}); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
		if !slices.Equal(sizes, []int{100, 97, 53}) {
			t.Fatalf("page sizes after de-duplication = %v, want [100 97 53]", sizes)
		}
		for _, n := range ids {
			if n != 1 {
				t.Fatal("a contact was returned twice")
			}
		}
		if len(ids) != 250 {
			t.Fatalf("saw %d distinct contacts, want the 250 that existed throughout", len(ids))
		}
	})

	t.Run("resume from a checkpoint and stop early", func(t *testing.T) {
		e := newEnv(t, rzsim.Options{})
		seeded := e.seed(t, 120)
		p := e.rz.NewPager(referrizer.ListOptions{Page: 2, PerPage: 50})
		page, err := p.Next(ctx)
		if err != nil || page.Contacts[0].ID != seeded[50].ID || p.NextPage() != 3 || p.Done() {
			t.Fatalf("resumed page: %v %v", page.Page, err)
		}
		n := 0
		for c, err := range e.rz.AllContacts(ctx, referrizer.ListOptions{PerPage: 10}) {
			if err != nil || c.ID == "" {
				t.Fatal(err)
			}
			if n++; n == 15 {
				break
			}
		}
		if calls := e.sim.Stats().Calls["GET /v1/contacts"]; calls != 3 {
			t.Fatalf("%d list calls; breaking out of AllContacts should stop paging", calls)
		}
	})
}

func TestEnvelopeListsAndCodeKey(t *testing.T) {
	e := newEnv(t, rzsim.Options{ListShape: rzsim.ListEnvelope, ErrorCodeKey: "code", OmitTimestamps: true})
	ctx := context.Background()
	e.seed(t, 3)
	page, err := e.rz.ListContacts(ctx, referrizer.ListOptions{PerPage: 2})
	if err != nil || len(page.Contacts) != 2 || page.Total != 3 || !page.HasNext() {
		t.Fatalf("envelope page: %+v %v", page, err)
	}
	if !page.Contacts[0].CreatedAt.IsZero() || page.Contacts[0].Extra != nil {
		t.Fatalf("without timestamps: %+v", page.Contacts[0])
	}
	fields, err := e.rz.EnsureProjectionFields(ctx, referrizer.ProjectionFieldNames{})
	if err != nil || fields.Notes.ID == "" {
		t.Fatalf("ensure over envelope lists: %+v %v", fields, err)
	}
	_, err = e.rz.CreateContact(ctx, referrizer.Contact{FirstName: "NoContact"})
	if ee := asError(t, err, referrizer.KindValidation); ee.Code != "MISSING_REQUIRED_FIELD" {
		t.Fatalf("code key: %v", err)
	}
	c, err := e.rz.CreateContact(ctx, referrizer.Contact{Email: "env@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	acts, err := e.rz.ListContactActivities(ctx, c.ID, referrizer.ActivityOptions{})
	if err != nil || len(acts) != 1 {
		t.Fatalf("activities over envelope: %v %v", acts, err)
	}
}

func TestDuplicateAndValidationErrors(t *testing.T) {
	e := newEnv(t, rzsim.Options{})
	ctx := context.Background()
	first, err := e.rz.CreateContact(ctx, referrizer.Contact{Email: "private.person@example.com", FirstName: "Private"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.rz.CreateContact(ctx, referrizer.Contact{Email: "PRIVATE.person@example.com"})
	dup := asError(t, err, referrizer.KindDuplicate)
	if !errors.Is(err, referrizer.ErrDuplicate) || dup.Code != "RESOURCE_ALREADY_EXISTS" || dup.Retryable() || dup.StatusCode != 400 || dup.Op != "create contact" {
		t.Fatalf("duplicate: %+v", dup)
	}
	other, err := e.rz.CreateContact(ctx, referrizer.Contact{Phone: "555-0100"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.rz.UpdateContact(ctx, other.ID, referrizer.ContactPatch{Email: new(first.Email)})
	if !errors.Is(err, referrizer.ErrDuplicate) {
		t.Fatalf("update to a taken email: %v", err)
	}

	for name, c := range map[string]referrizer.Contact{
		"MISSING_REQUIRED_FIELD":    {FirstName: "Nobody"},
		"ILLEGAL_ARGUMENT":          {Email: "not-an-email"},
		"INVALID_CUSTOM_FIELD_NAME": {Email: "cf@example.com", CustomFields: map[string]json.RawMessage{"Undefined": json.RawMessage(`"x"`)}},
	} {
		_, err := e.rz.CreateContact(ctx, c)
		if v := asError(t, err, referrizer.KindValidation); v.Code != name || v.Retryable() || !errors.Is(err, referrizer.ErrValidation) {
			t.Errorf("%s: %+v", name, v)
		}
	}
	for _, err := range []error{err, dup} {
		for _, secret := range []string{"private", "Private", "example.com", token} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error %q contains %q", err, secret)
			}
		}
	}
}

func TestUnauthorized(t *testing.T) {
	e := newEnv(t, rzsim.Options{})
	bad := newClient(t, e.url, "revoked-token-value")
	_, err := bad.ListContacts(context.Background(), referrizer.ListOptions{})
	u := asError(t, err, referrizer.KindUnauthorized)
	if !errors.Is(err, referrizer.ErrUnauthorized) || u.Retryable() || u.StatusCode != 401 || u.Code != "UNAUTHORIZED" {
		t.Fatalf("401: %+v", u)
	}
	if strings.Contains(err.Error(), "revoked-token-value") {
		t.Fatal("error contains the token")
	}
}

func TestRateLimited(t *testing.T) {
	ctx := context.Background()

	t.Run("Retry-After seconds, then local backoff", func(t *testing.T) {
		e := newEnv(t, rzsim.Options{})
		if err := e.sim.SetFaults(rzsim.Faults{ForceStatus: 429, ForceCount: 1, RetryAfterSeconds: 1}); err != nil {
			t.Fatal(err)
		}
		_, err := e.rz.ListContacts(ctx, referrizer.ListOptions{})
		rl := asError(t, err, referrizer.KindRateLimited)
		if !errors.Is(err, referrizer.ErrRateLimited) || !rl.Retryable() || rl.RetryAfter() != time.Second || rl.StatusCode != 429 {
			t.Fatalf("429: %+v wait %v", rl, rl.RetryAfter())
		}
		// With a deadline shorter than the wait, the client refuses locally, spending no call.
		calls, simCalls := e.rz.Calls(), e.sim.Stats().Total
		short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		_, err = e.rz.GetContact(short, "0123456789abcdef0123456789abcdef")
		cancel()
		local := asError(t, err, referrizer.KindRateLimited)
		if local.StatusCode != 0 || local.RetryAfter() <= 0 || local.RetryAfter() > time.Second || !local.Retryable() {
			t.Fatalf("local backoff: %+v wait %v", local, local.RetryAfter())
		}
		if e.rz.Calls() != calls || e.sim.Stats().Total != simCalls {
			t.Fatal("a call was sent during the backoff")
		}
		// Without a deadline it waits the rest of the second out, then sends.
		began := time.Now()
		if _, err := e.rz.ListContacts(ctx, referrizer.ListOptions{}); err != nil {
			t.Fatalf("after the wait: %v", err)
		}
		if waited := time.Since(began); waited < local.RetryAfter()-50*time.Millisecond {
			t.Errorf("sent after %v, before the %v wait was over", waited, local.RetryAfter())
		}
		if e.sim.Stats().Total != simCalls+1 {
			t.Errorf("calls after the wait = %d, want one", e.sim.Stats().Total-simCalls)
		}
	})

	t.Run("Retry-After as HTTP date", func(t *testing.T) {
		e := newEnv(t, rzsim.Options{})
		if err := e.sim.SetFaults(rzsim.Faults{ForceStatus: 429, ForceCount: 1, RetryAfterSeconds: 3, RetryAfterHTTPDate: true}); err != nil {
			t.Fatal(err)
		}
		_, err := e.rz.ListContacts(ctx, referrizer.ListOptions{})
		if w := asError(t, err, referrizer.KindRateLimited).RetryAfter(); w <= time.Second || w > 3*time.Second {
			t.Fatalf("wait from HTTP date = %v, want within (1s, 3s]", w)
		}
	})

	t.Run("no Retry-After", func(t *testing.T) {
		e := newEnv(t, rzsim.Options{})
		if err := e.sim.ForceNext(429, 1); err != nil {
			t.Fatal(err)
		}
		_, err := e.rz.ListContacts(ctx, referrizer.ListOptions{})
		if rl := asError(t, err, referrizer.KindRateLimited); rl.RetryAfter() != 0 || !rl.Retryable() {
			t.Fatalf("429 without hint: %+v", rl)
		}
		if _, err := e.rz.ListContacts(ctx, referrizer.ListOptions{}); err != nil {
			t.Fatalf("no hint means no local backoff: %v", err)
		}
	})
}

func TestServerErrorsAreRetryable(t *testing.T) {
	e := newEnv(t, rzsim.Options{Seed: 1})
	ctx := context.Background()
	for _, status := range []int{500, 502, 503} {
		if err := e.sim.ForceNext(status, 1); err != nil {
			t.Fatal(err)
		}
		_, err := e.rz.CreateContact(ctx, referrizer.Contact{Email: "five@example.com"})
		s := asError(t, err, referrizer.KindServer)
		if !s.Retryable() || s.StatusCode != status || !errors.Is(err, referrizer.ErrServer) {
			t.Fatalf("%d: %+v", status, s)
		}
	}
	// With a flaky server, retrying what Retryable allows (as Temporal does) gets through.
	if err := e.sim.SetFaults(rzsim.Faults{ErrorRate: 0.5}); err != nil {
		t.Fatal(err)
	}
	failures := 0
	for i := range 20 {
		for {
			_, err := e.rz.CreateContact(ctx, referrizer.Contact{Email: fmt.Sprintf("flaky%d@example.com", i)})
			if err == nil {
				break
			}
			if !asError(t, err, referrizer.KindServer).Retryable() {
				t.Fatal(err)
			}
			failures++
		}
	}
	if failures == 0 || len(e.sim.Contacts(token)) != 20 {
		t.Fatalf("%d failures, %d contacts", failures, len(e.sim.Contacts(token)))
	}
}

func TestNetworkErrorsCarryNoPII(t *testing.T) {
	ts := httptest.NewServer(http.NotFoundHandler())
	url := ts.URL
	ts.Close() // nothing listens there now
	rz := newClient(t, url, token)
	_, err := rz.ListContacts(context.Background(), referrizer.ListOptions{Email: "hidden.person@example.com", Phone: "+15550109999"})
	n := asError(t, err, referrizer.KindNetwork)
	if !n.Retryable() || n.StatusCode != 0 || !errors.Is(err, referrizer.ErrNetwork) {
		t.Fatalf("network error: %+v", n)
	}
	for _, secret := range []string{"hidden", "example.com", "5550109999", "%40", token} {
		if strings.Contains(err.Error(), secret) {
			t.Fatalf("network error %q contains %q", err, secret)
		}
	}
	if rz.Calls() != 1 {
		t.Fatalf("Calls = %d, want 1 (the attempt counts)", rz.Calls())
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = rz.ListContacts(ctx, referrizer.ListOptions{})
	if c := asError(t, err, referrizer.KindNetwork); c.Retryable() || !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %+v", c)
	}
}

func TestResponseBodyIsBounded(t *testing.T) {
	e := newEnv(t, rzsim.Options{}, referrizer.WithMaxResponseBytes(1024))
	e.seed(t, 10)
	_, err := e.rz.ListContacts(context.Background(), referrizer.ListOptions{})
	if d := asError(t, err, referrizer.KindDecode); d.Retryable() || !strings.Contains(d.Message, "exceeds 1024 bytes") {
		t.Fatalf("oversized body: %+v", d)
	}
	if _, err := e.rz.ListContacts(context.Background(), referrizer.ListOptions{PerPage: 1}); err != nil {
		t.Fatalf("a small page should fit: %v", err)
	}
}

func TestRequestRateLimit(t *testing.T) {
	e := newEnv(t, rzsim.Options{})
	ctx := context.Background()
	limited := newClient(t, e.url, token, referrizer.WithRateLimit(20, 1))
	start := time.Now()
	for range 6 {
		if _, err := limited.ListContacts(ctx, referrizer.ListOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(start); d < 240*time.Millisecond {
		t.Fatalf("6 calls at 20/s took %v, want >= 250ms", d)
	}

	// The default is a few per second.
	def, err := referrizer.New(token, referrizer.WithBaseURL(e.url))
	if err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	for range 3 {
		if _, err := def.ListContacts(ctx, referrizer.ListOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if d, want := time.Since(start), 2*time.Second/referrizer.DefaultRateLimit; d < want-10*time.Millisecond {
		t.Fatalf("3 calls at the default rate took %v, want >= %v", d, want)
	}

	// Waiting honours the context.
	slow := newClient(t, e.url, token, referrizer.WithRateLimit(0.5, 1))
	if _, err := slow.ListContacts(ctx, referrizer.ListOptions{}); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	time.AfterFunc(20*time.Millisecond, cancel)
	_, err = slow.ListContacts(cctx, referrizer.ListOptions{})
	if c := asError(t, err, referrizer.KindNetwork); !errors.Is(err, context.Canceled) || c.Retryable() {
		t.Fatalf("cancelled wait: %+v", c)
	}
	if slow.Calls() != 1 {
		t.Fatalf("Calls = %d, want 1", slow.Calls())
	}
}

func TestCustomFields(t *testing.T) {
	e := newEnv(t, rzsim.Options{})
	ctx := context.Background()

	tier, err := e.rz.CreateCustomField(ctx, referrizer.CustomField{Name: "Tier", Type: "DROPDOWN", Options: []string{"gold"}})
	if err != nil || tier.ID == "" || !slices.Equal(tier.Options, []string{"gold"}) {
		t.Fatalf("create: %+v %v", tier, err)
	}
	if _, err := e.rz.CreateCustomField(ctx, referrizer.CustomField{Name: "tier", Type: "TEXT"}); !errors.Is(err, referrizer.ErrDuplicate) {
		t.Fatalf("NOT_UNIQUE: %v", err)
	}
	_, err = e.rz.CreateCustomField(ctx, referrizer.CustomField{Name: "bad/name", Type: "TEXT"})
	if v := asError(t, err, referrizer.KindValidation); v.Code != "INVALID_CUSTOM_FIELD_NAME" {
		t.Fatalf("invalid name: %+v", v)
	}
	if err := e.rz.SetCustomFieldOptions(ctx, tier.ID, []string{"gold", "silver"}); err != nil {
		t.Fatal(err)
	}
	if err := e.rz.RenameCustomField(ctx, tier.ID, "Member Tier"); err != nil {
		t.Fatal(err)
	}
	if err := e.rz.RenameCustomField(ctx, "", "x"); !errors.Is(err, referrizer.ErrValidation) {
		t.Fatalf("rename without id: %v", err)
	}
	if err := e.rz.SetCustomFieldOptions(ctx, "0123456789abcdef0123456789abcdef", nil); !errors.Is(err, referrizer.ErrNotFound) {
		t.Fatalf("options of a missing field: %v", err)
	}
	list, err := e.rz.ListCustomFields(ctx)
	if err != nil || len(list) != 1 || list[0].Name != "Member Tier" || !slices.Equal(list[0].Options, []string{"gold", "silver"}) {
		t.Fatalf("list: %+v %v", list, err)
	}

	// A field of another type under the wanted name is an error, not a second field.
	if _, err := e.rz.EnsureCustomField(ctx, "member tier", referrizer.FieldTypeText); !errors.Is(err, referrizer.ErrValidation) {
		t.Fatalf("type mismatch: %v", err)
	}

	// Ensure is idempotent and cached.
	fields, err := e.rz.EnsureProjectionFields(ctx, referrizer.ProjectionFieldNames{Tasks: "Open Tasks"})
	if err != nil || fields.Notes.Name != referrizer.DefaultNotesField || fields.Tasks.Name != "Open Tasks" {
		t.Fatalf("ensure: %+v %v", fields, err)
	}
	calls := e.rz.Calls()
	again, err := e.rz.EnsureProjectionFields(ctx, referrizer.ProjectionFieldNames{Tasks: "Open Tasks"})
	if err != nil || !reflect.DeepEqual(again, fields) || e.rz.Calls() != calls {
		t.Fatalf("second ensure: %+v %v, %d calls", again, err, e.rz.Calls()-calls)
	}
	// A fresh client finds them (one list, no create), whatever the letter case asked.
	fresh := newClient(t, e.url, token)
	notes, err := fresh.EnsureCustomField(ctx, "ghl NOTES", "")
	if err != nil || notes.ID != fields.Notes.ID || notes.Name != "GHL Notes" || fresh.Calls() != 1 {
		t.Fatalf("fresh ensure: %+v %v, %d calls", notes, err, fresh.Calls())
	}
	if n := len(e.sim.CustomFields(token)); n != 3 {
		t.Fatalf("%d fields, want 3", n)
	}

	// Someone renames the notes field in Referrizer: the write with the cached name fails
	// with INVALID_CUSTOM_FIELD_NAME, which drops the cache, so the next ensure re-creates.
	if err := fresh.RenameCustomField(ctx, fields.Notes.ID, "Old GHL Notes"); err != nil {
		t.Fatal(err)
	}
	c, err := e.rz.CreateContact(ctx, referrizer.Contact{Email: "cf@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.rz.UpdateContact(ctx, c.ID, referrizer.ContactPatch{SetCustomText: map[string]string{fields.Notes.Name: "x"}})
	if v := asError(t, err, referrizer.KindValidation); v.Code != "INVALID_CUSTOM_FIELD_NAME" {
		t.Fatalf("write to a renamed field: %+v", v)
	}
	renewed, err := e.rz.EnsureCustomField(ctx, referrizer.DefaultNotesField, "")
	if err != nil || renewed.ID == fields.Notes.ID {
		t.Fatalf("ensure after rename: %+v %v", renewed, err)
	}
	e.rz.ForgetCustomFields()
	calls = e.rz.Calls()
	if _, err := e.rz.EnsureCustomField(ctx, referrizer.DefaultNotesField, ""); err != nil || e.rz.Calls() != calls+1 {
		t.Fatalf("ensure after ForgetCustomFields: %v, %d calls", err, e.rz.Calls()-calls)
	}
	if _, err := e.rz.EnsureCustomField(ctx, " ", ""); !errors.Is(err, referrizer.ErrValidation) {
		t.Fatalf("blank name: %v", err)
	}
}

// TestEnsureRace has several workers (separate clients, as separate processes would be)
// ensure the projection fields at once; latency makes them all list before any creates.
func TestEnsureRace(t *testing.T) {
	e := newEnv(t, rzsim.Options{})
	if err := e.sim.SetFaults(rzsim.Faults{LatencyMs: 40}); err != nil {
		t.Fatal(err)
	}
	const workers = 6
	results := make([]referrizer.ProjectionFields, workers)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := newClient(t, e.url, token)
			results[i], errs[i] = c.EnsureProjectionFields(context.Background(), referrizer.ProjectionFieldNames{})
		}()
	}
	wg.Wait()
	for i := range workers {
		if errs[i] != nil {
			t.Fatalf("worker %d: %v", i, errs[i])
		}
		if !reflect.DeepEqual(results[i], results[0]) {
			t.Fatalf("workers disagree: %+v vs %+v", results[i], results[0])
		}
	}
	if fs := e.sim.CustomFields(token); len(fs) != 2 {
		t.Fatalf("%d fields exist, want exactly 2: %+v", len(fs), fs)
	}
	if posts := e.sim.Stats().Calls["POST /v1/custom-fields"]; posts < 3 {
		t.Fatalf("only %d creates: the race was not exercised", posts)
	}
}

func TestVisits(t *testing.T) {
	e := newEnv(t, rzsim.Options{})
	ctx := context.Background()
	c, err := e.rz.CreateContact(ctx, referrizer.Contact{Email: "visit@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	yesterday := time.Now().UTC().Add(-24 * time.Hour)
	points := 10.0
	v, err := e.rz.CreateVisit(ctx, referrizer.Visit{ContactID: c.ID, Points: &points, AmountSpent: new(25.5), Date: yesterday})
	if err != nil {
		t.Fatal(err)
	}
	if v.ID == "" || v.ContactID != c.ID || *v.Points != 10 || *v.AmountSpent != 25.5 || !v.Date.Equal(yesterday.Truncate(time.Millisecond)) {
		t.Fatalf("visit = %+v", v)
	}
	if _, ok := v.Extra["createdAt"]; !ok {
		t.Fatalf("unmodelled visit fields dropped: %v", v.Extra)
	}
	if n := e.sim.Stats().Notifications; n != 0 {
		t.Fatalf("a back-dated visit notified the customer (%d)", n)
	}
	_, err = e.rz.CreateVisit(ctx, referrizer.Visit{ContactID: c.ID, Date: yesterday.Add(-time.Second)})
	if d := asError(t, err, referrizer.KindDuplicate); d.Code != "CONTACT_ALREADY_CHECKED_IN" || d.Retryable() {
		t.Fatalf("second visit that day: %+v", d)
	}
	_, err = e.rz.CreateVisit(ctx, referrizer.Visit{ContactID: c.ID, Date: time.Now().Add(48 * time.Hour)})
	if v := asError(t, err, referrizer.KindValidation); v.Code != "VISIT_DATE_IN_FUTURE" {
		t.Fatalf("future visit: %+v", v)
	}
	if _, err := e.rz.CreateVisit(ctx, referrizer.Visit{ContactID: "0123456789abcdef0123456789abcdef"}); !errors.Is(err, referrizer.ErrNotFound) {
		t.Fatalf("visit of a missing contact: %v", err)
	}
	if _, err := e.rz.CreateVisit(ctx, referrizer.Visit{}); !errors.Is(err, referrizer.ErrValidation) {
		t.Fatalf("visit without contact: %v", err)
	}
	if vs := e.sim.Visits(token); len(vs) != 1 {
		t.Fatalf("%d visits recorded", len(vs))
	}
}

func TestContactActivities(t *testing.T) {
	now := time.Date(2025, 6, 15, 12, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	tick := func() { mu.Lock(); now = now.Add(time.Minute); mu.Unlock() }
	e := newEnv(t, rzsim.Options{Now: clock})
	ctx := context.Background()
	c, err := e.rz.CreateContact(ctx, referrizer.Contact{Email: "act@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	tick()
	if _, err := e.rz.UpdateContact(ctx, c.ID, referrizer.ContactPatch{FirstName: new("Act")}); err != nil {
		t.Fatal(err)
	}
	tick()
	if _, err := e.rz.CreateVisit(ctx, referrizer.Visit{ContactID: c.ID, Date: now.Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	all, err := e.rz.ListContactActivities(ctx, c.ID, referrizer.ActivityOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, a := range all {
		types = append(types, a.Type)
		if a.ID == "" || a.Date.IsZero() || a.Description == "" {
			t.Fatalf("activity %+v", a)
		}
	}
	if strings.Join(types, ",") != "CONTACT_UPDATED,CONTACT_CREATED,VISIT" {
		t.Fatalf("timeline = %v", types)
	}
	visits, err := e.rz.ListContactActivities(ctx, c.ID, referrizer.ActivityOptions{Type: "VISIT", PerPage: 5})
	if err != nil || len(visits) != 1 {
		t.Fatalf("type filter: %v %v", visits, err)
	}
	older, err := e.rz.ListContactActivities(ctx, c.ID, referrizer.ActivityOptions{BeforeDate: all[0].Date})
	if err != nil || len(older) != 2 || older[0].Type != "CONTACT_CREATED" {
		t.Fatalf("beforeDate: %v %v", older, err)
	}
	if _, err := e.rz.ListContactActivities(ctx, c.ID, referrizer.ActivityOptions{PerPage: 500}); !errors.Is(err, referrizer.ErrValidation) {
		t.Fatalf("perPage 500: %v", err)
	}
	if _, err := e.rz.ListContactActivities(ctx, "0123456789abcdef0123456789abcdef", referrizer.ActivityOptions{}); !errors.Is(err, referrizer.ErrNotFound) {
		t.Fatalf("missing contact: %v", err)
	}
}

// TestReadOnlyWalkWritesNothing is what a dry run relies on: reading everything through
// the client makes no write calls.
func TestReadOnlyWalkWritesNothing(t *testing.T) {
	e := newEnv(t, rzsim.Options{})
	ctx := context.Background()
	seeded := e.seed(t, 30)
	e.sim.ResetStats()
	n := 0
	for c, err := range e.rz.AllContacts(ctx, referrizer.ListOptions{PerPage: 7}) {
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.rz.ListContactActivities(ctx, c.ID, referrizer.ActivityOptions{}); err != nil {
			t.Fatal(err)
		}
		n++
	}
	if _, err := e.rz.UpdateContact(ctx, seeded[0].ID, referrizer.ContactPatch{}); err != nil {
		t.Fatal(err)
	}
	st := e.sim.Stats()
	if n != 30 || st.Writes != 0 || st.Total != e.rz.Calls() {
		t.Fatalf("%d contacts, %d writes, %d calls (client counted %d)", n, st.Writes, st.Total, e.rz.Calls())
	}
	if got := st.Calls["GET /v1/contacts"]; got != 5 {
		t.Fatalf("%d list calls for 30 contacts at 7 per page, want 5", got)
	}
}

// PutContact writes back a contact read moments ago without reading it again, keeping what
// the client does not model.
func TestPutContactSkipsTheRead(t *testing.T) {
	e := newEnv(t, rzsim.Options{})
	ctx := context.Background()
	seeded, err := e.sim.AdminCreateContact(token, rzsim.Contact{
		FirstName: "Ada", Email: "ada@example.com",
		Extra: map[string]json.RawMessage{"loyaltyPoints": json.RawMessage(`7`)},
	})
	if err != nil {
		t.Fatal(err)
	}
	cur, err := e.rz.GetContact(ctx, seeded.ID)
	if err != nil {
		t.Fatal(err)
	}
	e.sim.ResetStats()
	out, err := e.rz.PutContact(ctx, cur, func(c *referrizer.Contact) error { c.LastName = "Lovelace"; return nil })
	if err != nil {
		t.Fatal(err)
	}
	st := e.sim.Stats()
	if st.Total != 1 || st.Writes != 1 || st.Calls["PUT /v1/contacts/{id}"] != 1 {
		t.Errorf("PutContact made calls %v, want exactly one PUT", st.Calls)
	}
	after := e.sim.Contacts(token)[0]
	if out.LastName != "Lovelace" || after.LastName != "Lovelace" || string(after.Extra["loyaltyPoints"]) != "7" {
		t.Errorf("after PutContact: returned %+v stored %+v", out, after)
	}
	// Nothing changed: nothing sent.
	e.sim.ResetStats()
	if _, err := e.rz.PutContact(ctx, out, func(*referrizer.Contact) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if st := e.sim.Stats(); st.Total != 0 {
		t.Errorf("no-op PutContact made %d calls", st.Total)
	}
	if _, err := e.rz.PutContact(ctx, referrizer.Contact{}, func(*referrizer.Contact) error { return nil }); err == nil {
		t.Error("PutContact without an id accepted")
	}
}
