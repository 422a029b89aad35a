package app

import (
	"math"
	"testing"

	"github.com/hlrz/hlrz/internal/sim/ghlsim"
	"github.com/hlrz/hlrz/internal/sim/rzsim"
)

// countingGHL and countingRZ take what Seed writes and count it.
type countingGHL struct{ contacts, tagged, notes, tasks map[string]int }

func (g *countingGHL) CreateContact(c ghlsim.Contact) (ghlsim.Contact, error) {
	c.ID = c.Email
	g.contacts[c.ID]++
	if len(c.Tags) > 0 {
		g.tagged[c.ID] = len(c.Tags)
	}
	return c, nil
}

func (g *countingGHL) CreateNote(id string, n ghlsim.Note) (ghlsim.Note, error) {
	g.notes[id]++
	return n, nil
}

func (g *countingGHL) CreateTask(id string, t ghlsim.Task) (ghlsim.Task, error) {
	g.tasks[id]++
	return t, nil
}

type countingRZ struct{ contacts, labelled int }

func (r *countingRZ) AdminCreateContact(_ string, c rzsim.Contact) (rzsim.Contact, error) {
	r.contacts++
	if len(c.Labels) > 0 {
		r.labelled++
	}
	return c, nil
}

// TestRealisticSharesSeedTheStatedShares: with RealisticShares, the shares of people with
// tags, notes, tasks and labels, and of pairs matched by phone only, are the stated ones
// (within two points on 5,000 people), with 1–3 tags, 1–2 notes and 1–2 tasks each.
func TestRealisticSharesSeedTheStatedShares(t *testing.T) {
	g := &countingGHL{map[string]int{}, map[string]int{}, map[string]int{}, map[string]int{}}
	r := &countingRZ{}
	res, err := Seed(g, r, "loc", "tok", Population{People: 5000, GHLOnly: 0.6, RZOnly: 0.2, Both: 0.2, Extras: true, Shares: &RealisticShares})
	if err != nil {
		t.Fatal(err)
	}
	near := func(what string, got, of int, want float64) {
		t.Helper()
		if share := float64(got) / float64(of); math.Abs(share-want) > 0.02 {
			t.Errorf("%s: %d of %d = %.3f, want %.2f", what, got, of, share, want)
		}
	}
	ghl := len(g.contacts)
	near("HighLevel people with tags", len(g.tagged), ghl, RealisticShares.Tags)
	near("HighLevel people with notes", len(g.notes), ghl, RealisticShares.Notes)
	near("HighLevel people with tasks", len(g.tasks), ghl, RealisticShares.Tasks)
	near("Referrizer people with labels", r.labelled, r.contacts, RealisticShares.Labels)
	near("pairs by phone only", res.MatchByPhone, res.MatchByPhone+res.MatchByEmail, RealisticShares.PhoneOnly)
	for what, m := range map[string]map[string]int{"tags": g.tagged, "notes": g.notes, "tasks": g.tasks} {
		hi := map[string]int{"tags": 3, "notes": 2, "tasks": 2}[what]
		for id, n := range m {
			if n < 1 || n > hi {
				t.Fatalf("%s has %d %s, want 1–%d", id, n, what, hi)
			}
		}
	}
}
