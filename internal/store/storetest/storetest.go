// Package storetest is the conformance suite every store.Store implementation must pass.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/hlrz/hlrz/internal/store"
)

// Opener returns a fresh, empty store; the suite closes it.
type Opener func(t *testing.T) store.Store

// Run runs the whole suite.
func Run(t *testing.T, open Opener) {
	tests := []struct {
		name string
		fn   func(*testing.T, store.Store)
	}{
		{"Connections", testConnections},
		{"Tokens", testTokens},
		{"TokenUpdateSingleFlight", testTokenSingleFlight},
		{"TokenUpdateNoLostWrites", testTokenNoLostWrites},
		{"TokenRefreshRejected", testTokenRefreshRejected},
		{"PendingConnection", testPendingConnection},
		{"CompanyTokens", testCompanyTokens},
		{"Links", testLinks},
		{"EnsureLinkConcurrent", testEnsureLinkConcurrent},
		{"PairLinkConcurrent", testPairLinkConcurrent},
		{"ClaimContact", testClaimContact},
		{"Ledger", testLedger},
		{"Inbox", testInbox},
		{"InboxConcurrentClaim", testInboxConcurrentClaim},
		{"DeadLetters", testDeadLetters},
		{"Observations", testObservations},
		{"MatchKeys", testMatchKeys},
		{"Retention", Retention},
		{"Cursors", testCursors},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(s.Close)
			tc.fn(t, s)
		})
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}

func mustConn(t *testing.T, s store.Store, id, loc string) store.Connection {
	t.Helper()
	c, err := s.PutConnection(ctx(t), store.Connection{ID: id, Name: "Conn " + id, GHLLocationID: loc})
	if err != nil {
		t.Fatalf("PutConnection(%s): %v", id, err)
	}
	return c
}

var ignoreTimes = cmpopts.IgnoreFields(store.Connection{}, "CreatedAt", "UpdatedAt")

func testConnections(t *testing.T, s store.Store) {
	c := ctx(t)
	in := store.Connection{
		ID: "gym-1", Name: "Gym", GHLLocationID: "loc1", GHLCompanyID: "co1",
		Mapping:  []byte("fields: []\n"),
		Settings: store.Settings{DefaultRegion: "US", DebounceMillis: 1500, RZRequestsPerSec: 2.5},
	}
	got, err := s.PutConnection(c, in)
	if err != nil {
		t.Fatal(err)
	}
	want := in
	want.Status = store.ConnActive
	if d := cmp.Diff(want, got, ignoreTimes); d != "" {
		t.Errorf("PutConnection result (-want +got):\n%s", d)
	}
	if got.CreatedAt.IsZero() || got.UpdatedAt.IsZero() {
		t.Errorf("timestamps not set: %+v", got)
	}
	byLoc, err := s.ConnectionByLocation(c, "loc1")
	if err != nil || byLoc.ID != "gym-1" {
		t.Fatalf("ConnectionByLocation = %v, %v", byLoc.ID, err)
	}
	// Times read back are in UTC, as store.Now writes them, whatever the process's zone.
	if byLoc.CreatedAt.Location() != time.UTC || byLoc.UpdatedAt.Location() != time.UTC {
		t.Errorf("connection times read back in %v and %v, want UTC", byLoc.CreatedAt.Location(), byLoc.UpdatedAt.Location())
	}
	// Update keeps the row, changes fields.
	in.Name = "Gym renamed"
	if _, err := s.PutConnection(c, in); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetConnection(c, "gym-1"); got.Name != "Gym renamed" {
		t.Errorf("name after update = %q", got.Name)
	}
	// One location belongs to one connection.
	if _, err := s.PutConnection(c, store.Connection{ID: "gym-2", GHLLocationID: "loc1"}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("second connection on loc1: err = %v, want ErrConflict", err)
	}
	if _, err := s.PutConnection(c, store.Connection{ID: "Bad ID!"}); err == nil {
		t.Error("invalid connection id accepted")
	}
	if _, err := s.GetConnection(c, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetConnection(nope) err = %v, want ErrNotFound", err)
	}
	if _, err := s.ConnectionByLocation(c, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("ConnectionByLocation(nope) err = %v, want ErrNotFound", err)
	}
	mustConn(t, s, "a-first", "loc0")
	list, err := s.ListConnections(c)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, l := range list {
		ids = append(ids, l.ID)
	}
	if d := cmp.Diff([]string{"a-first", "gym-1"}, ids); d != "" {
		t.Errorf("ListConnections ids (-want +got):\n%s", d)
	}
	if err := s.SetConnectionStatus(c, "gym-1", store.ConnReconnectRequired, "refresh token rejected"); err != nil {
		t.Fatal(err)
	}
	got, _ = s.GetConnection(c, "gym-1")
	if got.Status != store.ConnReconnectRequired || got.StatusReason != "refresh token rejected" {
		t.Errorf("status = %q (%q)", got.Status, got.StatusReason)
	}
	if err := s.SetConnectionStatus(c, "nope", store.ConnPaused, ""); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SetConnectionStatus(nope) err = %v", err)
	}
}

