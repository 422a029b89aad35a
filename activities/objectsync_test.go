package activities

import (
	"context"
	"testing"

	"go.temporal.io/sdk/testsuite"

	"github.com/hlrz/hlrz/internal/domain"
	"github.com/hlrz/hlrz/internal/sim/ghlsim"
	"github.com/hlrz/hlrz/internal/store"
)

// SyncObjects runs tags, notes and tasks in order against the simulators; a retry resumes
// after the objects its last heartbeat says are finished, without reading them again.
func TestSyncObjectsRunsEachObjectAndResumes(t *testing.T) {
	ctx := context.Background()
	w := newSimWorld(t)
	gc, err := w.ghl.CreateContact(ghlsim.Contact{LocationID: w.loc, FirstName: "Ada", Email: "ada@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.ghl.AddTags(gc.ID, "vip"); err != nil {
		t.Fatal(err)
	}
	if _, err := w.ghl.CreateNote(gc.ID, ghlsim.Note{Body: "called back"}); err != nil {
		t.Fatal(err)
	}
	link, _, err := w.core.Store.EnsureLink(ctx, w.conn.ID, store.SideGHL, gc.ID)
	if err != nil {
		t.Fatal(err)
	}
	ref := domain.Ref{ConnectionID: w.conn.ID, LinkID: link.ID}
	c := &Contacts{Core: w.core}
	in := domain.PlanInput{Ref: ref, Events: []domain.Event{{Source: domain.SourceGHL, Kind: domain.KindContact}}}
	run[ApplyResult](t, c, c.ApplyContact, run[ContactPlan](t, c, c.PlanContact, in))

	o := &Objects{Core: w.core}
	all := SyncObjectsInput{Ref: ref, Events: []domain.Event{{Source: domain.SourceGHL, Kind: domain.KindAll}}, Objects: []string{ObjectTags, ObjectNotes, ObjectTasks}}

	// A retry whose last attempt finished tags: tags are neither planned nor read again.
	var ts testsuite.WorkflowTestSuite
	env := ts.NewTestActivityEnvironment()
	env.RegisterActivity(o)
	env.SetHeartbeatDetails(SyncObjectsResult{Objects: []ObjectOutcome{{Object: ObjectTags, Summary: "from the last attempt"}}})
	before := w.ghl.Stats().Operations
	val, err := env.ExecuteActivity(o.SyncObjects, all)
	if err != nil {
		t.Fatal(err)
	}
	var resumed SyncObjectsResult
	if err := val.Get(&resumed); err != nil {
		t.Fatal(err)
	}
	if got := outcomeObjects(resumed); got != "tags,notes,tasks" || resumed.Objects[0].Summary != "from the last attempt" {
		t.Fatalf("resumed outcomes = %+v, want tags from the heartbeat, then notes and tasks", resumed.Objects)
	}
	for _, out := range resumed.Objects {
		if out.Error != "" {
			t.Errorf("%s failed: %s", out.Object, out.Error)
		}
	}
	after := w.ghl.Stats().Operations
	if after["get-all-notes"] <= before["get-all-notes"] {
		t.Errorf("notes were not read: operations before %v, after %v", before, after)
	}

	// A first attempt runs all three; the tags (carried by the create) need nothing more.
	res := run[SyncObjectsResult](t, o, o.SyncObjects, all)
	if got := outcomeObjects(res); got != "tags,notes,tasks" || res.Objects[0].Summary == "from the last attempt" || res.Objects[0].Error != "" {
		t.Fatalf("outcomes = %+v", res.Objects)
	}
	if rz := w.rz.Contacts(w.rzToken); len(rz) != 1 || len(rz[0].Labels) != 1 {
		t.Errorf("Referrizer contacts = %+v, want one with the tag as a label", rz)
	}
}

func outcomeObjects(r SyncObjectsResult) string {
	s := ""
	for i, o := range r.Objects {
		if i > 0 {
			s += ","
		}
		s += o.Object
	}
	return s
}
