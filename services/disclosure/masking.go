package disclosure

import "github.com/wuxiao/wuxiao/services/internal/personal"

// MaskCounterparty returns the form of a ledger counterparty that may be
// stored and published: personal.MaskCounterparty, which keeps an
// organisation's name and masks anything else, a person's name with
// annotations included. Public outputs apply it again (publicText), so
// that entries stored before it was this strict are masked too.
func MaskCounterparty(s string) string { return personal.MaskCounterparty(s) }

// publicText is an entry as every public output (the JSON API, the CSV
// and Fiscal Data Package exports, the portal) shows it: free text with ID
// and phone numbers masked, the counterparty masked unless an
// organisation.
func publicText(e Entry) Entry {
	e.Description = personal.ScrubText(e.Description)
	e.Counterparty = personal.MaskCounterparty(e.Counterparty)
	e.Reason = personal.ScrubText(e.Reason)
	e.TrackingNumber = personal.ScrubText(e.TrackingNumber)
	return e
}
