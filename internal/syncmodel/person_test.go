package syncmodel

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestNormalize(t *testing.T) {
	us := DefaultMapping()
	gb := mustMapping(t, "phone_region: GB")
	in := Person{
		FirstName: "  Ann ", LastName: "\tLee\n", Email: "  Ann@Example.COM ", Phone: " (212) 555-0182 ",
		Tags: []string{" vip", "VIP", "", "promo "}, Custom: map[string]string{"a": " 1 ", "b": "  "},
		Source: " facebook ", UpdatedAt: day(1).In(fixedZone),
	}
	want := Person{
		FirstName: "Ann", LastName: "Lee", Email: "Ann@Example.COM", Phone: "+12125550182",
		Tags: []string{"promo", "vip"}, Custom: map[string]string{"a": "1"}, Source: "facebook", UpdatedAt: day(1),
	}
	got := us.Normalize(in)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Normalize (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(got, us.Normalize(got)); diff != "" {
		t.Errorf("Normalize is not idempotent (-once +twice):\n%s", diff)
	}
	if got := gb.Normalize(Person{Phone: "020 7946 0958"}).Phone; got != "+442079460958" {
		t.Errorf("GB phone = %q", got)
	}
}

func TestNormalizePhone(t *testing.T) {
	tests := []struct{ raw, region, want string }{
		{"+1 212 555 0182", "US", "+12125550182"},
		{"(212) 555-0182", "US", "+12125550182"},
		{"1-212-555-0182", "US", "+12125550182"},
		{"(555) 123-4567", "US", "+15551234567"}, // possible though unassigned: test data still matches
		{"+44 20 7946 0958", "US", "+442079460958"},
		{"020 7946 0958", "GB", "+442079460958"},
		{"555-0100", "US", "555-0100"}, // local only: no area code, kept as written
		{"  call me  ", "US", "call me"},
		{"12", "US", "12"},
		{"", "US", ""},
	}
	for _, tt := range tests {
		if got := NormalizePhone(tt.raw, tt.region); got != tt.want {
			t.Errorf("NormalizePhone(%q, %s) = %q, want %q", tt.raw, tt.region, got, tt.want)
		}
	}
}

func TestSlug(t *testing.T) {
	for in, want := range map[string]string{
		"Facebook Ads!": "facebook-ads", "  --Google--  ": "google", "Café Été": "café-été", "a_b.c": "a-b-c", "": "", "!!": "",
	} {
		if got := Slug(in); got != want {
			t.Errorf("Slug(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSideOther(t *testing.T) {
	if SideGHL.Other() != SideRZ || SideRZ.Other() != SideGHL {
		t.Error("Other")
	}
	if !Both.Flows(SideGHL, SideRZ) || !Both.Flows(SideRZ, SideGHL) || Both.Flows(SideGHL, SideGHL) ||
		!GHLToRZ.Flows(SideGHL, SideRZ) || GHLToRZ.Flows(SideRZ, SideGHL) ||
		!RZToGHL.Flows(SideRZ, SideGHL) || RZToGHL.Flows(SideGHL, SideRZ) || Direction("x").Flows(SideGHL, SideRZ) {
		t.Error("Flows")
	}
}
