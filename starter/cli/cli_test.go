package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/hlrz/hlrz/internal/codec"
	"github.com/hlrz/hlrz/internal/domain"
	"github.com/hlrz/hlrz/internal/e2e"
	"github.com/hlrz/hlrz/internal/secrets"
	"github.com/hlrz/hlrz/internal/sim/ghlsim"
	"github.com/hlrz/hlrz/internal/sim/rzsim"
	"github.com/hlrz/hlrz/internal/store"
	"github.com/hlrz/hlrz/internal/store/sqlite"
	"github.com/hlrz/hlrz/internal/syncmodel"
	"github.com/hlrz/hlrz/starter/cli"
	"github.com/hlrz/hlrz/workflows"
)

// result is one CLI invocation.
type result struct {
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// run runs the CLI in-process with env as its whole environment.
func run(t *testing.T, env map[string]string, opts []cli.Option, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code := cli.Run(ctx, args, &stdout, &stderr, func(k string) string { return env[k] }, opts...)
	return result{code, stdout.String(), stderr.String()}
}

// want fails unless the invocation exited with code.
func want(t *testing.T, r result, code int) result {
	t.Helper()
	if r.code != code {
		t.Fatalf("want exit %d, got %s", code, r)
	}
	return r
}

func decode[T any](t *testing.T, r result) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
		t.Fatalf("stdout is not the expected JSON: %v\n%s", err, r)
	}
	return v
}

// cliEnv points the CLI at a running e2e stack, as an operator's environment would.
type cliEnv struct {
	e   *e2e.Env
	env map[string]string
}

func newCLI(e *e2e.Env) *cliEnv {
	return &cliEnv{e: e, env: map[string]string{
		"TEMPORAL_ADDRESS":     e.Server.GetFrontendHostPort(),
		"TEMPORAL_NAMESPACE":   e.Namespace,
		"DATABASE_URL":         e.DSN,
		"HLRZ_ENCRYPTION_KEYS": e2e.TestKeySpec,
		"HLRZ_TASK_QUEUE":      e.App.Config.TaskQueue,
		"HLRZ_GHL_BASE_URL":    e.GHLURL,
		"HLRZ_RZ_BASE_URL":     e.RZURL,
	}}
}

func (c *cliEnv) run(t *testing.T, args ...string) result {
	t.Helper()
	return run(t, c.env, nil, append([]string{"--worker-url", "http://" + c.e.App.InternalAddr}, args...)...)
}

func (c *cliEnv) runOpts(t *testing.T, opts []cli.Option, args ...string) result {
	t.Helper()
	return run(t, c.env, opts, append([]string{"--worker-url", "http://" + c.e.App.InternalAddr}, args...)...)
}

// on runs a command against the test's main connection.
func (c *cliEnv) on(t *testing.T, args ...string) result {
	t.Helper()
	return c.run(t, append([]string{"-c", c.e.Conn.ID}, args...)...)
}

func contactState(t *testing.T, e *e2e.Env, linkID string) domain.ContactState {
	t.Helper()
	v, err := e.Client.QueryWorkflow(context.Background(), domain.ContactWorkflowID(e.Conn.ID, linkID), "", domain.QueryState)
	if err != nil {
		t.Fatalf("query state of %s: %v", linkID, err)
	}
	var st domain.ContactState
	if err := v.Get(&st); err != nil {
		t.Fatal(err)
	}
	return st
}

// quiet waits until neither simulator has seen a write for a while: the sync is idle.
func quiet(t *testing.T, e *e2e.Env) {
	t.Helper()
	last, since := int64(-1), time.Now()
	e.Eventually(60*time.Second, "the sync to go quiet", func() (bool, string) {
		if err := e.GHL.WaitDelivered(context.Background()); err != nil {
			return false, err.Error()
		}
		w := e.GHL.Stats().Writes + e.RZ.Stats().Writes
		if w != last {
			last, since = w, time.Now()
		}
		return time.Since(since) > 2*time.Second, fmt.Sprintf("%d writes so far", w)
	})
}

