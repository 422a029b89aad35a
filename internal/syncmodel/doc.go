// Package syncmodel is the pure, deterministic core of the HighLevel ⇄ Referrizer sync.
//
// It decides what must change on each side and never performs I/O: activities read both
// systems, convert the raw records into [Person] values, ask the [Mapping] for a [Plan], apply
// it, and record Plan.NewBase as the base of the next pass. Everything here is a function of
// its inputs (the current time is always a parameter), so the same inputs give the same plan,
// the same digests and the same hashes, byte for byte.
//
// The pieces:
//
//   - [Person], [Note], [Task], [Appointment]: the canonical model of a person as one side
//     sees it, with [Mapping.Normalize] for trimming, e-mail case and E.164 phones.
//   - [Mapping]: one connection's parsed, validated and compiled configuration
//     ([ParseMapping], [DefaultMapping]).
//   - [Mapping.Plan]: the three-way merge of base, HighLevel and Referrizer; [Apply] shows
//     what a side looks like after a plan, which makes "plan, apply, plan again" a fixed point.
//   - [Mapping.MergeTags]: the three-way set merge of tags (Referrizer labels).
//   - [Mapping.RenderNotesDigest], [Mapping.RenderTasksDigest]: projections of HighLevel notes
//     and tasks onto Referrizer custom fields and status labels.
//   - [Mapping.EvaluateRules]: CEL rules that yield idempotent [Action]s.
//   - [Hash], [HashSide], [TagsHash]: content hashes for echo suppression and change detection.
//   - [Match]: first-link matching by e-mail, then E.164 phone, reporting ambiguity.
package syncmodel
