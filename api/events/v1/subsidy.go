package eventsv1

// TypePaymentRecorded: a subsidy payment to a household ("补贴去哪了") was
// recorded in a village's books. The disclosure service publishes it on the
// town's disclosure stream; the inspection service cross-checks the payee
// against cadres' recorded relatives and the register of deceased persons
// (Hunan-style 大数据比对).
const TypePaymentRecorded = "cn.wuxiao.disclosure.payment.recorded.v1"

// PaymentRecorded is the data of TypePaymentRecorded. It never carries the
// payee's name or ID number in clear: only the masked name and the keyed
// hash of the ID number, which every service computes with the town's
// key, Secret wuxiao-id-hash-key (HMAC-SHA256, hex, of the normalised number; see
// services/internal/personal HashID).
type PaymentRecorded struct {
	// PaymentID identifies the payment in the disclosure service; a payment
	// announced twice (under two event ids) is the same payment.
	PaymentID string `json:"paymentId"`
	Village   string `json:"village"`
	// Programme is the subsidy programme, e.g. 耕地地力保护补贴.
	Programme string `json:"programme"`
	// PayeeNameMasked is the payee's name as shown publicly, e.g. 张*明.
	PayeeNameMasked string `json:"payeeNameMasked"`
	// PayeeIDHash is the keyed hash of the payee's resident ID number
	// (64 lower-case hex characters).
	PayeeIDHash string `json:"payeeIdHash"`
	AmountFen   int64  `json:"amountFen"`
	// Date is the payment date, YYYY-MM-DD (Shanghai).
	Date string `json:"date"`
}

// TypeCrossCheckFlagged: the inspection service found a subsidy payment
// whose payee is a recorded relative of a cadre of the same village, or is
// recorded as deceased. Published on the town's inspection stream; it names
// neither the cadre nor the relative (those stay in the integrity file).
const TypeCrossCheckFlagged = "cn.wuxiao.inspection.crosscheck.flagged.v1"

// Kinds of cross-check flags.
const (
	CrossCheckPayeeRelative = "payee-relative" // 收款人为本村干部亲属
	CrossCheckPayeeDeceased = "payee-deceased" // 收款人已登记死亡
)

// CrossCheckFlagged is the data of TypeCrossCheckFlagged.
type CrossCheckFlagged struct {
	FlagID          string `json:"flagId"`
	Kind            string `json:"kind"`
	Village         string `json:"village"`
	PaymentID       string `json:"paymentId"`
	Programme       string `json:"programme"`
	PayeeNameMasked string `json:"payeeNameMasked"`
	AmountFen       int64  `json:"amountFen"`
	Date            string `json:"date"`
}
