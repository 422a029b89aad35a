package cli_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"

	"github.com/hlrz/hlrz/activities"
	"github.com/hlrz/hlrz/internal/domain"
	"github.com/hlrz/hlrz/internal/e2e"
	"github.com/hlrz/hlrz/internal/secrets"
	"github.com/hlrz/hlrz/internal/sim/ghlsim"
	"github.com/hlrz/hlrz/internal/sim/rzsim"
	"github.com/hlrz/hlrz/internal/store"
	"github.com/hlrz/hlrz/internal/store/postgres"
	"github.com/hlrz/hlrz/internal/syncmodel"
	"github.com/hlrz/hlrz/starter/cli"
)

// opsRules are a contact rule and a notes rule, so a dry run has rule actions of two kinds.
const opsRules = `rules:
  - id: welcome
    on: contact
    when: '"vip" in person.tags'
    actions:
      - {type: create_ghl_task, title: Welcome pack, body: Send the welcome pack, due_in_days: 3}
  - id: referral-note
    on: notes
    when: note.body.lowerAscii().contains("referral")
    actions:
      - {type: add_rz_label, label: referral-campaign}
`

// TestOperatorCommands drives the dry run over every kind, connection settings, pause and
// resume, key reseal and connection delete against one running stack.
func TestOperatorCommands(t *testing.T) {
	e := e2e.Start(t, e2e.Options{Mapping: []byte(syncmodel.DefaultMappingYAML + opsRules)})
	c := newCLI(e)
	ctx := context.Background()

	g, err := e.GHL.CreateContact(ghlsim.Contact{LocationID: e.LocationID, FirstName: "Pia", LastName: "Lund", Email: "pia@example.com", Phone: "+15550177"})
	if err != nil {
		t.Fatal(err)
	}
	var rz rzsim.Contact
	e.Eventually(60*time.Second, "Pia in Referrizer", func() (bool, string) {
		for _, r := range e.RZContacts() {
			if r.Email == "pia@example.com" {
				rz = r
				return true, ""
			}
		}
		return false, "not yet"
	})
	quiet(t, e)
	link, err := e.Store.LinkBy(ctx, e.Conn.ID, store.SideGHL, g.ID)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("plan covers tags, notes, tasks and rule actions", func(t *testing.T) {
		testPlanEverything(t, e, c, link, g.ID, rz.ID)
	})
	t.Run("schedules install help states the code's defaults", func(t *testing.T) {
		r := want(t, c.run(t, "schedules", "install", "--help"), cli.ExitOK)
		for _, d := range []time.Duration{domain.DefaultPollInterval, domain.DefaultReconcileInterval} {
			if !strings.Contains(r.stdout, "else "+d.String()+")") {
				t.Errorf("help does not state default %s:\n%s", d, r.stdout)
			}
		}
	})
	t.Run("connections set", func(t *testing.T) { testConnectionsSet(t, e, c) })
	t.Run("connections pause and resume", func(t *testing.T) { testPauseResume(t, e, c, g.ID, rz.ID) })

	// The worker seals with the old key only: stop it before rotating.
	e.StopApp()
	t.Run("keys reseal", func(t *testing.T) { testReseal(t, e, c) })
	t.Run("connections delete", func(t *testing.T) { testDelete(t, e, c, link) })
}

// ledgerOf reads a link's ledger entries by object.
func ledgerOf(t *testing.T, e *e2e.Env, linkID string) map[string]store.LedgerEntry {
	t.Helper()
	out := map[string]store.LedgerEntry{}
	for _, o := range []string{activities.ObjContact, activities.ObjTags, activities.ObjNotes, activities.ObjTasks} {
		l, err := e.Store.GetLedger(context.Background(), e.Conn.ID, linkID, o)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			t.Fatal(err)
		}
		out[o] = l
	}
	return out
}