func writeFile(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const badMapping = `version: 1
fields:
  email: {direction: both, conflict: loser-wins}
`

// TestCLI drives every command against one running stack (Temporal, PostgreSQL, both
// simulators, the App), in the order an operator would meet them. The steps share the
// stack and build on each other (gym-2 from connect, Nora from makeNora), so they run in order.
func TestCLI(t *testing.T) {
	f := newCLIFixture(t)
	t.Run("help and usage errors", f.testHelp)
	t.Run("connect and connections", f.testConnect)
	t.Run("mapping", f.testMapping)
	f.makeNora(t)
	t.Run("plan is a dry run", f.testPlan)
	t.Run("sync by email applies the plan", f.testSyncByEmail)
	t.Run("backfill", f.testBackfill)
	t.Run("status", f.testStatus)
	t.Run("schedules", f.testSchedules)
	t.Run("deadletters", f.testDeadLetters)
	t.Run("link", f.testLink)
	t.Run("sync links a new person found by e-mail", f.testSyncLinksNewPerson)
	t.Run("replay-check", f.testReplayCheck)
	t.Run("codec endpoint decodes a history payload", f.testCodecEndpoint)
	t.Run("pending connection from an install", f.testPendingConnection)
}

// cliFixture is what TestCLI's steps share: the stack, the CLI's environment, and the
// people and credentials earlier steps made.
type cliFixture struct {
	e   *e2e.Env
	c   *cliEnv
	ctx context.Context
	// loc2 is a second HighLevel location, reached with the private token pit2.
	loc2, pit2 string
	secrets    []string // tokens no output may show
	// Nora (makeNora): her HighLevel and Referrizer contacts and her link.
	nora     ghlsim.Contact
	noraRZ   rzsim.Contact
	noraLink store.Link
}

func newCLIFixture(t *testing.T) *cliFixture {
	e := e2e.Start(t, e2e.Options{})
	f := &cliFixture{e: e, c: newCLI(e), ctx: context.Background()}
	f.loc2, f.pit2 = "loc2"+store.NewID(), "pit-secret-"+store.NewID()
	e.GHL.AddPrivateToken(f.loc2, f.pit2)
	f.secrets = []string{f.pit2, e.RZToken, "ghl-token-" + e.LocationID}
	return f
}

// noSecrets fails if the invocation's output shows a token.
func (f *cliFixture) noSecrets(t *testing.T, r result) {
	t.Helper()
	for _, s := range f.secrets {
		if strings.Contains(r.stdout+r.stderr, s) {
			t.Errorf("output shows a token:\n%s", r)
		}
	}
}

// makeNora creates Nora in HighLevel and waits for her in Referrizer; then someone renames
// her in Referrizer, which the sync has not noticed (no poll schedule yet).
func (f *cliFixture) makeNora(t *testing.T) {
	e := f.e
	g, err := e.GHL.CreateContact(ghlsim.Contact{LocationID: e.LocationID, FirstName: "Nora", LastName: "Quist", Email: "nora@example.com", Phone: "+15550100"})
	if err != nil {
		t.Fatal(err)
	}
	var rz rzsim.Contact
	e.Eventually(60*time.Second, "Nora in Referrizer", func() (bool, string) {
		for _, r := range e.RZContacts() {
			if r.Email == "nora@example.com" {
				rz = r
				return true, ""
			}
		}
		return false, "not yet"
	})
	quiet(t, e)
	link, err := e.Store.LinkBy(f.ctx, e.Conn.ID, store.SideGHL, g.ID)
	if err != nil || link.RZContactID != rz.ID {
		t.Fatalf("Nora's link %+v: %v", link, err)
	}
	if _, err := e.RZ.AdminUpdateContact(e.RZToken, rz.ID, func(c *rzsim.Contact) { c.FirstName = "Eleonora" }); err != nil {
		t.Fatal(err)
	}
	f.nora, f.noraRZ, f.noraLink = g, rz, link
}

func (f *cliFixture) testHelp(t *testing.T) {
	c := f.c
	r := want(t, c.run(t, "--help"), cli.ExitOK)
	for _, cmd := range []string{"connect", "connections", "mapping", "backfill", "sync", "plan", "status", "schedules", "deadletters", "replay-check", "link", "keys"} {
		if !strings.Contains(r.stdout, cmd) {
			t.Errorf("--help does not list %s:\n%s", cmd, r.stdout)
		}
	}
	for _, args := range [][]string{
		{"connect"}, {"connections", "list"}, {"connections", "show"}, {"mapping", "validate"}, {"mapping", "show"},
		{"mapping", "set"}, {"backfill"}, {"sync"}, {"plan"}, {"link"}, {"status"}, {"schedules", "install"},
		{"schedules", "pause"}, {"schedules", "resume"}, {"schedules", "trigger"}, {"deadletters", "list"},
		{"deadletters", "show"}, {"deadletters", "replay"}, {"deadletters", "discard"}, {"replay-check"},
		{"connections", "set"}, {"connections", "pause"}, {"connections", "resume"}, {"connections", "delete"}, {"keys", "reseal"},
	} {
		r := want(t, c.run(t, append(args, "--help")...), cli.ExitOK)
		if !strings.Contains(r.stdout, "Usage:") || !strings.Contains(r.stdout, "--output") {
			t.Errorf("%v --help: %s", args, r)
		}
	}
	for _, args := range [][]string{
		{"bogus"}, {"sync"}, {"plan", "a", "b"}, {"--output", "yaml", "status"}, {"deadletters", "show", "x"},
		{"connections"}, {"connections", "bogus"}, {"status", "--no-such-flag"}, {"schedules", "trigger", "weekly"},
		{"keys"}, {"connections", "set", "x"}, {"connections", "pause"}, {"connections", "delete", "a", "b"},
	} {
		r := want(t, c.run(t, args...), cli.ExitUsage)
		if lines := strings.Count(strings.TrimSpace(r.stderr), "\n"); lines != 0 || !strings.HasPrefix(r.stderr, "starter: ") {
			t.Errorf("%v: want one error line, got %q", args, r.stderr)
		}
	}
	r = want(t, run(t, map[string]string{}, nil, "connections", "list"), cli.ExitUsage)
	if !strings.Contains(r.stderr, "HLRZ_ENCRYPTION_KEYS") {
		t.Errorf("missing key: %s", r)
	}
}

func (f *cliFixture) testConnect(t *testing.T) {
	e, c, ctx := f.e, f.c, f.ctx
	r := want(t, c.run(t, "connect", "-c", "gym-2", "--location", f.loc2, "--ghl-token", "wrong-pit", "--rz-token", e.RZToken), cli.ExitInvalid)
	if !strings.Contains(r.stderr, "HighLevel rejected") || strings.Contains(r.stderr, "wrong-pit") {
		t.Errorf("bad HighLevel token: %s", r)
	}
	f.noSecrets(t, r)
	r = want(t, c.run(t, "connect", "-c", "gym-2", "--location", f.loc2, "--ghl-token", f.pit2, "--rz-token", "wrong-rz"), cli.ExitInvalid)
	if !strings.Contains(r.stderr, "Referrizer rejected") || strings.Contains(r.stderr, "wrong-rz") {
		t.Errorf("bad Referrizer token: %s", r)
	}
	f.noSecrets(t, r)
	if _, err := e.Store.GetConnection(ctx, "gym-2"); !isNotFound(err) {
		t.Fatalf("a rejected connect saved the connection: %v", err)
	}

	// The HighLevel token comes from stdin, as the help recommends.
	r = want(t, c.runOpts(t, []cli.Option{cli.WithStdin(strings.NewReader(f.pit2 + "\n"))},
		"connect", "-c", "gym-2", "--location", f.loc2, "--ghl-token", "-", "--rz-token", e.RZToken), cli.ExitOK)
	f.noSecrets(t, r)
	if !strings.Contains(r.stdout, "connection gym-2 created") {
		t.Errorf("connect: %s", r)
	}
	conn, err := e.Store.GetConnection(ctx, "gym-2")
	if err != nil || conn.GHLLocationID != f.loc2 || conn.Status != store.ConnActive {
		t.Fatalf("saved connection %+v, %v", conn, err)
	}
	if tok, err := e.Store.GetToken(ctx, "gym-2", store.TokenGHL); err != nil || tok.AccessToken != f.pit2 || tok.Mode != store.AuthPrivate {
		t.Fatalf("HighLevel token not saved: %v", err)
	}
	if tok, err := e.Store.GetToken(ctx, "gym-2", store.TokenReferrizer); err != nil || tok.AccessToken != e.RZToken {
		t.Fatalf("Referrizer token not saved: %v", err)
	}

	// An update keeps the stored credentials and checks them again.
	up := decode[struct {
		Created    bool
		Connection struct{ Name string }
		Checks     map[string]string
	}](t, want(t, c.run(t, "-o", "json", "connect", "-c", "gym-2", "--name", "Gym Two"), cli.ExitOK))
	if up.Created || up.Connection.Name != "Gym Two" || up.Checks["ghl"] != "kept, accepted" || up.Checks["rz"] != "kept, accepted" {
		t.Errorf("update: %+v", up)
	}

	r = want(t, c.run(t, "connections", "list"), cli.ExitOK)
	if !strings.Contains(r.stdout, e.Conn.ID) || !strings.Contains(r.stdout, "gym-2") || !strings.Contains(r.stdout, "Gym Two") {
		t.Errorf("list: %s", r)
	}
	list := decode[[]struct{ ID, Status, Mapping string }](t, want(t, c.run(t, "connections", "list", "-o", "json"), cli.ExitOK))
	if len(list) != 2 {
		t.Errorf("list json: %+v", list)
	}
	r = want(t, c.run(t, "-c", "gym-2", "connections", "show"), cli.ExitOK)
	if !strings.Contains(r.stdout, f.loc2) || !strings.Contains(r.stdout, "referrizer token") {
		t.Errorf("show: %s", r)
	}
	f.noSecrets(t, r)
	show := decode[struct {
		ID, LocationID string
		Tokens         []struct{ Kind, Mode string }
	}](t, want(t, c.run(t, "-c", "gym-2", "-o", "json", "connections", "show"), cli.ExitOK))
	if show.ID != "gym-2" || show.LocationID != f.loc2 || len(show.Tokens) != 2 || show.Tokens[0].Mode != "private" {
		t.Errorf("show json: %+v", show)
	}
	want(t, c.run(t, "-c", "nope", "connections", "show"), cli.ExitNotFound)
	// Two active connections now: commands that need one must be told which.
	r = want(t, c.run(t, "mapping", "show"), cli.ExitUsage)
	if !strings.Contains(r.stderr, "--connection") {
		t.Errorf("ambiguous connection: %s", r)
	}

	oauthEnv := map[string]string{"HLRZ_PUBLIC_URL": "https://bridge.example.com/"}
	r = want(t, run(t, oauthEnv, nil, "connect", "--oauth"), cli.ExitOK)
	if !strings.Contains(r.stdout, "https://bridge.example.com/oauth/start") {
		t.Errorf("oauth: %s", r)
	}
	want(t, run(t, map[string]string{}, nil, "connect", "--oauth"), cli.ExitUsage)
}

func (f *cliFixture) testMapping(t *testing.T) {
	e, c, ctx := f.e, f.c, f.ctx
	bad := writeFile(t, "bad.yaml", badMapping)
	r := want(t, c.run(t, "mapping", "validate", bad), cli.ExitInvalid)
	if !strings.Contains(r.stderr, "bad.yaml:3: fields.email.conflict:") {
		t.Errorf("validate did not name line and key: %s", r)
	}
	v := decode[struct {
		Valid    bool
		Problems []struct {
			Line          int
			Path, Message string
		}
	}](t, want(t, c.run(t, "-o", "json", "mapping", "validate", bad), cli.ExitInvalid))
	if v.Valid || len(v.Problems) != 1 || v.Problems[0].Line != 3 || v.Problems[0].Path != "fields.email.conflict" {
		t.Errorf("validate json: %+v", v)
	}

	doc := strings.Replace(syncmodel.DefaultMappingYAML, "email:     {direction: both, conflict: ghl-wins}", "email:     {direction: both, conflict: rz-wins}", 1)
	if doc == syncmodel.DefaultMappingYAML {
		t.Fatal("test mapping edit did not apply")
	}
	good := writeFile(t, "good.yaml", doc)
	r = want(t, c.run(t, "mapping", "validate", good), cli.ExitOK)
	if !strings.Contains(r.stdout, "valid mapping") {
		t.Errorf("validate good: %s", r)
	}
	want(t, c.run(t, "mapping", "validate", filepath.Join(t.TempDir(), "missing.yaml")), cli.ExitNotFound)

	want(t, c.run(t, "-c", "gym-2", "mapping", "set", good), cli.ExitOK)
	if r := want(t, c.run(t, "-c", "gym-2", "mapping", "show"), cli.ExitOK); r.stdout != doc {
		t.Errorf("show after set:\n%s", r)
	}
	r = want(t, c.run(t, "-c", "gym-2", "mapping", "set", bad), cli.ExitInvalid)
	if !strings.Contains(r.stderr, "line 3") && !strings.Contains(r.stderr, "bad.yaml:3") {
		t.Errorf("set bad: %s", r)
	}
	if conn, _ := e.Store.GetConnection(ctx, "gym-2"); string(conn.Mapping) != doc {
		t.Errorf("an invalid mapping replaced the stored one")
	}
	def := decode[struct {
		Default bool
		Mapping string
	}](t, want(t, c.on(t, "-o", "json", "mapping", "show"), cli.ExitOK))
	if !def.Default || def.Mapping != syncmodel.DefaultMappingYAML {
		t.Errorf("default mapping: %+v", def)
	}
}

func (f *cliFixture) testPlan(t *testing.T) {
	e, c, g, link := f.e, f.c, f.nora, f.noraLink
	ghlWrites, rzWrites := e.GHL.Stats().Writes, e.RZ.Stats().Writes
	r := want(t, c.on(t, "plan", "nora@example.com"), cli.ExitOK)
	for _, s := range []string{"FIELD", "HIGHLEVEL", "BASE", "REFERRIZER", "ACTION", "firstName", "Eleonora", `ghl ← "Eleonora"`, "ghl: set firstName"} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("plan output lacks %q:\n%s", s, r)
		}
	}
	p := decode[struct {
		LinkID string
		DryRun bool
		Writes bool
		Fields []struct{ Field, GHL, Base, RZ, Action string }
		Plan   syncmodel.Plan
	}](t, want(t, c.on(t, "-o", "json", "plan", g.ID), cli.ExitOK))
	if p.LinkID != link.ID || !p.DryRun || !p.Writes || p.Plan.GHL.Set["firstName"] != "Eleonora" || len(p.Plan.RZ.Set) != 0 {
		t.Errorf("plan json: %+v", p)
	}
	var row struct{ Field, GHL, Base, RZ, Action string }
	for _, f := range p.Fields {
		if f.Field == "firstName" {
			row = f
		}
	}
	if row.GHL != "Nora" || row.Base != "Nora" || row.RZ != "Eleonora" || !strings.Contains(row.Action, "ghl") {
		t.Errorf("firstName row: %+v", row)
	}
	if gw, rw := e.GHL.Stats().Writes, e.RZ.Stats().Writes; gw != ghlWrites || rw != rzWrites {
		t.Errorf("plan wrote: HighLevel %d → %d, Referrizer %d → %d", ghlWrites, gw, rzWrites, rw)
	}
	if cur, _ := e.GHL.Contact(g.ID); cur.FirstName != "Nora" {
		t.Errorf("plan changed HighLevel: %+v", cur)
	}
	want(t, c.on(t, "plan", "nobody@example.com"), cli.ExitNotFound)
	want(t, c.on(t, "plan", "no-such-id"), cli.ExitNotFound)
}

