package app

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/hlrz/hlrz/internal/sim/ghlsim"
	"github.com/hlrz/hlrz/internal/sim/rzsim"
)

// Population says how many people to seed and where they live.
type Population struct {
	People int
	// Shares of People: only in HighLevel, only in Referrizer, in both. In both, half match
	// by email and half by phone only (different or missing email on one side).
	GHLOnly, RZOnly, Both float64
	// Extras adds tags, notes and tasks to HighLevel people and labels to Referrizer ones:
	// with Shares nil, every HighLevel person gets two tags, every third a note, every fourth
	// a task, and every Referrizer person one label.
	Extras bool
	// Shares, when set (with Extras), gives extras to some people only, in these shares, and
	// sets how many pairs match by phone only.
	Shares *ExtraShares
	// Custom, when set, gives some people a value of this custom field: on HighLevel for
	// people seeded there only, on Referrizer for people seeded there only, and the same
	// value on both for some of those seeded on both sides.
	Custom *SeedCustomField
}

// ExtraShares are the shares of people with extras. Each person's extras are picked by a
// hash of their number, so they do not line up with the GHLOnly/RZOnly/Both blocks or with
// each other.
type ExtraShares struct {
	Tags   float64 // of HighLevel people: 1–3 tags
	Notes  float64 // of HighLevel people: 1–2 notes
	Tasks  float64 // of HighLevel people: 1–2 open tasks
	Labels float64 // of Referrizer people: 1–2 labels
	// PhoneOnly of the pairs in both match by phone only (the default pattern: half).
	PhoneOnly float64
}

// RealisticShares is the benchmarks' population (README "Performance"): 60% of HighLevel
// people with 1–3 tags, 30% with notes, 20% with open tasks; 50% of Referrizer people with
// labels; 20% of the pairs matched by phone only.
var RealisticShares = ExtraShares{Tags: 0.6, Notes: 0.3, Tasks: 0.2, Labels: 0.5, PhoneOnly: 0.2}

// picked says whether person i is in a share, for one kind of extra (salt), and a second
// number from the same hash for how many they get.
func picked(i, salt int, share float64) (bool, int) {
	h := uint32(i+1)*2654435761 ^ uint32(salt+1)*2246822519
	h ^= h >> 15
	h *= 2654435761
	h ^= h >> 13
	return float64(h%1000) < share*1000, int(h>>20) % 3
}

// SeedCustomField names one custom field on both sides (already defined there).
type SeedCustomField struct {
	Key    string // canonical key of the mapping (ExpectedPerson.Custom)
	GHLID  string // HighLevel custom field id
	RZName string // Referrizer custom field name
}

// SeedGHL is where Seed writes HighLevel people: the in-process *ghlsim.Server, or
// simclient.GHL for a simulator in another process. When it also lets Seed switch
// webhooks off (Webhooks/SetWebhooks, as *ghlsim.Server does), Seed does so while it
// writes; otherwise seed before pointing webhooks at the receiver.
type SeedGHL interface {
	CreateContact(c ghlsim.Contact) (ghlsim.Contact, error)
	CreateNote(contactID string, n ghlsim.Note) (ghlsim.Note, error)
	CreateTask(contactID string, t ghlsim.Task) (ghlsim.Task, error)
}

// SeedRZ is where Seed writes Referrizer people: *rzsim.Server or simclient.RZ.
type SeedRZ interface {
	AdminCreateContact(token string, c rzsim.Contact) (rzsim.Contact, error)
}

type webhookSwitch interface {
	Webhooks() ghlsim.WebhookOptions
	SetWebhooks(ghlsim.WebhookOptions)
}

// DemoPopulation is what `worker --dev` seeds: a mix of everything.
func DemoPopulation(n int) Population {
	return Population{People: n, GHLOnly: 0.5, RZOnly: 0.25, Both: 0.25, Extras: true}
}

// SeedResult counts what was seeded.
type SeedResult struct {
	People, GHLContacts, RZContacts, MatchByEmail, MatchByPhone int
	// Expected is each person as a correct first sync leaves them on both sides, computed
	// from what was seeded (not read back): tests compare every record with it.
	Expected []ExpectedPerson
}

// ExpectedPerson is one seeded person after a first sync under the default mapping.
type ExpectedPerson struct {
	Email string // the e-mail both sides hold (HighLevel's wins a conflict)
	Phone string // E.164
	// Tags is the union of HighLevel tags and Referrizer labels, lower case, sorted;
	// Referrizer may also carry the tasks projection's status labels.
	Tags     []string
	HasTasks bool
	// FirstName and LastName are the same on both sides at seeding.
	FirstName, LastName string
	// Custom is the Population.Custom value, by canonical key (nil when none).
	Custom map[string]string
	// Notes are the bodies of the person's HighLevel notes; Tasks their HighLevel tasks.
	Notes []string
	Tasks []ExpectedTask
}

