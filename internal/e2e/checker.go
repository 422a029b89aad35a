package e2e

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/hlrz/hlrz/internal/app"
	"github.com/hlrz/hlrz/internal/sim/ghlsim"
	"github.com/hlrz/hlrz/internal/sim/rzsim"
	"github.com/hlrz/hlrz/internal/store"
	"github.com/hlrz/hlrz/internal/syncmodel"
)

// The checker compares what the two systems hold at the end of a run with the truth: what
// was seeded plus every edit the test made, merged as the mapping says (first-sync union,
// conflict policies, projections, rules). It never compares one side with the other alone:
// both sides agreeing on a lost edit is still a lost edit.

// Check names, as findings report them (and planted-defect tests look them up).
const (
	CheckMissingPerson     = "missing person"
	CheckDuplicatePerson   = "duplicate person"
	CheckUnexpectedPerson  = "unexpected person"
	CheckField             = "lost field edit"
	CheckTags              = "lost tag"
	CheckCustom            = "custom field"
	CheckNotes             = "notes"
	CheckNotesDigest       = "stale notes digest"
	CheckTasks             = "tasks"
	CheckDuplicateTask     = "duplicate task"
	CheckTasksDigest       = "stale tasks digest"
	CheckStatusLabels      = "status labels"
	CheckDuplicateVisit    = "duplicate visit"
	CheckMissingVisit      = "missing visit"
	CheckUnprocessed       = "unprocessed webhook"
	CheckUnrepaired        = "lost webhook not repaired"
	CheckDeadLetter        = "open dead letter"
	CheckFailedWorkflow    = "failed workflow"
	CheckStuckWorkflow     = "workflow stuck running"
	CheckFaultDidNotFire   = "fault did not fire"
	CheckLinks             = "links"
	CheckConvergenceFigure = "convergence"
)

// WantTask is a HighLevel task the truth says a person has.
type WantTask struct {
	Title     string
	Completed bool
}

// WantPerson is one person as both sides must hold them at the end.
type WantPerson struct {
	Email, Phone        string
	FirstName, LastName string
	Tags                []string          // synced tags, lower case
	Custom              map[string]string // canonical key → value
	Notes               []string          // HighLevel note bodies
	Tasks               []WantTask        // HighLevel tasks
	Visits              int               // Referrizer visits
}

// Truth is the expected end state, built from the seed and updated with every edit.
type Truth struct {
	People map[string]*WantPerson // by lower-case e-mail
	// ExpectedDeadLetters is how many open dead letters the scenario itself causes.
	ExpectedDeadLetters int
}

// NewTruth starts from the seed's expected first sync.
func NewTruth(seed []app.ExpectedPerson) *Truth {
	t := &Truth{People: map[string]*WantPerson{}}
	for _, p := range seed {
		w := &WantPerson{Email: p.Email, Phone: p.Phone, FirstName: p.FirstName, LastName: p.LastName,
			Tags: slices.Clone(p.Tags), Notes: slices.Clone(p.Notes)}
		if len(p.Custom) > 0 {
			w.Custom = map[string]string{}
			for k, v := range p.Custom {
				w.Custom[k] = v
			}
		}
		for _, tk := range p.Tasks {
			w.Tasks = append(w.Tasks, WantTask{Title: tk.Title, Completed: tk.Completed})
		}
		t.People[strings.ToLower(p.Email)] = w
	}
	return t
}

// Person returns the truth about the person with this e-mail.
func (t *Truth) Person(email string) *WantPerson { return t.People[strings.ToLower(email)] }

// AddTag records a tag (or label) added on either side.
func (w *WantPerson) AddTag(tag string) {
	tag = strings.ToLower(tag)
	if !slices.Contains(w.Tags, tag) {
		w.Tags = append(w.Tags, tag)
		slices.Sort(w.Tags)
	}
}

// HasTag reports whether the person ends with tag.
func (w *WantPerson) HasTag(tag string) bool { return slices.Contains(w.Tags, strings.ToLower(tag)) }

// World is what the systems hold at the end of a run, read through their interfaces.
type World struct {
	GHLContacts []ghlsim.Contact // the location's contacts
	GHLTasks    []ghlsim.Task
	GHLNotes    []ghlsim.Note
	RZContacts  []rzsim.Contact
	RZVisits    []rzsim.Visit
	Links       []store.Link
	// Webhooks is HighLevel's account of every event it created; Inbox the state of each
	// event the bridge stored, by webhookId.
	Webhooks []ghlsim.WebhookRecord
	Inbox    map[string]store.InboxState
	// Reconciles is how many reconcile runs completed after the last lost webhook.
	Reconciles      int
	OpenDeadLetters []store.DeadLetter
	Workflows       []WorkflowInfo
	Now             time.Time
}