func (f *cliFixture) testSyncByEmail(t *testing.T) {
	e, c, g, link := f.e, f.c, f.nora, f.noraLink
	r := want(t, c.on(t, "sync", "nora@example.com"), cli.ExitOK)
	if !strings.Contains(r.stdout, `set firstName = "Eleonora"`) || !strings.Contains(r.stdout, "HighLevel") {
		t.Errorf("sync output:\n%s", r)
	}
	if cur, _ := e.GHL.Contact(g.ID); cur.FirstName != "Eleonora" {
		t.Errorf("HighLevel not updated: %+v", cur)
	}
	again := decode[struct {
		LinkID  string
		Pass    int
		Summary string
	}](t, want(t, c.on(t, "-o", "json", "sync", link.ID), cli.ExitOK))
	if again.LinkID != link.ID || again.Pass < 2 || !strings.Contains(again.Summary, "contact: no changes") {
		t.Errorf("second sync: %+v", again)
	}
}

func (f *cliFixture) testBackfill(t *testing.T) {
	e, c, ctx := f.e, f.c, f.ctx
	for i := range 3 {
		if _, err := e.RZ.AdminCreateContact(e.RZToken, rzsim.Contact{FirstName: "Lead", LastName: fmt.Sprint(i), Email: fmt.Sprintf("lead%d@example.com", i)}); err != nil {
			t.Fatal(err)
		}
	}
	r := want(t, c.on(t, "-o", "json", "backfill", "--poll", "100ms"), cli.ExitOK)
	p := decode[domain.BackfillProgress](t, r)
	if p.Phase != domain.PhaseDone || p.Seen < 5 || p.Started < 4 || p.Created < 3 || p.Failed != 0 {
		t.Errorf("final progress: %+v", p)
	}
	if !strings.Contains(r.stderr, "seen") || !strings.Contains(r.stderr, "people/") { // the bar picks /s, /min or /hr by speed
		t.Errorf("no progress bar on stderr:\n%q", r.stderr)
	}
	if n := len(e.GHLContacts()); n != 4 {
		t.Errorf("HighLevel has %d contacts after the backfill, want 4", n)
	}

	d := decode[struct{ WorkflowID, RunID string }](t, want(t, c.on(t, "-o", "json", "backfill", "--detach"), cli.ExitOK))
	if d.WorkflowID != domain.BackfillWorkflowID(e.Conn.ID) || d.RunID == "" {
		t.Errorf("detach: %+v", d)
	}
	var again domain.BackfillProgress
	if err := e.Client.GetWorkflow(ctx, d.WorkflowID, d.RunID).Get(ctx, &again); err != nil || again.Phase != domain.PhaseDone {
		t.Errorf("detached backfill: %+v %v", again, err)
	}
}