// ExpectedTask is a seeded HighLevel task.
type ExpectedTask struct {
	Title     string
	Due       time.Time
	Completed bool
}

// Seed fills the simulators. Webhooks are switched off while seeding: this is data that
// existed before the sync, found by the backfill rather than announced.
func Seed(g SeedGHL, rz SeedRZ, locationID, rzToken string, pop Population) (SeedResult, error) {
	if sw, ok := g.(webhookSwitch); ok {
		wh := sw.Webhooks()
		off := wh
		off.URL = ""
		sw.SetWebhooks(off)
		defer sw.SetWebhooks(wh)
	}

	res := SeedResult{People: pop.People}
	ghlOnly := int(float64(pop.People) * pop.GHLOnly)
	rzOnly := int(float64(pop.People) * pop.RZOnly)
	now := time.Now().UTC()
	for i := range pop.People {
		first, last := firstNames[i%len(firstNames)], lastNames[(i/len(firstNames))%len(lastNames)]
		email := fmt.Sprintf("%s.%s.%d@example.com", lower(first), lower(last), i)
		phone := fmt.Sprintf("+1555%07d", i)
		p := seedPerson{i: i, first: first, last: last, email: email, phone: phone}
		inGHL := i < ghlOnly || i >= ghlOnly+rzOnly
		inRZ := i >= ghlOnly
		p.byPhone = i >= ghlOnly+rzOnly && (i-ghlOnly-rzOnly)%2 == 1
		if pop.Shares != nil {
			p.byPhone, _ = picked(i, 0, pop.Shares.PhoneOnly)
			p.byPhone = p.byPhone && i >= ghlOnly+rzOnly
		}
		want := ExpectedPerson{Email: email, Phone: phone, FirstName: first, LastName: last}
		customVal := ""
		if pop.Custom != nil && i%5 < 2 {
			customVal = plans[i%len(plans)] + "-" + fmt.Sprint(i)
			want.Custom = map[string]string{pop.Custom.Key: customVal}
		}
		p.customVal = customVal
		// Seeded on one side: that side holds the value. On both: both hold it when
		// i%5 == 0, only HighLevel when i%5 == 1 (the first sync copies it).
		customOnGHL := customVal != "" && inGHL
		customOnRZ := customVal != "" && inRZ && (!inGHL || i%5 == 0)
		if inGHL {
			if err := seedGHLContact(g, p, locationID, pop, customOnGHL, now, &want, &res); err != nil {
				return res, err
			}
		}
		if inRZ {
			if err := seedRZContact(rz, p, rzToken, pop, inGHL, customOnRZ, &want, &res); err != nil {
				return res, err
			}
		}
		slices.Sort(want.Tags)
		want.Tags = slices.Compact(want.Tags)
		res.Expected = append(res.Expected, want)
	}
	return res, nil
}

// seedPerson is one seeded person's generated identity.
type seedPerson struct {
	i                         int
	first, last, email, phone string
	customVal                 string // "" when the person has no custom value
	byPhone                   bool   // in both, matched by phone only
}

// seedGHLContact creates the person's HighLevel contact, with tags, a note and a task when
// pop.Extras asks for them, and records what the sync should end with in want.
func seedGHLContact(g SeedGHL, p seedPerson, locationID string, pop Population, customOnGHL bool, now time.Time, want *ExpectedPerson, res *SeedResult) error {
	c := ghlsim.Contact{LocationID: locationID, FirstName: p.first, LastName: p.last, Email: p.email, Phone: p.phone, Source: sources[p.i%len(sources)]}
	x := ghlExtrasOf(p.i, pop)
	c.Tags = x.tags
	want.Tags = append(want.Tags, c.Tags...)
	if customOnGHL {
		c.CustomFields = []ghlsim.CustomFieldValue{{ID: pop.Custom.GHLID, Value: p.customVal}}
	}
	created, err := g.CreateContact(c)
	if err != nil {
		return fmt.Errorf("seed HighLevel contact %d: %w", p.i, err)
	}
	res.GHLContacts++
	for k := range x.notes {
		body := fmt.Sprintf("Asked about the %s membership.", plans[(p.i+k)%len(plans)])
		if _, err := g.CreateNote(created.ID, ghlsim.Note{Body: body}); err != nil {
			return err
		}
		want.Notes = append(want.Notes, body)
	}
	for k := range x.tasks {
		want.HasTasks = true
		task := ghlsim.Task{Title: taskTitles[k] + p.first, Body: "Follow up on the trial class", DueDate: now.Add(time.Duration((p.i+k)%5-2) * 24 * time.Hour)}
		made, err := g.CreateTask(created.ID, task)
		if err != nil {
			return err
		}
		want.Tasks = append(want.Tasks, ExpectedTask{Title: task.Title, Due: made.DueDate})
	}
	return nil
}

