package e2e_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/hlrz/hlrz/internal/e2e"
	"github.com/hlrz/hlrz/internal/sim/ghlsim"
)

const appointmentRulesMapping = `version: 1
phone_region: US
fields:
  firstName: {direction: both, conflict: ghl-wins}
  email:     {direction: both, conflict: ghl-wins}
rules:
  - id: visit
    on: appointments
    when: appointment.status == "showed"
    actions:
      - {type: record_rz_visit, points: 10}
`

// An appointment marked showed in HighLevel records one Referrizer visit, dated at the
// appointment; later appointment events record no second one.
func TestAppointmentRulesRecordVisits(t *testing.T) {
	e := e2e.Start(t, e2e.Options{Mapping: []byte(appointmentRulesMapping)})
	c, err := e.GHL.CreateContact(ghlsim.Contact{LocationID: e.LocationID, FirstName: "Abe", Email: "abe@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	e.Eventually(60*time.Second, "Abe in Referrizer", func() (bool, string) { _, ok := rzByEmail(e, "abe@example.com"); return ok, "" })
	waitIdle(t, e)
	start := time.Now().Add(-2 * time.Hour).UTC().Truncate(time.Minute)
	ap, err := e.GHL.CreateAppointment(c.ID, ghlsim.Appointment{Title: "Class", Status: "confirmed", StartTime: start, EndTime: start.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	waitIdle(t, e)
	visits := func() int { return len(e.RZ.Visits(e.RZToken)) }
	if n := visits(); n != 0 {
		t.Fatalf("%d visits for a confirmed appointment, want 0", n)
	}
	ap.Status = "showed"
	if _, err := e.GHL.UpdateAppointment(ap.ID, ap); err != nil {
		t.Fatal(err)
	}
	e.Eventually(60*time.Second, "a visit for the showed appointment", func() (bool, string) { return visits() == 1, fmt.Sprint(visits()) })
	ap.Title = "Class (moved room)"
	if _, err := e.GHL.UpdateAppointment(ap.ID, ap); err != nil {
		t.Fatal(err)
	}
	waitIdle(t, e)
	vs := e.RZ.Visits(e.RZToken)
	if len(vs) != 1 {
		t.Fatalf("%d visits after another appointment event, want 1", len(vs))
	}
	if got, _ := time.Parse(time.RFC3339, vs[0].Date); !got.Equal(start) {
		t.Errorf("visit dated %s, want the appointment's start %s", vs[0].Date, start.Format(time.RFC3339))
	}
}

const appointmentStatusRulesMapping = `version: 1
rules:
  - id: appointment-task
    on: appointments
    when: appointment.status in ["confirmed", "showed"]
    actions:
      - {type: create_ghl_task, title_expr: '"Appointment " + appointment.status + ": " + appointment.title'}
`

// An appointment rule whose condition reads the status fires once per appointment and
// status: confirmed, then showed, are two occurrences; other events about the appointment,
// or a status it had before, are none.
func TestAppointmentRulesFireOncePerStatus(t *testing.T) {
	e := e2e.Start(t, e2e.Options{Mapping: []byte(appointmentStatusRulesMapping)})
	c, err := e.GHL.CreateContact(ghlsim.Contact{LocationID: e.LocationID, FirstName: "Ida", Email: "ida@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	e.Eventually(60*time.Second, "Ida in Referrizer", func() (bool, string) { _, ok := rzByEmail(e, "ida@example.com"); return ok, "" })
	waitIdle(t, e)
	titles := func() []string {
		var out []string
		for _, tk := range e.GHL.Snapshot().Tasks {
			if tk.ContactID == c.ID {
				out = append(out, tk.Title)
			}
		}
		slices.Sort(out)
		return out
	}
	want := func(why string, wantTitles ...string) {
		t.Helper()
		e.Eventually(60*time.Second, why, func() (bool, string) { return slices.Equal(titles(), wantTitles), fmt.Sprint(titles()) })
		waitIdle(t, e)
		if got := titles(); !slices.Equal(got, wantTitles) {
			t.Fatalf("%s: tasks %v, want %v", why, got, wantTitles)
		}
	}
	start := time.Now().Add(time.Hour).UTC().Truncate(time.Minute)
	ap, err := e.GHL.CreateAppointment(c.ID, ghlsim.Appointment{Title: "Trial", Status: "confirmed", StartTime: start, EndTime: start.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	want("confirmed", "Appointment confirmed: Trial")
	ap.Notes = "bring shoes"
	if _, err := e.GHL.UpdateAppointment(ap.ID, ap); err != nil {
		t.Fatal(err)
	}
	want("another event, same status", "Appointment confirmed: Trial")
	ap.Status = "showed"
	if _, err := e.GHL.UpdateAppointment(ap.ID, ap); err != nil {
		t.Fatal(err)
	}
	want("showed", "Appointment confirmed: Trial", "Appointment showed: Trial")
	ap.Status = "confirmed"
	if _, err := e.GHL.UpdateAppointment(ap.ID, ap); err != nil {
		t.Fatal(err)
	}
	want("confirmed again", "Appointment confirmed: Trial", "Appointment showed: Trial")
}