func (f *cliFixture) testStatus(t *testing.T) {
	e, c := f.e, f.c
	r := want(t, c.on(t, "status"), cli.ExitOK)
	for _, s := range []string{"connection " + e.Conn.ID, "schedule poll", "not installed", "dead letters open", "people in error", "HighLevel budget today", "requests used", "inbox"} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("status lacks %q:\n%s", s, r)
		}
	}
	s := decode[struct {
		BudgetsUnavailable string
		Inbox              map[string]int
		Connections        []struct {
			ID              string
			Schedules       []struct{ Kind string }
			DeadLettersOpen int
			ErrorPeople     int
			Budget          *struct{ Requests, DailyUsed int }
		}
	}](t, want(t, c.on(t, "-o", "json", "status"), cli.ExitOK))
	if len(s.Connections) != 1 || s.Connections[0].ID != e.Conn.ID || len(s.Connections[0].Schedules) != 2 || s.BudgetsUnavailable != "" {
		t.Fatalf("status json: %+v", s)
	}
	if b := s.Connections[0].Budget; b == nil || b.Requests == 0 || b.DailyUsed == 0 {
		t.Errorf("budget: %+v", b)
	}
	if s.Inbox["signalled"] == 0 {
		t.Errorf("inbox: %v", s.Inbox)
	}
	all := decode[struct{ Connections []struct{ ID string } }](t, want(t, c.run(t, "-o", "json", "status"), cli.ExitOK))
	if len(all.Connections) != 2 {
		t.Errorf("status of every connection: %+v", all)
	}
	r = want(t, run(t, c.env, nil, "--worker-url", "http://127.0.0.1:1", "-c", e.Conn.ID, "status"), cli.ExitOK)
	if !strings.Contains(r.stdout, "HighLevel budget today") || !strings.Contains(r.stdout, "unavailable") {
		t.Errorf("status without a worker:\n%s", r)
	}
}

