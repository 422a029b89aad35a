package syncmodel

import (
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// NormalizePhone returns raw in E.164 (e.g. "+12125550182") when it parses as a complete
// number, taking region (ISO 3166 alpha-2, e.g. "US") for numbers written without a country
// code. Anything else is returned trimmed as written: data is never dropped, but such a
// phone is not used for matching. Numbers need only be possible (right length), not
// assigned, so test ranges such as 555 still normalize; local-only numbers without an area
// code do not.
func NormalizePhone(raw, region string) string {
	raw = strings.TrimSpace(raw)
	if e, ok := e164(raw, region); ok {
		return e
	}
	return raw
}

// e164 parses raw; ok is false when it is not a complete possible number.
func e164(raw, region string) (string, bool) {
	if raw == "" {
		return "", false
	}
	n, err := phonenumbers.Parse(raw, region)
	if err != nil || phonenumbers.IsPossibleNumberWithReason(n) != phonenumbers.IS_POSSIBLE {
		return "", false
	}
	return phonenumbers.Format(n, phonenumbers.E164), true
}

// validRegion reports whether libphonenumber knows the region code (upper case).
func validRegion(region string) bool {
	return phonenumbers.GetSupportedRegions()[region]
}

// EmailKey is the matching form of an e-mail: trimmed and lower-cased.
func EmailKey(email string) string {
	return strings.ToLower(strings.TrimSpace(email))
}
