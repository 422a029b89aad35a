package syncmodel

import (
	"testing"
	"time"
)

// mustMapping parses a mapping document or fails the test.
func mustMapping(t testing.TB, doc string) *Mapping {
	t.Helper()
	m, err := ParseMapping([]byte(doc))
	if err != nil {
		t.Fatalf("ParseMapping: %v\n%s", err, doc)
	}
	return m
}

// day returns midnight UTC of 2024-05-<d>.
func day(d int) time.Time { return time.Date(2024, 5, d, 0, 0, 0, 0, time.UTC) }

// fixedZone is a non-UTC zone, to check that times are normalized to UTC.
var fixedZone = time.FixedZone("UTC+2", 2*3600)

// mixedMapping exercises every direction, a transform and a custom both-way field.
const mixedMapping = `
fields:
  firstName: {direction: both, conflict: newest-wins}
  lastName: rz->ghl
  email: {direction: both, conflict: ghl-wins}
  phone: ghl->rz
  dnd: both
  tags: {direction: both, exclude: ["src-*"]}
custom_fields:
  - {key: level, ghl: cf1, rz: Level, direction: ghl->rz, transform: 'value.upperAscii()'}
  - {key: goal, ghl: cf2, rz: Goal, direction: both, conflict: rz-wins}
`