func (f *cliFixture) testSchedules(t *testing.T) {
	e, c, ctx := f.e, f.c, f.ctx
	type sched struct {
		Kind            string
		Paused, Missing bool
		Note            string
	}
	type out struct {
		Done      string
		Schedules []sched
	}
	want(t, c.on(t, "schedules", "trigger", "poll"), cli.ExitNotFound)
	in := decode[out](t, want(t, c.on(t, "-o", "json", "schedules", "install", "--poll-every", "1h", "--reconcile-every", "1h"), cli.ExitOK))
	if len(in.Schedules) != 2 || in.Schedules[0].Missing || in.Schedules[0].Paused || in.Schedules[1].Missing {
		t.Errorf("install: %+v", in)
	}
	p := decode[out](t, want(t, c.on(t, "-o", "json", "schedules", "pause", "--note", "maintenance"), cli.ExitOK))
	if !p.Schedules[0].Paused || !p.Schedules[1].Paused || p.Schedules[0].Note != "maintenance" {
		t.Errorf("pause: %+v", p)
	}
	if r := want(t, c.on(t, "status"), cli.ExitOK); !strings.Contains(r.stdout, "paused: maintenance") {
		t.Errorf("status after pause:\n%s", r)
	}
	res := decode[out](t, want(t, c.on(t, "-o", "json", "schedules", "resume"), cli.ExitOK))
	if res.Schedules[0].Paused || res.Schedules[1].Paused {
		t.Errorf("resume: %+v", res)
	}
	want(t, c.on(t, "schedules", "trigger", "poll"), cli.ExitOK)
	e.Eventually(30*time.Second, "a triggered poll", func() (bool, string) {
		resp, err := e.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Namespace: e.Namespace, Query: fmt.Sprintf("WorkflowType = '%s'", domain.ReferrizerPollName),
		})
		if err != nil {
			return false, err.Error()
		}
		return len(resp.Executions) > 0, "no poll yet"
	})
}