func testTokens(t *testing.T, s store.Store) {
	c := ctx(t)
	mustConn(t, s, "c1", "loc1")
	exp := time.Date(2030, 1, 2, 3, 4, 5, 6000, time.UTC)
	in := store.Token{ConnectionID: "c1", Kind: store.TokenGHL, Mode: store.AuthOAuth, AccessToken: "acc-1", RefreshToken: "ref-1", Expiry: exp, Scope: "contacts.readonly"}
	put, err := s.PutToken(c, in)
	if err != nil {
		t.Fatal(err)
	}
	if put.Version != 1 {
		t.Errorf("first version = %d, want 1", put.Version)
	}
	got, err := s.GetToken(c, "c1", store.TokenGHL)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(in, got, cmpopts.IgnoreFields(store.Token{}, "Version", "UpdatedAt")); d != "" {
		t.Errorf("token round trip (-want +got):\n%s", d)
	}
	if got.Expiry.Location() != time.UTC {
		t.Errorf("token expiry read back in %v, want UTC", got.Expiry.Location())
	}
	// A private token has no refresh token and no expiry.
	priv := store.Token{ConnectionID: "c1", Kind: store.TokenReferrizer, Mode: store.AuthPrivate, AccessToken: "rz-jwt"}
	if _, err := s.PutToken(c, priv); err != nil {
		t.Fatal(err)
	}
	got, _ = s.GetToken(c, "c1", store.TokenReferrizer)
	if got.AccessToken != "rz-jwt" || !got.Expiry.IsZero() || got.RefreshToken != "" {
		t.Errorf("private token = %+v", got)
	}
	if _, err := s.GetToken(c, "c1", "other"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("missing token err = %v", err)
	}
	if _, err := s.PutToken(c, store.Token{ConnectionID: "nope", Kind: store.TokenGHL, Mode: store.AuthPrivate, AccessToken: "x"}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("token for unknown connection: err = %v, want ErrNotFound", err)
	}
	if _, err := s.PutToken(c, store.Token{ConnectionID: "c1", Kind: store.TokenGHL, Mode: store.AuthPrivate}); err == nil {
		t.Error("empty access token accepted")
	}
	// Secrets never leak through formatting.
	for _, f := range []string{fmt.Sprint(got), fmt.Sprintf("%+v", got), fmt.Sprintf("%#v", got)} {
		if contains(f, "rz-jwt") {
			t.Errorf("token formatting leaks the secret: %s", f)
		}
	}
}

