package e2e_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hlrz/hlrz/internal/e2e"
	"github.com/hlrz/hlrz/internal/sim/ghlsim"
)

const tagRulesMapping = `version: 1
phone_region: US
fields:
  firstName: {direction: both, conflict: ghl-wins}
  email:     {direction: both, conflict: ghl-wins}
  tags:      {direction: both}
rules:
  - id: welcome
    on: contact
    when: '"vip" in person.tags'
    actions:
      - {type: create_ghl_task, title: Welcome pack}
  - id: welcomed
    on: contact
    when: '"welcomed" in person.tags'
    actions:
      - {type: complete_ghl_task, created_by: welcome}
`

// Contact rules that test tags run when only a tag or label changes (that reaches the tags
// child alone), once per person whichever side the change came from: a tag added in
// HighLevel, then the same label seen by a Referrizer poll, make one task; another tag
// completes it.
func TestContactRulesRunOnTagChanges(t *testing.T) {
	e := e2e.Start(t, e2e.Options{Mapping: []byte(tagRulesMapping)})
	c, err := e.GHL.CreateContact(ghlsim.Contact{LocationID: e.LocationID, FirstName: "Vera", Email: "vera@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	e.Eventually(60*time.Second, "Vera in Referrizer", func() (bool, string) { _, ok := rzByEmail(e, "vera@example.com"); return ok, "" })
	waitIdle(t, e)
	welcome := func() []ghlsim.Task {
		var out []ghlsim.Task
		for _, tk := range e.GHL.Snapshot().Tasks {
			if tk.ContactID == c.ID && tk.Title == "Welcome pack" {
				out = append(out, tk)
			}
		}
		return out
	}
	if n := len(welcome()); n != 0 {
		t.Fatalf("%d Welcome pack tasks before vip", n)
	}
	if _, err := e.GHL.AddTags(c.ID, "vip"); err != nil {
		t.Fatal(err)
	}
	e.Eventually(60*time.Second, "a Welcome pack task after the vip tag", func() (bool, string) { return len(welcome()) == 1, fmt.Sprint(len(welcome())) })
	// The label reaches Referrizer; a Referrizer-sourced pass sees vip too.
	r, _ := rzByEmail(e, "vera@example.com")
	if _, err := e.RZ.AdminAddLabel(e.RZToken, r.ID, "loyal"); err != nil {
		t.Fatal(err)
	}
	runPoll(t, e)
	waitIdle(t, e)
	if ts := welcome(); len(ts) != 1 {
		t.Fatalf("%d Welcome pack tasks after a Referrizer-sourced pass, want 1: %+v", len(ts), ts)
	}
	if _, err := e.GHL.AddTags(c.ID, "welcomed"); err != nil {
		t.Fatal(err)
	}
	e.Eventually(60*time.Second, "the Welcome pack task completed", func() (bool, string) {
		ts := welcome()
		return len(ts) == 1 && ts[0].Completed && strings.Contains(ts[0].Body, "[hlrz:welcome:"), fmt.Sprintf("%+v", ts)
	})
}
