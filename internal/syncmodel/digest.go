package syncmodel

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// digestDate formats dates in digests. Digests use UTC: a location's time zone is not known
// here, and a fixed zone keeps the text identical wherever it is rendered.
const digestDate = "2006-01-02"

// RenderNotesDigest renders HighLevel notes for the Referrizer notes field: newest first,
// one line per note, "2024-05-01: text" with the body as plain text (HTML stripped). The
// result is at most Notes().MaxLength characters; notes that do not fit are counted in a
// final "… (N older notes not shown)" line. Notes with no text are skipped. Same notes, same
// text: a re-render without a change produces no write. No notes gives "".
func (m *Mapping) RenderNotesDigest(notes []Note) string {
	sorted := slices.Clone(notes)
	slices.SortFunc(sorted, func(a, b Note) int { return -cmpTimeID(a.DateAdded, b.DateAdded, b.ID, a.ID) })
	var lines []string
	for _, n := range sorted {
		text := plainText(n.Body)
		if text == "" {
			continue
		}
		if n.DateAdded.IsZero() {
			lines = append(lines, text)
			continue
		}
		lines = append(lines, n.DateAdded.UTC().Format(digestDate)+": "+text)
	}
	return boundedLines(lines, m.notes.MaxLength, func(n int) string {
		return fmt.Sprintf("… (%d older %s not shown)", n, plural(n, "note", "notes"))
	})
}

// RenderTasksDigest renders HighLevel tasks for the Referrizer tasks field, and returns the
// status labels the person should carry (sorted; the others of StatusLabels should be
// removed).
//
// Open tasks come first, by due date (no due date last), as "due 2024-05-03: title", or
// "OVERDUE 2024-05-01: title" when the due date is before now, or "open: title". Completed
// tasks follow, newest first, as "done 2024-04-28: title" for Tasks().KeepCompleted after
// completion (CompletedAt, or DueDate when that is unknown; a task with neither is dropped),
// then they are dropped. The text is bounded like the notes digest. The result depends only
// on the arguments.
func (m *Mapping) RenderTasksDigest(tasks []Task, now time.Time) (string, []string) {
	var open, done []Task
	for _, t := range tasks {
		if !t.Completed {
			open = append(open, t)
			continue
		}
		at := completedAt(t)
		if !at.IsZero() && !at.Add(m.tasks.KeepCompleted).Before(now) {
			done = append(done, t)
		}
	}
	slices.SortFunc(open, func(a, b Task) int {
		switch {
		case a.DueDate.IsZero() != b.DueDate.IsZero():
			if a.DueDate.IsZero() {
				return 1
			}
			return -1
		}
		if c := cmpTimeID(a.DueDate, b.DueDate, "", ""); c != 0 {
			return c
		}
		if c := strings.Compare(a.Title, b.Title); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	slices.SortFunc(done, func(a, b Task) int { return -cmpTimeID(completedAt(a), completedAt(b), b.ID, a.ID) })

	var lines []string
	overdue := false
	for _, t := range open {
		switch {
		case t.DueDate.IsZero():
			lines = append(lines, "open: "+taskTitle(t))
		case t.DueDate.Before(now):
			overdue = true
			lines = append(lines, "OVERDUE "+t.DueDate.UTC().Format(digestDate)+": "+taskTitle(t))
		default:
			lines = append(lines, "due "+t.DueDate.UTC().Format(digestDate)+": "+taskTitle(t))
		}
	}
	for _, t := range done {
		lines = append(lines, "done "+completedAt(t).UTC().Format(digestDate)+": "+taskTitle(t))
	}
	var labels []string
	if len(open) > 0 {
		labels = append(labels, m.tasks.OpenLabel)
	}
	if overdue {
		labels = append(labels, m.tasks.OverdueLabel)
	}
	slices.Sort(labels)
	text := boundedLines(lines, m.tasks.MaxLength, func(n int) string {
		return fmt.Sprintf("… (%d more %s not shown)", n, plural(n, "task", "tasks"))
	})
	return text, labels
}

func completedAt(t Task) time.Time {
	if !t.CompletedAt.IsZero() {
		return t.CompletedAt
	}
	return t.DueDate
}

func taskTitle(t Task) string {
	if s := plainText(t.Title); s != "" {
		return s
	}
	return "(untitled)"
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// boundedLines joins lines with newlines into at most max characters (runes). Lines are kept
// from the start while they fit together with the marker for the rest; when not even the
// first fits, it is cut with "…". The marker is added only when lines are left out.
func boundedLines(lines []string, max int, marker func(left int) string) string {
	var b strings.Builder
	size := 0
	for i, line := range lines {
		left := len(lines) - i - 1
		need := utf8.RuneCountInString(line)
		if i > 0 {
			need++ // newline
		}
		reserve := 0
		if left > 0 {
			reserve = 1 + utf8.RuneCountInString(marker(left))
		}
		if size+need+reserve <= max {
			if i > 0 {
				b.WriteByte('\n')
			}
			b.WriteString(line)
			size += need
			continue
		}
		if i == 0 {
			// Not even the newest line fits: show its start rather than nothing.
			reserve = 1 + utf8.RuneCountInString(marker(len(lines)-1))
			if len(lines) == 1 {
				reserve = 0
			}
			b.WriteString(truncateRunes(line, max-reserve))
			i++
		}
		if i < len(lines) {
			if b.Len() > 0 {
				b.WriteByte('\n')
			}
			b.WriteString(marker(len(lines) - i))
		}
		return b.String()
	}
	return b.String()
}

// truncateRunes cuts s to at most n runes, ending in "…" when cut.
func truncateRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	if n <= 1 {
		return "…"
	}
	r := []rune(s)
	return strings.TrimRight(string(r[:n-1]), " ") + "…"
}
