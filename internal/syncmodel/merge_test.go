package syncmodel

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestPlan(t *testing.T) {
	def := DefaultMapping()
	mixed := mustMapping(t, mixedMapping)
	ann := Person{FirstName: "Ann", LastName: "Lee", Email: "ann@example.com", Phone: "+12125550182", Tags: []string{"vip"}}
	with := func(p Person, f func(*Person)) *Person { f(&p); return &p }

	tests := []struct {
		name          string
		m             *Mapping
		base, ghl, rz *Person
		opts          PlanOptions
		want          Plan
	}{
		{
			name: "nothing changed",
			m:    def, base: &ann, ghl: &ann, rz: &ann,
			want: Plan{NewBase: ann},
		},
		{
			name: "HighLevel changed e-mail",
			m:    def, base: &ann, ghl: with(ann, func(p *Person) { p.Email = "ann@new.com" }), rz: &ann,
			want: Plan{
				RZ:      SideChanges{Set: map[string]string{"email": "ann@new.com"}},
				NewBase: *with(ann, func(p *Person) { p.Email = "ann@new.com" }),
			},
		},
		{
			name: "Referrizer changed last name",
			m:    def, base: &ann, ghl: &ann, rz: with(ann, func(p *Person) { p.LastName = "Lee-Smith" }),
			want: Plan{
				GHL:     SideChanges{Set: map[string]string{"lastName": "Lee-Smith"}},
				NewBase: *with(ann, func(p *Person) { p.LastName = "Lee-Smith" }),
			},
		},
		{
			name: "HighLevel cleared the phone",
			m:    def, base: &ann, ghl: with(ann, func(p *Person) { p.Phone = "" }), rz: &ann,
			want: Plan{
				RZ:      SideChanges{Set: map[string]string{"phone": ""}},
				NewBase: *with(ann, func(p *Person) { p.Phone = "" }),
			},
		},
		{
			name: "both changed to the same value",
			m:    def, base: &ann,
			ghl:  with(ann, func(p *Person) { p.FirstName = "Anne" }),
			rz:   with(ann, func(p *Person) { p.FirstName = " Anne " }),
			want: Plan{NewBase: *with(ann, func(p *Person) { p.FirstName = "Anne" })},
		},
		{
			name: "e-mail case and phone format are not changes",
			m:    def, base: &ann,
			ghl:  with(ann, func(p *Person) { p.Email = "Ann@Example.com" }),
			rz:   with(ann, func(p *Person) { p.Phone = "(212) 555-0182" }),
			want: Plan{NewBase: *with(ann, func(p *Person) { p.Email = "Ann@Example.com" })},
		},
		{
			name: "conflict ghl-wins",
			m:    def, base: &ann,
			ghl: with(ann, func(p *Person) { p.Email = "g@example.com" }),
			rz:  with(ann, func(p *Person) { p.Email = "r@example.com" }),
			want: Plan{
				RZ: SideChanges{Set: map[string]string{"email": "g@example.com"}},
				Conflicts: []Conflict{{Field: "email", GHL: "g@example.com", RZ: "r@example.com", Base: "ann@example.com",
					Policy: GHLWins, Winner: SideGHL, Reason: "both sides changed since the last sync; HighLevel wins by policy"}},
				NewBase: *with(ann, func(p *Person) { p.Email = "g@example.com" }),
			},
		},
		{
			name: "conflict newest-wins, Referrizer newer",
			m:    def, base: &ann,
			ghl: with(ann, func(p *Person) { p.FirstName = "Annie"; p.UpdatedAt = day(1) }),
			rz:  with(ann, func(p *Person) { p.FirstName = "Anna"; p.UpdatedAt = day(2) }),
			want: Plan{
				GHL: SideChanges{Set: map[string]string{"firstName": "Anna"}},
				Conflicts: []Conflict{{Field: "firstName", GHL: "Annie", RZ: "Anna", Base: "Ann", Policy: NewestWins, Winner: SideRZ,
					Reason: "both sides changed since the last sync; Referrizer updated later (2024-05-02T00:00:00Z > 2024-05-01T00:00:00Z)"}},
				NewBase: *with(ann, func(p *Person) { p.FirstName = "Anna" }),
			},
		},
		{
			name: "conflict newest-wins, Referrizer time unknown",
			m:    def, base: &ann,
			ghl: with(ann, func(p *Person) { p.FirstName = "Annie"; p.UpdatedAt = day(1) }),
			rz:  with(ann, func(p *Person) { p.FirstName = "Anna" }),
			want: Plan{
				RZ: SideChanges{Set: map[string]string{"firstName": "Annie"}},
				Conflicts: []Conflict{{Field: "firstName", GHL: "Annie", RZ: "Anna", Base: "Ann", Policy: NewestWins, Winner: SideGHL,
					Reason: "both sides changed since the last sync; newest wins, but Referrizer's update time is unknown: HighLevel wins the tie"}},
				NewBase: *with(ann, func(p *Person) { p.FirstName = "Annie" }),
			},
		},
		{
			name: "conflict newest-wins, same time",
			m:    def, base: &ann,
			ghl: with(ann, func(p *Person) { p.FirstName = "Annie"; p.UpdatedAt = day(1) }),
			rz:  with(ann, func(p *Person) { p.FirstName = "Anna"; p.UpdatedAt = day(1) }),
			want: Plan{
				RZ: SideChanges{Set: map[string]string{"firstName": "Annie"}},
				Conflicts: []Conflict{{Field: "firstName", GHL: "Annie", RZ: "Anna", Base: "Ann", Policy: NewestWins, Winner: SideGHL,
					Reason: "both sides changed since the last sync; newest wins, but both were updated at the same time: HighLevel wins the tie"}},
				NewBase: *with(ann, func(p *Person) { p.FirstName = "Annie" }),
			},
		},
		{
			name: "conflict rz-wins on a custom field",
			m:    mixed,
			base: &Person{Custom: map[string]string{"goal": "5k"}},
			ghl:  &Person{Custom: map[string]string{"goal": "10k"}},
			rz:   &Person{Custom: map[string]string{"goal": "marathon"}},
			want: Plan{
				GHL: SideChanges{Set: map[string]string{"custom.goal": "marathon"}},
				Conflicts: []Conflict{{Field: "custom.goal", GHL: "10k", RZ: "marathon", Base: "5k", Policy: RZWins, Winner: SideRZ,
					Reason: "both sides changed since the last sync; Referrizer wins by policy"}},
				NewBase: Person{Custom: map[string]string{"goal": "marathon"}},
			},
		},
		{
			name: "first sync fills gaps, conflicts on differences, unions tags",
			m:    def,
			ghl:  &Person{FirstName: "Ann", Email: "ann@example.com", Phone: "212-555-0182", Tags: []string{"vip"}, UpdatedAt: day(3)},
			rz:   &Person{FirstName: "Annie", LastName: "Lee", Email: "ANN@example.com", Tags: []string{"Promo", "VIP"}, UpdatedAt: day(2)},
			want: Plan{
				GHL: SideChanges{Set: map[string]string{"lastName": "Lee"}, TagsAdd: []string{"Promo"}},
				RZ:  SideChanges{Set: map[string]string{"firstName": "Ann", "phone": "+12125550182"}},
				Conflicts: []Conflict{{Field: "firstName", GHL: "Ann", RZ: "Annie", FirstSync: true, Policy: NewestWins, Winner: SideGHL,
					Reason: "first sync and the values differ; HighLevel updated later (2024-05-03T00:00:00Z > 2024-05-02T00:00:00Z)"}},
				NewBase: Person{FirstName: "Ann", LastName: "Lee", Email: "ann@example.com", Phone: "+12125550182", Tags: []string{"Promo", "vip"}},
			},
		},
		{
			name: "first sync: DND true wins without a conflict",
			m:    def,
			ghl:  &Person{Email: "a@x.com"},
			rz:   &Person{Email: "a@x.com", DND: true},
			want: Plan{
				GHL:     SideChanges{Set: map[string]string{"dnd": "true"}},
				NewBase: Person{Email: "a@x.com", DND: true},
			},
		},
		{
			name: "DND turned off on HighLevel moves",
			m:    def,
			base: &Person{Email: "a@x.com", DND: true},
			ghl:  &Person{Email: "a@x.com"},
			rz:   &Person{Email: "a@x.com", DND: true},
			want: Plan{
				RZ:      SideChanges{Set: map[string]string{"dnd": "false"}},
				NewBase: Person{Email: "a@x.com"},
			},
		},
		{
			name: "one-way: target edits stay, source changes move",
			m:    mixed,
			base: &Person{Phone: "+12125550182", LastName: "Lee"},
			ghl:  &Person{Phone: "+12125550199", LastName: "Smith"},
			rz:   &Person{Phone: "+12125550100", LastName: "Lee"},
			want: Plan{
				RZ:      SideChanges{Set: map[string]string{"phone": "+12125550199"}},
				NewBase: Person{Phone: "+12125550199", LastName: "Lee"},
			},
		},
		{
			name: "one-way: unchanged source leaves an edited target",
			m:    mixed,
			base: &Person{Phone: "+12125550182", LastName: "Lee"},
			ghl:  &Person{Phone: "+12125550182", LastName: "Lee"},
			rz:   &Person{Phone: "+12125550100", LastName: "Lee"},
			want: Plan{NewBase: Person{Phone: "+12125550182", LastName: "Lee"}},
		},
		{
			name: "one-way first sync never clears the target",
			m:    mixed,
			ghl:  &Person{LastName: "Lee"},
			rz:   &Person{Phone: "+12125550100"},
			want: Plan{
				GHL:     SideChanges{}, // lastName flows rz->ghl only, and Referrizer has none
				NewBase: Person{},
			},
		},
		{
			name: "transform on a one-way custom field",
			m:    mixed,
			base: &Person{Custom: map[string]string{"level": "silver"}},
			ghl:  &Person{Custom: map[string]string{"level": "gold"}},
			rz:   &Person{Custom: map[string]string{"level": "SILVER"}},
			want: Plan{
				RZ:      SideChanges{Set: map[string]string{"custom.level": "GOLD"}},
				NewBase: Person{Custom: map[string]string{"level": "gold"}},
			},
		},
		{
			name: "transform first sync: target already equal",
			m:    mixed,
			ghl:  &Person{Custom: map[string]string{"level": "gold"}},
			rz:   &Person{Custom: map[string]string{"level": "GOLD"}},
			want: Plan{NewBase: Person{Custom: map[string]string{"level": "gold"}}},
		},
		{
			name: "tags: adds and removes move as deltas",
			m:    def,
			base: &Person{Tags: []string{"lead", "promo"}},
			ghl:  &Person{Tags: []string{"lead", "promo", "vip"}},
			rz:   &Person{Tags: []string{"lead", "other-rz"}},
			want: Plan{
				GHL:     SideChanges{TagsAdd: []string{"other-rz"}, TagsRemove: []string{"promo"}},
				RZ:      SideChanges{TagsAdd: []string{"vip"}},
				NewBase: Person{Tags: []string{"lead", "other-rz", "vip"}},
			},
		},
		{
			name: "tags: case differences are not changes; removal names the side's spelling",
			m:    def,
			base: &Person{Tags: []string{"VIP", "Promo"}},
			ghl:  &Person{Tags: []string{"vip"}},
			rz:   &Person{Tags: []string{"VIP", "PROMO"}},
			want: Plan{
				RZ:      SideChanges{TagsRemove: []string{"PROMO"}},
				NewBase: Person{Tags: []string{"VIP"}},
			},
		},
		{
			name: "tags: reserved and excluded labels stay out",
			m:    mixed,
			base: &Person{},
			ghl:  &Person{Tags: []string{"hlrz-deleted"}},
			rz:   &Person{Tags: []string{"ghl-task-open", "src-facebook", "ghl-task-overdue"}},
			want: Plan{NewBase: Person{}},
		},
		{
			name: "create on Referrizer",
			m:    def,
			ghl:  &Person{FirstName: "Ann", Email: "ann@example.com", Tags: []string{"vip", "ghl-task-open"}, Source: "facebook", UpdatedAt: day(1)},
			want: Plan{
				RZ:      SideChanges{Create: true, Set: map[string]string{"firstName": "Ann", "email": "ann@example.com"}, TagsAdd: []string{"vip"}},
				NewBase: Person{FirstName: "Ann", Email: "ann@example.com", Tags: []string{"vip"}},
			},
		},
		{
			name: "create on HighLevel, only what flows there",
			m:    mixed,
			rz:   &Person{FirstName: "Ann", LastName: "Lee", Phone: "+12125550182", Custom: map[string]string{"level": "GOLD", "goal": "5k"}},
			want: Plan{
				GHL:     SideChanges{Create: true, Set: map[string]string{"firstName": "Ann", "lastName": "Lee", "custom.goal": "5k"}},
				NewBase: Person{FirstName: "Ann", LastName: "Lee", Custom: map[string]string{"goal": "5k"}},
			},
		},
		{
			name: "no create when nothing would be written",
			m:    def,
			ghl:  &Person{Tags: []string{"ghl-task-open"}},
			want: Plan{NewBase: Person{}},
		},
		{
			name: "no create when no field flows there",
			m:    mustMapping(t, "fields: {email: ghl->rz}"),
			rz:   &Person{Email: "a@x.com"},
			want: Plan{NewBase: Person{}},
		},
		{
			name: "HighLevel deleted, label policy",
			m:    def, base: &ann, rz: &ann,
			opts: PlanOptions{GHLDeleted: true},
			want: Plan{RZ: SideChanges{TagsAdd: []string{"hlrz-deleted"}}, Deleted: []Side{SideGHL}, NewBase: ann},
		},
		{
			name: "HighLevel deleted, already labelled",
			m:    def, base: &ann, rz: with(ann, func(p *Person) { p.Tags = []string{"HLRZ-Deleted", "vip"} }),
			opts: PlanOptions{GHLDeleted: true},
			want: Plan{Deleted: []Side{SideGHL}, NewBase: ann},
		},
		{
			name: "Referrizer deleted, propagate",
			m:    mustMapping(t, "delete_policy: propagate"), base: &ann, ghl: &ann, rz: &ann,
			opts: PlanOptions{RZDeleted: true},
			want: Plan{GHL: SideChanges{Delete: true}, Deleted: []Side{SideRZ}, NewBase: ann},
		},
		{
			name: "Referrizer deleted, ignore",
			m:    mustMapping(t, "delete_policy: ignore"), base: &ann, ghl: &ann,
			opts: PlanOptions{RZDeleted: true},
			want: Plan{Deleted: []Side{SideRZ}, NewBase: ann},
		},
		{
			name: "a delete does not reach a side that only sends data",
			m:    mustMapping(t, "delete_policy: propagate\nfields: {email: ghl->rz, tags: ghl->rz}"), ghl: &ann,
			opts: PlanOptions{RZDeleted: true},
			want: Plan{Deleted: []Side{SideRZ}},
		},
		{
			name: "both deleted",
			m:    def, base: &ann,
			opts: PlanOptions{GHLDeleted: true, RZDeleted: true},
			want: Plan{Deleted: []Side{SideGHL, SideRZ}, NewBase: ann},
		},
		{
			name: "both absent keeps the base",
			m:    def, base: &ann,
			want: Plan{NewBase: ann},
		},
		{
			name: "unmapped fields never move",
			m:    mustMapping(t, "fields: {email: both}"),
			base: &Person{Email: "a@x.com", FirstName: "A"},
			ghl:  &Person{Email: "a@x.com", FirstName: "B", Tags: []string{"x"}},
			rz:   &Person{Email: "a@x.com", FirstName: "C"},
			want: Plan{NewBase: Person{Email: "a@x.com"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.m.Plan(tt.base, tt.ghl, tt.rz, tt.opts)
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Plan (-want +got):\n%s", diff)
			}
			assertFixedPoint(t, tt.m, got, tt.ghl, tt.rz, tt.opts)
		})
	}
}

