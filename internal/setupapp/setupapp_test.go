package setupapp_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hlrz/hlrz/internal/domain"
	"github.com/hlrz/hlrz/internal/onboard"
	"github.com/hlrz/hlrz/internal/schedules"
	"github.com/hlrz/hlrz/internal/store"
	"github.com/hlrz/hlrz/internal/syncmodel"
)

var apiRoutes = []struct{ method, path string }{
	{"GET", "/state"}, {"POST", "/token"}, {"GET", "/mapping"}, {"POST", "/mapping/form"}, {"POST", "/mapping/yaml"},
	{"GET", "/preview"}, {"POST", "/backfill"}, {"GET", "/progress"}, {"POST", "/pause"}, {"POST", "/resume"},
	{"GET", "/problems"}, {"POST", "/deadletters/1/discard"},
}

// Without HighLevel's word there is no page and no API; a session is for its location only.
func TestSessionRequired(t *testing.T) {
	f := start(t, 4)
	other := "otherLoc" + store.NewID()[:6]

	// No session: the page and every API route answer 401.
	if got := f.call(t, nil, "GET", "/app/l/"+f.loc, nil, nil); got != http.StatusUnauthorized {
		t.Errorf("page without session: %d, want 401", got)
	}
	for _, r := range apiRoutes {
		if got := f.call(t, nil, r.method, f.api(f.loc)+r.path, map[string]string{}, nil); got != http.StatusUnauthorized {
			t.Errorf("%s %s without session: %d, want 401", r.method, r.path, got)
		}
	}
	// The boot page carries no data and is served to anyone (it asks HighLevel).
	if got := f.call(t, nil, "GET", "/app", nil, nil); got != http.StatusOK {
		t.Errorf("GET /app: %d", got)
	}

	// Payloads HighLevel did not make are refused, and give no cookie.
	good := f.payload(t, f.loc)
	raw, _ := base64.StdEncoding.DecodeString(good)
	raw[len(raw)-20] ^= 0x40
	other1, _ := f.payloadWith(t, f.loc, "not-the-shared-secret")
	for name, p := range map[string]string{"tampered": base64.StdEncoding.EncodeToString(raw), "other secret": other1, "garbage": "bm9wZQ=="} {
		if c, code := f.login(t, p); c != nil || code != http.StatusUnauthorized {
			t.Errorf("%s payload: cookie %v, status %d; want none, 401", name, c != nil, code)
		}
	}

	c, code := f.login(t, good)
	if c == nil || code != http.StatusOK {
		t.Fatalf("good payload: cookie %v, status %d", c != nil, code)
	}
	if !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteNoneMode || !c.Partitioned || c.MaxAge <= 0 || c.MaxAge > 3600 {
		t.Errorf("cookie attributes: HttpOnly %v Secure %v SameSite %v Partitioned %v MaxAge %d", c.HttpOnly, c.Secure, c.SameSite, c.Partitioned, c.MaxAge)
	}
	if got := f.call(t, c, "GET", "/app/l/"+f.loc, nil, nil); got != http.StatusOK {
		t.Errorf("own page: %d", got)
	}
	var st struct {
		Status string `json:"status"`
		Words  string `json:"words"`
	}
	if got := f.call(t, c, "GET", f.api(f.loc)+"/state", nil, &st); got != http.StatusOK || st.Status != "pending" || !strings.Contains(st.Words, "Referrizer is not connected") {
		t.Errorf("state: %d %+v", got, st)
	}
	// The same session for another location: 403, page and API alike.
	if got := f.call(t, c, "GET", "/app/l/"+other, nil, nil); got != http.StatusForbidden {
		t.Errorf("foreign page: %d, want 403", got)
	}
	for _, r := range apiRoutes {
		if got := f.call(t, c, r.method, f.api(other)+r.path, map[string]string{}, nil); got != http.StatusForbidden {
			t.Errorf("%s %s of another location: %d, want 403", r.method, r.path, got)
		}
	}
	// A location installed by another agency is not this user's (the session says co1).
	ctx := context.Background()
	conn, _ := f.e.Store.GetConnection(ctx, f.connID)
	conn.GHLCompanyID = "anotherAgency"
	if _, err := f.e.Store.PutConnection(ctx, conn); err != nil {
		t.Fatal(err)
	}
	if got := f.call(t, c, "GET", f.api(f.loc)+"/state", nil, nil); got != http.StatusForbidden {
		t.Errorf("state of another agency's location: %d, want 403", got)
	}
	conn.GHLCompanyID = "co1"
	if _, err := f.e.Store.PutConnection(ctx, conn); err != nil {
		t.Fatal(err)
	}
	if got := f.call(t, c, "GET", f.api(f.loc)+"/state", nil, nil); got != http.StatusOK {
		t.Errorf("state of the user's agency's location: %d, want 200", got)
	}
	// A forged or altered cookie is no session.
	forged := *c
	forged.Value = c.Value[:len(c.Value)-4] + "AAAA"
	if got := f.call(t, &forged, "GET", f.api(f.loc)+"/state", nil, nil); got != http.StatusUnauthorized {
		t.Errorf("altered cookie: %d, want 401", got)
	}
	// A write without the page's header (what a cross-site form could send) is refused.
	req, _ := http.NewRequest("POST", f.base+f.api(f.loc)+"/pause", nil)
	req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("POST without X-HLRZ-App: %d, want 403", resp.StatusCode)
	}
}