// testTokenRefreshRejected: the mark that HighLevel refused a refresh token survives a
// re-read, is set under the row lock by UpdateToken, and a new token (a re-install) clears it.
func testTokenRefreshRejected(t *testing.T, s store.Store) {
	c := ctx(t)
	mustConn(t, s, "c1", "loc1")
	in := store.Token{ConnectionID: "c1", Kind: store.TokenGHL, Mode: store.AuthOAuth, AccessToken: "acc-1", RefreshToken: "ref-1"}
	if _, err := s.PutToken(c, in); err != nil {
		t.Fatal(err)
	}
	marked, err := s.UpdateToken(c, "c1", store.TokenGHL, func(cur store.Token) (store.Token, error) {
		if cur.RefreshRejected != "" {
			t.Errorf("fresh token already marked: %q", cur.RefreshRejected)
		}
		cur.RefreshRejected = "HTTP 400 (invalid_grant)"
		return cur, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.GetToken(c, "c1", store.TokenGHL)
	if err != nil {
		t.Fatal(err)
	}
	if got.RefreshRejected != "HTTP 400 (invalid_grant)" || got.Version != marked.Version || got.RefreshToken != "ref-1" {
		t.Errorf("after marking: rejected %q version %d (want %d), refresh token kept: %v", got.RefreshRejected, got.Version, marked.Version, got.RefreshToken == "ref-1")
	}
	in.AccessToken, in.RefreshToken = "acc-2", "ref-2"
	if _, err := s.PutToken(c, in); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetToken(c, "c1", store.TokenGHL); got.RefreshRejected != "" {
		t.Errorf("a new token kept the rejection %q", got.RefreshRejected)
	}
}

// testCompanyTokens: a company's token round-trips encrypted, UpdateCompanyToken persists
// what fn returns (nothing when fn fails), and a Location token obtained from it is a
// connection token of mode company.
func testCompanyTokens(t *testing.T, s store.Store) {
	c := ctx(t)
	exp := time.Date(2030, 1, 2, 3, 4, 5, 6000, time.UTC)
	in := store.Token{Mode: store.AuthOAuth, AccessToken: "co-acc", RefreshToken: "co-ref", Expiry: exp, Scope: "oauth.write"}
	if _, err := s.GetCompanyToken(c, "Comp1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("missing company token: err = %v, want ErrNotFound", err)
	}
	put, err := s.PutCompanyToken(c, "Comp1", in)
	if err != nil || put.Version != 1 {
		t.Fatalf("put: version %d, %v", put.Version, err)
	}
	got, err := s.GetCompanyToken(c, "Comp1")
	if err != nil {
		t.Fatal(err)
	}
	want := in
	want.Kind = store.TokenGHLCompany
	if d := cmp.Diff(want, got, cmpopts.IgnoreFields(store.Token{}, "Version", "UpdatedAt")); d != "" {
		t.Errorf("company token round trip (-want +got):\n%s", d)
	}
	boom := errors.New("boom")
	if _, err := s.UpdateCompanyToken(c, "Comp1", func(cur store.Token) (store.Token, error) {
		cur.AccessToken = "never"
		return cur, boom
	}); !errors.Is(err, boom) {
		t.Errorf("update error = %v, want %v", err, boom)
	}
	up, err := s.UpdateCompanyToken(c, "Comp1", func(cur store.Token) (store.Token, error) {
		if cur.AccessToken != "co-acc" {
			t.Errorf("a failed update was written: %q", cur.AccessToken)
		}
		cur.AccessToken, cur.RefreshToken = "co-acc-2", "co-ref-2"
		return cur, nil
	})
	if err != nil || up.Version != 2 {
		t.Fatalf("update: version %d, %v", up.Version, err)
	}
	if got, _ := s.GetCompanyToken(c, "Comp1"); got.AccessToken != "co-acc-2" || got.RefreshToken != "co-ref-2" {
		t.Errorf("after update: %v", got)
	}
	if _, err := s.PutCompanyToken(c, "", in); err == nil {
		t.Error("company token without company id accepted")
	}
	if _, err := s.PutCompanyToken(c, "Comp2", store.Token{Mode: store.AuthPrivate, AccessToken: "x"}); err == nil {
		t.Error("private company token accepted")
	}
	mustConn(t, s, "c1", "loc1")
	loc := store.Token{ConnectionID: "c1", Kind: store.TokenGHL, Mode: store.AuthCompany, AccessToken: "loc-acc", Expiry: exp}
	if _, err := s.PutToken(c, loc); err != nil {
		t.Fatalf("Location token of mode company: %v", err)
	}
	if got, _ := s.GetToken(c, "c1", store.TokenGHL); got.Mode != store.AuthCompany || got.RefreshToken != "" {
		t.Errorf("Location token read back as %v", got)
	}
}

// testPendingConnection: a connection an install created is pending until it has its
// Referrizer credential; the status round-trips like the others.
func testPendingConnection(t *testing.T, s store.Store) {
	c := ctx(t)
	in := store.Connection{ID: "inst-1", GHLLocationID: "locP", Status: store.ConnPending, StatusReason: "waiting for Referrizer"}
	if _, err := s.PutConnection(c, in); err != nil {
		t.Fatal(err)
	}
	got, err := s.ConnectionByLocation(c, "locP")
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != store.ConnPending || got.StatusReason != "waiting for Referrizer" {
		t.Errorf("status %s (%q), want pending", got.Status, got.StatusReason)
	}
	if err := s.SetConnectionStatus(c, "inst-1", store.ConnActive, ""); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetConnection(c, "inst-1"); got.Status != store.ConnActive {
		t.Errorf("status %s after activation, want active", got.Status)
	}
	if _, err := s.PutConnection(c, store.Connection{ID: "bad-1", Status: "limbo"}); err == nil {
		t.Error("unknown status accepted")
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

// testTokenSingleFlight: many concurrent refreshers of an expired token cause exactly one
// refresh; everyone ends with the refreshed token.
func testTokenSingleFlight(t *testing.T, s store.Store) {
	c := ctx(t)
	mustConn(t, s, "c1", "loc1")
	if _, err := s.PutToken(c, store.Token{ConnectionID: "c1", Kind: store.TokenGHL, Mode: store.AuthOAuth,
		AccessToken: "old", RefreshToken: "r0", Expiry: time.Now().Add(-time.Minute)}); err != nil {
		t.Fatal(err)
	}
	var refreshes atomic.Int32
	const n = 12
	results := make([]store.Token, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = s.UpdateToken(c, "c1", store.TokenGHL, func(cur store.Token) (store.Token, error) {
				if cur.Expiry.After(time.Now()) {
					return cur, nil // someone refreshed while we waited
				}
				refreshes.Add(1)
				time.Sleep(20 * time.Millisecond) // the token endpoint is slow; others must wait
				cur.AccessToken, cur.RefreshToken, cur.Expiry = "new", "r1", time.Now().Add(time.Hour)
				return cur, nil
			})
		}()
	}
	wg.Wait()
	if got := refreshes.Load(); got != 1 {
		t.Errorf("refresh calls = %d, want exactly 1", got)
	}
	for i := range n {
		if errs[i] != nil {
			t.Errorf("caller %d: %v", i, errs[i])
		} else if results[i].AccessToken != "new" || results[i].RefreshToken != "r1" {
			t.Errorf("caller %d got %q/%q, want new/r1", i, results[i].AccessToken, results[i].RefreshToken)
		}
	}
	final, _ := s.GetToken(c, "c1", store.TokenGHL)
	if final.Version != 2 || final.RefreshToken != "r1" {
		t.Errorf("stored token version %d refresh %q, want 2 r1", final.Version, final.RefreshToken)
	}
	// An error from fn writes nothing.
	boom := errors.New("invalid_grant")
	if _, err := s.UpdateToken(c, "c1", store.TokenGHL, func(cur store.Token) (store.Token, error) {
		cur.AccessToken = "should-not-persist"
		return cur, boom
	}); !errors.Is(err, boom) {
		t.Errorf("UpdateToken error = %v, want %v", err, boom)
	}
	if after, _ := s.GetToken(c, "c1", store.TokenGHL); after.AccessToken != "new" {
		t.Errorf("failed update persisted %q", after.AccessToken)
	}
}

// testTokenNoLostWrites: concurrent read-modify-writes all land.
func testTokenNoLostWrites(t *testing.T, s store.Store) {
	c := ctx(t)
	mustConn(t, s, "c1", "loc1")
	if _, err := s.PutToken(c, store.Token{ConnectionID: "c1", Kind: store.TokenGHL, Mode: store.AuthOAuth, AccessToken: "t"}); err != nil {
		t.Fatal(err)
	}
	const n = 20
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.UpdateToken(c, "c1", store.TokenGHL, func(cur store.Token) (store.Token, error) {
				cur.AccessToken += "+"
				return cur, nil
			}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	got, _ := s.GetToken(c, "c1", store.TokenGHL)
	if len(got.AccessToken) != 1+n || got.Version != 1+n {
		t.Errorf("after %d updates: token %q version %d", n, got.AccessToken, got.Version)
	}
}

func testLinks(t *testing.T, s store.Store) {
	c := ctx(t)
	mustConn(t, s, "c1", "loc1")
	mustConn(t, s, "c2", "loc2")
	l, created, err := s.EnsureLink(c, "c1", store.SideGHL, "g1")
	if err != nil || !created {
		t.Fatalf("EnsureLink = %v created=%v", err, created)
	}
	again, created, err := s.EnsureLink(c, "c1", store.SideGHL, "g1")
	if err != nil || created || again.ID != l.ID {
		t.Fatalf("second EnsureLink = %+v created=%v err=%v", again, created, err)
	}
	// Ids are unique per connection, not globally.
	other, created, err := s.EnsureLink(c, "c2", store.SideGHL, "g1")
	if err != nil || !created || other.ID == l.ID {
		t.Fatalf("EnsureLink in c2 = %+v created=%v err=%v", other, created, err)
	}
	l, err = s.AttachContact(c, "c1", l.ID, store.SideRZ, "r1")
	if err != nil || l.RZContactID != "r1" || l.GHLContactID != "g1" {
		t.Fatalf("AttachContact = %+v, %v", l, err)
	}
	byRZ, err := s.LinkBy(c, "c1", store.SideRZ, "r1")
	if err != nil || byRZ.ID != l.ID {
		t.Fatalf("LinkBy rz = %+v, %v", byRZ, err)
	}
	if l.ContactID(store.SideGHL) != "g1" || l.ContactID(store.SideRZ) != "r1" {
		t.Errorf("ContactID = %q/%q", l.ContactID(store.SideGHL), l.ContactID(store.SideRZ))
	}
	// r1 is taken: another link cannot own it.
	l2, _, _ := s.EnsureLink(c, "c1", store.SideGHL, "g2")
	if _, err := s.AttachContact(c, "c1", l2.ID, store.SideRZ, "r1"); !errors.Is(err, store.ErrConflict) {
		t.Errorf("attach owned id: err = %v, want ErrConflict", err)
	}
	// Pairing reuses the link owning either id.
	p, err := s.PairLink(c, "c1", "g2", "r2")
	if err != nil || p.ID != l2.ID || p.RZContactID != "r2" {
		t.Fatalf("PairLink onto existing = %+v, %v", p, err)
	}
	p3, err := s.PairLink(c, "c1", "g3", "r3")
	if err != nil || p3.GHLContactID != "g3" || p3.RZContactID != "r3" {
		t.Fatalf("PairLink new = %+v, %v", p3, err)
	}
	if _, err := s.PairLink(c, "c1", "g1", "r2"); !errors.Is(err, store.ErrConflict) {
		t.Errorf("pairing ids of two links: err = %v, want ErrConflict", err)
	}
	if again, err := s.PairLink(c, "c1", "g3", "r3"); err != nil || again.ID != p3.ID {
		t.Errorf("re-pairing = %+v, %v", again, err)
	}
	checkLinkLookups(t, s, l.ID)
	checkLinkPaging(t, s)
}

// checkLinkLookups: deletion marks, unknown ids and unknown connections (after testLinks' setup).
func checkLinkLookups(t *testing.T, s store.Store, linkID string) {
	c := ctx(t)
	if err := s.MarkLinkDeleted(c, "c1", linkID, true); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetLink(c, "c1", linkID); !got.Deleted {
		t.Error("link not marked deleted")
	}
	if _, err := s.GetLink(c, "c1", "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetLink(nope) = %v", err)
	}
	if _, err := s.LinkBy(c, "c1", store.SideGHL, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("LinkBy(nope) = %v", err)
	}
	if _, _, err := s.EnsureLink(c, "missing-conn", store.SideGHL, "g9"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("EnsureLink on unknown connection = %v, want ErrNotFound", err)
	}
}

// checkLinkPaging: paging returns every link once, in id order (after testLinks' setup).
func checkLinkPaging(t *testing.T, s store.Store) {
	c := ctx(t)
	for i := range 7 {
		if _, _, err := s.EnsureLink(c, "c1", store.SideRZ, fmt.Sprintf("extra-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	total, err := s.CountLinks(c, "c1")
	if err != nil || total != 10 {
		t.Fatalf("CountLinks = %d, %v; want 10", total, err)
	}
	var seen []string
	after := ""
	for {
		page, err := s.ListLinks(c, "c1", after, 3)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		for _, p := range page {
			seen = append(seen, p.ID)
		}
		after = page[len(page)-1].ID
	}
	if len(seen) != total || !sort.StringsAreSorted(seen) {
		t.Errorf("paged %d links (sorted=%v), want %d sorted", len(seen), sort.StringsAreSorted(seen), total)
	}
}

// testEnsureLinkConcurrent: racing creators of the same person end with one link.
func testEnsureLinkConcurrent(t *testing.T, s store.Store) {
	c := ctx(t)
	mustConn(t, s, "c1", "loc1")
	for round := range 5 {
		contact := fmt.Sprintf("g-race-%d", round)
		const n = 8
		ids := make([]string, n)
		var created atomic.Int32
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				l, c2, err := s.EnsureLink(c, "c1", store.SideGHL, contact)
				if err != nil {
					t.Error(err)
					return
				}
				ids[i] = l.ID
				if c2 {
					created.Add(1)
				}
			}()
		}
		wg.Wait()
		if created.Load() != 1 {
			t.Errorf("round %d: %d callers created a link, want 1", round, created.Load())
		}
		for i := range n {
			if ids[i] != ids[0] {
				t.Errorf("round %d: caller %d got link %q, caller 0 got %q", round, i, ids[i], ids[0])
			}
		}
	}
	if n, _ := s.CountLinks(c, "c1"); n != 5 {
		t.Errorf("links = %d, want 5", n)
	}
}

// testPairLinkConcurrent: racing pairings of the same two contacts produce one link.
func testPairLinkConcurrent(t *testing.T, s store.Store) {
	c := ctx(t)
	mustConn(t, s, "c1", "loc1")
	var wg sync.WaitGroup
	ids := make([]string, 6)
	for i := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l, err := s.PairLink(c, "c1", "g1", "r1")
			if err != nil {
				t.Error(err)
				return
			}
			ids[i] = l.ID
		}()
	}
	wg.Wait()
	for i := range ids {
		if ids[i] != ids[0] {
			t.Errorf("caller %d got %q, caller 0 got %q", i, ids[i], ids[0])
		}
	}
	if n, _ := s.CountLinks(c, "c1"); n != 1 {
		t.Errorf("links = %d, want 1", n)
	}
}

func testLedger(t *testing.T, s store.Store) {
	c := ctx(t)
	mustConn(t, s, "c1", "loc1")
	l, _ := s.PairLink(c, "c1", "g1", "r1")
	l2, _, _ := s.EnsureLink(c, "c1", store.SideGHL, "g2")
	if _, err := s.GetLedger(c, "c1", l.ID, "contact"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("empty ledger err = %v", err)
	}
	e := store.LedgerEntry{ConnectionID: "c1", LinkID: l.ID, Object: "contact", Snapshot: []byte(`{"email":"a@b.c"}`), Hash: "h0", GHLHash: "hg", RZHash: "hr"}
	if err := s.PutLedger(c, e); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetLedger(c, "c1", l.ID, "contact")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(e, got, cmpopts.IgnoreFields(store.LedgerEntry{}, "UpdatedAt")); d != "" {
		t.Errorf("ledger round trip (-want +got):\n%s", d)
	}
	e.RZHash = "hr2"
	if err := s.PutLedger(c, e); err != nil {
		t.Fatal(err)
	}
	if err := s.PutLedger(c, store.LedgerEntry{ConnectionID: "c1", LinkID: l2.ID, Object: "contact", GHLHash: "hg2"}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutLedger(c, store.LedgerEntry{ConnectionID: "c1", LinkID: l.ID, Object: "notes", RZHash: "notes-h"}); err != nil {
		t.Fatal(err)
	}
	rz, err := s.SideHashes(c, "c1", store.SideRZ, "contact")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(map[string]string{"r1": "hr2"}, rz); d != "" {
		t.Errorf("rz hashes (-want +got):\n%s", d)
	}
	ghl, _ := s.SideHashes(c, "c1", store.SideGHL, "contact")
	if d := cmp.Diff(map[string]string{"g1": "hg", "g2": "hg2"}, ghl); d != "" {
		t.Errorf("ghl hashes (-want +got):\n%s", d)
	}
	entries, err := s.LedgerEntries(c, "c1", "contact", "", 10)
	if err != nil || len(entries) != 2 || entries[0].LinkID > entries[1].LinkID {
		t.Fatalf("LedgerEntries = %+v, %v", entries, err)
	}
	rest, _ := s.LedgerEntries(c, "c1", "contact", entries[0].LinkID, 10)
	if len(rest) != 1 || rest[0].LinkID != entries[1].LinkID {
		t.Errorf("LedgerEntries after %s = %+v", entries[0].LinkID, rest)
	}
	for _, k := range []string{"action:r1:b", "action:r1:a", "actionx"} {
		if err := s.PutLedger(c, store.LedgerEntry{ConnectionID: "c1", LinkID: l.ID, Object: k}); err != nil {
			t.Fatal(err)
		}
	}
	acts, err := s.LedgerEntriesOf(c, "c1", l.ID, "action:", "", 1)
	if err != nil || len(acts) != 1 || acts[0].Object != "action:r1:a" {
		t.Fatalf("LedgerEntriesOf first page = %+v, %v", acts, err)
	}
	acts, _ = s.LedgerEntriesOf(c, "c1", l.ID, "action:", acts[0].Object, 10)
	if len(acts) != 1 || acts[0].Object != "action:r1:b" {
		t.Errorf("LedgerEntriesOf second page = %+v", acts)
	}
	if notes, _ := s.LedgerEntries(c, "c1", "notes", "", 10); len(notes) != 1 || notes[0].RZHash != "notes-h" {
		t.Errorf("notes entries = %+v", notes)
	}
	if err := s.PutLedger(c, store.LedgerEntry{ConnectionID: "c1", LinkID: "no-such-link", Object: "contact"}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("ledger for unknown link err = %v, want ErrNotFound", err)
	}
}

func testInbox(t *testing.T, s store.Store) {
	c := ctx(t)
	ev := store.InboxEvent{DedupeKey: "wh-1", Source: "ghl", EventType: "ContactUpdate", LocationID: "loc1", Body: []byte(`{"type":"ContactUpdate"}`)}
	id, inserted, err := s.InsertInbox(c, ev)
	if err != nil || !inserted || id == 0 {
		t.Fatalf("InsertInbox = %d %v %v", id, inserted, err)
	}
	if _, inserted, err := s.InsertInbox(c, ev); err != nil || inserted {
		t.Fatalf("duplicate InsertInbox inserted=%v err=%v", inserted, err)
	}
	id2, _, _ := s.InsertInbox(c, store.InboxEvent{DedupeKey: "wh-2", Source: "ghl", EventType: "NoteCreate", Body: []byte(`{}`)})
	if _, _, err := s.InsertInbox(c, store.InboxEvent{Source: "ghl", Body: []byte(`{}`)}); err == nil {
		t.Error("event without dedupe key accepted")
	}
	if oldest, err := s.OldestPending(c); err != nil || oldest.IsZero() {
		t.Errorf("OldestPending = %v, %v", oldest, err)
	}
	claimed, err := s.ClaimInbox(c, "relay-a", 10, time.Minute)
	if err != nil || len(claimed) != 2 || claimed[0].ID != id || claimed[1].ID != id2 {
		t.Fatalf("ClaimInbox = %+v, %v", claimed, err)
	}
	if claimed[0].Attempts != 1 || string(claimed[0].Body) != `{"type":"ContactUpdate"}` || claimed[0].State != store.InboxPending {
		t.Errorf("claimed event = %+v", claimed[0])
	}
	// Leased rows are not handed out twice.
	if again, _ := s.ClaimInbox(c, "relay-b", 10, time.Minute); len(again) != 0 {
		t.Errorf("leased events claimed again: %d", len(again))
	}
	if err := s.FinishInbox(c, id, store.InboxSignalled, "contact/c1/x"); err != nil {
		t.Fatal(err)
	}
	if err := s.RetryInbox(c, id2, time.Now().Add(time.Hour), "temporal unavailable"); err != nil {
		t.Fatal(err)
	}
	if due, _ := s.ClaimInbox(c, "relay-a", 10, time.Minute); len(due) != 0 {
		t.Errorf("event retried in an hour was claimed now")
	}
	if err := s.RetryInbox(c, id2, time.Now().Add(-time.Second), "again"); err != nil {
		t.Fatal(err)
	}
	due, _ := s.ClaimInbox(c, "relay-a", 10, time.Minute)
	if len(due) != 1 || due[0].ID != id2 || due[0].Attempts != 2 || due[0].LastError != "again" {
		t.Fatalf("re-claimed = %+v", due)
	}
	checkInboxLeases(t, s, id)
	got, err := s.GetInbox(c, id)
	if err != nil || got.State != store.InboxSignalled || got.Note != "contact/c1/x" {
		t.Errorf("GetInbox = %+v, %v", got, err)
	}
	counts, err := s.InboxCounts(c)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(map[store.InboxState]int{store.InboxSignalled: 1, store.InboxPending: 2, store.InboxEcho: 1}, counts); d != "" {
		t.Errorf("InboxCounts (-want +got):\n%s", d)
	}
	if err := s.FinishInbox(c, 999999, store.InboxEcho, ""); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("FinishInbox(unknown) = %v", err)
	}
}

// checkInboxLeases: an expired lease (crashed relay) makes the row claimable again, and a
// renewed one does not. finishedID is an event testInbox already finished.
func checkInboxLeases(t *testing.T, s store.Store, finishedID int64) {
	c := ctx(t)
	id3, _, _ := s.InsertInbox(c, store.InboxEvent{DedupeKey: "wh-3", Source: "ghl", EventType: "ContactCreate", Body: []byte(`{}`)})
	if got, _ := s.ClaimInbox(c, "crashing", 1, time.Millisecond); len(got) != 1 || got[0].ID != id3 {
		t.Fatalf("claim wh-3 = %+v", got)
	}
	time.Sleep(5 * time.Millisecond)
	if got, _ := s.ClaimInbox(c, "rescuer", 5, time.Minute); len(got) != 1 || got[0].ID != id3 {
		t.Errorf("expired lease not reclaimed: %+v", got)
	}
	// A renewed lease outlives its first term; only the owner renews, and only rows it holds.
	id4, _, _ := s.InsertInbox(c, store.InboxEvent{DedupeKey: "wh-4", Source: "ghl", EventType: "ContactCreate", Body: []byte(`{}`)})
	if got, _ := s.ClaimInbox(c, "renewing", 1, 50*time.Millisecond); len(got) != 1 || got[0].ID != id4 {
		t.Fatalf("claim wh-4 = %+v", got)
	}
	if n, err := s.ExtendInbox(c, "someone-else", []int64{id4}, time.Minute); err != nil || n != 0 {
		t.Errorf("ExtendInbox by another relay = %d, %v; want 0", n, err)
	}
	if n, err := s.ExtendInbox(c, "renewing", []int64{id4, finishedID}, time.Minute); err != nil || n != 1 {
		t.Errorf("ExtendInbox = %d, %v; want 1 (the finished row is not held)", n, err)
	}
	time.Sleep(80 * time.Millisecond)
	if got, _ := s.ClaimInbox(c, "rescuer", 5, time.Minute); len(got) != 0 {
		t.Errorf("renewed lease reclaimed: %+v", got)
	}
	if err := s.FinishInbox(c, id4, store.InboxEcho, ""); err != nil {
		t.Fatal(err)
	}
}

// testInboxConcurrentClaim: two relays claiming together never get the same event.
func testInboxConcurrentClaim(t *testing.T, s store.Store) {
	c := ctx(t)
	const total = 60
	for i := range total {
		if _, _, err := s.InsertInbox(c, store.InboxEvent{DedupeKey: fmt.Sprintf("e%d", i), Source: "ghl", EventType: "ContactUpdate", Body: []byte(`{}`)}); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	seen := map[int64]string{}
	var wg sync.WaitGroup
	for _, owner := range []string{"relay-a", "relay-b", "relay-c"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				batch, err := s.ClaimInbox(c, owner, 7, time.Minute)
				if err != nil {
					t.Error(err)
					return
				}
				if len(batch) == 0 {
					return
				}
				for _, e := range batch {
					mu.Lock()
					if prev, dup := seen[e.ID]; dup {
						t.Errorf("event %d claimed by %s and %s", e.ID, prev, owner)
					}
					seen[e.ID] = owner
					mu.Unlock()
					if err := s.FinishInbox(c, e.ID, store.InboxSignalled, owner); err != nil {
						t.Error(err)
					}
				}
			}
		}()
	}
	wg.Wait()
	if len(seen) != total {
		t.Errorf("claimed %d distinct events, want %d", len(seen), total)
	}
}

func testDeadLetters(t *testing.T, s store.Store) {
	c := ctx(t)
	id, err := s.AddDeadLetter(c, store.DeadLetter{ConnectionID: "c1", LinkID: "l1", WorkflowID: "contact/c1/l1", RunID: "run", Kind: "ApplyRZ", Input: []byte(`{"a":1}`), Error: "HTTP 500"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddDeadLetter(c, store.DeadLetter{ConnectionID: "c2", Kind: "ApplyGHL"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddDeadLetter(c, store.DeadLetter{}); err == nil {
		t.Error("dead letter without kind accepted")
	}
	got, err := s.GetDeadLetter(c, id)
	if err != nil || got.State != store.DeadOpen || string(got.Input) != `{"a":1}` || got.WorkflowID != "contact/c1/l1" {
		t.Fatalf("GetDeadLetter = %+v, %v", got, err)
	}
	all, _ := s.ListDeadLetters(c, "", "", 10)
	c1, _ := s.ListDeadLetters(c, "c1", store.DeadOpen, 10)
	if len(all) != 2 || len(c1) != 1 || c1[0].ID != id {
		t.Errorf("ListDeadLetters all=%d c1=%d", len(all), len(c1))
	}
	if err := s.SetDeadLetterState(c, id, store.DeadReplayed); err != nil {
		t.Fatal(err)
	}
	if open, _ := s.ListDeadLetters(c, "c1", store.DeadOpen, 10); len(open) != 0 {
		t.Errorf("replayed letter still open")
	}
	if err := s.SetDeadLetterState(c, 424242, store.DeadDiscarded); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SetDeadLetterState(unknown) = %v", err)
	}
}

func testObservations(t *testing.T, s store.Store) {
	c := ctx(t)
	if err := s.PutObservations(c, "c1", store.SideRZ, []store.Observation{
		{ContactID: "r1", Body: []byte(`{"v":1}`)}, {ContactID: "r2", Body: []byte(`{"v":2}`)},
	}); err != nil {
		t.Fatal(err)
	}
	at := time.Now().UTC().Add(time.Minute).Truncate(time.Microsecond)
	if err := s.PutObservations(c, "c1", store.SideRZ, []store.Observation{{ContactID: "r1", Body: []byte(`{"v":3}`), ObservedAt: at}}); err != nil {
		t.Fatal(err)
	}
	o, err := s.GetObservation(c, "c1", store.SideRZ, "r1")
	if err != nil || string(o.Body) != `{"v":3}` || !o.ObservedAt.Equal(at) {
		t.Errorf("GetObservation = %s %v, %v", o.Body, o.ObservedAt, err)
	}
	// Webhooks arrive out of order: an older record never replaces a newer one.
	if err := s.PutObservations(c, "c1", store.SideRZ, []store.Observation{{ContactID: "r1", Body: []byte(`{"v":0}`), ObservedAt: at.Add(-time.Second)}}); err != nil {
		t.Fatal(err)
	}
	if o, err := s.GetObservation(c, "c1", store.SideRZ, "r1"); err != nil || string(o.Body) != `{"v":3}` || !o.ObservedAt.Equal(at) {
		t.Errorf("after an older record: GetObservation = %s %v, %v; want the newer record kept", o.Body, o.ObservedAt, err)
	}
	if _, err := s.GetObservation(c, "c1", store.SideGHL, "r1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("observation on the other side: err = %v", err)
	}
}

func testMatchKeys(t *testing.T, s store.Store) {
	c := ctx(t)
	keys := []store.MatchKey{
		{Key: "email:a@x.io", ContactID: "g1"}, {Key: "phone:+15550001", ContactID: "g1"},
		{Key: "phone:+15550002", ContactID: "g2"}, {Key: "phone:+15550002", ContactID: "g3"},
	}
	if err := s.PutMatchKeys(c, "c1", store.SideGHL, keys); err != nil {
		t.Fatal(err)
	}
	if err := s.PutMatchKeys(c, "c1", store.SideGHL, keys[:1]); err != nil { // idempotent
		t.Fatal(err)
	}
	got, err := s.MatchContacts(c, "c1", store.SideGHL, []string{"email:a@x.io", "phone:+15550002", "email:none@x.io"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{"email:a@x.io": {"g1"}, "phone:+15550002": {"g2", "g3"}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("MatchContacts (-want +got):\n%s", d)
	}
	if other, _ := s.MatchContacts(c, "c2", store.SideGHL, []string{"email:a@x.io"}); len(other) != 0 {
		t.Errorf("keys leak across connections: %v", other)
	}
}

// testClaimContact: a contact we created is attached to its link even when its echo made a
// one-sided link first; a full link is never absorbed.
func testClaimContact(t *testing.T, s store.Store) {
	c := ctx(t)
	mustConn(t, s, "c1", "loc1")
	mine, _, _ := s.EnsureLink(c, "c1", store.SideRZ, "r1")
	echo, _, _ := s.EnsureLink(c, "c1", store.SideGHL, "g-new") // the webhook of our create
	if err := s.PutLedger(c, store.LedgerEntry{ConnectionID: "c1", LinkID: echo.ID, Object: "contact"}); err != nil {
		t.Fatal(err)
	}
	l, absorbed, err := s.ClaimContact(c, "c1", mine.ID, store.SideGHL, "g-new")
	if err != nil || absorbed != echo.ID || l.GHLContactID != "g-new" || l.RZContactID != "r1" {
		t.Fatalf("ClaimContact = %+v absorbed %q, %v", l, absorbed, err)
	}
	if _, err := s.GetLink(c, "c1", echo.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("absorbed link still there: %v", err)
	}
	if _, err := s.GetLedger(c, "c1", echo.ID, "contact"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("absorbed link's ledger still there: %v", err)
	}
	// Claiming again is a no-op.
	if again, absorbed, err := s.ClaimContact(c, "c1", mine.ID, store.SideGHL, "g-new"); err != nil || absorbed != "" || again.ID != mine.ID {
		t.Errorf("second claim = %+v %q %v", again, absorbed, err)
	}
	// A full link (both sides) is a real person: conflict, nothing changes.
	full, _ := s.PairLink(c, "c1", "g2", "r2")
	other, _, _ := s.EnsureLink(c, "c1", store.SideRZ, "r3")
	if _, _, err := s.ClaimContact(c, "c1", other.ID, store.SideGHL, "g2"); !errors.Is(err, store.ErrConflict) {
		t.Errorf("claiming a full link's contact: err = %v, want ErrConflict", err)
	}
	if got, _ := s.GetLink(c, "c1", full.ID); got.GHLContactID != "g2" {
		t.Errorf("full link changed: %+v", got)
	}
	// Nobody owns it: plain attach.
	if l, absorbed, err := s.ClaimContact(c, "c1", other.ID, store.SideGHL, "g3"); err != nil || absorbed != "" || l.GHLContactID != "g3" {
		t.Errorf("claim of an unowned contact = %+v %q %v", l, absorbed, err)
	}
}

func testCursors(t *testing.T, s store.Store) {
	c := ctx(t)
	mustConn(t, s, "c1", "loc1")
	mustConn(t, s, "c2", "loc2")
	if _, err := s.GetCursor(c, "c1", "hwm"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("missing cursor: err = %v", err)
	}
	for _, v := range []string{`{"at":1}`, `{"at":2}`} {
		if err := s.PutCursor(c, "c1", "hwm", []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := s.GetCursor(c, "c1", "hwm"); err != nil || string(got) != `{"at":2}` {
		t.Errorf("GetCursor = %s, %v; want the last value", got, err)
	}
	if _, err := s.GetCursor(c, "c2", "hwm"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("another connection's cursor: err = %v", err)
	}
	if _, err := s.GetCursor(c, "c1", "tasks"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("another name: err = %v", err)
	}
}
