package referrizer

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// Visit is a check-in. Posting one awards loyalty points, which is why turning HighLevel
// appointments into visits is an opt-in rule.
type Visit struct {
	ID          string
	ContactID   string
	Points      *float64 // nil: Referrizer's default for a visit
	AmountSpent *float64
	// Date is when the visit happened; zero means now. A past date suppresses the
	// customer notification, so a sync should always send the appointment's date.
	Date  time.Time
	Extra map[string]json.RawMessage
}

// UnmarshalJSON decodes tolerantly, keeping what it does not model in Extra.
func (v *Visit) UnmarshalJSON(b []byte) error {
	if isNull(b) {
		return nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(b, &obj); err != nil {
		return fmt.Errorf("decode visit: %w", err)
	}
	var out Visit
	for k, raw := range obj {
		var ok bool
		switch k {
		case "id":
			ok = decodeText(raw, &out.ID)
		case "contactId":
			ok = decodeText(raw, &out.ContactID)
		case "date":
			ok = decodeTime(raw, &out.Date)
		case "points":
			ok = decodeNumber(raw, &out.Points)
		case "amountSpent":
			ok = decodeNumber(raw, &out.AmountSpent)
		}
		if !ok {
			if out.Extra == nil {
				out.Extra = map[string]json.RawMessage{}
			}
			out.Extra[k] = raw
		}
	}
	*v = out
	return nil
}

func decodeNumber(raw json.RawMessage, dst **float64) bool {
	if isNull(raw) {
		return true
	}
	var n float64
	if json.Unmarshal(raw, &n) != nil {
		return false
	}
	*dst = &n
	return true
}

// CreateVisit checks a contact in. A second visit of the same contact on the same day is
// ErrDuplicate (CONTACT_ALREADY_CHECKED_IN), which makes a retried post harmless; a future
// date is ErrValidation (VISIT_DATE_IN_FUTURE).
func (c *Client) CreateVisit(ctx context.Context, v Visit) (Visit, error) {
	const op = "create visit"
	if err := validateID(op, "contact", v.ContactID); err != nil {
		return Visit{}, err
	}
	body := map[string]any{"contactId": v.ContactID}
	if v.Points != nil {
		body["points"] = *v.Points
	}
	if v.AmountSpent != nil {
		body["amountSpent"] = *v.AmountSpent
	}
	if !v.Date.IsZero() {
		body["date"] = v.Date.UTC().Format(timeLayout)
	}
	var out Visit
	if _, err := c.do(ctx, request{op: op, method: http.MethodPost, path: "/v1/visits", body: body}, &out); err != nil {
		return Visit{}, err
	}
	return out, nil
}