func (f *cliFixture) testDeadLetters(t *testing.T) {
	e, c, ctx, rz, link := f.e, f.c, f.ctx, f.noraRZ, f.noraLink
	add := func(kind string, input any) int64 {
		raw, _ := json.Marshal(input)
		id, err := e.Store.AddDeadLetter(ctx, store.DeadLetter{
			ConnectionID: e.Conn.ID, LinkID: link.ID, WorkflowID: domain.ContactWorkflowID(e.Conn.ID, link.ID), RunID: "run-1",
			Kind: kind, Input: raw, Error: "HighLevel answered 500 ten times",
		})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	planIn := domain.PlanInput{Ref: domain.Ref{ConnectionID: e.Conn.ID, LinkID: link.ID},
		Events: []domain.Event{{Source: domain.SourceGHL, ID: "evt-1", Kind: domain.KindContact}}}
	replayID, discardID := add("ContactSync.contact", planIn), add("ContactSync.tags", planIn)
	ambID := add("Backfill.ambiguous-match", map[string]any{"rzContactId": rz.ID, "ghlCandidates": []string{"a", "b"}})

	r := want(t, c.on(t, "deadletters", "list"), cli.ExitOK)
	if !strings.Contains(r.stdout, "ContactSync.contact") || !strings.Contains(r.stdout, "Backfill.ambiguous-match") {
		t.Errorf("list:\n%s", r)
	}
	if l := decode[[]struct{ ID int64 }](t, want(t, c.on(t, "-o", "json", "deadletters", "list"), cli.ExitOK)); len(l) != 3 {
		t.Errorf("list json: %+v", l)
	}
	sh := decode[struct {
		Kind  string
		Input domain.PlanInput
	}](t, want(t, c.on(t, "-o", "json", "deadletters", "show", fmt.Sprint(replayID)), cli.ExitOK))
	if sh.Kind != "ContactSync.contact" || len(sh.Input.Events) != 1 || sh.Input.Events[0].ID != "evt-1" {
		t.Errorf("show: %+v", sh)
	}
	if r := want(t, c.on(t, "deadletters", "show", fmt.Sprint(ambID)), cli.ExitOK); !strings.Contains(r.stdout, "starter link") {
		t.Errorf("show ambiguous:\n%s", r)
	}
	want(t, c.on(t, "deadletters", "show", "999999"), cli.ExitNotFound)

	before := contactState(t, e, link.ID).Passes
	r = want(t, c.on(t, "deadletters", "replay", fmt.Sprint(replayID)), cli.ExitOK)
	if !strings.Contains(r.stdout, `"contact" pass`) {
		t.Errorf("replay:\n%s", r)
	}
	if d, _ := e.Store.GetDeadLetter(ctx, replayID); d.State != store.DeadReplayed {
		t.Errorf("replayed dead letter is %s", d.State)
	}
	e.Eventually(30*time.Second, "the replayed pass", func() (bool, string) {
		st := contactState(t, e, link.ID)
		return st.Passes > before && len(st.Pending) == 0, fmt.Sprintf("passes %d (was %d)", st.Passes, before)
	})
	want(t, c.on(t, "deadletters", "replay", fmt.Sprint(replayID)), cli.ExitFailure)
	r = want(t, c.on(t, "deadletters", "replay", fmt.Sprint(ambID)), cli.ExitFailure)
	if !strings.Contains(r.stderr, "cannot be replayed") || !strings.Contains(r.stderr, "starter link") {
		t.Errorf("replay ambiguous: %s", r)
	}
	want(t, c.on(t, "deadletters", "discard", fmt.Sprint(discardID)), cli.ExitOK)
	if d, _ := e.Store.GetDeadLetter(ctx, discardID); d.State != store.DeadDiscarded {
		t.Errorf("discarded dead letter is %s", d.State)
	}
	states := map[string]int{}
	for _, d := range decode[[]struct{ State string }](t, want(t, c.on(t, "-o", "json", "deadletters", "list", "--state", "all"), cli.ExitOK)) {
		states[d.State]++
	}
	if states["open"] != 1 || states["replayed"] != 1 || states["discarded"] != 1 {
		t.Errorf("states after replay and discard: %v", states)
	}
	s := decode[struct {
		Connections []struct{ DeadLettersOpen int }
	}](t, want(t, c.on(t, "-o", "json", "status"), cli.ExitOK))
	if s.Connections[0].DeadLettersOpen != 1 {
		t.Errorf("status counts %d open dead letters, want 1", s.Connections[0].DeadLettersOpen)
	}
}

func (f *cliFixture) testLink(t *testing.T) {
	e, c, ctx, g, rz := f.e, f.c, f.ctx, f.nora, f.noraRZ
	lead, err := e.RZ.AdminCreateContact(e.RZToken, rzsim.Contact{FirstName: "Solo", Email: "solo@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	// Nora's HighLevel contact is already someone else's: refused, nothing changed.
	r := want(t, c.on(t, "link", g.ID, lead.ID), cli.ExitInvalid)
	if l, _ := e.Store.LinkBy(ctx, e.Conn.ID, store.SideGHL, g.ID); l.RZContactID != rz.ID {
		t.Errorf("refused link changed Nora: %+v\n%s", l, r)
	}
	want(t, c.on(t, "link", "no-such-ghl", lead.ID), cli.ExitNotFound)

	// The same person made in HighLevel while webhooks were lost: link them by hand.
	wh := e.GHL.Webhooks()
	e.GHL.SetWebhooks(ghlsim.WebhookOptions{})
	solo, err := e.GHL.CreateContact(ghlsim.Contact{LocationID: e.LocationID, FirstName: "Solo", Email: "solo@example.com"})
	e.GHL.SetWebhooks(wh)
	if err != nil {
		t.Fatal(err)
	}
	l := decode[struct{ LinkID, GHLID, RZID string }](t, want(t, c.on(t, "-o", "json", "link", solo.ID, lead.ID), cli.ExitOK))
	if got, err := e.Store.LinkBy(ctx, e.Conn.ID, store.SideRZ, lead.ID); err != nil || got.ID != l.LinkID || got.GHLContactID != solo.ID {
		t.Fatalf("link %+v: stored %+v, %v", l, got, err)
	}
	r = want(t, c.on(t, "sync", "solo@example.com"), cli.ExitOK)
	if !strings.Contains(r.stdout, "person "+l.LinkID) {
		t.Errorf("sync of the linked person:\n%s", r)
	}
	if n := len(e.GHLContacts()); n != 5 {
		t.Errorf("HighLevel has %d contacts, want 5 (no duplicate of Solo)", n)
	}

	// A person held as ambiguous, and each candidate, already has a link of their own on
	// one side: linking absorbs the Referrizer one into the HighLevel contact's.
	held, err := e.RZ.AdminCreateContact(e.RZToken, rzsim.Contact{FirstName: "Held", Email: "held@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	own, _, err := e.Store.EnsureLink(ctx, e.Conn.ID, store.SideRZ, held.ID)
	if err != nil {
		t.Fatal(err)
	}
	e.GHL.SetWebhooks(ghlsim.WebhookOptions{})
	heldGHL, err := e.GHL.CreateContact(ghlsim.Contact{LocationID: e.LocationID, FirstName: "Held", Email: "held@example.com"})
	e.GHL.SetWebhooks(wh)
	if err != nil {
		t.Fatal(err)
	}
	// The backfill linked the HighLevel candidate on its own too.
	if _, _, err := e.Store.EnsureLink(ctx, e.Conn.ID, store.SideGHL, heldGHL.ID); err != nil {
		t.Fatal(err)
	}
	want(t, c.on(t, "link", heldGHL.ID, held.ID), cli.ExitOK)
	if got, err := e.Store.LinkBy(ctx, e.Conn.ID, store.SideRZ, held.ID); err != nil || got.GHLContactID != heldGHL.ID {
		t.Errorf("held person after link: %+v, %v", got, err)
	} else if got.ID != own.ID {
		if _, err := e.Store.GetLink(ctx, e.Conn.ID, own.ID); err == nil {
			t.Errorf("the held person's own link %s survived beside %s", own.ID, got.ID)
		}
	}
}

func (f *cliFixture) testSyncLinksNewPerson(t *testing.T) {
	e, c, ctx := f.e, f.c, f.ctx
	wh := e.GHL.Webhooks()
	e.GHL.SetWebhooks(ghlsim.WebhookOptions{}) // the webhook is lost: nobody links Wren
	wren, err := e.GHL.CreateContact(ghlsim.Contact{LocationID: e.LocationID, FirstName: "Wren", Email: "wren@example.com"})
	e.GHL.SetWebhooks(wh)
	if err != nil {
		t.Fatal(err)
	}
	want(t, c.on(t, "plan", "wren@example.com"), cli.ExitNotFound)
	r := want(t, c.on(t, "sync", "wren@example.com"), cli.ExitOK)
	if !strings.Contains(r.stdout, "Referrizer  create the person") {
		t.Errorf("sync of a new person:\n%s", r)
	}
	l, err := e.Store.LinkBy(ctx, e.Conn.ID, store.SideGHL, wren.ID)
	if err != nil || l.RZContactID == "" {
		t.Fatalf("Wren's link %+v: %v", l, err)
	}
	found := false
	for _, rc := range e.RZContacts() {
		found = found || (rc.ID == l.RZContactID && rc.FirstName == "Wren")
	}
	if !found {
		t.Errorf("Wren not created in Referrizer")
	}
}

func (f *cliFixture) testReplayCheck(t *testing.T) {
	e, c := f.e, f.c
	want(t, c.run(t, "replay-check", "--query", "NoSuchAttribute = 'x'"), cli.ExitUsage)
	rep := decode[struct {
		Checked  int
		ByType   map[string]int
		Failures []struct{ WorkflowID, Error string }
		Verdict  string
	}](t, want(t, c.run(t, "-o", "json", "replay-check"), cli.ExitOK))
	if rep.Checked == 0 || rep.ByType[domain.ContactSyncName] == 0 || rep.ByType[domain.BackfillName] == 0 || rep.Verdict != "ok" {
		t.Errorf("replay-check on the real workflows: %+v", rep)
	}

	// A ContactSync that sleeps before doing anything: every recorded run diverges.
	broken := []cli.Option{cli.WithWorkflowRegistration(func(r worker.WorkflowRegistry) {
		workflows.Register(swap{r, domain.ContactSyncName, contactSyncWithExtraTimer})
	})}
	bad := decode[struct {
		Failures []struct {
			Type, WorkflowID string
			Nondeterministic bool
		}
		Verdict string
	}](t, want(t, c.runOpts(t, broken, "-o", "json", "replay-check"), cli.ExitNondeterminism))
	if bad.Verdict != "nondeterministic" || len(bad.Failures) == 0 {
		t.Fatalf("replay-check of a nondeterministic change: %+v", bad)
	}
	for _, f := range bad.Failures {
		if f.Type != domain.ContactSyncName || !f.Nondeterministic || !strings.HasPrefix(f.WorkflowID, "contact/") {
			t.Errorf("unexpected failure %+v", f)
		}
	}
	r := want(t, c.runOpts(t, broken, "replay-check"), cli.ExitNondeterminism)
	if !strings.Contains(r.stdout, "NONDETERMINISTIC ContactSync contact/"+e.Conn.ID+"/") || !strings.Contains(r.stderr, "do not deploy") {
		t.Errorf("text report:\n%s", r)
	}
}

func (f *cliFixture) testCodecEndpoint(t *testing.T) {
	e, ctx, link := f.e, f.ctx, f.noraLink
	id := domain.ContactWorkflowID(e.Conn.ID, link.ID)
	it := e.Client.GetWorkflowHistory(ctx, id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	first, err := it.Next()
	if err != nil {
		t.Fatal(err)
	}
	payloads := first.GetWorkflowExecutionStartedEventAttributes().GetInput().GetPayloads()
	if len(payloads) != 1 || string(payloads[0].Metadata["encoding"]) != codec.Encoding || bytes.Contains(payloads[0].Data, []byte(link.ID)) {
		t.Fatalf("history payload is not encrypted: %v", payloads)
	}
	remote := converter.NewRemotePayloadCodec(converter.RemotePayloadCodecOptions{Endpoint: "http://" + e.App.InternalAddr + "/codec",
		ModifyRequest: func(r *http.Request) error { r.Header.Set("Authorization", "Bearer "+e2e.CodecToken); return nil }})
	if _, err := converter.NewRemotePayloadCodec(converter.RemotePayloadCodecOptions{Endpoint: "http://" + e.App.InternalAddr + "/codec"}).Decode(payloads); err == nil {
		t.Error("the codec decoded for a caller without a credential")
	}
	plain, err := remote.Decode(payloads)
	if err != nil {
		t.Fatal(err)
	}
	var in domain.ContactSyncInput
	if err := converter.GetDefaultDataConverter().FromPayload(plain[0], &in); err != nil {
		t.Fatalf("decoded payload %v: %v", plain[0], err)
	}
	if in.ConnectionID != e.Conn.ID || in.LinkID != link.ID {
		t.Errorf("decoded input %+v", in)
	}
}

// A connection an app install created holds only its HighLevel grant: it stays pending,
// status says what to do, nothing starts work for it, and connect --rz-token activates it.
func (f *cliFixture) testPendingConnection(t *testing.T) {
	e, c, ctx := f.e, f.c, f.ctx
	const id = "installed-1"
	loc := "installedLoc" + store.NewID()
	if _, err := e.Store.PutConnection(ctx, store.Connection{ID: id, Name: "Installed", GHLLocationID: loc, Status: store.ConnPending, StatusReason: "installed"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Store.PutToken(ctx, store.Token{ConnectionID: id, Kind: store.TokenGHL, Mode: store.AuthOAuth, AccessToken: "oauth-at", RefreshToken: "oauth-rt", Expiry: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	r := want(t, c.run(t, "-c", id, "status"), cli.ExitOK)
	for _, s := range []string{"connection " + id, "pending", "not syncing yet", "next: add the Referrizer token: starter connect -c " + id + " --rz-token -"} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("status of a pending connection lacks %q:\n%s", s, r)
		}
	}
	st := decode[struct {
		Connections []struct{ ID, Status, Next string }
	}](t, want(t, c.run(t, "-c", id, "-o", "json", "status"), cli.ExitOK))
	if len(st.Connections) != 1 || st.Connections[0].Status != "pending" || !strings.Contains(st.Connections[0].Next, "--rz-token") {
		t.Errorf("status json: %+v", st)
	}
	for _, args := range [][]string{{"backfill", "--detach"}, {"schedules", "install"}, {"schedules", "resume"}, {"schedules", "trigger", "poll"}, {"sync", "someone@example.com"}, {"link", "ghl-1", "rz-1"}} {
		r := want(t, c.run(t, append([]string{"-c", id}, args...)...), cli.ExitUsage)
		if !strings.Contains(r.stderr, "pending") && !strings.Contains(r.stderr, "does not sync") {
			t.Errorf("%v on a pending connection: %s", args, r)
		}
	}
	resp, err := e.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
		Namespace: e.Namespace, Query: fmt.Sprintf("%s = '%s'", domain.SAConnection.GetName(), id),
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(resp.Executions); n != 0 {
		t.Errorf("%d workflows of a pending connection", n)
	}
	if _, err := e.Client.ScheduleClient().GetHandle(ctx, domain.PollScheduleID(id)).Describe(ctx); err == nil {
		t.Errorf("a schedule exists for a pending connection")
	}

	r = want(t, c.run(t, "connect", "-c", id, "--rz-token", e.RZToken), cli.ExitOK)
	if !strings.Contains(r.stdout, "OAuth grant kept") || !strings.Contains(r.stdout, "next: starter schedules install -c "+id) {
		t.Errorf("connect of a pending connection: %s", r)
	}
	f.noSecrets(t, r)
	conn, err := e.Store.GetConnection(ctx, id)
	if err != nil || conn.Status != store.ConnActive || conn.StatusReason != "" {
		t.Errorf("after connect: %+v (%v), want active", conn, err)
	}
	if tok, err := e.Store.GetToken(ctx, id, store.TokenGHL); err != nil || tok.AccessToken != "oauth-at" || tok.Mode != store.AuthOAuth {
		t.Errorf("connect replaced the install's HighLevel grant: %v (%v)", tok, err)
	}
	r = want(t, c.run(t, "-c", id, "status"), cli.ExitOK)
	if strings.Contains(r.stdout, "not syncing yet") || strings.Contains(r.stdout, "next:") {
		t.Errorf("status of the connected connection still says it waits:\n%s", r)
	}
}

// swap registers fn in place of the workflow registered under name.
type swap struct {
	worker.WorkflowRegistry
	name string
	fn   any
}

func (s swap) RegisterWorkflowWithOptions(w any, o workflow.RegisterOptions) {
	if o.Name == s.name {
		w = s.fn
	}
	s.WorkflowRegistry.RegisterWorkflowWithOptions(w, o)
}

func contactSyncWithExtraTimer(ctx workflow.Context, in domain.ContactSyncInput) error {
	if err := workflow.Sleep(ctx, time.Millisecond); err != nil {
		return err
	}
	return workflows.ContactSync(ctx, in)
}

func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }

// TestDevStack checks --dev reads the dev stack's SQLite file and key from --data-dir and
// needs nothing else; without them it says what to start.
func TestDevStack(t *testing.T) {
	dir := t.TempDir()
	r := want(t, run(t, map[string]string{}, nil, "--dev", "--data-dir", dir, "connections", "list"), cli.ExitUsage)
	if !strings.Contains(r.stderr, "dev-encryption.key") || !strings.Contains(r.stderr, "worker --dev") {
		t.Errorf("no dev stack: %s", r)
	}
	spec := secrets.GenerateSpec("dev")
	if err := os.WriteFile(filepath.Join(dir, "dev-encryption.key"), []byte(spec), 0o600); err != nil {
		t.Fatal(err)
	}
	want(t, run(t, map[string]string{}, nil, "--dev", "--data-dir", dir, "connections", "list"), cli.ExitUsage)
	kr, err := secrets.Parse(spec)
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(context.Background(), filepath.Join(dir, "hlrz.db"), kr)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []store.Connection{{ID: "demo-1", Name: "old", GHLLocationID: "l1", Status: store.ConnPaused}, {ID: "demo-2", Name: "Demo", GHLLocationID: "l2"}} {
		if _, err := st.PutConnection(context.Background(), c); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()

	list := decode[[]struct{ ID, Status string }](t, want(t, run(t, map[string]string{}, nil, "--dev", "--data-dir", dir, "-o", "json", "connections", "list"), cli.ExitOK))
	if len(list) != 2 {
		t.Errorf("dev connections: %+v", list)
	}
	// The only active connection is the default one.
	show := decode[struct {
		Connection string
		Default    bool
	}](t, want(t, run(t, map[string]string{}, nil, "--dev", "--data-dir", dir, "-o", "json", "mapping", "show"), cli.ExitOK))
	if show.Connection != "demo-2" || !show.Default {
		t.Errorf("dev mapping show: %+v", show)
	}
	r = want(t, run(t, map[string]string{}, nil, "--dev", "--data-dir", dir, "-o", "json", "-c", "nope", "mapping", "show"), cli.ExitNotFound)
	if e := decode[struct {
		Error    string
		ExitCode int
	}](t, r); e.ExitCode != cli.ExitNotFound || !strings.Contains(e.Error, "nope") {
		t.Errorf("json error: %+v", e)
	}
}
