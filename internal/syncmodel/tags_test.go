package syncmodel

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestMergeTags(t *testing.T) {
	both := DefaultMapping()
	toRZ := mustMapping(t, "fields: {tags: ghl->rz}")
	toGHL := mustMapping(t, "fields: {tags: rz->ghl}")
	none := mustMapping(t, "fields: {email: both}")
	excl := mustMapping(t, "fields: {tags: {direction: both, exclude: [src-*, Exact]}}")
	tests := []struct {
		name          string
		m             *Mapping
		base, ghl, rz []string
		hasBase       bool
		want          TagMerge
	}{
		{"first sync: union", both, nil, []string{"a", "b"}, []string{"B", "c"}, false,
			TagMerge{GHLAdd: []string{"c"}, RZAdd: []string{"a"}, Result: []string{"a", "b", "c"}}},
		{"first sync with an empty base is still a union", both, []string{}, []string{"a"}, []string{"c"}, false,
			TagMerge{GHLAdd: []string{"c"}, RZAdd: []string{"a"}, Result: []string{"a", "c"}}},
		{"empty base that exists: removals are not possible", both, nil, []string{"a"}, nil, true,
			TagMerge{RZAdd: []string{"a"}, Result: []string{"a"}}},
		{"adds and removes both ways", both, []string{"a", "b", "c"}, []string{"a", "c", "d"}, []string{"a", "b", "e"}, true,
			TagMerge{GHLAdd: []string{"e"}, GHLRemove: []string{"c"}, RZAdd: []string{"d"}, RZRemove: []string{"b"}, Result: []string{"a", "d", "e"}}},
		{"same add on both sides", both, []string{"a"}, []string{"a", "n"}, []string{"a", "N"}, true,
			TagMerge{Result: []string{"a", "n"}}},
		{"same removal on both sides", both, []string{"a", "b"}, []string{"a"}, []string{"a"}, true,
			TagMerge{Result: []string{"a"}}},
		{"removal spelled as the side stores it, every spelling", both, []string{"vip"}, nil, []string{"VIP", "Vip", "x"}, true,
			TagMerge{GHLAdd: []string{"x"}, RZRemove: []string{"VIP", "Vip"}, Result: []string{"x"}}},
		{"base spelling kept in the result", both, []string{"Promo"}, []string{"promo"}, []string{"PROMO"}, true,
			TagMerge{Result: []string{"Promo"}}},
		{"one-way ghl->rz ignores Referrizer changes", toRZ, []string{"a", "b"}, []string{"a", "b", "c"}, []string{"b", "z"}, true,
			TagMerge{RZAdd: []string{"c"}, Result: []string{"a", "b", "c"}}},
		{"one-way ghl->rz removes what HighLevel removed", toRZ, []string{"a", "b"}, []string{"a"}, []string{"a", "b"}, true,
			TagMerge{RZRemove: []string{"b"}, Result: []string{"a"}}},
		{"one-way rz->ghl first sync", toGHL, nil, []string{"a"}, []string{"b"}, false,
			TagMerge{GHLAdd: []string{"b"}, Result: []string{"b"}}},
		{"tags not mapped", none, nil, []string{"a"}, []string{"b"}, false, TagMerge{}},
		{"reserved and excluded tags never move", excl, []string{"ghl-task-open"}, []string{"src-google", "exact", "hlrz-deleted"}, []string{"ghl-task-overdue", "SRC-x"}, true,
			TagMerge{}},
		{"blank tags are ignored", both, nil, []string{" ", ""}, []string{" x "}, false,
			TagMerge{GHLAdd: []string{"x"}, Result: []string{"x"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.m.MergeTags(tt.base, tt.ghl, tt.rz, tt.hasBase)
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("MergeTags (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSyncedTags(t *testing.T) {
	m := mustMapping(t, `
deleted_label: Gone
fields: {tags: {direction: both, exclude: ["src-*", "internal"]}}
projections: {tasks: {open_label: todo, overdue_label: late}}
`)
	got := m.SyncedTags([]string{"VIP", "vip", " lead ", "", "gone", "TODO", "late", "src-facebook", "Internal", "internal-x", "source"})
	if diff := cmp.Diff([]string{"internal-x", "lead", "source", "VIP"}, got); diff != "" {
		t.Errorf("SyncedTags (-want +got):\n%s", diff)
	}
}
