package activities

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/hlrz/hlrz/internal/connector"
	"github.com/hlrz/hlrz/internal/domain"
	"github.com/hlrz/hlrz/internal/ghl"
	"github.com/hlrz/hlrz/internal/referrizer"
	"github.com/hlrz/hlrz/internal/syncmodel"
)

// This file converts between the two APIs' records and the sync core's canonical model,
// following the field mapping documented on syncmodel.Person.

// GHLPerson is a HighLevel contact as the sync core sees it (nil for nil).
func GHLPerson(m *syncmodel.Mapping, c *ghl.Contact) *syncmodel.Person {
	if c == nil {
		return nil
	}
	raw := map[string]string{}
	for _, f := range c.CustomFields {
		raw[f.ID] = customString(f.Value)
	}
	return &syncmodel.Person{
		FirstName: c.FirstName, LastName: c.LastName, Email: c.Email, Phone: c.Phone, DND: c.DND,
		Tags: c.Tags, Custom: m.CustomFromSide(syncmodel.SideGHL, raw), Source: c.Source, UpdatedAt: c.DateUpdated.Time,
	}
}

// RZPerson is a Referrizer contact as the sync core sees it (nil for nil). DND reads as
// unsubscribed from both channels.
func RZPerson(m *syncmodel.Mapping, c *referrizer.Contact) *syncmodel.Person {
	if c == nil {
		return nil
	}
	raw := map[string]string{}
	for name := range c.CustomFields {
		if v, ok := c.CustomText(name); ok {
			raw[name] = v
		} else {
			raw[name] = string(c.CustomFields[name])
		}
	}
	return &syncmodel.Person{
		FirstName: c.FirstName, LastName: c.LastName, Email: c.Email, Phone: c.Phone,
		DND: c.UnsubscribedFromText && c.UnsubscribedFromEmail, Tags: c.Labels,
		Custom: m.CustomFromSide(syncmodel.SideRZ, raw), UpdatedAt: c.UpdatedAt,
	}
}

func customString(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case []any:
		parts := make([]string, 0, len(x))
		for _, p := range x {
			parts = append(parts, fmt.Sprint(p))
		}
		return strings.Join(parts, ", ")
	default:
		b, err := json.Marshal(x)
		if err != nil {
			return fmt.Sprint(x)
		}
		return string(b)
	}
}

// fieldsOnly drops tags: the contact pass owns fields, TagSync owns tags.
func fieldsOnly(p *syncmodel.Person) *syncmodel.Person {
	if p == nil {
		return nil
	}
	out := *p
	out.Tags = nil
	return &out
}

// rzHashes are a Referrizer contact's field and tag projection hashes, comparable with the
// ledger's "contact" and "tags" RZHash.
func rzHashes(m *syncmodel.Mapping, c referrizer.Contact) (fields, tags string) {
	p := RZPerson(m, &c)
	return syncmodel.HashSide(m, syncmodel.SideRZ, *fieldsOnly(p)), syncmodel.TagsHash(m.SyncedTags(p.Tags))
}

// ghlHashes are a HighLevel contact's field and tag projection hashes.
func ghlHashes(m *syncmodel.Mapping, c ghl.Contact) (fields, tags string) {
	p := GHLPerson(m, &c)
	return syncmodel.HashSide(m, syncmodel.SideGHL, *fieldsOnly(p)), syncmodel.TagsHash(m.SyncedTags(p.Tags))
}

// ghlDrift compares a listed HighLevel contact with the ledger's record of its side: the
// kind of pass it needs ("" when it agrees), the id of an event naming the state seen (so
// runs that see the same state signal once), and whether the ledger knows the contact at
// all (unknown: KindAll). missingTagsDiffer counts a synced contact without a tags record
// as drifted tags.
func ghlDrift(m *syncmodel.Mapping, c ghl.Contact, fieldHashes, tagHashes map[string]string, missingTagsDiffer bool) (kind, eventID string, known bool) {
	fh, th := ghlHashes(m, c)
	oldF, known := fieldHashes[c.ID]
	oldT, tagsKnown := tagHashes[c.ID]
	fieldsDiffer, tagsDiffer := oldF != fh, (tagsKnown || missingTagsDiffer) && oldT != th
	switch {
	case !known, fieldsDiffer && tagsDiffer:
		kind = domain.KindAll
	case fieldsDiffer:
		kind = domain.KindContact
	case tagsDiffer:
		kind = domain.KindTags
	}
	return kind, "reconcile:ghl:" + c.ID + ":" + fh + th, known
}