// WorkflowInfo is one workflow execution as Temporal lists it.
type WorkflowInfo struct {
	ID, Type, Status string // Status: Running, Completed, Failed, ...
	// Busy is true for a running workflow with work outstanding (pending events, activities
	// or children) at a time the sync should be idle.
	Busy bool
	// LongRunning marks a workflow type that legitimately runs forever (entity workflows).
	LongRunning bool
}

// Fault is one injected fault and how often it fired.
type Fault struct {
	Name  string
	Count int
}

// Finding is one way the world differs from the truth.
type Finding struct {
	Check  string
	Person string // e-mail, workflow id, webhook id, ... ("" for global findings)
	Detail string
}

func (f Finding) String() string {
	if f.Person == "" {
		return f.Check + ": " + f.Detail
	}
	return f.Check + " [" + f.Person + "]: " + f.Detail
}

// Figure is one line of the report: a check and what it counted.
type Figure struct{ Check, Text string }

// Report is the checker's verdict.
type Report struct {
	Findings []Finding
	Figures  []Figure
}

// Has reports whether a finding of this check was made (for this person, when not "").
func (r Report) Has(check, person string) bool {
	for _, f := range r.Findings {
		if f.Check == check && (person == "" || strings.EqualFold(f.Person, person)) {
			return true
		}
	}
	return false
}

func (r *Report) find(check, person, format string, args ...any) {
	r.Findings = append(r.Findings, Finding{Check: check, Person: person, Detail: fmt.Sprintf(format, args...)})
}

func (r *Report) figure(check, format string, args ...any) {
	r.Figures = append(r.Figures, Figure{Check: check, Text: fmt.Sprintf(format, args...)})
}

// Check compares the world with the truth under mapping m and checks each fault fired.
func Check(m *syncmodel.Mapping, truth *Truth, w World, faults []Fault) Report {
	var r Report
	if w.Now.IsZero() {
		w.Now = time.Now()
	}
	checkPeople(&r, m, truth, w)
	wrong := map[string]bool{} // GHL contact ids of people with findings
	byEmail := map[string]string{}
	for _, c := range w.GHLContacts {
		byEmail[strings.ToLower(c.Email)] = c.ID
	}
	for _, f := range r.Findings {
		if id := byEmail[strings.ToLower(f.Person)]; id != "" {
			wrong[id] = true
		}
	}
	checkWebhooks(&r, truth, w, wrong)
	checkWorkflows(&r, truth, w)
	fired := 0
	for _, f := range faults {
		if f.Count <= 0 {
			r.find(CheckFaultDidNotFire, "", "%s fired %d times", f.Name, f.Count)
		} else {
			fired++
		}
	}
	r.figure("faults fired", "%d of %d injected faults fired at least once", fired, len(faults))
	return r
}

// checkPeople checks every person of the truth is on each side exactly once, as the truth
// says, and nobody else is.
func checkPeople(r *Report, m *syncmodel.Mapping, truth *Truth, w World) {
	c := newPeopleCheck(r, m, w)
	c.unexpectedPeople(truth)
	emails := make([]string, 0, len(truth.People))
	for e := range truth.People {
		emails = append(emails, e)
	}
	sort.Strings(emails)
	for _, email := range emails {
		c.person(email, truth.People[email])
	}
	c.figures(truth)
}

// peopleCheck is checkPeople's state: the world indexed by person, and running counts
// for the report's figures.
type peopleCheck struct {
	r            *Report
	m            *syncmodel.Mapping
	w            World
	statusLabels []string
	ghlBy        map[string][]ghlsim.Contact // by lower-case e-mail
	rzBy         map[string][]rzsim.Contact  // by lower-case e-mail
	tasksBy      map[string][]ghlsim.Task    // by HighLevel contact id
	notesBy      map[string][]ghlsim.Note    // by HighLevel contact id
	visitsBy     map[string][]rzsim.Visit    // by Referrizer contact id

	people, fieldsOK, tasksTotal, notesTotal, digests, visits, customs int
}

