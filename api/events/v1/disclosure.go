package eventsv1

// Event types published by the disclosure service on the town's disclosure
// stream.
const (
	// TypeEntryPublished: an entry was added to a village's wallet (我们的钱包),
	// recorded by town finance staff or derived from a completed process.
	TypeEntryPublished = "cn.wuxiao.disclosure.entry.published.v1"
	// TypeEntryCorrected: a reversing entry (冲销) cancelled an earlier one;
	// both stay public.
	TypeEntryCorrected = "cn.wuxiao.disclosure.entry.corrected.v1"
)

// LedgerEntry is the public part of a wallet entry, carried by both
// disclosure entry events. Amounts are fen (分), always positive: a
// correction is the entry whose Reverses is set.
type LedgerEntry struct {
	EntryID   string `json:"entryId"`
	Village   string `json:"village"`
	Seq       int64  `json:"seq"`
	Kind      string `json:"kind"`     // income or spending
	Category  string `json:"category"` // ledger heading, e.g. other-expenses
	AmountFen int64  `json:"amountFen"`
	Date      string `json:"date"` // YYYY-MM-DD, Shanghai
	// TrackingNumber links the entry to the workflow process that approved it.
	TrackingNumber string `json:"trackingNumber,omitempty"`
	// Reverses is the id of the entry a correction cancels; Reason says why.
	Reverses string `json:"reverses,omitempty"`
	Reason   string `json:"reason,omitempty"`
}

// EntryPublished is the data of TypeEntryPublished.
type EntryPublished struct {
	LedgerEntry
}

// EntryCorrected is the data of TypeEntryCorrected: the reversing entry,
// whose Reverses and Reason are set.
type EntryCorrected struct {
	LedgerEntry
}