// A wrong Referrizer token is refused in words and nothing is stored; the right one is
// stored encrypted and activates the connection. Mapping problems come back by line.
func TestTokenAndMapping(t *testing.T) {
	f := start(t, 4)
	ctx := context.Background()
	c, _ := f.login(t, f.payload(t, f.loc))
	var msg struct {
		Error string `json:"error"`
	}
	if got := f.call(t, c, "POST", f.api(f.loc)+"/token", map[string]string{"token": "wrong-token"}, &msg); got != http.StatusUnprocessableEntity || !strings.Contains(msg.Error, "did not accept") || !strings.Contains(msg.Error, "Nothing was saved") {
		t.Fatalf("wrong token: %d %q", got, msg.Error)
	}
	if _, err := f.e.Store.GetToken(ctx, f.connID, store.TokenReferrizer); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("after a wrong token the store holds a Referrizer token (err %v)", err)
	}
	if conn, _ := f.e.Store.GetConnection(ctx, f.connID); conn.Status != store.ConnPending {
		t.Fatalf("after a wrong token the connection is %s", conn.Status)
	}
	var st struct {
		Status      string `json:"status"`
		RZConnected bool   `json:"rzConnected"`
	}
	if got := f.call(t, c, "POST", f.api(f.loc)+"/token", map[string]string{"token": f.rzToken}, &st); got != http.StatusOK || st.Status != "active" || !st.RZConnected {
		t.Fatalf("right token: %d %+v", got, st)
	}
	if tok, err := f.e.Store.GetToken(ctx, f.connID, store.TokenReferrizer); err != nil || tok.AccessToken != f.rzToken {
		t.Fatalf("stored token: %v (matches %v)", err, tok.AccessToken == f.rzToken)
	}

	// An invalid document: problems with lines, nothing stored.
	var bad struct {
		Problems []onboard.Problem `json:"problems"`
	}
	doc := "version: 1\nfields:\n  email: {direction: sideways}\n"
	if got := f.call(t, c, "POST", f.api(f.loc)+"/mapping/yaml", map[string]string{"yaml": doc}, &bad); got != http.StatusUnprocessableEntity || len(bad.Problems) == 0 || bad.Problems[0].Line != 3 {
		t.Fatalf("invalid mapping: %d %+v", got, bad.Problems)
	}
	if conn, _ := f.e.Store.GetConnection(ctx, f.connID); len(conn.Mapping) != 0 {
		t.Fatal("an invalid mapping was stored")
	}
	// The form: names flow HighLevel → Referrizer only, deletes are ignored.
	var cur struct {
		Form map[string]any `json:"form"`
	}
	f.call(t, c, "GET", f.api(f.loc)+"/mapping", nil, &cur)
	for _, ff := range cur.Form["fields"].([]any) {
		fm := ff.(map[string]any)
		if fm["name"] == "firstName" {
			fm["direction"] = "ghl->rz"
		}
	}
	cur.Form["deletePolicy"] = "ignore"
	if got := f.call(t, c, "POST", f.api(f.loc)+"/mapping/form", cur.Form, nil); got != http.StatusOK {
		t.Fatalf("mapping form: %d", got)
	}
	conn, _ := f.e.Store.GetConnection(ctx, f.connID)
	m, problems := onboard.ParseMapping(conn.Mapping)
	if m == nil {
		t.Fatalf("stored mapping invalid: %+v", problems)
	}
	if r, _ := m.Field("firstName"); r.Direction != syncmodel.GHLToRZ || m.DeletePolicy() != syncmodel.DeleteIgnore || m.Notes().Field != "GHL Notes" {
		t.Fatalf("stored mapping: firstName %s, delete %s, notes %q", r.Direction, m.DeletePolicy(), m.Notes().Field)
	}
}

