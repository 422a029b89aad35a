package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"golang.org/x/sync/errgroup"

	"github.com/hlrz/hlrz/internal/connector"
	"github.com/hlrz/hlrz/internal/domain"
	"github.com/hlrz/hlrz/internal/ghl"
	"github.com/hlrz/hlrz/internal/referrizer"
	"github.com/hlrz/hlrz/internal/store"
	"github.com/hlrz/hlrz/internal/syncmodel"
)

// Ledger object names.
const (
	ObjContact = "contact"
	ObjTags    = "tags"
	ObjNotes   = "notes"
	ObjTasks   = "tasks"
)

// sides is what a pass read of one person.
type sides struct {
	link   store.Link
	ghl    *ghl.Contact        // nil: no HighLevel contact (not linked yet, or deleted)
	rz     *referrizer.Contact // nil: no Referrizer contact
	rzRead time.Time           // when rz was read
	// ghlRead is when ghl was read (for a bulk-read record, when the page was read).
	ghlRead time.Time
	// ghlGone and rzGone say the side's contact was linked but is gone now (404).
	ghlGone, rzGone bool
}

// fetch reads both sides of a person in parallel. A side read in bulk moments ago (a
// backfill or poll page) is taken from the observation instead, when every event of the
// pass came from that bulk read and the read is newer than the base (baseAt). The HighLevel
// side is also taken from the body of a contact webhook (see observedGHL) when every event
// is a bulk read or a HighLevel contact or tags webhook; the Referrizer side of such a pass
// is read. An operator, the reconcile or a delete always causes fresh reads.
// ttl bounds an observation's age (see observationTTL).
func (d *Core) fetch(ctx context.Context, ttl time.Duration, conn *connector.Conn, link store.Link, events []domain.Event, baseAt time.Time, sidesWanted ...store.Side) (sides, error) {
	out := sides{link: link}
	ghlObs, rzObs := observable(events)
	want := map[store.Side]bool{store.SideGHL: true, store.SideRZ: true}
	if len(sidesWanted) > 0 {
		want = map[store.Side]bool{}
		for _, s := range sidesWanted {
			want[s] = true
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	if id := link.GHLContactID; id != "" && want[store.SideGHL] {
		g.Go(func() error {
			if ghlObs {
				if c, at, ok := d.observedGHL(gctx, ttl, link.ConnectionID, conn.Mapping, id, baseAt, events); ok {
					out.ghl, out.ghlRead = &c, at
					return nil
				}
			}
			read := d.now()
			c, err := conn.GHL.GetContact(gctx, id)
			switch {
			case errors.Is(err, ghl.ErrNotFound):
				out.ghlGone = true
			case err != nil:
				return asTemporalError("read HighLevel contact", err)
			default:
				out.ghl, out.ghlRead = &c, read
			}
			return nil
		})
	}
	if id := link.RZContactID; id != "" && want[store.SideRZ] {
		g.Go(func() error {
			var c referrizer.Contact
			if rzObs {
				if _, ok := d.observed(gctx, ttl, link.ConnectionID, store.SideRZ, id, baseAt, &c); ok {
					out.rz, out.rzRead = &c, time.Time{} // too old to PUT back blindly
					return nil
				}
			}
			c, err := conn.RZ.GetContact(gctx, id)
			switch {
			case errors.Is(err, referrizer.ErrNotFound):
				out.rzGone = true
			case err != nil:
				return asTemporalError("read Referrizer contact", err)
			default:
				out.rz, out.rzRead = &c, d.now()
			}
			return nil
		})
	}
	return out, g.Wait()
}

// observable says which sides of a pass over events may come from observations: both when
// every event came from a bulk read (backfill, poll), the HighLevel side alone when the
// others are HighLevel contact or tags webhooks (their bodies are observations). A delete
// is confirmed by reading (the observation predates it); any other event forces reads.
func observable(events []domain.Event) (ghlSide, rzSide bool) {
	ghlSide, rzSide = len(events) > 0, len(events) > 0
	for _, e := range events {
		switch {
		case e.Kind == domain.KindContactDeleted:
			return false, false
		case e.Source == domain.SourceBackfill || e.Source == domain.SourceRZ:
		case e.Source == domain.SourceGHL && (e.Kind == domain.KindContact || e.Kind == domain.KindTags):
			rzSide = false
		default:
			return false, false
		}
	}
	return ghlSide, rzSide
}

// observed decodes a fresh bulk-read record into dst and says when it was read. A record
// read before since (when the person's base was last recorded) may predate a change that
// pass saw or made, and would undo it: it is not used.
func (d *Core) observed(ctx context.Context, ttl time.Duration, connID string, side store.Side, id string, since time.Time, dst any) (time.Time, bool) {
	o, ok := d.freshObservation(ctx, ttl, connID, side, id, since)
	if !ok {
		return time.Time{}, false
	}
	return o.ObservedAt, json.Unmarshal(o.Body, dst) == nil
}

// freshObservation reads an observation younger than the age bound and newer than since.
func (d *Core) freshObservation(ctx context.Context, ttl time.Duration, connID string, side store.Side, id string, since time.Time) (store.Observation, bool) {
	o, err := d.Store.GetObservation(ctx, connID, side, id)
	if err != nil || d.now().Sub(o.ObservedAt) > observationTTL(ttl) || !o.ObservedAt.After(since) {
		return o, false
	}
	return o, true
}

// loadBase reads a ledger entry; found is false when the object was never synced.
func (d *Core) loadBase(ctx context.Context, ref domain.Ref, object string, dst any) (store.LedgerEntry, bool, error) {
	e, err := d.Store.GetLedger(ctx, ref.ConnectionID, ref.LinkID, object)
	if errors.Is(err, store.ErrNotFound) {
		return e, false, nil
	}
	if err != nil {
		return e, false, asTemporalError("read ledger", err)
	}
	if len(e.Snapshot) > 0 {
		if err := json.Unmarshal(e.Snapshot, dst); err != nil {
			return e, false, asTemporalError("decode ledger", err)
		}
	}
	return e, true, nil
}

// PlanContact reads both sides of a person and plans the field sync against the last synced
// base. Its result is the plan, recorded in history for operators.
func (a *Contacts) PlanContact(ctx context.Context, in domain.PlanInput) (_ ContactPlan, err error) {
	defer a.countFailure(&err)
	conn, link, err := a.resolve(ctx, in.Ref)
	if errors.Is(err, errLinkGone) {
		return ContactPlan{Ref: in.Ref, LinkGone: true, Summary: linkGoneSummary, PlannedAt: a.now()}, nil
	}
	if err != nil {
		return ContactPlan{}, err
	}
	if link.Deleted {
		return ContactPlan{Ref: in.Ref, GHLID: link.GHLContactID, RZID: link.RZContactID, Summary: "person deleted on a side; link retired", PlannedAt: a.now()}, nil
	}
	var base syncmodel.Person
	entry, hasBase, err := a.loadBase(ctx, in.Ref, ObjContact, &base)
	if err != nil {
		return ContactPlan{}, err
	}
	events := in.Events
	if in.Fresh {
		events = nil // no events: both sides are read
	}
	s, err := a.fetch(ctx, a.ObservationTTL, conn, link, events, entry.UpdatedAt)
	if err != nil {
		return ContactPlan{}, err
	}
	// Creating is never updating: a person known on one side only is first looked for on
	// the other, by the backfill's matching rules, whatever brought them here.
	var match *Match
	if oneSided(link) && !s.ghlGone && !s.rzGone {
		var stop *ContactPlan
		if stop, match, err = a.matchPartner(ctx, in, conn, link, &s); err != nil {
			return ContactPlan{}, err
		}
		if stop != nil {
			return *stop, nil
		}
	}
	// A base recorded while the person was on one side only says nothing about the other:
	// with both sides present now, this is their first sync.
	if hasBase && s.ghl != nil && s.rz != nil && (entry.GHLHash == "" || entry.RZHash == "") {
		hasBase = false
	}
	var baseP *syncmodel.Person
	if hasBase {
		baseP = &base
	}
	m := conn.Mapping
	ghlP, rzP := GHLPerson(m, s.ghl), RZPerson(m, s.rz)
	fp := m.PlanFields(syncmodel.FieldPassInput{Base: baseP, GHL: ghlP, RZ: rzP, GHLDeleted: s.ghlGone, RZDeleted: s.rzGone})
	out, err := contactPlanOf(in.Ref, link, fp, match, a.now())
	if err != nil {
		return out, err
	}
	out.NeedsBase = !hasBase || entry.Hash != out.BaseHash || entry.GHLHash != out.GHLHash || entry.RZHash != out.RZHash
	if s.rz != nil && !s.rzRead.IsZero() {
		out.RZRaw, _ = json.Marshal(s.rz)
	}
	if ghlP != nil {
		out.GHLSeen, out.GHLReadAt = m.FieldsHash(syncmodel.SideGHL, ghlP), s.ghlRead
	}
	if err := a.addRuleActions(ctx, in, conn, link, &out, ghlP, rzP, hasBase); err != nil {
		return ContactPlan{}, err
	}
	if in.DryRun {
		return out, nil
	}
	if a.Metrics != nil {
		a.Metrics.Conflicts.Add(float64(len(fp.Plan.Conflicts)))
		if !out.Writes && !out.NeedsBase {
			a.Metrics.Passes.WithLabelValues("unchanged").Inc()
		}
	}
	return out, nil
}

// matchPartner looks for a one-sided person's partner on the side they lack. stop, when not
// nil, is the plan to return instead (held, ambiguous or waiting); a partner found is put
// into s, read from its side when matching did not read it.
func (a *Contacts) matchPartner(ctx context.Context, in domain.PlanInput, conn *connector.Conn, link store.Link, s *sides) (stop *ContactPlan, match *Match, err error) {
	plan := ContactPlan{Ref: in.Ref, GHLID: link.GHLContactID, RZID: link.RZContactID, PlannedAt: a.now()}
	held, err := a.heldBy(ctx, in.Ref)
	if err != nil {
		return nil, nil, err
	}
	if held != nil {
		plan.Held, plan.Summary = true, "held, not created: "+held.Reason+"; an operator settles it with `starter link`"
		return &plan, nil, nil
	}
	p, err := a.findPartner(ctx, conn, link, *s, in.Events, a.ObservationTTL)
	if err != nil {
		return nil, nil, err
	}
	switch {
	case p.hold != nil:
		plan.Hold, plan.Writes, plan.Summary = p.hold, true, "ambiguous, not created: "+p.hold.Reason
		return &plan, nil, nil
	case p.wait != "":
		plan.Summary = "waiting: the matching person (link " + p.wait + ") is being created here; their pass absorbs this link"
		return &plan, nil, nil
	case p.match.ID == "":
		return nil, nil, nil
	}
	if p.ghl != nil {
		s.ghl, s.ghlRead = p.ghl, a.now()
	}
	if p.rz != nil {
		s.rz, s.rzRead = p.rz, a.now()
	}
	if s.ghl == nil {
		read := a.now()
		c, err := conn.GHL.GetContact(ctx, p.match.ID)
		if err != nil {
			return nil, nil, asTemporalError("read matched HighLevel contact", err)
		}
		s.ghl, s.ghlRead = &c, read
	}
	return nil, &p.match, nil
}

// contactPlanOf encodes a planned field sync as the activity's result (NeedsBase, RZRaw and
// rule actions are the caller's).
func contactPlanOf(ref domain.Ref, link store.Link, fp syncmodel.FieldPass, match *Match, now time.Time) (ContactPlan, error) {
	plan := fp.Plan
	out := ContactPlan{Ref: ref, GHLID: link.GHLContactID, RZID: link.RZContactID, PlannedAt: now, Summary: plan.Summary(), Match: match}
	var err error
	if out.Plan, err = json.Marshal(plan); err != nil {
		return out, asTemporalError("encode plan", err)
	}
	out.Writes = !plan.Empty() || match != nil
	if match != nil {
		out.Summary = fmt.Sprintf("matched existing %s contact %s (first sync); %s", sideName(store.Side(match.Side)), match.ID, out.Summary)
	}
	out.Conflicts = len(plan.Conflicts)
	for _, sc := range []struct {
		side store.Side
		c    syncmodel.SideChanges
	}{{store.SideGHL, plan.GHL}, {store.SideRZ, plan.RZ}} {
		if sc.c.Create {
			out.Created = append(out.Created, string(sc.side))
			out.CreatedTags = append([]string{}, fp.BaseTags...)
		}
	}
	for _, d := range plan.Deleted {
		out.Deleted = append(out.Deleted, string(d))
	}
	out.Base, _ = json.Marshal(plan.NewBase)
	out.BaseHash, out.GHLHash, out.RZHash = fp.BaseHash, fp.GHLHash, fp.RZHash
	return out, nil
}

// addRuleActions evaluates the contact rules, and the appointment rules (a showed
// appointment records a visit: an appointment event runs a contact pass, so they are
// evaluated here, once per appointment), adding their actions to out.
func (a *Contacts) addRuleActions(ctx context.Context, in domain.PlanInput, conn *connector.Conn, link store.Link, out *ContactPlan, ghlP, rzP *syncmodel.Person, hasBase bool) error {
	actions, err := a.contactRuleActions(ctx, in, conn, link, ghlP, rzP, hasBase)
	if err != nil {
		return err
	}
	if len(actions) > 0 {
		out.Actions, _ = json.Marshal(actions)
		out.Writes = true
		out.Summary += fmt.Sprintf("; %d rule actions", len(actions))
	}
	appts, err := a.appointmentActions(ctx, conn, link, in, ghlP)
	if err != nil || len(appts) == 0 {
		return err
	}
	out.Actions, _ = json.Marshal(append(actions, appts...))
	out.Writes = true
	out.Summary += fmt.Sprintf("; %d appointment rule actions", len(appts))
	return nil
}

// contactRuleActions evaluates the contact rules over the person as syncmodel.ContactRuleEvent
// picks them; a rules failure is recorded (ruleFailure) and yields no actions.
func (a *Contacts) contactRuleActions(ctx context.Context, in domain.PlanInput, conn *connector.Conn, link store.Link, ghlP, rzP *syncmodel.Person, hasBase bool) ([]syncmodel.Action, error) {
	m := conn.Mapping
	ev, subject := syncmodel.ContactRuleEvent(link.GHLContactID, link.RZContactID, rzSourced(in.Events), ghlP, rzP, hasBase)
	if subject == nil {
		return nil, nil
	}
	var err error
	if ev.Tasks, err = contactRuleTasks(ctx, conn, link.GHLContactID); err != nil {
		return nil, err
	}
	if err := a.contactOccurrences(ctx, in, m, &ev, *subject); err != nil {
		return nil, err
	}
	done, err := a.doneActions(ctx, in.Ref)
	if err != nil {
		return nil, err
	}
	acts, err := m.EvaluateRules(ev, *subject, link.ID, done...)
	if err != nil {
		if err := a.ruleFailure(ctx, in, "contact", err); err != nil {
			return nil, err
		}
	}
	return acts, nil
}

// appointmentActions evaluates the appointment rules over the person's HighLevel
// appointments, when the pass has an appointment event (a webhook, or the reconcile's sweep
// standing in for a lost one), the mapping has such rules and the person is on both sides.
// Only appointments created or changed since the person was linked count: a first sync or a
// later event must not turn a person's old appointments into visits (visits award points).
func (a *Contacts) appointmentActions(ctx context.Context, conn *connector.Conn, link store.Link, in domain.PlanInput, person *syncmodel.Person) ([]syncmodel.Action, error) {
	m := conn.Mapping
	if link.GHLContactID == "" || link.RZContactID == "" || person == nil ||
		!slices.ContainsFunc(in.Events, func(e domain.Event) bool { return e.Kind == domain.KindAppointment }) ||
		!hasAppointmentRules(m) {
		return nil, nil
	}
	appts, err := conn.GHL.ListAppointments(ctx, link.GHLContactID)
	if errors.Is(err, ghl.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, asTemporalError("list HighLevel appointments", err)
	}
	ev := syncmodel.Event{Kind: syncmodel.EventAppointments}
	for _, ap := range appointmentsSince(appts, link.CreatedAt) {
		status := ap.AppointmentStatus
		if status == "" {
			status = ap.Status
		}
		ev.Appointments = append(ev.Appointments, syncmodel.Appointment{ID: ap.ID, Title: ap.Title, Status: status, StartTime: ap.StartTime.Time})
	}
	// The rules see the person as HighLevel has them (the side the appointments are on).
	done, err := a.doneActions(ctx, in.Ref)
	if err != nil {
		return nil, err
	}
	actions, err := m.EvaluateRules(ev, *person, link.ID, done...)
	if err != nil {
		if err := a.ruleFailure(ctx, in, "appointments", err); err != nil {
			return nil, err
		}
	}
	return actions, nil
}

// ApplyContact writes a plan to both sides and records the new base. Every step is
// idempotent: a create first checks the link (a retried create finds the id it saved), an
// update sets values, and the ledger write is last.
func (a *Contacts) ApplyContact(ctx context.Context, p ContactPlan) (_ ApplyResult, err error) {
	defer a.countFailure(&err)
	defer func() {
		if err == nil && a.Metrics != nil {
			a.Metrics.Passes.WithLabelValues("applied").Inc()
		}
	}()
	conn, link, err := a.resolve(ctx, p.Ref)
	if errors.Is(err, errLinkGone) {
		return ApplyResult{Summary: linkGoneSummary}, nil
	}
	if err != nil {
		return ApplyResult{}, err
	}
	res := ApplyResult{GHLID: link.GHLContactID, RZID: link.RZContactID}
	if p.Hold != nil {
		return res, a.recordHold(ctx, p, link)
	}
	var plan syncmodel.Plan
	if err := json.Unmarshal(p.Plan, &plan); err != nil {
		return ApplyResult{}, asTemporalError("decode plan", err)
	}
	if p.Match != nil {
		// Link the person found before writing anything; if someone else took the contact
		// meanwhile, plan again (matching then holds the person).
		l, err := a.claim(ctx, link, store.Side(p.Match.Side), p.Match.ID)
		if errors.Is(err, store.ErrConflict) {
			res.Rematch, res.Summary = true, "matched contact taken meanwhile; planning again"
			return res, nil
		}
		if err != nil {
			return res, err
		}
		link = l
		res.GHLID, res.RZID = link.GHLContactID, link.RZContactID
	}
	// A create an earlier attempt of this apply landed (the link holds the id it saved, the
	// plan had none): the create carried the plan's values, and writing them again as an
	// update would overwrite edits made on that side since. The next pass sees those.
	if plan.RZ.Create && p.RZID == "" && link.RZContactID != "" {
		plan.RZ = syncmodel.SideChanges{}
	}
	if plan.GHL.Create && p.GHLID == "" && link.GHLContactID != "" {
		plan.GHL = syncmodel.SideChanges{}
	}
	// HighLevel has no conditional update: before writing fields planned from a read that
	// is no longer fresh, look again (first, before Referrizer is written, so that a replan
	// does not see our own write there as the newer edit).
	if moved, err := a.ghlMovedSincePlan(ctx, conn, link, plan, p); err != nil || moved {
		res.Replan = moved
		if moved {
			res.Summary = "HighLevel contact changed since the plan; planning again"
		}
		return res, err
	}
	if link, err = a.applyRZ(ctx, conn, link, plan, p, &res); err != nil || res.Rematch {
		res.GHLID, res.RZID = link.GHLContactID, link.RZContactID
		return res, err
	}
	if link, err = a.applyGHL(ctx, conn, link, plan, p, &res); err != nil || res.Rematch {
		res.GHLID, res.RZID = link.GHLContactID, link.RZContactID
		return res, err
	}
	res.GHLID, res.RZID = link.GHLContactID, link.RZContactID
	if err := a.finishApply(ctx, conn, link, p, &res); err != nil {
		return res, err
	}
	a.countWrites(res)
	res.Summary = fmt.Sprintf("%d HighLevel and %d Referrizer writes", res.GHLWrites, res.RZWrites)
	return res, nil
}

// finishApply runs the plan's rule actions once both sides are written, then records the
// new base (last, so a retry redoes whatever came before it).
func (a *Contacts) finishApply(ctx context.Context, conn *connector.Conn, link store.Link, p ContactPlan, res *ApplyResult) error {
	if len(p.Actions) > 0 {
		var actions []syncmodel.Action
		if err := json.Unmarshal(p.Actions, &actions); err != nil {
			return asTemporalError("decode rule actions", err)
		}
		if err := a.runActions(ctx, conn, link, actions, res); err != nil {
			return err
		}
	}
	if len(res.Created) > 0 {
		// The create carried the tags: record them as the tags base, so no tags pass is
		// needed to learn what both sides already agree on.
		tags, _ := json.Marshal(p.CreatedTags)
		h := syncmodel.TagsHash(p.CreatedTags)
		if err := a.Store.PutLedger(ctx, store.LedgerEntry{
			ConnectionID: p.ConnectionID, LinkID: p.LinkID, Object: ObjTags, Snapshot: tags, Hash: h, GHLHash: h, RZHash: h,
		}); err != nil {
			return asTemporalError("record tags base", err)
		}
	}
	if err := a.Store.PutLedger(ctx, store.LedgerEntry{
		ConnectionID: p.ConnectionID, LinkID: p.LinkID, Object: ObjContact,
		Snapshot: p.Base, Hash: p.BaseHash, GHLHash: p.GHLHash, RZHash: p.RZHash,
	}); err != nil {
		return asTemporalError("record base", err)
	}
	if len(p.Deleted) > 0 {
		// Deleted on a side: no pass may recreate the person there.
		if err := a.Store.MarkLinkDeleted(ctx, p.ConnectionID, p.LinkID, true); err != nil {
			return asTemporalError("mark link deleted", err)
		}
	}
	return nil
}

func (a *Contacts) applyRZ(ctx context.Context, conn *connector.Conn, link store.Link, plan syncmodel.Plan, p ContactPlan, res *ApplyResult) (store.Link, error) {
	ch := plan.RZ
	switch {
	case ch.Create && link.RZContactID == "":
		// Planning found nobody to match (findPartner). A create Referrizer refuses for an
		// existing e-mail (someone added meanwhile, or our own earlier attempt whose answer
		// was lost) is a match: link it and plan again, never write over it.
		person := syncmodel.Apply(syncmodel.Person{}, ch)
		if done, l, err := a.adoptEarlierCreate(ctx, conn, link, store.SideRZ, person, res); done || err != nil {
			return l, err
		}
		var rc referrizer.Contact
		rzPatch(conn.Mapping, ch).Apply(&rc)
		sent := a.now()
		created, err := conn.RZ.CreateContact(ctx, rc)
		switch {
		case errors.Is(err, referrizer.ErrDuplicate) && person.Email != "":
			if created, err = findRZByEmail(ctx, conn.RZ, person.Email); err != nil {
				return link, asTemporalError("find the existing Referrizer contact", err)
			}
			res.Rematch = true
		case err != nil:
			return link, a.createFailed(ctx, link, store.SideRZ, asTemporalError("create Referrizer contact", err))
		default:
			res.RZWrites++
			res.Created = append(res.Created, string(store.SideRZ))
			a.keepRZ(ctx, conn.ID, created, sent)
		}
		// Persist the id before anything else can fail, so a retry updates, not creates.
		if link, err = a.claimOrRematch(ctx, link, store.SideRZ, created.ID, res); err != nil {
			return link, err
		}
		if err := a.endCreate(ctx, link, store.SideRZ); err != nil {
			return link, err
		}
	case ch.Delete && link.RZContactID != "":
		if err := conn.RZ.DeleteContact(ctx, link.RZContactID); err != nil && !errors.Is(err, referrizer.ErrNotFound) {
			return link, asTemporalError("delete Referrizer contact", err)
		}
		res.RZWrites++
	case link.RZContactID != "" && !ch.Empty():
		patch := rzPatch(conn.Mapping, ch)
		var known *referrizer.Contact
		if cur, ok := a.freshRZ(p); ok {
			known = &cur
		}
		_, err := a.updateRZ(ctx, conn, link.RZContactID, patch, known)
		if errors.Is(err, referrizer.ErrNotFound) {
			return link, nil // deleted meanwhile: the next poll reports it
		}
		if err != nil {
			return link, asTemporalError("update Referrizer contact", err)
		}
		res.RZWrites++
	}
	return link, nil
}

// adoptEarlierCreate runs before a contact create: when an earlier attempt recorded the
// intent to create the person on side, the contact it made (its answer lost) is looked up
// and claimed instead of creating a second one; otherwise the intent is recorded. done
// says the create must not be sent: the contact was claimed, or the pass plans again.
func (a *Contacts) adoptEarlierCreate(ctx context.Context, conn *connector.Conn, link store.Link, side store.Side, person syncmodel.Person, res *ApplyResult) (bool, store.Link, error) {
	prev, err := a.createdEarlier(ctx, conn, link, side, person)
	if err != nil {
		return false, link, err
	}
	switch {
	case prev.ambiguous:
		res.Rematch = true
		return true, link, nil
	case prev.id != "":
		if !prev.ours {
			res.Rematch = true // someone else's by its names: merge it as a first sync
		} else {
			res.Created = append(res.Created, string(side))
		}
		a.log().Info("found the contact an earlier attempt created", "connection", link.ConnectionID, "link", link.ID, "side", side, "ours", prev.ours)
		l, err := a.claimOrRematch(ctx, link, side, prev.id, res)
		if err == nil {
			err = a.endCreate(ctx, l, side)
		}
		return true, l, err
	}
	return false, link, a.recordCreate(ctx, link, side, matchKeys(conn, person.Email, person.Phone))
}

// createFailed ends the create intent when the create failed for good (nothing was made,
// and no retry follows), so an echo does not wait for it; err is returned as is.
func (a *Contacts) createFailed(ctx context.Context, link store.Link, side store.Side, err error) error {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && appErr.NonRetryable() {
		if eerr := a.endCreate(ctx, link, side); eerr != nil {
			a.log().Warn("could not end a failed create's intent", "connection", link.ConnectionID, "link", link.ID, "error", eerr)
		}
	}
	return err
}

// claim attaches a contact we created (or found) to the link. The create's own webhook (or
// the next poll) may have made a one-sided link for it already; that link is absorbed, and
// its workflow finds its link gone and ends.
func (a *Contacts) claim(ctx context.Context, link store.Link, side store.Side, id string) (store.Link, error) {
	l, absorbed, err := a.Store.ClaimContact(ctx, link.ConnectionID, link.ID, side, id)
	if err != nil {
		return link, asTemporalError("link "+string(side)+" contact", err)
	}
	if absorbed != "" {
		a.log().Info("absorbed the link our create's echo made", "connection", link.ConnectionID, "link", link.ID, "absorbed", absorbed)
	}
	return l, nil
}

// claimOrRematch claims a contact we created or found on a create. A contact found (not
// created) that another person already owns is not ours to take: the pass plans again and
// matching holds the person.
func (a *Contacts) claimOrRematch(ctx context.Context, link store.Link, side store.Side, id string, res *ApplyResult) (store.Link, error) {
	l, err := a.claim(ctx, link, side, id)
	if res.Rematch && errors.Is(err, store.ErrConflict) {
		return link, nil
	}
	return l, err
}

// recordHold holds an ambiguous person back and leaves a dead letter for an operator, once.
func (a *Contacts) recordHold(ctx context.Context, p ContactPlan, link store.Link) error {
	fresh, err := a.putHold(ctx, p.ConnectionID, p.LinkID, *p.Hold)
	if err != nil || !fresh {
		return err
	}
	raw, _ := json.Marshal(map[string]any{"linkId": link.ID, "ghlContactId": link.GHLContactID, "rzContactId": link.RZContactID,
		"candidatesSide": p.Hold.Side, "candidates": p.Hold.Candidates})
	if _, err := a.Store.AddDeadLetter(ctx, store.DeadLetter{
		ConnectionID: p.ConnectionID, LinkID: p.LinkID, Kind: domain.DeadAmbiguousMatch, Input: raw,
		Error: p.Hold.Reason + "; not linked, not created (settle with `starter link`)",
	}); err != nil {
		return asTemporalError("record ambiguous match", err)
	}
	return nil
}

// ghlMovedSincePlan says whether the HighLevel contact's mapped fields changed since the
// plan read them, when the plan updates fields in HighLevel, or in Referrizer on a first
// sync with a matched partner, and its HighLevel read is not fresh (older than
// GHLFreshness, or this is a retried attempt). Writing such a plan would overwrite an edit
// made in between with the other side's older value in HighLevel, or, when two one-sided
// links of the same person cross, copy HighLevel's older value over our newer write there
// (whose echo is dropped, so nothing would repair it). A later edit made in HighLevel by
// someone else needs no check before a Referrizer update: it differs from the base this
// pass records, so its own event syncs it.
func (a *Contacts) ghlMovedSincePlan(ctx context.Context, conn *connector.Conn, link store.Link, plan syncmodel.Plan, p ContactPlan) (bool, error) {
	ch, rzUpdate := plan.GHL, len(plan.RZ.Set) > 0 && !plan.RZ.Create && p.Match != nil
	if ch.Create || ch.Delete || len(ch.Set) == 0 && !rzUpdate || link.GHLContactID == "" || p.GHLSeen == "" {
		return false, nil
	}
	if a.now().Sub(p.GHLReadAt) <= a.ghlFreshness() && activity.GetInfo(ctx).Attempt <= 1 {
		return false, nil
	}
	c, err := conn.GHL.GetContact(ctx, link.GHLContactID)
	if errors.Is(err, ghl.ErrNotFound) {
		return true, nil // deleted meanwhile: the next plan sees it gone
	}
	if err != nil {
		return false, asTemporalError("re-read HighLevel contact before update", err)
	}
	m := conn.Mapping
	return m.FieldsHash(syncmodel.SideGHL, GHLPerson(m, &c)) != p.GHLSeen, nil
}

// freshRZ returns the contact read while planning when it is recent enough to PUT back.
func (a *Contacts) freshRZ(p ContactPlan) (referrizer.Contact, bool) {
	var c referrizer.Contact
	if len(p.RZRaw) == 0 || a.now().Sub(p.PlannedAt) > a.rzFreshness() || json.Unmarshal(p.RZRaw, &c) != nil || c.ID == "" {
		return c, false
	}
	return c, true
}

func (a *Contacts) applyGHL(ctx context.Context, conn *connector.Conn, link store.Link, plan syncmodel.Plan, p ContactPlan, res *ApplyResult) (store.Link, error) {
	ch := plan.GHL
	switch {
	case ch.Create && link.GHLContactID == "":
		// Create, never upsert: upsert would overwrite an existing person's tags and fields
		// (ghl-facts.md §4). Planning found nobody (findPartner); HighLevel refusing the
		// create as a duplicate names the person added meanwhile (or created by our own
		// earlier attempt whose answer was lost): link them and plan again.
		person := syncmodel.Apply(syncmodel.Person{}, ch)
		if done, l, err := a.adoptEarlierCreate(ctx, conn, link, store.SideGHL, person, res); done || err != nil {
			return l, err
		}
		created, err := conn.GHL.CreateContact(ctx, ghlInput(conn.Mapping, ch))
		id := created.ID
		if dup, ok := ghl.DuplicateContactID(err); ok {
			id, err = dup, nil
			res.Rematch = true
		}
		if err != nil {
			return link, a.createFailed(ctx, link, store.SideGHL, asTemporalError("create HighLevel contact", err))
		}
		if !res.Rematch {
			res.GHLWrites++
			res.Created = append(res.Created, string(store.SideGHL))
		}
		if link, err = a.claimOrRematch(ctx, link, store.SideGHL, id, res); err != nil {
			return link, err
		}
		if err := a.endCreate(ctx, link, store.SideGHL); err != nil {
			return link, err
		}
	case ch.Delete && link.GHLContactID != "":
		if err := conn.GHL.DeleteContact(ctx, link.GHLContactID); err != nil && !errors.Is(err, ghl.ErrNotFound) {
			return link, asTemporalError("delete HighLevel contact", err)
		}
		res.GHLWrites++
	case link.GHLContactID != "" && !ch.Empty():
		if len(ch.Set) > 0 {
			if err := a.expectGHL(ctx, p.Ref, ObjContact, p.GHLHash); err != nil {
				return link, err
			}
			if _, err := conn.GHL.UpdateContact(ctx, link.GHLContactID, ghlInput(conn.Mapping, ch)); err != nil && !errors.Is(err, ghl.ErrNotFound) {
				return link, asTemporalError("update HighLevel contact", err)
			}
			res.GHLWrites++
		}
		if len(ch.TagsAdd) > 0 {
			if _, err := conn.GHL.AddTags(ctx, link.GHLContactID, ch.TagsAdd); err != nil && !errors.Is(err, ghl.ErrNotFound) {
				return link, asTemporalError("tag HighLevel contact", err)
			}
			res.GHLWrites++
		}
		if len(ch.TagsRemove) > 0 {
			if _, err := conn.GHL.RemoveTags(ctx, link.GHLContactID, ch.TagsRemove); err != nil && !errors.Is(err, ghl.ErrNotFound) {
				return link, asTemporalError("untag HighLevel contact", err)
			}
			res.GHLWrites++
		}
	}
	return link, nil
}

func (d *Core) resolve(ctx context.Context, ref domain.Ref) (*connector.Conn, store.Link, error) {
	conn, err := d.connection(ctx, ref.ConnectionID)
	if err != nil {
		return nil, store.Link{}, err
	}
	link, err := d.Store.GetLink(ctx, ref.ConnectionID, ref.LinkID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, link, errLinkGone
	}
	if err != nil {
		return nil, link, asTemporalError("link", err)
	}
	return conn, link, nil
}

// errLinkGone means the link was absorbed into another (see claim): the person is synced
// under that link now, and this one's workflow has nothing left to do.
var errLinkGone = errors.New("link no longer exists: absorbed into another link")

const linkGoneSummary = "link absorbed into another person's link; nothing to sync"

// connection returns a connection's clients; an unusable connection (paused, unknown,
// misconfigured) is a non-retryable Config error, a store hiccup a retryable one.
func (d *Core) connection(ctx context.Context, id string) (*connector.Conn, error) {
	conn, err := d.Conns.Get(ctx, id)
	switch {
	case err == nil:
		return conn, nil
	case errors.Is(err, connector.ErrInactive), errors.Is(err, connector.ErrConfig), errors.Is(err, store.ErrNotFound):
		return nil, asTemporalError("connection", configErr("%v", err))
	}
	return nil, asTemporalError("connection", err)
}

// countFailure counts a failed contact activity, and a 429 by side, for /metrics.
func (d *Core) countFailure(errp *error) {
	if *errp == nil || d.Metrics == nil {
		return
	}
	d.Metrics.Passes.WithLabelValues("error").Inc()
	var appErr *temporal.ApplicationError
	if errors.As(*errp, &appErr) && appErr.Type() == ErrTypeRateLimited {
		side := string(store.SideGHL)
		if errors.Is(*errp, referrizer.ErrRateLimited) {
			side = string(store.SideRZ)
		}
		d.Metrics.RateLimited.WithLabelValues(side).Inc()
	}
}

func (d *Core) countWrites(r ApplyResult) {
	if d.Metrics == nil {
		return
	}
	d.Metrics.Writes.WithLabelValues(string(store.SideGHL)).Add(float64(r.GHLWrites))
	d.Metrics.Writes.WithLabelValues(string(store.SideRZ)).Add(float64(r.RZWrites))
}

func findRZByEmail(ctx context.Context, rz *referrizer.Client, email string) (referrizer.Contact, error) {
	page, err := rz.ListContacts(ctx, referrizer.ListOptions{Email: email, PerPage: 2})
	if err != nil {
		return referrizer.Contact{}, err
	}
	if len(page.Contacts) != 1 {
		return referrizer.Contact{}, fmt.Errorf("referrizer reported a duplicate but %d contacts match: %w", len(page.Contacts), store.ErrConflict)
	}
	return page.Contacts[0], nil
}

// rzSourced reports whether a batch of events came from Referrizer (a poll).
func rzSourced(events []domain.Event) bool {
	for _, e := range events {
		if e.Source == domain.SourceRZ {
			return true
		}
	}
	return false
}

// hasAppointmentRules says whether the mapping has rules on appointments (the only reason
// to read a person's appointments).
func hasAppointmentRules(m *syncmodel.Mapping) bool {
	return slices.ContainsFunc(m.Rules(), func(r syncmodel.Rule) bool { return r.On == syncmodel.EventAppointments })
}

// appointmentsSince keeps the appointments created or last changed at or after t (the
// link's creation), by HighLevel's dateUpdated, else dateAdded; an appointment with
// neither date is kept, as there is nothing to prove it old.
func appointmentsSince(appts []ghl.Appointment, t time.Time) []ghl.Appointment {
	var out []ghl.Appointment
	for _, ap := range appts {
		at := ap.DateUpdated.Time
		if at.IsZero() {
			at = ap.DateAdded.Time
		}
		if at.IsZero() || !at.Before(t) {
			out = append(out, ap)
		}
	}
	return out
}