func newPeopleCheck(r *Report, m *syncmodel.Mapping, w World) *peopleCheck {
	c := &peopleCheck{r: r, m: m, w: w, statusLabels: m.StatusLabels(),
		ghlBy: map[string][]ghlsim.Contact{}, rzBy: map[string][]rzsim.Contact{},
		tasksBy: map[string][]ghlsim.Task{}, notesBy: map[string][]ghlsim.Note{}, visitsBy: map[string][]rzsim.Visit{}}
	for _, g := range w.GHLContacts {
		c.ghlBy[strings.ToLower(g.Email)] = append(c.ghlBy[strings.ToLower(g.Email)], g)
	}
	for _, z := range w.RZContacts {
		c.rzBy[strings.ToLower(z.Email)] = append(c.rzBy[strings.ToLower(z.Email)], z)
	}
	for _, t := range w.GHLTasks {
		c.tasksBy[t.ContactID] = append(c.tasksBy[t.ContactID], t)
	}
	for _, n := range w.GHLNotes {
		c.notesBy[n.ContactID] = append(c.notesBy[n.ContactID], n)
	}
	for _, v := range w.RZVisits {
		c.visitsBy[v.ContactID] = append(c.visitsBy[v.ContactID], v)
	}
	return c
}

func (c *peopleCheck) isStatus(l string) bool {
	return slices.ContainsFunc(c.statusLabels, func(s string) bool { return strings.EqualFold(s, l) })
}

func (c *peopleCheck) e164(ph string) string { return syncmodel.NormalizePhone(ph, c.m.PhoneRegion()) }

// unexpectedPeople finds contacts whose e-mail nobody seeded or created.
func (c *peopleCheck) unexpectedPeople(truth *Truth) {
	for email := range c.ghlBy {
		if truth.People[email] == nil {
			c.r.find(CheckUnexpectedPerson, email, "%d HighLevel contacts nobody seeded or created", len(c.ghlBy[email]))
		}
	}
	for email := range c.rzBy {
		if truth.People[email] == nil {
			c.r.find(CheckUnexpectedPerson, email, "%d Referrizer contacts nobody seeded or created", len(c.rzBy[email]))
		}
	}
}

// person checks one person of the truth: once on each side, then each part of them.
func (c *peopleCheck) person(email string, want *WantPerson) {
	gs, rs := c.ghlBy[email], c.rzBy[email]
	switch {
	case len(gs) == 0 || len(rs) == 0:
		c.r.find(CheckMissingPerson, email, "%d HighLevel and %d Referrizer contacts, want 1 each", len(gs), len(rs))
		return
	case len(gs) > 1 || len(rs) > 1:
		c.r.find(CheckDuplicatePerson, email, "%d HighLevel and %d Referrizer contacts, want 1 each", len(gs), len(rs))
		return
	}
	c.people++
	g, z := gs[0], rs[0]
	if c.fields(email, want, g, z) {
		c.fieldsOK++
	}
	c.notes(email, want, g, z)
	c.tasks(email, want, g, z)
	c.personVisits(email, want, z)
}

// fields checks names, phone, tags/labels and custom fields; it reports whether all match.
func (c *peopleCheck) fields(email string, want *WantPerson, g ghlsim.Contact, z rzsim.Contact) bool {
	ok := true
	for _, f := range []struct{ name, ghl, rz, want string }{
		{"firstName", g.FirstName, z.FirstName, want.FirstName},
		{"lastName", g.LastName, z.LastName, want.LastName},
		{"phone", c.e164(g.Phone), c.e164(z.Phone), c.e164(want.Phone)},
	} {
		if f.ghl != f.want || f.rz != f.want {
			c.r.find(CheckField, email, "%s: HighLevel %q, Referrizer %q, want %q", f.name, f.ghl, f.rz, f.want)
			ok = false
		}
	}
	gt := lowerSorted(g.Tags)
	rt := lowerSorted(slices.DeleteFunc(slices.Clone(z.Labels), c.isStatus))
	if !slices.Equal(gt, want.Tags) || !slices.Equal(rt, want.Tags) {
		c.r.find(CheckTags, email, "HighLevel tags %v, Referrizer labels %v, want %v", gt, rt, want.Tags)
		ok = false
	}
	for _, cf := range c.m.CustomFields() {
		wantV := want.Custom[cf.Key]
		gv, rv := ghlCustom(g, cf.GHLID), rzCustom(z, cf.RZName)
		if gv != wantV || rv != wantV {
			c.r.find(CheckCustom, email, "%s: HighLevel %q, Referrizer %q, want %q", cf.Key, gv, rv, wantV)
			ok = false
		} else if wantV != "" {
			c.customs++
		}
	}
	return ok
}

