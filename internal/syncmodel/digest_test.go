package syncmodel

import (
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

func TestRenderNotesDigest(t *testing.T) {
	m := DefaultMapping()
	notes := []Note{
		{ID: "n1", Body: "<p>First call.</p>", DateAdded: day(1)},
		{ID: "n3", Body: "Wants <b>trial</b> class", DateAdded: day(3).Add(5 * time.Hour)},
		{ID: "n2", Body: "<p> </p>", DateAdded: day(2)}, // no text: skipped
		{ID: "n0", Body: "No date"},
		{ID: "n4", Body: "Same day, later id", DateAdded: day(3).Add(5 * time.Hour)},
	}
	want := "2024-05-03: Wants trial class\n2024-05-03: Same day, later id\n2024-05-01: First call.\nNo date"
	if got := m.RenderNotesDigest(notes); got != want {
		t.Errorf("digest:\n%s\nwant:\n%s", got, want)
	}
	// Input order does not matter.
	rev := []Note{notes[4], notes[3], notes[2], notes[1], notes[0]}
	if got := m.RenderNotesDigest(rev); got != want {
		t.Errorf("digest depends on input order:\n%s", got)
	}
	if got := m.RenderNotesDigest(nil); got != "" {
		t.Errorf("no notes = %q, want empty", got)
	}
}

func TestRenderNotesDigestTruncation(t *testing.T) {
	m := mustMapping(t, "projections: {notes: {max_length: 100}}")
	var notes []Note
	for i := 1; i <= 10; i++ {
		notes = append(notes, Note{ID: fmt.Sprint(i), Body: fmt.Sprintf("note number %d", i), DateAdded: day(i)})
	}
	got := m.RenderNotesDigest(notes)
	// A third line (26+1+25+1+25 characters) plus the marker would be 106 > 100.
	want := "2024-05-10: note number 10\n2024-05-09: note number 9\n… (8 older notes not shown)"
	if got != want {
		t.Errorf("digest:\n%s\nwant:\n%s", got, want)
	}
	if n := utf8.RuneCountInString(got); n > 100 {
		t.Errorf("digest is %d characters, limit 100", n)
	}
	one := m.RenderNotesDigest([]Note{{ID: "a", Body: "x", DateAdded: day(2)}, {ID: "b", Body: "y", DateAdded: day(1)}})
	if one != "2024-05-02: x\n2024-05-01: y" {
		t.Errorf("short digest = %q", one)
	}
	// A single newest note longer than the limit is cut, and the rest counted.
	long := []Note{{ID: "l", Body: strings.Repeat("é", 300), DateAdded: day(5)}, {ID: "o", Body: "old", DateAdded: day(1)}}
	got = m.RenderNotesDigest(long)
	if n := utf8.RuneCountInString(got); n != 100 || !strings.HasPrefix(got, "2024-05-05: éé") || !strings.HasSuffix(got, "…\n… (1 older note not shown)") {
		t.Errorf("long digest (%d chars):\n%s", n, got)
	}
	alone := m.RenderNotesDigest(long[:1])
	if n := utf8.RuneCountInString(alone); n != 100 || !strings.HasSuffix(alone, "é…") {
		t.Errorf("single long note (%d chars): %s", n, alone)
	}
}

func TestRenderTasksDigest(t *testing.T) {
	m := DefaultMapping()
	now := day(10).Add(12 * time.Hour)
	tasks := []Task{
		{ID: "t1", Title: "Call back", DueDate: day(9)},                                           // overdue
		{ID: "t2", Title: "Send offer", DueDate: day(12)},                                         // due
		{ID: "t3", Title: "Check in"},                                                             // open, no due date
		{ID: "t4", Title: "Intro call", Completed: true, CompletedAt: day(8)},                     // done, recent
		{ID: "t5", Title: "Old task", Completed: true, CompletedAt: day(1)},                       // done long ago: dropped
		{ID: "t6", Title: "Done, due known", Completed: true, DueDate: day(6)},                    // completion unknown: ages from due
		{ID: "t7", Title: "Done, no dates", Completed: true},                                      // no dates: dropped
		{ID: "t8", Title: "<b>Due</b> today, later", DueDate: day(10).Add(18 * time.Hour)},        // not yet overdue
		{ID: "t9", Title: "", DueDate: day(9).Add(time.Hour)},                                     // untitled, overdue
		{ID: "ta", Title: "Boundary", Completed: true, CompletedAt: now.Add(-7 * 24 * time.Hour)}, // exactly the age: kept
	}
	text, labels := m.RenderTasksDigest(tasks, now)
	want := strings.Join([]string{
		"OVERDUE 2024-05-09: Call back",
		"OVERDUE 2024-05-09: (untitled)",
		"due 2024-05-10: Due today, later",
		"due 2024-05-12: Send offer",
		"open: Check in",
		"done 2024-05-08: Intro call",
		"done 2024-05-06: Done, due known",
		"done 2024-05-03: Boundary",
	}, "\n")
	if diff := cmp.Diff(want, text); diff != "" {
		t.Errorf("digest (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"ghl-task-open", "ghl-task-overdue"}, labels); diff != "" {
		t.Errorf("labels (-want +got):\n%s", diff)
	}
	// Deterministic: same input and now, same text, whatever the order.
	again, _ := m.RenderTasksDigest([]Task{tasks[9], tasks[3], tasks[0], tasks[8], tasks[1], tasks[2], tasks[4], tasks[5], tasks[6], tasks[7]}, now)
	if again != text {
		t.Errorf("digest depends on input order:\n%s", again)
	}
}

func TestRenderTasksDigestLabels(t *testing.T) {
	m := mustMapping(t, "projections: {tasks: {open_label: todo, overdue_label: late, keep_completed_for: '0'}}")
	now := day(10)
	tests := []struct {
		name   string
		tasks  []Task
		text   string
		labels []string
	}{
		{"none", nil, "", nil},
		{"only completed, age 0", []Task{{ID: "a", Title: "x", Completed: true, CompletedAt: day(9)}}, "", nil},
		{"open, not overdue", []Task{{ID: "a", Title: "x", DueDate: day(11)}}, "due 2024-05-11: x", []string{"todo"}},
		{"overdue", []Task{{ID: "a", Title: "x", DueDate: day(9)}}, "OVERDUE 2024-05-09: x", []string{"late", "todo"}},
	}
	for _, tt := range tests {
		text, labels := m.RenderTasksDigest(tt.tasks, now)
		if text != tt.text || !cmp.Equal(tt.labels, labels) {
			t.Errorf("%s: got %q %v, want %q %v", tt.name, text, labels, tt.text, tt.labels)
		}
	}
}

func TestRenderTasksDigestTruncation(t *testing.T) {
	m := mustMapping(t, "projections: {tasks: {max_length: 80}}")
	var tasks []Task
	for i := 1; i <= 12; i++ {
		tasks = append(tasks, Task{ID: fmt.Sprint(i), Title: fmt.Sprintf("Task %02d", i), DueDate: day(10 + i)})
	}
	text, _ := m.RenderTasksDigest(tasks, day(1))
	want := "due 2024-05-11: Task 01\ndue 2024-05-12: Task 02\n… (10 more tasks not shown)"
	if text != want {
		t.Errorf("digest:\n%s\nwant:\n%s", text, want)
	}
}

func TestBoundedLinesNeverExceedsMax(t *testing.T) {
	marker := func(n int) string { return fmt.Sprintf("… (%d more)", n) }
	for max := 20; max < 120; max++ {
		for n := 0; n < 15; n++ {
			var lines []string
			for i := range n {
				lines = append(lines, strings.Repeat("x", (i*7)%40+1))
			}
			got := boundedLines(lines, max, marker)
			if c := utf8.RuneCountInString(got); c > max {
				t.Fatalf("max %d, %d lines: %d characters:\n%s", max, n, c, got)
			}
			if n > 0 && got == "" {
				t.Fatalf("max %d, %d lines: empty", max, n)
			}
		}
	}
}
