package cli

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"unicode/utf8"

	"github.com/hlrz/hlrz/internal/ghl"
	"github.com/hlrz/hlrz/internal/referrizer"
	"github.com/hlrz/hlrz/internal/syncmodel"
)

func isNotFound(err error) bool {
	return errors.Is(err, ghl.ErrNotFound) || errors.Is(err, referrizer.ErrNotFound)
}

// fieldValue reads a canonical field of a person; DND reads "true" or "false".
func fieldValue(p *syncmodel.Person, field string) string {
	switch field {
	case syncmodel.FieldFirstName:
		return p.FirstName
	case syncmodel.FieldLastName:
		return p.LastName
	case syncmodel.FieldEmail:
		return p.Email
	case syncmodel.FieldPhone:
		return p.Phone
	case syncmodel.FieldDND:
		return strconv.FormatBool(p.DND)
	case syncmodel.FieldTags:
		return strings.Join(p.Tags, ", ")
	}
	if key, ok := strings.CutPrefix(field, syncmodel.CustomPrefix); ok {
		return p.Custom[key]
	}
	return ""
}

// sideValue is a side's cell: the value, or why there is none.
func sideValue(p *syncmodel.Person, gone bool, field string) string {
	switch {
	case gone:
		return "(deleted)"
	case p == nil:
		return "(absent)"
	}
	return fieldValue(p, field)
}

// planRows lays the plan out field by field in the mapping's order, with each side's current
// value, the last synced base and what the pass would do.
func planRows(m *syncmodel.Mapping, plan syncmodel.Plan, s planSides) []fieldRow {
	var names []string
	for _, f := range m.Fields() {
		names = append(names, f.Name)
	}
	// Anything the plan touches that the mapping does not list (it should not happen) still shows.
	for _, set := range []map[string]string{plan.GHL.Set, plan.RZ.Set} {
		for _, f := range slices.Sorted(maps.Keys(set)) {
			if !slices.Contains(names, f) {
				names = append(names, f)
			}
		}
	}
	conflicts := map[string]syncmodel.Conflict{}
	for _, c := range plan.Conflicts {
		conflicts[c.Field] = c
	}
	fieldErrs := map[string]string{}
	for _, e := range plan.Errors {
		fieldErrs[e.Field] = e.Error
	}
	rows := make([]fieldRow, 0, len(names))
	for _, f := range names {
		r := fieldRow{Field: f, GHL: sideValue(s.ghl, s.ghlGone, f), RZ: sideValue(s.rz, s.rzGone, f)}
		if s.base != nil && f != syncmodel.FieldTags {
			r.Base = fieldValue(s.base, f)
		}
		var acts []string
		if f == syncmodel.FieldTags {
			acts = append(acts, tagAction("ghl", plan.GHL)...)
			acts = append(acts, tagAction("rz", plan.RZ)...)
			if len(acts) == 0 {
				acts = append(acts, "(tags sync in TagSync)")
			}
		} else {
			if v, ok := plan.GHL.Set[f]; ok {
				acts = append(acts, "ghl ← "+strconv.Quote(v))
			}
			if v, ok := plan.RZ.Set[f]; ok {
				acts = append(acts, "rz ← "+strconv.Quote(v))
			}
		}
		if c, ok := conflicts[f]; ok {
			acts = append(acts, fmt.Sprintf("conflict: %s, %s wins", c.Policy, sideName(c.Winner)))
		}
		if e, ok := fieldErrs[f]; ok {
			acts = append(acts, "error: "+e)
		}
		r.Action = strings.Join(acts, "; ")
		rows = append(rows, r)
	}
	return rows
}

func tagAction(side string, c syncmodel.SideChanges) []string {
	var out []string
	for _, t := range c.TagsAdd {
		out = append(out, side+" +"+t)
	}
	for _, t := range c.TagsRemove {
		out = append(out, side+" -"+t)
	}
	return out
}

func sideName(s syncmodel.Side) string {
	if s == syncmodel.SideGHL {
		return "HighLevel"
	}
	return "Referrizer"
}

// writePlanTable prints the side-by-side dry run.
func writePlanTable(w io.Writer, plan syncmodel.Plan, rows []fieldRow) {
	for _, s := range []struct {
		name string
		c    syncmodel.SideChanges
	}{{"HighLevel", plan.GHL}, {"Referrizer", plan.RZ}} {
		switch {
		case s.c.Create:
			fmt.Fprintf(w, "%s: the person would be created\n", s.name)
		case s.c.Delete:
			fmt.Fprintf(w, "%s: the person would be deleted\n", s.name)
		}
	}
	for _, d := range plan.Deleted {
		fmt.Fprintf(w, "%s: the person was deleted there; the delete policy applies\n", sideName(d))
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FIELD\tHIGHLEVEL\tBASE\tREFERRIZER\tACTION")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Field, cell(r.GHL), cell(r.Base), cell(r.RZ), cell(r.Action))
	}
	_ = tw.Flush()
	writeConflicts(w, plan)
}

// writeChanges prints an applied plan, side by side, without the records (sync).
func writeChanges(w io.Writer, plan syncmodel.Plan) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  SIDE\tCHANGE")
	n := 0
	for _, s := range []struct {
		name string
		c    syncmodel.SideChanges
	}{{"HighLevel", plan.GHL}, {"Referrizer", plan.RZ}} {
		var lines []string
		switch {
		case s.c.Create:
			lines = append(lines, "create the person")
		case s.c.Delete:
			lines = append(lines, "delete the person")
		}
		for _, f := range slices.Sorted(maps.Keys(s.c.Set)) {
			lines = append(lines, fmt.Sprintf("set %s = %s", f, strconv.Quote(s.c.Set[f])))
		}
		for _, t := range s.c.TagsAdd {
			lines = append(lines, "add tag "+strconv.Quote(t))
		}
		for _, t := range s.c.TagsRemove {
			lines = append(lines, "remove tag "+strconv.Quote(t))
		}
		for _, l := range lines {
			fmt.Fprintf(tw, "  %s\t%s\n", s.name, l)
			n++
		}
	}
	if n == 0 {
		fmt.Fprintln(tw, "  -\tno field changes")
	}
	_ = tw.Flush()
	writeConflicts(w, plan)
}

func writeConflicts(w io.Writer, plan syncmodel.Plan) {
	if len(plan.Conflicts) > 0 {
		fmt.Fprintln(w, "conflicts:")
		for _, c := range plan.Conflicts {
			base := "no base (first sync)"
			if !c.FirstSync {
				base = "base " + strconv.Quote(c.Base)
			}
			fmt.Fprintf(w, "  %s: HighLevel %q vs Referrizer %q, %s → %s: %s wins (%s)\n",
				c.Field, c.GHL, c.RZ, base, c.Policy, sideName(c.Winner), c.Reason)
		}
	}
	for _, e := range plan.Errors {
		fmt.Fprintf(w, "error in %s: %s (the field keeps its base; the next pass retries)\n", e.Field, e.Error)
	}
}

// cell keeps table cells on one line and short.
func cell(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if s == "" {
		return "-"
	}
	if utf8.RuneCountInString(s) > 40 {
		r := []rune(s)
		return string(r[:39]) + "…"
	}
	return s
}