// notes: HighLevel holds exactly the notes made; Referrizer's digest renders them.
func (c *peopleCheck) notes(email string, want *WantPerson, g ghlsim.Contact, z rzsim.Contact) {
	notes := c.notesBy[g.ID]
	var bodies []string
	var sn []syncmodel.Note
	for _, n := range notes {
		bodies = append(bodies, n.Body)
		sn = append(sn, syncmodel.Note{ID: n.ID, Body: n.Body, DateAdded: n.DateAdded})
	}
	c.notesTotal += len(notes)
	if !slices.Equal(sortedCopy(bodies), sortedCopy(want.Notes)) {
		c.r.find(CheckNotes, email, "HighLevel notes %q, want %q", sortedCopy(bodies), sortedCopy(want.Notes))
	}
	if d := rzCustom(z, c.m.NotesField()); d != c.m.RenderNotesDigest(sn) {
		c.r.find(CheckNotesDigest, email, "Referrizer %q is %q, want %q", c.m.NotesField(), d, c.m.RenderNotesDigest(sn))
	} else if len(sn) > 0 {
		c.digests++
	}
}

// tasks: exactly the tasks made (by the test or by rules), each once, completed as the
// truth says; Referrizer's digest and status labels render them.
func (c *peopleCheck) tasks(email string, want *WantPerson, g ghlsim.Contact, z rzsim.Contact) {
	tasks := c.tasksBy[g.ID]
	c.tasksTotal += len(tasks)
	var got []WantTask
	var st []syncmodel.Task
	for _, t := range tasks {
		got = append(got, WantTask{Title: t.Title, Completed: t.Completed})
		s := syncmodel.Task{ID: t.ID, Title: t.Title, Body: t.Body, DueDate: t.DueDate, Completed: t.Completed}
		if t.Completed {
			s.CompletedAt = t.DateUpdated
		}
		st = append(st, s)
	}
	c.duplicateTasks(email, want, tasks)
	if !slices.Equal(sortTasks(got), sortTasks(want.Tasks)) {
		c.r.find(CheckTasks, email, "HighLevel tasks %v, want %v", sortTasks(got), sortTasks(want.Tasks))
	}
	text, labels := c.m.RenderTasksDigest(st, c.w.Now)
	if d := rzCustom(z, c.m.TasksField()); d != text {
		c.r.find(CheckTasksDigest, email, "Referrizer %q is %q, want %q", c.m.TasksField(), d, text)
	} else if len(st) > 0 {
		c.digests++
	}
	gotLabels := lowerSorted(slices.DeleteFunc(slices.Clone(z.Labels), func(l string) bool { return !c.isStatus(l) }))
	if !slices.Equal(gotLabels, lowerSorted(labels)) {
		c.r.find(CheckStatusLabels, email, "Referrizer status labels %v, want %v", gotLabels, lowerSorted(labels))
	}
}

// duplicateTasks finds a task made more often than the truth says (a retried create).
func (c *peopleCheck) duplicateTasks(email string, want *WantPerson, tasks []ghlsim.Task) {
	seen := map[string]int{}
	for _, t := range tasks {
		seen[t.Title]++
	}
	for title, n := range seen {
		wantN := 0
		for _, t := range want.Tasks {
			if t.Title == title {
				wantN++
			}
		}
		if n > wantN && wantN > 0 {
			var bodies []string
			for _, t := range tasks {
				if t.Title == title {
					bodies = append(bodies, t.Body)
				}
			}
			c.r.find(CheckDuplicateTask, email, "%d tasks titled %q, want %d (bodies %q)", n, title, wantN, bodies)
		}
	}
}

// personVisits checks Referrizer holds as many visits as the truth says.
func (c *peopleCheck) personVisits(email string, want *WantPerson, z rzsim.Contact) {
	vs := c.visitsBy[z.ID]
	c.visits += len(vs)
	switch {
	case len(vs) > want.Visits:
		c.r.find(CheckDuplicateVisit, email, "%d Referrizer visits, want %d", len(vs), want.Visits)
	case len(vs) < want.Visits:
		c.r.find(CheckMissingVisit, email, "%d Referrizer visits, want %d", len(vs), want.Visits)
	}
}

// figures reports the counts, and finds a link count that differs from the people's.
func (c *peopleCheck) figures(truth *Truth) {
	w := c.w
	c.r.figure("people", "%d of %d people exactly once on each side (HighLevel %d contacts, Referrizer %d)", c.people, len(truth.People), len(w.GHLContacts), len(w.RZContacts))
	c.r.figure("fields", "%d people with names, phone, tags/labels and custom fields as the truth says (%d custom values)", c.fieldsOK, c.customs)
	c.r.figure("notes and tasks", "%d notes, %d tasks (%d open) in HighLevel; %d digests current in Referrizer", c.notesTotal, c.tasksTotal, openTasks(w.GHLTasks), c.digests)
	wantVisits := 0
	for _, p := range truth.People {
		wantVisits += p.Visits
	}
	c.r.figure("visits", "%d Referrizer visits, %d expected", c.visits, wantVisits)
	if len(w.Links) != len(truth.People) {
		c.r.find(CheckLinks, "", "%d links, want %d", len(w.Links), len(truth.People))
	}
}

