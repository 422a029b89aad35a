package ghl

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/hlrz/hlrz/internal/ghl/ghlspec"
)

// docSeeds adds every JSON example of the webhook docs to the corpus.
func docSeeds(f *testing.F) {
	dir, err := ghlspec.Dir()
	if err != nil {
		f.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(dir, "docs", "webhook-events", "*.md"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no webhook docs under %s", dir)
	}
	block := regexp.MustCompile("(?s)```json\n(.*?)```")
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		for _, m := range block.FindAllSubmatch(raw, -1) {
			f.Add(m[1])
		}
	}
}

func FuzzDecodeWebhook(f *testing.F) {
	docSeeds(f)
	f.Add([]byte(`{"type":"TaskCreate","locationId":"L","id":"t","timestamp":"2025-01-28T14:35:00Z","webhookId":"w"}`))
	f.Add([]byte(`{"type":"ContactDndUpdate","id":1,"dndSettings":{"SMS":null},"customFields":[null,{"value":[1,"a"]}]}`))
	f.Add([]byte(`{"type":"AppointmentUpdate","appointment":{"users":"x","startTime":12}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		env, err := DecodeWebhook(body)
		if err != nil {
			return
		}
		if env.RawType == "" || env.Type == "" {
			t.Fatalf("decoded an event without a type: %+v", env)
		}
		switch p := env.Payload.(type) {
		case *ContactEvent:
			if env.ObjectID != p.ID || env.ContactID != p.ID {
				t.Fatalf("contact ids disagree: %+v", env)
			}
		case *NoteEvent:
			if env.ObjectID != p.ID || env.ContactID != p.ContactID {
				t.Fatalf("note ids disagree: %+v", env)
			}
		case *TaskEvent:
			if env.ObjectID != p.ID || env.ContactID != p.ContactID {
				t.Fatalf("task ids disagree: %+v", env)
			}
		case *AppointmentEvent:
			if env.ObjectID != p.Appointment.ID || env.ContactID != p.Appointment.ContactID {
				t.Fatalf("appointment ids disagree: %+v", env)
			}
		}
		if env.Payload != nil {
			if _, err := json.Marshal(env.Payload); err != nil {
				t.Fatalf("payload does not encode: %v", err)
			}
		}
	})
}

var fuzzEmail = regexp.MustCompile(`[^\s@"'<>,;:]+@[^\s@"'<>,;:]+`)

// FuzzDecodeResponses feeds arbitrary bytes to every response decoder and to the error
// classifier: none may panic, a page may only continue when full, and an error message never
// carries an e-mail address or more than the bounded length.
func FuzzDecodeResponses(f *testing.F) {
	for _, s := range []string{
		`{"contacts":[{"id":"a","dateAdded":"2021-07-02T05:18:26.704Z","tags":["x"],"customFields":[{"id":"f","value":1}]}],"meta":{"total":1,"startAfterId":"a","startAfter":1625203106704}}`,
		`{"contacts":[{"id":"a","searchAfter":[1625203106704,"a"]}],"total":3}`,
		`{"contact":{"id":"a","dndSettings":{"SMS":{"status":"active"}},"dateOfBirth":"1990-09-25"}}`,
		`{"task":{"id":"t","dueDate":"2021-07-08T02:30:00.000Z","completed":true}}`,
		`{"tasks":[{"_id":"t","title":"Call","contactId":"c","dueDate":"2021-07-08T02:30:00.000Z","completed":false,"contactDetails":{"firstName":null}}]}`,
		`{"note":{"id":"n","body":"b","dateAdded":"2021-07-08T12:02:11.285Z"}}`,
		`{"events":[{"id":"e","startTime":"2021-07-16 11:00:00"}]}`,
		`{"customFields":[{"id":"c","position":0,"picklistOptions":["a"]}]}`,
		`{"statusCode":400,"message":"This location does not allow duplicated contacts.","meta":{"contactId":"x","matchingField":"email"}}`,
		`{"statusCode":422,"message":["email must be an email","phone must be a valid phone number"],"error":"Unprocessable Entity"}`,
		`{"statusCode":400,"message":"Email a.b@c.de is invalid, call +1 (555) 010-2030"}`,
		`<html>bad gateway</html>`,
	} {
		f.Add([]byte(s), 400, 20)
	}
	f.Fuzz(func(t *testing.T, body []byte, status, limit int) {
		if limit <= 0 || limit > 500 {
			limit = 20
		}
		var list contactListResponse
		if json.Unmarshal(body, &list) == nil {
			if p := list.page(limit); p.Next != nil && len(p.Contacts) < limit {
				t.Fatalf("short page continues: %d < %d", len(p.Contacts), limit)
			}
		}
		var search searchResponse
		if json.Unmarshal(body, &search) == nil {
			if p := search.page(limit); p.Next != nil && len(p.Contacts) < limit {
				t.Fatalf("short search page continues")
			}
		}
		var tasks taskSearchResponse
		if json.Unmarshal(body, &tasks) == nil {
			p := tasks.page(limit, limit)
			if p.Next != 0 && (len(p.Tasks) < limit || p.Next <= limit) {
				t.Fatalf("task search page continues wrongly: %d tasks, limit %d, next %d", len(p.Tasks), limit, p.Next)
			}
			for i, st := range tasks.Tasks {
				if st.MongoID != "" && p.Tasks[i].ID != st.MongoID {
					t.Fatalf("task search row %d keeps id %q over _id %q", i, p.Tasks[i].ID, st.MongoID)
				}
			}
		}
		var one struct {
			Contact Contact `json:"contact"`
			Task    Task    `json:"task"`
			Note    Note    `json:"note"`
			Events  []Appointment
			Fields  []CustomField `json:"customFields"`
		}
		_ = json.Unmarshal(body, &one)

		if status < 100 || status > 599 {
			status = 400
		}
		e := parseAPIError("op", status, body, 0)
		if e.Kind() == nil {
			t.Fatal("unclassified error")
		}
		msg := e.Error()
		if fuzzEmail.MatchString(e.Message) {
			t.Fatalf("message keeps an e-mail address: %q", e.Message)
		}
		if utf8.RuneCountInString(e.Message) > maxMessage+1 || !strings.HasPrefix(msg, "ghl: op") {
			t.Fatalf("message not bounded or malformed: %q", msg)
		}
	})
}

func FuzzTime(f *testing.F) {
	for _, s := range []string{`"2021-07-02T05:18:26.704Z"`, `"2021-07-16 11:00:00"`, `1625203106704`, `null`, `""`, `"2023-09-25T16:00:00+05:30"`, `{}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var tm Time
		if err := tm.UnmarshalJSON(b); err != nil {
			t.Fatalf("UnmarshalJSON(%q) failed: %v", b, err)
		}
		out, err := tm.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		var back Time
		if err := json.Unmarshal(out, &back); err != nil || (!tm.IsZero() && tm.Year() >= 0 && tm.Year() <= 9999 && !back.Equal(tm.Truncate(1e6))) {
			t.Fatalf("round trip of %q: %s -> %s (%v)", b, tm, back, err)
		}
	})
}
