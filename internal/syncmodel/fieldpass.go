package syncmodel

// FieldPassInput is what planning one person's field sync reads: the last synced base (nil
// on a first sync) and the person as each side has them (nil for a side with no contact).
type FieldPassInput struct {
	Base                  *Person
	GHL, RZ               *Person
	GHLDeleted, RZDeleted bool // the side's linked contact is gone
}

// FieldPass is a planned field sync and the hashes the ledger records once it is applied.
type FieldPass struct {
	// Plan changes fields; tags are left to the tags pass, except on a create (sending them
	// in the create saves a write) and for the deleted label. Its NewBase has no tags.
	Plan Plan
	// BaseTags are the tags the base would have held: what a create carries, and records
	// as the tags base.
	BaseTags []string
	BaseHash string
	// GHLHash and RZHash are each side's field projection hash once the plan is applied;
	// empty for a side that has no contact and gets none.
	GHLHash, RZHash string
}

// PlanFields plans a person's field sync against the last synced base.
func (m *Mapping) PlanFields(in FieldPassInput) FieldPass {
	plan := m.Plan(in.Base, in.GHL, in.RZ, PlanOptions{GHLDeleted: in.GHLDeleted, RZDeleted: in.RZDeleted})
	for _, c := range []*SideChanges{&plan.GHL, &plan.RZ} {
		if !c.Create && len(plan.Deleted) == 0 {
			c.TagsAdd, c.TagsRemove = nil, nil
		}
	}
	out := FieldPass{BaseTags: plan.NewBase.Tags}
	plan.NewBase.Tags = nil
	out.Plan = plan
	out.BaseHash = Hash(plan.NewBase)
	out.GHLHash = m.fieldsHashAfter(SideGHL, in.GHL, plan.GHL)
	out.RZHash = m.fieldsHashAfter(SideRZ, in.RZ, plan.RZ)
	return out
}

// FieldsHash is the side's field projection hash of p as it is (tags excluded): what
// apply compares with a fresh read to learn whether the side changed since the plan.
func (m *Mapping) FieldsHash(side Side, p *Person) string {
	return m.fieldsHashAfter(side, p, SideChanges{})
}

// fieldsHashAfter is the side's field projection hash (tags excluded: the tags pass owns
// them) once c is applied to p; empty when the side has no contact and c creates none.
func (m *Mapping) fieldsHashAfter(side Side, p *Person, c SideChanges) string {
	if p == nil && !c.Create {
		return ""
	}
	var cur Person
	if p != nil {
		cur = *p
	}
	after := Apply(cur, c)
	after.Tags = nil
	return HashSide(m, side, after)
}

// ContactRuleEvent is the contact event the rules evaluate and the person they see: the
// person as the side the events came from has them (fromRZ: Referrizer's, e.g. a poll), or
// as the only side that has them; nil when neither side has them. New means the person has
// no base yet and exists on that side only (e.g. a new Referrizer lead).
func ContactRuleEvent(ghlID, rzID string, fromRZ bool, ghl, rz *Person, hasBase bool) (Event, *Person) {
	ev := Event{Kind: EventContact, Side: SideGHL, ContactID: ghlID, OtherContactID: rzID}
	subject := ghl
	if fromRZ || ghl == nil {
		// Referrizer's events, or a person only Referrizer has (e.g. a backfill's first
		// pass of a Referrizer-only person: its create's echo is dropped and the create
		// records the tags base, so no later pass would see the person new).
		ev.Side, ev.ContactID, ev.OtherContactID, subject = SideRZ, rzID, ghlID, rz
	}
	if subject == nil && ghl != nil {
		ev.Side, ev.ContactID, ev.OtherContactID, subject = SideGHL, ghlID, rzID, ghl
	}
	ev.New = !hasBase && (ghl == nil || rz == nil)
	return ev, subject
}