// assertFixedPoint applies p to both sides, records NewBase and plans again: nothing may
// be left to do.
func assertFixedPoint(t *testing.T, m *Mapping, p Plan, ghl, rz *Person, opts PlanOptions) {
	t.Helper()
	g2, r2 := applied(ghl, p.GHL, true), applied(rz, p.RZ, false)
	if opts.GHLDeleted {
		g2 = nil
	}
	if opts.RZDeleted {
		r2 = nil
	}
	base := p.NewBase
	again := m.Plan(&base, g2, r2, PlanOptions{GHLDeleted: opts.GHLDeleted || (p.GHL.Delete), RZDeleted: opts.RZDeleted || p.RZ.Delete})
	if !again.Empty() || len(again.Conflicts) > 0 || Hash(again.NewBase) != Hash(base) {
		t.Errorf("not a fixed point: second plan %s\nfirst: %s\nsecond: %+v", again.Summary(), p.Summary(), again)
	}
}

// applied is what a side holds after its changes; HighLevel lower-cases tags it is given.
func applied(side *Person, c SideChanges, ghl bool) *Person {
	if c.Delete {
		return nil
	}
	if side == nil {
		if !c.Create {
			return nil
		}
		side = &Person{}
	}
	if ghl {
		c.TagsAdd = lowerAll(c.TagsAdd)
	}
	out := Apply(*side, c)
	return &out
}

