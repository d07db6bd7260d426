package disclosure

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/wuxiao/wuxiao/api/divcode"
	"github.com/wuxiao/wuxiao/api/openapi"
	"github.com/wuxiao/wuxiao/services/internal/domainerr"
	"github.com/wuxiao/wuxiao/services/internal/httpapi"
	"github.com/wuxiao/wuxiao/services/internal/identity"
	"github.com/wuxiao/wuxiao/services/internal/personal"
	"github.com/wuxiao/wuxiao/services/internal/tz"
)

// Routes registers the disclosure API. Town finance staff of the town record
// and reverse wallet entries and subsidy payments; everything under
// /v1/public is public and shows people only masked.
func (s *Service) Routes(srv *httpapi.Server) {
	srv.Handle("GET /openapi.yaml", httpapi.Public(openapi.Handler(openapi.Disclosure))) // api/openapi/disclosure.yaml
	srv.Handle("GET /v1/public/villages/{village}/wallet", httpapi.Public(http.HandlerFunc(s.publicWallet)))
	srv.Handle("GET /v1/public/villages/{village}/subsidies", httpapi.Public(http.HandlerFunc(s.publicSubsidies)))
	srv.Handle("POST /v1/public/villages/{village}/subsidies/lookup", httpapi.Public(http.HandlerFunc(s.lookup)))
	srv.Handle("GET /v1/public/villages/{village}/export/{year}/ledger.csv", httpapi.Public(http.HandlerFunc(s.exportCSV)))
	srv.Handle("GET /v1/public/villages/{village}/export/{year}/datapackage.json", httpapi.Public(http.HandlerFunc(s.exportDataPackage)))
	// The data package's CSV resource, at the relative path its descriptor names.
	srv.Handle("GET /v1/public/villages/{village}/export/{year}/{file}", httpapi.Public(http.HandlerFunc(s.exportFDPCSV)))

	// The HTML portal the villages' QR codes point to (portal.go).
	s.portalRoutes(srv)

	srv.HandleFunc("POST /v1/villages/{village}/ledger", s.recordEntry)
	srv.HandleFunc("POST /v1/ledger/{id}/reverse", s.reverseEntry)
	srv.HandleFunc("POST /v1/villages/{village}/subsidies", s.recordPayment)
	srv.HandleFunc("POST /v1/subsidies/{id}/reverse", s.reversePayment)
	srv.HandleFunc("POST /v1/villages/{village}/subsidies/lookup-code", s.lookupCode)
}

