package syncmodel

import "testing"

func TestWithOverrides(t *testing.T) {
	m := DefaultMapping()
	same, err := m.WithOverrides("", "")
	if err != nil || same != m {
		t.Fatalf("no overrides: %v", err)
	}
	o, err := m.WithOverrides("gb", DeleteIgnore)
	if err != nil {
		t.Fatal(err)
	}
	if o.PhoneRegion() != "GB" || o.DeletePolicy() != DeleteIgnore {
		t.Errorf("overridden: region %s, policy %s", o.PhoneRegion(), o.DeletePolicy())
	}
	if m.PhoneRegion() != "US" || m.DeletePolicy() != DeleteLabel {
		t.Errorf("the original changed: region %s, policy %s", m.PhoneRegion(), m.DeletePolicy())
	}
	if len(o.Fields()) != len(m.Fields()) || o.NotesField() != m.NotesField() {
		t.Errorf("the rest of the mapping was not kept")
	}
	for _, bad := range [][2]string{{"XX", ""}, {"", "shred"}} {
		if _, err := m.WithOverrides(bad[0], DeletePolicy(bad[1])); err == nil {
			t.Errorf("WithOverrides(%q, %q) accepted", bad[0], bad[1])
		}
	}
	if !ValidRegion("de") || ValidRegion("ZZZ") {
		t.Errorf("ValidRegion")
	}
}