func lowerAll(tags []string) []string {
	var out []string
	for _, t := range tags {
		out = append(out, tagKey(t))
	}
	return out
}

func TestPlanTransformError(t *testing.T) {
	m := mustMapping(t, `
fields: {email: both}
custom_fields:
  - {key: code, ghl: c1, rz: Code, direction: ghl->rz, transform: 'person.custom["prefix"] + value'}
`)
	base := &Person{Email: "a@x.com", Custom: map[string]string{"code": "1"}}
	ghl := &Person{Email: "b@x.com", Custom: map[string]string{"code": "2"}}
	rz := &Person{Email: "a@x.com", Custom: map[string]string{"code": "1"}}
	got := m.Plan(base, ghl, rz, PlanOptions{})
	want := Plan{
		RZ:      SideChanges{Set: map[string]string{"email": "b@x.com"}},
		Errors:  []FieldError{{Field: "custom.code", Error: "transform: no such key: prefix"}},
		NewBase: Person{Email: "b@x.com", Custom: map[string]string{"code": "1"}}, // old value: retried next pass
	}
	if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if got.Summary() != "rz: set email; 1 error (custom.code)" {
		t.Errorf("Summary = %q", got.Summary())
	}
	// On create, a failed field is left out and the rest is created.
	got = m.Plan(nil, ghl, nil, PlanOptions{})
	if diff := cmp.Diff(SideChanges{Create: true, Set: map[string]string{"email": "b@x.com"}}, got.RZ); diff != "" || len(got.Errors) != 1 {
		t.Errorf("create (-want +got):\n%s\nerrors: %v", diff, got.Errors)
	}
}

