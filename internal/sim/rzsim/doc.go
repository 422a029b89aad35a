// Package rzsim simulates the part of Referrizer's REST API the product uses (see
// shared/referrizer-api.md), for the dev stack, tests and benchmarks.
//
// Referrizer publishes no spec, so where its behaviour is unknown the simulator picks the
// strictest plausible behaviour; a client that works here should work against the real API
// whichever way the unknowns fall. The choices:
//
//   - Auth: `Authorization: Bearer <token>`; each token is one account (AddAccount). A bad or
//     missing token is 401 {"errorCode":"UNAUTHORIZED"}.
//   - Errors: {"errorCode": "...", "message": "..."} (Options.ErrorCodeKey switches the key to
//     the derived spec's "code"). Unknown ids are 404 RESOURCE_NOT_FOUND.
//   - Lists: a bare JSON array (the shape tested third-party code reads), or
//     {"data": [...], "total": n, "page": p} with Options.ListShape = ListEnvelope. Always with
//     X-Total-Count. page is 1-based; perPage defaults to 30; perPage outside 1..100, a page
//     below 1 or a non-number is 400 ILLEGAL_ARGUMENT (rejecting, not clamping, so a client that
//     over-asks finds out). Contacts are ordered by creation (sort=createdAt, order=asc|desc;
//     any other sort is 400), so an edit never moves a contact between pages.
//   - Filters: email matches case-insensitively and exactly; phone matches when the digits are
//     equal ("+1 (555) 010-2000" finds "15550102000", but not "5550102000").
//   - A contact needs an email or a phone (MISSING_REQUIRED_FIELD); firstName is optional,
//     because HighLevel contacts often have none. Emails are unique per account,
//     case-insensitively (RESOURCE_ALREADY_EXISTS); phones are not.
//   - PUT replaces the whole contact: a field left out is cleared, unknown top-level fields in
//     the body (e.g. loyaltyPoints) are stored as sent, and ones left out are dropped. So a
//     client that does not send back what it read erases data, and tests notice.
//   - id, createdAt and updatedAt in a body are ignored (an id that differs from the path is
//     ILLEGAL_ARGUMENT). shouldSendNotification is an instruction, not stored; each write that
//     asks for it counts in Stats.Notifications (a sync must keep that at zero).
//   - customFields is an object keyed by custom field name (an id is accepted as a key too
//     and stored under the field). A key that names no field is INVALID_CUSTOM_FIELD_NAME; a
//     value must suit the field type (TEXT string of at most MaxTextValueLen characters,
//     NUMBER number, DATE YYYY-MM-DD, DROPDOWN one of the options; null clears the value).
//     Values live with the field, so renaming a field renames the key on every contact.
//   - Custom field names: 1 to 50 letters, digits, spaces, '_' or '-', not a built-in contact
//     field name (INVALID_CUSTOM_FIELD_NAME); unique per account, case-insensitively
//     (NOT_UNIQUE). Types TEXT, NUMBER, DATE, DROPDOWN (exact spelling; ILLEGAL_ARGUMENT
//     otherwise); only a DROPDOWN has options.
//   - Visits: contactId required; a date after now is VISIT_DATE_IN_FUTURE; a second visit of
//     the same contact on the same UTC day is CONTACT_ALREADY_CHECKED_IN. A visit dated
//     today (or undated) notifies the customer (Stats.Notifications); a past date does not.
//   - Activities: each contact has a read-only timeline (CONTACT_CREATED, CONTACT_UPDATED,
//     VISIT), newest first, filtered by beforeDate, type and perPage.
//   - Bodies over 1 MiB are 413 PAYLOAD_TOO_LARGE.
//
// Admin endpoints under /admin/ play "a person working in Referrizer" and the test harness:
// they need no bearer token, are scoped by the X-Account-Token header where they touch an
// account, and are neither counted in Stats nor subject to faults. Every admin endpoint has a
// Go method of the same meaning.
//
// Fault injection (SetFaults, POST /admin/faults) draws from a math/rand/v2 generator seeded
// by Options.Seed, so a sequential test sees the same faults on every run.
package rzsim