// ghlExtras is what a HighLevel person is seeded with besides the contact.
type ghlExtras struct {
	tags         []string
	notes, tasks int
}

func ghlExtrasOf(i int, pop Population) ghlExtras {
	if !pop.Extras {
		return ghlExtras{}
	}
	if pop.Shares == nil {
		x := ghlExtras{tags: []string{tagsPool[i%len(tagsPool)], tagsPool[(i/3)%len(tagsPool)]}}
		if i%3 == 0 {
			x.notes = 1
		}
		if i%4 == 0 {
			x.tasks = 1
		}
		return x
	}
	var x ghlExtras
	if ok, n := picked(i, 1, pop.Shares.Tags); ok {
		for k := range n + 1 { // 1–3 distinct tags
			x.tags = append(x.tags, tagsPool[(i+2*k)%len(tagsPool)])
		}
	}
	if ok, n := picked(i, 2, pop.Shares.Notes); ok {
		x.notes = 1 + n%2
	}
	if ok, n := picked(i, 3, pop.Shares.Tasks); ok {
		x.tasks = 1 + n%2
	}
	return x
}

// rzLabelsOf is what labels a Referrizer person is seeded with.
func rzLabelsOf(i int, pop Population) []string {
	switch {
	case !pop.Extras:
		return nil
	case pop.Shares == nil:
		return []string{labelsPool[i%len(labelsPool)]}
	}
	ok, n := picked(i, 4, pop.Shares.Labels)
	if !ok {
		return nil
	}
	out := []string{labelsPool[i%len(labelsPool)]}
	if n > 0 { // 1–2 labels
		out = append(out, labelsPool[(i+1)%len(labelsPool)])
	}
	return out
}

// seedRZContact creates the person's Referrizer contact; a p.byPhone person gets another
// address and a local phone format so only the phone matches.
func seedRZContact(rz SeedRZ, p seedPerson, rzToken string, pop Population, inGHL, customOnRZ bool, want *ExpectedPerson, res *SeedResult) error {
	c := rzsim.Contact{FirstName: p.first, LastName: p.last, Email: p.email, Phone: p.phone}
	if p.byPhone {
		// Matches by phone only: another address, and the local phone format.
		c.Email = fmt.Sprintf("%s%d@members.example.org", lower(p.first), p.i)
		c.Phone = fmt.Sprintf("(555) %03d-%04d", (p.i/10000)%1000, p.i%10000)
		res.MatchByPhone++
	} else if inGHL {
		res.MatchByEmail++
	}
	c.Labels = rzLabelsOf(p.i, pop)
	want.Tags = append(want.Tags, c.Labels...)
	if customOnRZ {
		raw, _ := json.Marshal(p.customVal)
		c.CustomFields = map[string]json.RawMessage{pop.Custom.RZName: raw}
	}
	if !inGHL {
		want.Email = c.Email
	}
	if _, err := rz.AdminCreateContact(rzToken, c); err != nil {
		return fmt.Errorf("seed Referrizer contact %d: %w", p.i, err)
	}
	res.RZContacts++
	return nil
}

// SeedDemo seeds the --dev population and returns how many people it made.
func SeedDemo(g *ghlsim.Server, rz *rzsim.Server, locationID, rzToken string, n int) (int, error) {
	r, err := Seed(g, rz, locationID, rzToken, DemoPopulation(n))
	return r.People, err
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

var (
	firstNames = []string{"Ada", "Ben", "Cleo", "Dev", "Eli", "Fay", "Gus", "Hana", "Ivo", "Jun", "Kai", "Lea", "Mo", "Nia", "Oz", "Pia"}
	lastNames  = []string{"Reyes", "Okafor", "Novak", "Lindqvist", "Haddad", "Tanaka", "Moreau", "Silva", "Kowalski", "Adeyemi"}
	sources    = []string{"facebook", "website", "walk-in", "referral"}
	tagsPool   = []string{"lead", "member", "trial", "vip", "yoga", "spin"}
	labelsPool = []string{"loyal", "referrer", "new-customer", "vip"}
	plans      = []string{"monthly", "annual", "student", "family"}
	taskTitles = []string{"Call back ", "Send the schedule to "}
)