// lookupCode gives town finance staff a household's lookup code again (a
// payment notice reprinted, or one printed before codes existed). The ID
// number comes in the body, never in a URL, and is not kept.
func (s *Service) lookupCode(w http.ResponseWriter, r *http.Request) {
	village := r.PathValue("village")
	if _, ok := s.finance(w, r, village); !ok {
		return
	}
	var req struct {
		IDNumber string `json:"idNumber"`
	}
	if !httpapi.DecodeJSON(w, r, &req) {
		return
	}
	if !personal.ValidIDNumber(req.IDNumber) {
		httpapi.WriteProblem(w, r, httpapi.ValidationFailed(httpapi.FieldError{Field: "idNumber", Detail: "is not a valid 18-character resident ID number (GB 11643)"}))
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	_ = httpapi.WriteJSON(w, http.StatusOK, map[string]string{"village": village,
		"lookupCode": LookupCode(s.IDHashKey, village, personal.HashID(s.IDHashKey, req.IDNumber))})
}

// writeErr turns the domain's field errors and not-found into problem details.
var writeErr = domainerr.Problems{NotFound: ErrNotFound, NotFoundDetail: "no such record"}.Write

// finance returns the caller if they are town finance staff of this town
// (and, when village is given, the village is a village code); anyone else
// gets 403 (or 401 without a session).
func (s *Service) finance(w http.ResponseWriter, r *http.Request, village string) (identity.Principal, bool) {
	p, ok := identity.FromContext(r.Context())
	if !ok {
		httpapi.WriteProblem(w, r, httpapi.Unauthenticated("sign in first"))
		return p, false
	}
	allowed := p.Role == identity.RoleTownFinance && p.InTown(s.Town)
	if village != "" {
		allowed = allowed && p.CanActInVillage(s.Town, village)
	}
	if allowed && village != "" {
		here, err := s.villageHere(r.Context(), village)
		if err != nil {
			httpapi.WriteError(w, r, err)
			return p, false
		}
		if !here {
			httpapi.WriteProblem(w, r, httpapi.NotFound("village "+village+" is not a village of this town"))
			return p, false
		}
	}
	if !allowed {
		what := "the town's records"
		if village != "" {
			what = "village " + village
		}
		httpapi.WriteProblem(w, r, httpapi.Forbidden("only town finance staff of this town record money for "+what))
		return p, false
	}
	return p, true
}

// villageHere reports whether village may be written to here: once the
// operator has announced any village of the town (a name generation), only
// the announced ones, so that a code of another town's village is refused;
// before any announcement (a town set up by hand) every code.
func (s *Service) villageHere(ctx context.Context, village string) (bool, error) {
	var closed, known bool
	err := s.Pool.QueryRow(ctx, `SELECT EXISTS (SELECT FROM villages WHERE name_generation > 0),
		EXISTS (SELECT FROM villages WHERE code = $1 AND name_generation > 0)`, village).Scan(&closed, &known)
	return known || !closed, err
}

func (s *Service) recordEntry(w http.ResponseWriter, r *http.Request) {
	village := r.PathValue("village")
	p, ok := s.finance(w, r, village)
	if !ok {
		return
	}
	var in EntryInput
	if !httpapi.DecodeJSON(w, r, &in) {
		return
	}
	if in.Village != "" && in.Village != village {
		httpapi.WriteProblem(w, r, httpapi.ValidationFailed(httpapi.FieldError{Field: "village", Detail: "must be omitted or match the path"}))
		return
	}
	in.Village = village
	e, err := s.RecordEntry(r.Context(), p.IdentityID, in)
	if err != nil {
		writeErr(w, r, err)
		return
	}
	_ = httpapi.WriteJSON(w, http.StatusCreated, e)
}

type reverseRequest struct {
	Reason string `json:"reason"`
}

func (s *Service) reverseEntry(w http.ResponseWriter, r *http.Request) {
	p, ok := s.finance(w, r, "")
	if !ok {
		return
	}
	var req reverseRequest
	if !httpapi.DecodeJSON(w, r, &req) {
		return
	}
	e, err := s.ReverseEntry(r.Context(), r.PathValue("id"), req.Reason, p.IdentityID)
	if err != nil {
		writeErr(w, r, err)
		return
	}
	_ = httpapi.WriteJSON(w, http.StatusCreated, e)
}

// staffPayment is a payment as staff see it after recording: the name in
// full, the ID number masked, no hash, and the household's lookup code to
// print on the payment notice (see LookupCode).
type staffPayment struct {
	ID            string    `json:"id"`
	Village       string    `json:"village"`
	Programme     string    `json:"programme"`
	HouseholdName string    `json:"householdName"`
	IDNumber      string    `json:"idNumber"`
	AmountFen     int64     `json:"amountFen"`
	PaidOn        string    `json:"paidOn"`
	Reverses      string    `json:"reverses,omitempty"`
	Reason        string    `json:"reason,omitempty"`
	RecordedBy    string    `json:"recordedBy"`
	RecordedAt    time.Time `json:"recordedAt"`
	LookupCode    string    `json:"lookupCode"`
}

func (s *Service) toStaffPayment(p Payment) staffPayment {
	return staffPayment{ID: p.ID, Village: p.Village, Programme: p.Programme, HouseholdName: p.HouseholdName,
		IDNumber: p.MaskedIDNumber(), AmountFen: p.AmountFen, PaidOn: p.PaidOn, Reverses: p.Reverses, Reason: p.Reason,
		RecordedBy: p.RecordedBy, RecordedAt: p.RecordedAt, LookupCode: LookupCode(s.IDHashKey, p.Village, p.IDHash)}
}

func (s *Service) recordPayment(w http.ResponseWriter, r *http.Request) {
	village := r.PathValue("village")
	p, ok := s.finance(w, r, village)
	if !ok {
		return
	}
	var req PaymentRequest
	if !httpapi.DecodeJSON(w, r, &req) {
		return
	}
	if req.Village != "" && req.Village != village {
		httpapi.WriteProblem(w, r, httpapi.ValidationFailed(httpapi.FieldError{Field: "village", Detail: "must be omitted or match the path"}))
		return
	}
	req.Village = village
	pay, err := s.RecordPayment(r.Context(), p.IdentityID, req)
	if err != nil {
		writeErr(w, r, err)
		return
	}
	_ = httpapi.WriteJSON(w, http.StatusCreated, s.toStaffPayment(pay))
}

func (s *Service) reversePayment(w http.ResponseWriter, r *http.Request) {
	p, ok := s.finance(w, r, "")
	if !ok {
		return
	}
	var req reverseRequest
	if !httpapi.DecodeJSON(w, r, &req) {
		return
	}
	pay, err := s.ReversePayment(r.Context(), r.PathValue("id"), req.Reason, p.IdentityID)
	if err != nil {
		writeErr(w, r, err)
		return
	}
	_ = httpapi.WriteJSON(w, http.StatusCreated, s.toStaffPayment(pay))
}

// publicVillage reads the village of a public route; a malformed code is 404.
func publicVillage(w http.ResponseWriter, r *http.Request) (string, bool) {
	v := r.PathValue("village")
	if !divcode.Valid(v) {
		httpapi.WriteProblem(w, r, httpapi.NotFound("no such village: village codes have 12 digits"))
		return "", false
	}
	return v, true
}

// parseYear reads a four-digit year; empty means the current year in Shanghai.
func (s *Service) parseYear(w http.ResponseWriter, r *http.Request, raw string) (int, bool) {
	if raw == "" {
		return s.now().In(tz.Shanghai).Year(), true
	}
	y, err := strconv.Atoi(raw)
	if err != nil || len(raw) != 4 || y < 1949 {
		httpapi.WriteProblem(w, r, httpapi.ValidationFailed(httpapi.FieldError{Field: "year", Detail: "must be a four-digit year"}))
		return 0, false
	}
	return y, true
}

// PublicEntry is a wallet entry as villagers see it: no recorder, the
// counterparty masked if a person (as stored), reversals flagged both ways.
type PublicEntry struct {
	ID             string   `json:"id"`
	Seq            int64    `json:"seq"`
	Date           string   `json:"date"`
	Kind           Kind     `json:"kind"`
	KindLabel      string   `json:"kindLabel"`
	Category       Category `json:"category"`
	CategoryName   string   `json:"categoryName"`
	AmountFen      int64    `json:"amountFen"` // as recorded: positive, also on a reversal
	Amount         string   `json:"amount"`    // yuan, negative on a reversal
	Description    string   `json:"description"`
	Counterparty   string   `json:"counterparty,omitempty"`
	TrackingNumber string   `json:"trackingNumber,omitempty"`
	Reverses       string   `json:"reverses,omitempty"`
	ReversesSeq    int64    `json:"reversesSeq,omitempty"`
	Reason         string   `json:"reason,omitempty"`
	Reversed       bool     `json:"reversed,omitempty"`
	ReversedBy     string   `json:"reversedBy,omitempty"`
	ReversedBySeq  int64    `json:"reversedBySeq,omitempty"`
}

// PublicWallet is the answer of the public wallet route.
type PublicWallet struct {
	Village     string           `json:"village"`
	Year        int              `json:"year"`
	IncomeFen   int64            `json:"incomeFen"`
	SpendingFen int64            `json:"spendingFen"`
	BalanceFen  int64            `json:"balanceFen"`
	Months      [12]MonthTotals  `json:"months"`
	Categories  []CategoryTotals `json:"categories"`
	Entries     []PublicEntry    `json:"entries"`
}

func (s *Service) publicWallet(w http.ResponseWriter, r *http.Request) {
	village, ok := publicVillage(w, r)
	if !ok {
		return
	}
	year, ok := s.parseYear(w, r, r.URL.Query().Get("year"))
	if !ok {
		return
	}
	sum, err := s.Summary(r.Context(), village, year)
	if err != nil {
		writeErr(w, r, err)
		return
	}
	out := PublicWallet{Village: village, Year: year, IncomeFen: sum.IncomeFen, SpendingFen: sum.SpendingFen,
		BalanceFen: sum.BalanceFen, Months: sum.Months, Categories: sum.Categories, Entries: make([]PublicEntry, 0, len(sum.Lines))}
	for _, l := range sum.Lines {
		out.Entries = append(out.Entries, PublicEntry{ID: l.ID, Seq: l.Seq, Date: l.Date, Kind: l.Kind, KindLabel: l.Kind.Label(),
			Category: l.Category, CategoryName: l.Category.Name(), AmountFen: l.AmountFen, Amount: FormatYuan(l.NetFen()),
			Description: l.Description, Counterparty: l.Counterparty, TrackingNumber: l.TrackingNumber,
			Reverses: l.Reverses, ReversesSeq: l.ReversesSeq, Reason: l.Reason,
			Reversed: l.Reversed, ReversedBy: l.ReversedBy, ReversedBySeq: l.ReversedBySeq})
	}
	w.Header().Set("Cache-Control", "public, max-age=60")
	_ = httpapi.WriteJSON(w, http.StatusOK, out)
}

func (s *Service) publicSubsidies(w http.ResponseWriter, r *http.Request) {
	village, ok := publicVillage(w, r)
	if !ok {
		return
	}
	year, ok := s.parseYear(w, r, r.URL.Query().Get("year"))
	if !ok {
		return
	}
	all, err := s.Payments(r.Context(), village)
	if err != nil {
		writeErr(w, r, err)
		return
	}
	prefix := fmt.Sprintf("%04d-", year)
	var inYear []Payment
	for _, p := range all {
		if strings.HasPrefix(p.PaidOn, prefix) {
			inYear = append(inYear, p)
		}
	}
	w.Header().Set("Cache-Control", "public, max-age=60")
	_ = httpapi.WriteJSON(w, http.StatusOK, map[string]any{"village": village, "year": year,
		"programmes": SummarizePayments(all, year), "items": PublicPayments(inYear)})
}

func (s *Service) lookup(w http.ResponseWriter, r *http.Request) {
	village, ok := publicVillage(w, r)
	if !ok {
		return
	}
	var req struct {
		IDNumber   string `json:"idNumber"`
		Name       string `json:"name"`
		LookupCode string `json:"lookupCode"`
	}
	if !httpapi.DecodeJSON(w, r, &req) {
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	if ok, wait := s.allowLookup(r, village, req.IDNumber); !ok {
		httpapi.WriteTooManyRequests(w, r, "too many lookups from this client, for this village or for this household; try again later", wait)
		return
	}
	found, err := s.LookupOwn(r.Context(), village, req.IDNumber, req.Name, req.LookupCode)
	if err != nil {
		writeErr(w, r, err)
		return
	}
	// Never cached (set above): the answer is about the person who asked.
	_ = httpapi.WriteItems(w, PublicPayments(found))
}

// exportEntries reads the village and year of an export route and the
// entries to export.
func (s *Service) exportEntries(w http.ResponseWriter, r *http.Request) (string, int, []Entry, bool) {
	village, ok := publicVillage(w, r)
	if !ok {
		return "", 0, nil, false
	}
	year, ok := s.parseYear(w, r, r.PathValue("year"))
	if !ok {
		return "", 0, nil, false
	}
	es, err := s.Entries(r.Context(), village, year)
	if err != nil {
		writeErr(w, r, err)
		return "", 0, nil, false
	}
	return village, year, es, true
}

func (s *Service) exportCSV(w http.ResponseWriter, r *http.Request) {
	village, year, es, ok := s.exportEntries(w, r)
	if !ok {
		return
	}
	var buf bytes.Buffer
	if err := WriteCSV(&buf, es, year); err != nil {
		writeErr(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="wallet-%s-%d.csv"`, village, year))
	_, _ = w.Write(buf.Bytes())
}

func (s *Service) exportDataPackage(w http.ResponseWriter, r *http.Request) {
	village, year, es, ok := s.exportEntries(w, r)
	if !ok {
		return
	}
	// Village names are not known to this service yet: the code stands in.
	desc, err := FiscalDataPackage(village, village, year, es)
	if err != nil {
		writeErr(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(desc) //nolint:gosec // G705: JSON marshalled by FiscalDataPackage, served as application/json
}

func (s *Service) exportFDPCSV(w http.ResponseWriter, r *http.Request) {
	village, ok := publicVillage(w, r)
	if !ok {
		return
	}
	year, err := strconv.Atoi(r.PathValue("year"))
	if err != nil || r.PathValue("file") != FDPDataPath(village, year) {
		httpapi.WriteProblem(w, r, httpapi.NotFound("no such export"))
		return
	}
	es, err := s.Entries(r.Context(), village, year)
	if err != nil {
		writeErr(w, r, err)
		return
	}
	var buf bytes.Buffer
	if err := WriteFDPCSV(&buf, es, year); err != nil {
		writeErr(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	_, _ = w.Write(buf.Bytes())
}