// matchKeys are a contact's match keys, email first.
func matchKeys(conn *connector.Conn, email, phone string) []string {
	region := conn.Mapping.PhoneRegion()
	if conn.Settings.DefaultRegion != "" {
		region = conn.Settings.DefaultRegion
	}
	return syncmodel.MatchKeys(email, phone, region)
}

// rzPatch turns one side's planned changes into a Referrizer patch.
func rzPatch(m *syncmodel.Mapping, ch syncmodel.SideChanges) referrizer.ContactPatch {
	var p referrizer.ContactPatch
	custom := map[string]string{}
	for field, v := range ch.Set {
		v := v
		switch field {
		case syncmodel.FieldFirstName:
			p.FirstName = &v
		case syncmodel.FieldLastName:
			p.LastName = &v
		case syncmodel.FieldEmail:
			p.Email = &v
		case syncmodel.FieldPhone:
			p.Phone = &v
		case syncmodel.FieldDND:
			on := v == "true"
			p.UnsubscribedFromText, p.UnsubscribedFromEmail = &on, &on
		default:
			if key, ok := strings.CutPrefix(field, syncmodel.CustomPrefix); ok {
				custom[key] = v
			}
		}
	}
	for name, v := range m.CustomToSide(syncmodel.SideRZ, custom) {
		if v == "" {
			p.ClearCustomFields = append(p.ClearCustomFields, name)
			continue
		}
		if p.SetCustomText == nil {
			p.SetCustomText = map[string]string{}
		}
		p.SetCustomText[name] = v
	}
	p.AddLabels, p.RemoveLabels = ch.TagsAdd, ch.TagsRemove
	return p
}

// ghlInput turns one side's planned changes into a HighLevel create or update body. Tags
// go in only on create: on update HighLevel's tags field replaces every tag, so deltas use
// the tag endpoints instead.
func ghlInput(m *syncmodel.Mapping, ch syncmodel.SideChanges) ghl.ContactInput {
	var in ghl.ContactInput
	custom := map[string]string{}
	for field, v := range ch.Set {
		v := v
		switch field {
		case syncmodel.FieldFirstName:
			in.FirstName = &v
		case syncmodel.FieldLastName:
			in.LastName = &v
		case syncmodel.FieldEmail:
			in.Email = &v
		case syncmodel.FieldPhone:
			in.Phone = &v
		case syncmodel.FieldDND:
			on := v == "true"
			in.DND = &on
		default:
			if key, ok := strings.CutPrefix(field, syncmodel.CustomPrefix); ok {
				custom[key] = v
			}
		}
	}
	for id, v := range m.CustomToSide(syncmodel.SideGHL, custom) {
		in.CustomFields = append(in.CustomFields, ghl.CustomFieldInput{ID: id, Value: v})
	}
	if ch.Create {
		in.Tags = ch.TagsAdd
	}
	return in
}

func notesOf(notes []ghl.Note) []syncmodel.Note {
	out := make([]syncmodel.Note, 0, len(notes))
	for _, n := range notes {
		out = append(out, syncmodel.Note{ID: n.ID, Body: n.Body, DateAdded: n.DateAdded.Time})
	}
	return out
}

func tasksOf(tasks []ghl.Task) []syncmodel.Task {
	out := make([]syncmodel.Task, 0, len(tasks))
	for _, t := range tasks {
		st := syncmodel.Task{ID: t.ID, Title: t.Title, Body: t.Body, DueDate: t.DueDate.Time, Completed: t.Completed}
		if t.Completed {
			st.CompletedAt = t.DateUpdated.Time
		}
		out = append(out, st)
	}
	return out
}
