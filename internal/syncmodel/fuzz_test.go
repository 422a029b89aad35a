package syncmodel

import (
	"errors"
	"os"
	"testing"
	"time"
)

// FuzzParseMapping feeds arbitrary documents to the parser: it must never panic, must
// explain every rejection, and anything it accepts must be usable.
func FuzzParseMapping(f *testing.F) {
	example, err := os.ReadFile("testdata/mapping.example.yaml")
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{
		string(example),
		DefaultMappingYAML,
		mixedMapping,
		`{"fields": {"email": {"direction": "ghl→rz"}}, "delete_policy": "ignore"}`,
		"fields:\n  emial: both\n",
		"rules:\n  - {id: a, on: notes, when: 'note.body.contains(\"x\")', actions: [{type: add_rz_label, label: y}]}\n",
		"rules:\n  - {id: a, on: contact, actions: [{type: complete_ghl_task, created_by: a}]}\n",
		"custom_fields:\n  - &c {ghl: a, rz: A, direction: ghl->rz, transform: 'value + \"!\"'}\n",
		"version: 1\n---\n",
		"- [",
		"",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		m, err := ParseMapping(doc)
		if err != nil {
			if m != nil {
				t.Fatal("a mapping and an error")
			}
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			var ces ConfigErrors
			if errors.As(err, &ces) {
				for _, e := range ces {
					if e.Msg == "" {
						t.Fatalf("config error without a message: %+v", e)
					}
				}
			}
			return
		}
		if !validRegion(m.PhoneRegion()) || m.NotesField() == "" || m.TasksField() == "" || m.DeletedLabel() == "" {
			t.Fatalf("accepted mapping is incomplete: %+v", m)
		}
		// Use it: plan, digest and rules must not panic.
		g := &Person{FirstName: "Ann", Email: "a@x.com", Phone: "2125550182", Tags: []string{"vip"}, Custom: map[string]string{"A": "1"}, Source: "web"}
		p := m.Plan(nil, g, nil, PlanOptions{})
		_ = p.Summary()
		m.RenderNotesDigest([]Note{{ID: "n", Body: "<p>hi</p>", DateAdded: time.Unix(0, 0)}})
		m.RenderTasksDigest([]Task{{ID: "t", Title: "x"}}, time.Unix(0, 0))
		for _, k := range []EventKind{EventContact, EventNotes, EventTasks, EventAppointments} {
			_, _ = m.EvaluateRules(Event{Kind: k, Notes: []Note{{ID: "n"}}, Tasks: []Task{{ID: "t"}}, Appointments: []Appointment{{ID: "a"}}}, *g, "link")
		}
	})
}