func checkWebhooks(r *Report, truth *Truth, w World, wrong map[string]bool) {
	var delivered, processed, lost, repaired int
	for _, rec := range w.Webhooks {
		switch rec.Outcome {
		case ghlsim.OutcomeDelivered:
			delivered++
			st, ok := w.Inbox[rec.WebhookID]
			switch {
			case !ok:
				r.find(CheckUnprocessed, rec.WebhookID, "%s acknowledged by the bridge but not in the inbox", rec.Type)
			case st == store.InboxPending || st == store.InboxFailed:
				r.find(CheckUnprocessed, rec.WebhookID, "%s is %s in the inbox", rec.Type, st)
			default:
				processed++
			}
		case ghlsim.OutcomeLost, ghlsim.OutcomeGivenUp:
			lost++
			// What the event announced can only be repaired by a reconcile (or a later event
			// about the same person); it is repaired when its person holds the truth.
			switch {
			case w.Reconciles == 0:
				r.find(CheckUnrepaired, rec.WebhookID, "%s was never delivered and no reconcile ran after it", rec.Type)
			case rec.ContactID != "" && wrong[rec.ContactID]:
				r.find(CheckUnrepaired, rec.WebhookID, "%s about HighLevel contact %s was never delivered (%s), and that person differs from the truth", rec.Type, rec.ContactID, rec.Outcome)
			default:
				repaired++
			}
		}
	}
	r.figure("webhooks", "%d events: %d delivered, %d processed from the inbox; %d never delivered (lost or given up), %d of them repaired (%d reconciles at the end)",
		len(w.Webhooks), delivered, processed, lost, repaired, w.Reconciles)
	open := len(w.OpenDeadLetters)
	if open > truth.ExpectedDeadLetters {
		for _, d := range w.OpenDeadLetters {
			r.find(CheckDeadLetter, d.WorkflowID, "%s: %s", d.Kind, firstLine(d.Error))
		}
	}
	r.figure("dead letters", "%d open, %d expected", open, truth.ExpectedDeadLetters)
}

func checkWorkflows(r *Report, _ *Truth, w World) {
	byStatus := map[string]int{}
	for _, wf := range w.Workflows {
		byStatus[wf.Status]++
		switch {
		case wf.Status == "Failed" || wf.Status == "TimedOut" || wf.Status == "Terminated":
			r.find(CheckFailedWorkflow, wf.ID, "%s %s", wf.Type, wf.Status)
		case wf.Status == "Running" && (wf.Busy || !wf.LongRunning):
			r.find(CheckStuckWorkflow, wf.ID, "%s still running with work outstanding", wf.Type)
		}
	}
	keys := make([]string, 0, len(byStatus))
	for k := range byStatus {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%d %s", byStatus[k], k))
	}
	r.figure("workflows", "%d executions: %s", len(w.Workflows), strings.Join(parts, ", "))
}

func ghlCustom(c ghlsim.Contact, id string) string {
	for _, f := range c.CustomFields {
		if f.ID == id {
			switch v := f.Value.(type) {
			case string:
				return v
			case nil:
				return ""
			default:
				return fmt.Sprint(v)
			}
		}
	}
	return ""
}

func rzCustom(c rzsim.Contact, name string) string {
	raw, ok := c.CustomFields[name]
	if !ok {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	if string(raw) == "null" {
		return ""
	}
	return string(raw)
}

func lowerSorted(in []string) []string {
	out := make([]string, 0, len(in))
	for _, s := range in {
		out = append(out, strings.ToLower(s))
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func sortedCopy(in []string) []string {
	out := slices.Clone(in)
	slices.Sort(out)
	if out == nil {
		out = []string{}
	}
	return out
}

func sortTasks(in []WantTask) []WantTask {
	out := slices.Clone(in)
	slices.SortFunc(out, func(a, b WantTask) int {
		if c := strings.Compare(a.Title, b.Title); c != 0 {
			return c
		}
		switch {
		case a.Completed == b.Completed:
			return 0
		case a.Completed:
			return 1
		}
		return -1
	})
	if out == nil {
		out = []WantTask{}
	}
	return out
}

func openTasks(ts []ghlsim.Task) int {
	n := 0
	for _, t := range ts {
		if !t.Completed {
			n++
		}
	}
	return n
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}