func TestPlanTransformOutputIsNormalized(t *testing.T) {
	// The transform drops the country code; the output is normalized like any phone, so it
	// equals what Referrizer already holds and nothing is written.
	m := mustMapping(t, `fields: {phone: {direction: ghl->rz, transform: 'value.replace("+1", "")'}}`)
	got := m.Plan(nil, &Person{Phone: "+12125550182"}, &Person{Phone: "212-555-0182"}, PlanOptions{})
	if diff := cmp.Diff(Plan{NewBase: Person{Phone: "+12125550182"}}, got, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	got = m.Plan(nil, nil, &Person{Phone: "212-555-0182"}, PlanOptions{})
	if !got.Empty() {
		t.Errorf("phone only flows ghl->rz: nothing to create on HighLevel, got %s", got.Summary())
	}
}

func TestPlanJSONIsStableAndRoundTrips(t *testing.T) {
	m := mustMapping(t, mixedMapping)
	base := &Person{FirstName: "A", Email: "a@x.com", Tags: []string{"b", "a"}, Custom: map[string]string{"goal": "x", "level": "l"}}
	ghl := &Person{FirstName: "B", Email: "a@x.com", Phone: "+12125550182", Tags: []string{"c", "a"}, Custom: map[string]string{"goal": "y", "level": "m"}, UpdatedAt: day(1)}
	rz := &Person{FirstName: "C", Email: "z@x.com", Tags: []string{"b", "d"}, Custom: map[string]string{"goal": "z"}, UpdatedAt: day(2)}
	first, err := json.Marshal(m.Plan(base, ghl, rz, PlanOptions{}))
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		again, _ := json.Marshal(m.Plan(base, ghl, rz, PlanOptions{}))
		if string(again) != string(first) {
			t.Fatalf("plan encoding is not deterministic:\n%s\n%s", first, again)
		}
	}
	// Referrizer changed e-mail; HighLevel removed b and added c; Referrizer removed a, added d.
	const want = `{"ghl":{"set":{"custom.goal":"z","email":"z@x.com","firstName":"C"},"tagsAdd":["d"],"tagsRemove":["a"]},` +
		`"rz":{"set":{"custom.level":"M","phone":"+12125550182"},"tagsAdd":["c"],"tagsRemove":["b"]},` +
		`"conflicts":[{"field":"custom.goal","ghl":"y","rz":"z","base":"x","policy":"rz-wins","winner":"rz","reason":"both sides changed since the last sync; Referrizer wins by policy"},` +
		`{"field":"firstName","ghl":"B","rz":"C","base":"A","policy":"newest-wins","winner":"rz","reason":"both sides changed since the last sync; Referrizer updated later (2024-05-02T00:00:00Z \u003e 2024-05-01T00:00:00Z)"}],` +
		`"newBase":{"firstName":"C","email":"z@x.com","phone":"+12125550182","tags":["c","d"],"custom":{"goal":"z","level":"m"}}}`
	if diff := cmp.Diff(want, string(first)); diff != "" {
		t.Errorf("plan JSON (-want +got):\n%s", diff)
	}
	var back Plan
	if err := json.Unmarshal(first, &back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(m.Plan(base, ghl, rz, PlanOptions{}), back, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}

func TestPlanSummary(t *testing.T) {
	tests := []struct {
		p    Plan
		want string
	}{
		{Plan{}, "no changes"},
		{Plan{
			RZ:        SideChanges{Set: map[string]string{"email": "x", "firstName": "y"}, TagsAdd: []string{"a", "b"}},
			GHL:       SideChanges{TagsRemove: []string{"c"}},
			Conflicts: []Conflict{{Field: "email", Policy: GHLWins}},
		}, "rz: set email, firstName, +2 labels; ghl: -1 tag; 1 conflict (email: ghl-wins)"},
		{Plan{RZ: SideChanges{Create: true, Set: map[string]string{"email": "x"}, TagsAdd: []string{"a"}}}, "rz: create, set email, +1 label"},
		{Plan{Deleted: []Side{SideGHL}, RZ: SideChanges{Delete: true}}, "ghl deleted; rz: delete"},
		{Plan{GHL: SideChanges{TagsAdd: []string{"a", "b"}, TagsRemove: []string{"c", "d"}}, Conflicts: []Conflict{{Field: "a", Policy: RZWins}, {Field: "b", Policy: NewestWins}}},
			"ghl: +2 tags, -2 tags; 2 conflicts (a: rz-wins, b: newest-wins)"},
	}
	for _, tt := range tests {
		if got := tt.p.Summary(); got != tt.want {
			t.Errorf("Summary = %q, want %q", got, tt.want)
		}
	}
}

func TestApply(t *testing.T) {
	side := Person{FirstName: "A", Tags: []string{"Keep", "VIP", "vip2"}, Custom: map[string]string{"a": "1", "b": "2"}, Source: "web"}
	got := Apply(side, SideChanges{
		Set:        map[string]string{"firstName": "B", "dnd": "true", "custom.a": "", "custom.c": "3", "unknown": "x"},
		TagsAdd:    []string{"new", "KEEP"},
		TagsRemove: []string{"vip"},
	})
	want := Person{FirstName: "B", DND: true, Tags: []string{"Keep", "new", "vip2"}, Custom: map[string]string{"b": "2", "c": "3"}, Source: "web"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Apply (-want +got):\n%s", diff)
	}
	if side.Custom["a"] != "1" || len(side.Tags) != 3 {
		t.Error("Apply modified its input")
	}
	if diff := cmp.Diff(Person{}, Apply(side, SideChanges{Delete: true})); diff != "" {
		t.Errorf("Apply delete (-want +got):\n%s", diff)
	}
	created := Apply(Person{}, SideChanges{Create: true, Set: map[string]string{"email": "a@x.com"}, TagsAdd: []string{"b", "a"}})
	if diff := cmp.Diff(Person{Email: "a@x.com", Tags: []string{"a", "b"}}, created); diff != "" {
		t.Errorf("Apply create (-want +got):\n%s", diff)
	}
}