// The preview's counts are what the backfill then does, and the ambiguous person it lists
// shows up as a problem the business can dismiss.
func TestPreviewMatchesBackfill(t *testing.T) {
	f := start(t, 24)
	c, _ := f.login(t, f.payload(t, f.loc))
	if got := f.call(t, c, "POST", f.api(f.loc)+"/token", map[string]string{"token": f.rzToken}, nil); got != http.StatusOK {
		t.Fatalf("token: %d", got)
	}
	var pv domain.Preview
	if got := f.call(t, c, "GET", f.api(f.loc)+"/preview", nil, &pv); got != http.StatusOK {
		t.Fatalf("preview: %d", got)
	}
	ghlOnly, rzOnly, both := 12, 6, 6 // DemoPopulation(24)
	want := domain.Preview{GHLContacts: ghlOnly + both + 2, RZContacts: rzOnly + both + 1, Linked: both, CreateInRZ: ghlOnly, CreateInGHL: rzOnly, Ambiguous: 1}
	if pv.GHLContacts != want.GHLContacts || pv.RZContacts != want.RZContacts || pv.Linked != want.Linked ||
		pv.CreateInRZ != want.CreateInRZ || pv.CreateInGHL != want.CreateInGHL || pv.Ambiguous != want.Ambiguous {
		t.Fatalf("preview %+v, want %+v", pv, want)
	}
	if len(pv.AmbiguousPeople) != 1 || len(pv.AmbiguousPeople[0].Candidates) != 2 || len(pv.Merges) == 0 {
		t.Fatalf("preview lists: ambiguous %+v, %d merges", pv.AmbiguousPeople, len(pv.Merges))
	}
	if n, _ := f.e.Store.CountLinks(context.Background(), f.connID); n != 0 {
		t.Fatalf("the preview wrote %d links", n)
	}

	if got := f.call(t, c, "POST", f.api(f.loc)+"/backfill", nil, nil); got != http.StatusOK {
		t.Fatalf("start: %d", got)
	}
	if states, err := (&schedules.Manager{Client: f.e.Client}).Describe(context.Background(), f.connID); err != nil || len(states) == 0 || !states[0].Missing {
		t.Fatalf("schedules while the first sync runs: %+v %v (want none yet)", states, err)
	}
	p := f.waitDone(t, c)
	if p.Linked != pv.Linked || p.Ambiguous != pv.Ambiguous || p.Created != pv.CreateInRZ+pv.CreateInGHL || p.Failed != 0 {
		t.Fatalf("backfill %+v differs from preview %+v", p, pv)
	}

	// The poll and reconcile schedules come once the first sync is done, not beside it.
	mgr := &schedules.Manager{Client: f.e.Client}
	f.e.Eventually(30*time.Second, "schedules installed after the backfill", func() (bool, string) {
		states, err := mgr.Describe(context.Background(), f.connID)
		if err != nil || len(states) == 0 {
			return false, fmt.Sprint(err)
		}
		for _, s := range states {
			if s.Missing || s.Paused {
				return false, fmt.Sprintf("%+v", states)
			}
		}
		return true, ""
	})

	var probs struct {
		Problems []struct {
			ID         int64  `json:"id"`
			CanRedo    bool   `json:"canRedo"`
			What       string `json:"what"`
			Candidates []struct {
				ID, Email string
			} `json:"candidates"`
		} `json:"problems"`
	}
	f.call(t, c, "GET", f.api(f.loc)+"/problems", nil, &probs)
	if len(probs.Problems) != 1 || probs.Problems[0].CanRedo || !strings.Contains(probs.Problems[0].What, "Several people") || len(probs.Problems[0].Candidates) != 2 {
		t.Fatalf("problems: %+v", probs.Problems)
	}
	prob := probs.Problems[0]
	path := f.api(f.loc) + "/deadletters/" + itoa(prob.ID)
	if got := f.call(t, c, "POST", path+"/replay", nil, nil); got != http.StatusConflict {
		t.Errorf("replay of an ambiguous match: %d, want 409", got)
	}
	if got := f.call(t, c, "POST", path+"/resolve", map[string]string{"ghlId": "not-a-candidate"}, nil); got != http.StatusConflict {
		t.Errorf("resolve with a contact that is not a candidate: %d, want 409", got)
	}
	// The business picks the right partner: linked as one person, the problem closed.
	pick := prob.Candidates[0]
	if pick.Email != twinEmail {
		t.Fatalf("candidate %+v", pick)
	}
	if got := f.call(t, c, "POST", path+"/resolve", map[string]string{"ghlId": pick.ID}, nil); got != http.StatusOK {
		t.Fatalf("resolve: %d", got)
	}
	ctx := context.Background()
	l, err := f.e.Store.LinkBy(ctx, f.connID, store.SideGHL, pick.ID)
	if err != nil || l.RZContactID == "" {
		t.Fatalf("after resolving, the picked contact's link: %+v %v", l, err)
	}
	if d, _ := f.e.Store.GetDeadLetter(ctx, prob.ID); d.State != store.DeadDiscarded {
		t.Errorf("dead letter %d is %s", prob.ID, d.State)
	}

	// Pause stops the connection and its schedules; resume restarts them.
	var st struct{ Status, Words string }
	if got := f.call(t, c, "POST", f.api(f.loc)+"/pause", nil, &st); got != http.StatusOK || st.Status != "paused" {
		t.Fatalf("pause: %d %+v", got, st)
	}
	if got := f.call(t, c, "POST", f.api(f.loc)+"/resume", nil, &st); got != http.StatusOK || st.Status != "active" {
		t.Fatalf("resume: %d %+v", got, st)
	}
}

func (f *fixture) waitDone(t *testing.T, c *http.Cookie) domain.BackfillProgress {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		var pr struct {
			Progress *domain.BackfillProgress `json:"progress"`
		}
		if got := f.call(t, c, "GET", f.api(f.loc)+"/progress", nil, &pr); got != http.StatusOK {
			t.Fatalf("progress: %d", got)
		}
		if pr.Progress != nil && pr.Progress.Phase == domain.PhaseDone {
			return *pr.Progress
		}
		time.Sleep(300 * time.Millisecond)
	}
	t.Fatal("the backfill did not finish in 2 minutes")
	return domain.BackfillProgress{}
}
