// Package referrizer is a client for the parts of Referrizer's REST API the sync uses:
// contacts, their activity timeline, custom fields and visits (see
// shared/referrizer-api.md for what is known about the API and how well).
//
// Referrizer publishes no spec, so the client is written to work whichever way the
// unknowns fall:
//
//   - Updates are GET, change, PUT of the whole object, because whether PUT merges or
//     replaces is unknown. Decoding keeps every key it does not model (Contact.Extra) and
//     every value it cannot type, and encoding sends them back, so an update never erases
//     data we do not understand. Empty strings are sent as null, which clears a field
//     under replace semantics and is accepted where "" would not be (dates, emails).
//   - customFields is an object keyed by field name. Names read better in workflow
//     history and survive moving between accounts; an id-keyed API would need only the
//     projection helpers to change.
//   - Lists are read as a bare array or as {"data": [...], "total": n}; the total comes
//     from X-Total-Count, else the body, else it is unknown (-1) and a short page ends the
//     walk. Errors are read from errorCode or code (or a nested error object).
//   - createdAt/updatedAt are optional; ISO 8601 strings and epoch milliseconds are read.
//   - Every write sends shouldSendNotification=false: a sync must never message customers.
//   - Rate limits are unknown: the client throttles itself (DefaultRateLimit per Client)
//     and, after a 429 with Retry-After, refuses calls locally until the wait is over, so
//     concurrent activities sharing the client do not burn the account's budget.
//
// The client does not retry; it runs inside Temporal activities, which do. Every failure
// is an *Error whose Kind, Retryable and RetryAfter drive the activity's retry policy, and
// whose text never holds the token, request bodies, query strings (filters carry emails
// and phones) or anything in a server message that looks like an email, phone or date.
package referrizer
