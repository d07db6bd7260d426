// Package disclosure is a town's disclosure service: what villagers may see
// of their village, on the page its QR code opens (一码当先).
//
// It owns the village wallet (我们的钱包, ledger.go: immutable entries
// numbered per village, corrected only by a reversing entry that stays
// public), subsidy payments to households (补贴去哪了, subsidies.go: ID
// numbers kept only as keyed hashes, names and numbers masked), their
// exports (CSV and Fiscal Data Package), the projection of the workflow's
// events that the public tracker shows (流程到哪了, processes.go), the
// public portal with its QR codes (portal*.go) and the town's power list as
// the portal shows it. Money is always int64 fen (分).
//
// Records are immutable: an entry or payment is never edited or deleted; a
// mistake is corrected by a reversing record (冲销) that carries a reason,
// and both stay visible to the public, flagged.
//
// The HTTP API for town finance staff is documented in
// api/openapi/disclosure.yaml.
package disclosure
