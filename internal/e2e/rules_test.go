package e2e_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/hlrz/hlrz/internal/e2e"
	"github.com/hlrz/hlrz/internal/sim/ghlsim"
)

// personRulesMapping has a rule on notes and one on tasks whose conditions and labels read
// the person.
const personRulesMapping = `version: 1
rules:
  - id: vip-note
    on: notes
    when: note.body.lowerAscii().contains("vip") && person.firstName != ""
    actions:
      - type: add_rz_label
        label_expr: '"vip-" + slug(person.firstName)'
  - id: tagged-task
    on: tasks
    when: '!task.completed && "gold" in person.tags'
    actions:
      - type: add_ghl_tag
        label_expr: '"task-for-" + slug(person.lastName)'
`

// Rules on notes and tasks see the person (fields and tags as last synced), not an empty one.
func TestRulesOnNotesAndTasksSeeThePerson(t *testing.T) {
	e := e2e.Start(t, e2e.Options{Mapping: []byte(personRulesMapping)})
	c, err := e.GHL.CreateContact(ghlsim.Contact{LocationID: e.LocationID, FirstName: "Ivy", LastName: "Stone", Email: "ivy@example.com", Tags: []string{"gold"}})
	if err != nil {
		t.Fatal(err)
	}
	e.Eventually(60*time.Second, "Ivy in Referrizer", func() (bool, string) {
		r, ok := rzByEmail(e, "ivy@example.com")
		return ok && slices.Contains(r.Labels, "gold"), fmt.Sprintf("%v %v", ok, r.Labels)
	})
	waitIdle(t, e)
	if _, err := e.GHL.CreateNote(c.ID, ghlsim.Note{Body: "VIP member since 2019"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.GHL.CreateTask(c.ID, ghlsim.Task{Title: "Renewal call", DueDate: time.Now().Add(48 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	e.Eventually(60*time.Second, "the note rule's label in Referrizer and the task rule's tag in HighLevel", func() (bool, string) {
		r, _ := rzByEmail(e, "ivy@example.com")
		g, _ := ghlByEmail(e, "ivy@example.com")
		return slices.Contains(r.Labels, "vip-ivy") && slices.Contains(g.Tags, "task-for-stone"),
			fmt.Sprintf("Referrizer labels %v, HighLevel tags %v; last plan: %s", r.Labels, g.Tags, lastPlan(t, e, c.ID))
	})
	waitIdle(t, e)
}