func testPlanEverything(t *testing.T, e *e2e.Env, c *cliEnv, link store.Link, ghlID, rzID string) {
	// Edits the sync does not hear of: HighLevel's webhooks are dropped, and Referrizer has no
	// poll schedule yet.
	wh := e.GHL.Webhooks()
	url := wh.URL
	wh.URL = ""
	e.GHL.SetWebhooks(wh)
	defer func() { wh.URL = url; e.GHL.SetWebhooks(wh) }()
	if _, err := e.GHL.AddTags(ghlID, "vip"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.GHL.CreateNote(ghlID, ghlsim.Note{Body: "Asked about the referral programme"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.GHL.CreateTask(ghlID, ghlsim.Task{Title: "Call back", DueDate: time.Now().Add(48 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.RZ.AdminAddLabel(e.RZToken, rzID, "member"); err != nil {
		t.Fatal(err)
	}
	ghlBefore, rzBefore := e.GHL.Snapshot(), e.RZ.Snapshot()
	ghlWrites, rzWrites := e.GHL.Stats().Writes, e.RZ.Stats().Writes
	ledgerBefore := ledgerOf(t, e, link.ID)

	r := want(t, c.on(t, "plan", "pia@example.com"), cli.ExitOK)
	for _, s := range []string{
		"tags: HighLevel: +member; Referrizer: +vip",
		`notes digest: rewrite Referrizer field "GHL Notes"`,
		`tasks digest: rewrite Referrizer field "GHL Tasks"`, "+ghl-task-open",
		"rule actions:", "welcome", "create_ghl_task", `title "Welcome pack"`,
		"referral-note", "add_rz_label", `label "referral-campaign"`,
	} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("plan output lacks %q:\n%s", s, r)
		}
	}
	p := decode[struct {
		Writes  bool
		Objects []struct {
			Object  string
			Changed bool
			Tags    *activities.TagPlan
			Digest  *activities.ProjectionPlan
		}
		RuleActions []struct{ From, Rule, Type string }
	}](t, want(t, c.on(t, "-o", "json", "plan", link.ID), cli.ExitOK))
	if !p.Writes || len(p.Objects) != 3 {
		t.Fatalf("plan json: %+v", p)
	}
	tags, notes, tasks := p.Objects[0], p.Objects[1], p.Objects[2]
	if !tags.Changed || tags.Tags == nil || !reflect.DeepEqual(tags.Tags.GHLAdd, []string{"member"}) || !reflect.DeepEqual(tags.Tags.RZAdd, []string{"vip"}) {
		t.Errorf("tags plan: %+v", tags)
	}
	if !notes.Changed || notes.Digest == nil || !strings.Contains(notes.Digest.Text, "referral programme") {
		t.Errorf("notes plan: %+v", notes)
	}
	if !tasks.Changed || tasks.Digest == nil || !strings.Contains(tasks.Digest.Text, "Call back") {
		t.Errorf("tasks plan: %+v", tasks)
	}
	kinds := map[string]bool{}
	for _, a := range p.RuleActions {
		kinds[a.From+"/"+a.Rule+"/"+a.Type] = true
	}
	for _, k := range []string{"contact/welcome/create_ghl_task", "notes/referral-note/add_rz_label"} {
		if !kinds[k] {
			t.Errorf("rule action %s missing: %+v", k, p.RuleActions)
		}
	}

	if !reflect.DeepEqual(ghlBefore, e.GHL.Snapshot()) || !reflect.DeepEqual(rzBefore, e.RZ.Snapshot()) {
		t.Errorf("plan changed a simulator's state")
	}
	if gw, rw := e.GHL.Stats().Writes, e.RZ.Stats().Writes; gw != ghlWrites || rw != rzWrites {
		t.Errorf("plan wrote: HighLevel %d → %d, Referrizer %d → %d", ghlWrites, gw, rzWrites, rw)
	}
	if after := ledgerOf(t, e, link.ID); !reflect.DeepEqual(ledgerBefore, after) {
		t.Errorf("plan changed the ledger")
	}
	if dl, _ := e.Store.ListDeadLetters(context.Background(), e.Conn.ID, store.DeadOpen, 10); len(dl) != 0 {
		t.Errorf("plan recorded dead letters: %+v", dl)
	}
}

func testConnectionsSet(t *testing.T, e *e2e.Env, c *cliEnv) {
	ctx := context.Background()
	want(t, c.on(t, "schedules", "install"), cli.ExitOK)
	before, _ := e.Store.GetConnection(ctx, e.Conn.ID)
	for _, bad := range []struct {
		arg, msg string
		code     int
	}{
		{"colour=blue", "unknown setting", cli.ExitUsage},
		{"debounce", "not key=value", cli.ExitUsage},
		{"debounce=soon", "not a duration", cli.ExitInvalid},
		{"debounce=1h", "out of range", cli.ExitInvalid},
		{"poll-interval=90s", "whole number of minutes", cli.ExitInvalid},
		{"reconcile-interval=0s", "out of range", cli.ExitInvalid},
		{"budget-share=150%", "out of range", cli.ExitInvalid},
		{"budget-share=0", "out of range", cli.ExitInvalid},
		{"budget-share=lots", "not a number", cli.ExitInvalid},
		{"delete-policy=shred", "unknown policy", cli.ExitInvalid},
		{"phone-region=XX", "unknown region", cli.ExitInvalid},
	} {
		// A valid key before the bad one: nothing is saved unless everything is valid.
		r := want(t, c.run(t, "connections", "set", e.Conn.ID, "debounce=3s", bad.arg), bad.code)
		if !strings.Contains(r.stderr, bad.msg) {
			t.Errorf("set %s: want %q in the error: %s", bad.arg, bad.msg, r)
		}
	}
	if now, _ := e.Store.GetConnection(ctx, e.Conn.ID); !reflect.DeepEqual(now.Settings, before.Settings) {
		t.Errorf("a refused set changed settings: %+v → %+v", before.Settings, now.Settings)
	}
	want(t, c.run(t, "connections", "set", "no-such-connection", "debounce=1s"), cli.ExitNotFound)

	// By HighLevel location id.
	r := want(t, c.run(t, "connections", "set", e.LocationID, "debounce=1500ms", "poll-interval=7m", "reconcile-interval=45m",
		"budget-share=0.25", "phone-region=gb", "delete-policy=ignore"), cli.ExitOK)
	if !strings.Contains(r.stdout, "schedules: updated") {
		t.Errorf("set output:\n%s", r)
	}
	got, _ := e.Store.GetConnection(ctx, e.Conn.ID)
	wantSettings := before.Settings
	wantSettings.DebounceMillis, wantSettings.PollEveryMinutes, wantSettings.ReconcileMinutes = 1500, 7, 45
	wantSettings.ReconcileBudgetPc, wantSettings.DefaultRegion, wantSettings.DeletePolicy = 25, "GB", "ignore"
	if !reflect.DeepEqual(got.Settings, wantSettings) {
		t.Errorf("settings: %+v, want %+v", got.Settings, wantSettings)
	}
	for id, every := range map[string]time.Duration{domain.PollScheduleID(e.Conn.ID): 7 * time.Minute, domain.ReconcileScheduleID(e.Conn.ID): 45 * time.Minute} {
		d, err := e.Client.ScheduleClient().GetHandle(ctx, id).Describe(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if iv := d.Schedule.Spec.Intervals; len(iv) != 1 || iv[0].Every != every {
			t.Errorf("schedule %s intervals %+v, want every %s", id, iv, every)
		}
	}
	if r := want(t, c.on(t, "connections", "show"), cli.ExitOK); !strings.Contains(r.stdout, "delete policy ignore") || !strings.Contains(r.stdout, "budget share 25%") {
		t.Errorf("show:\n%s", r)
	}
	want(t, c.run(t, "connections", "set", e.Conn.ID, "delete-policy=default", "phone-region=default", "debounce=default"), cli.ExitOK)
	if got, _ := e.Store.GetConnection(ctx, e.Conn.ID); got.Settings.DeletePolicy != "" || got.Settings.DefaultRegion != "" || got.Settings.DebounceMillis != 0 {
		t.Errorf("reset: %+v", got.Settings)
	}
}

func testPauseResume(t *testing.T, e *e2e.Env, c *cliEnv, ghlID, rzID string) {
	ctx := context.Background()
	type out struct {
		Status    string
		Schedules []struct {
			Kind   string
			Paused bool
		}
	}
	p := decode[out](t, want(t, c.run(t, "-o", "json", "connections", "pause", e.Conn.ID), cli.ExitOK))
	if p.Status != "paused" || len(p.Schedules) != 2 || !p.Schedules[0].Paused || !p.Schedules[1].Paused {
		t.Errorf("pause: %+v", p)
	}
	if conn, _ := e.Store.GetConnection(ctx, e.Conn.ID); conn.Status != store.ConnPaused {
		t.Errorf("status after pause: %s", conn.Status)
	}
	// A HighLevel edit while paused reaches the bridge but is not synced.
	rzWrites := e.RZ.Stats().Writes
	if _, err := e.GHL.UpdateContact(ghlID, ghlsim.ContactPatch{LastName: ptr("Lund-Berg")}); err != nil {
		t.Fatal(err)
	}
	if err := e.GHL.WaitDelivered(ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second)
	if w := e.RZ.Stats().Writes; w != rzWrites {
		t.Errorf("Referrizer written while paused: %d → %d", rzWrites, w)
	}
	if cur := rzContact(e, rzID); cur.LastName != "Lund" {
		t.Errorf("Referrizer changed while paused: %+v", cur)
	}
	want(t, c.on(t, "sync", ghlID), cli.ExitFailure)

	res := decode[out](t, want(t, c.run(t, "-o", "json", "connections", "resume", e.LocationID), cli.ExitOK))
	if res.Status != "active" || res.Schedules[0].Paused || res.Schedules[1].Paused {
		t.Errorf("resume: %+v", res)
	}
	want(t, c.on(t, "sync", ghlID), cli.ExitOK)
	if cur := rzContact(e, rzID); cur.LastName != "Lund-Berg" {
		t.Errorf("edit not synced after resume: %+v", cur)
	}
	// A connection that waits for its Referrizer token is not paused (resume would skip that).
	if _, err := e.Store.PutConnection(ctx, store.Connection{ID: "pend-1", GHLLocationID: "loc-pend-1", Status: store.ConnPending}); err != nil {
		t.Fatal(err)
	}
	if r := want(t, c.run(t, "connections", "pause", "pend-1"), cli.ExitInvalid); !strings.Contains(r.stderr, "pending") {
		t.Errorf("pause of a pending connection: %s", r)
	}
	if cur := rzContact(e, rzID); cur.LastName != "Lund-Berg" {
		t.Errorf("edit not synced after resume: %+v", cur)
	}
}

func ptr[T any](v T) *T { return &v }

func rzContact(e *e2e.Env, id string) rzsim.Contact {
	for _, c := range e.RZContacts() {
		if c.ID == id {
			return c
		}
	}
	return rzsim.Contact{}
}

func testReseal(t *testing.T, e *e2e.Env, c *cliEnv) {
	ctx := context.Background()
	if _, err := e.Store.AddDeadLetter(ctx, store.DeadLetter{ConnectionID: e.Conn.ID, Kind: "Test", Input: []byte(`{"x":1}`), Error: "boom"}); err != nil {
		t.Fatal(err)
	}
	if err := e.Store.PutObservations(ctx, e.Conn.ID, store.SideRZ, []store.Observation{{ContactID: "obs-1", Body: []byte(`{"id":"obs-1"}`), ObservedAt: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	newSpec := secrets.GenerateSpec("k2")
	env := map[string]string{}
	for k, v := range c.env {
		env[k] = v
	}
	env[secrets.KeyEnv] = newSpec + "," + e2e.TestKeySpec
	rotated := &cliEnv{e: e, env: env}
	type counts struct {
		Key    string
		Tables []store.ResealCount
	}
	first := decode[counts](t, want(t, rotated.run(t, "-o", "json", "keys", "reseal"), cli.ExitOK))
	by := map[string]store.ResealCount{}
	for _, tc := range first.Tables {
		by[tc.Table] = tc
	}
	if first.Key != "k2" {
		t.Errorf("key: %s", first.Key)
	}
	for _, table := range []string{"tokens", "inbox", "ledger", "observations", "dead_letters"} {
		if by[table].Resealed == 0 {
			t.Errorf("%s: nothing resealed: %+v", table, first.Tables)
		}
	}
	r := want(t, rotated.run(t, "keys", "reseal"), cli.ExitOK)
	if !strings.Contains(r.stdout, "under key k2") || !strings.Contains(r.stdout, "RESEALED") {
		t.Errorf("reseal text:\n%s", r)
	}
	again := decode[counts](t, want(t, rotated.run(t, "-o", "json", "keys", "reseal"), cli.ExitOK))
	for _, tc := range again.Tables {
		if tc.Resealed != 0 || tc.Current != by[tc.Table].Resealed+by[tc.Table].Current {
			t.Errorf("second reseal of %s: %+v, first %+v", tc.Table, tc, by[tc.Table])
		}
	}
	// Everything opens with the new key alone now.
	kr, err := secrets.Parse(newSpec)
	if err != nil {
		t.Fatal(err)
	}
	st, err := postgres.Open(ctx, e.DSN, kr)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if tok, err := st.GetToken(ctx, e.Conn.ID, store.TokenReferrizer); err != nil || tok.AccessToken != e.RZToken {
		t.Errorf("token under the new key alone: %v", err)
	}
	if dl, err := st.ListDeadLetters(ctx, e.Conn.ID, store.DeadOpen, 10); err != nil || len(dl) != 1 || string(dl[0].Input) != `{"x":1}` {
		t.Errorf("dead letter under the new key alone: %+v %v", dl, err)
	}
	var plain []byte
	if err := e.Store.Pool().QueryRow(ctx, `SELECT snapshot FROM ledger WHERE connection_id = $1 AND length(snapshot) > 0 LIMIT 1`, e.Conn.ID).Scan(&plain); err != nil || store.BlobKeyID(plain) != "k2" {
		t.Errorf("ledger snapshot key %q: %v", store.BlobKeyID(plain), err)
	}
	c.env = env // later subtests read the store with the rotated keys
}

func testDelete(t *testing.T, e *e2e.Env, c *cliEnv, link store.Link) {
	ctx := context.Background()
	wfID := domain.ContactWorkflowID(e.Conn.ID, link.ID)
	r := want(t, c.run(t, "connections", "delete", e.Conn.ID), cli.ExitUsage)
	for _, s := range []string{"would remove", domain.PollScheduleID(e.Conn.ID), domain.ReconcileScheduleID(e.Conn.ID), wfID, "tokens", "links", "ledger", "--yes"} {
		if !strings.Contains(r.stdout+r.stderr, s) {
			t.Errorf("delete preview lacks %q:\n%s", s, r)
		}
	}
	tokens := func() int {
		var n int
		if err := e.Store.Pool().QueryRow(ctx, `SELECT count(*) FROM tokens WHERE connection_id = $1`, e.Conn.ID).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := tokens(); n != 2 {
		t.Errorf("delete without --yes: %d tokens left, want 2", n)
	}
	res := decode[struct {
		Schedules, Workflows []string
		Rows                 []store.TableCount
		Deleted              bool
	}](t, want(t, c.run(t, "-o", "json", "connections", "delete", e.Conn.ID, "--yes"), cli.ExitOK))
	if !res.Deleted || len(res.Schedules) != 2 || !strings.Contains(strings.Join(res.Workflows, " "), wfID) {
		t.Errorf("delete: %+v", res)
	}
	rows := map[string]int64{}
	for _, tc := range res.Rows {
		rows[tc.Table] = tc.Rows
	}
	if rows["tokens"] != 2 || rows["connections"] != 1 || rows["links"] == 0 {
		t.Errorf("deleted rows: %+v", res.Rows)
	}
	for _, id := range res.Schedules {
		if _, err := e.Client.ScheduleClient().GetHandle(ctx, id).Describe(ctx); err == nil {
			t.Errorf("schedule %s still exists", id)
		}
	}
	d, err := e.Client.DescribeWorkflowExecution(ctx, wfID, "")
	if err != nil || d.WorkflowExecutionInfo.Status != enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED {
		t.Errorf("workflow %s after delete: %v %v", wfID, d, err)
	}
	if n := tokens(); n != 0 {
		t.Errorf("%d tokens after delete", n)
	}
	if _, err := e.Store.GetConnection(ctx, e.Conn.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("connection after delete: %v", err)
	}
	want(t, c.run(t, "connections", "delete", e.Conn.ID, "--yes"), cli.ExitNotFound)
}
