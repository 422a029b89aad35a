package domain

// Preview is what the first backfill of a connection will do (activities.PreviewFirstSync
// works it out by reading both sides and writing nothing). It applies the backfill's own
// matching (a HighLevel contact pairs with one Referrizer contact only) and the first
// pass's holds (people sharing their e-mail or phone with another person of their own
// side), so on a connection nothing has synced yet its counts are the backfill's: Linked
// is BackfillProgress.Linked, Ambiguous its Ambiguous, CreateInRZ+CreateInGHL its Created.
type Preview struct {
	GHLContacts int `json:"ghlContacts"`
	RZContacts  int `json:"rzContacts"`
	Linked      int `json:"linked"`      // pairs matched across sides
	CreateInRZ  int `json:"createInRZ"`  // HighLevel people the first sync creates in Referrizer
	CreateInGHL int `json:"createInGHL"` // Referrizer people the first sync creates in HighLevel
	Ambiguous   int `json:"ambiguous"`   // Referrizer people matching several, or a taken, HighLevel contact
	Held        int `json:"held"`        // one-sided people sharing a key with another of their side: not created
	// AmbiguousPeople lists the ambiguous ones with their candidates, to pick from.
	AmbiguousPeople []PreviewAmbiguous `json:"ambiguousPeople,omitempty"`
	// Merges is a sample of linked pairs and what their first sync changes.
	Merges     []PreviewMerge `json:"merges,omitempty"`
	Incomplete bool           `json:"incomplete,omitempty"`
}

// PreviewPerson names a contact on one side.
type PreviewPerson struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Email string `json:"email,omitempty"`
	Phone string `json:"phone,omitempty"`
}

// PreviewAmbiguous is a Referrizer contact the backfill will not link by itself.
type PreviewAmbiguous struct {
	RZ         PreviewPerson   `json:"rz"`
	Candidates []PreviewPerson `json:"candidates"`
	Reason     string          `json:"reason"`
}

// PreviewMerge is one linked pair and the summary of its first sync's plan.
type PreviewMerge struct {
	GHL     PreviewPerson `json:"ghl"`
	RZ      PreviewPerson `json:"rz"`
	Summary string        `json:"summary"`
}
