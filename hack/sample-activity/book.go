package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/wuxiao/wuxiao/services/complaint"
	"github.com/wuxiao/wuxiao/services/disclosure"
	"github.com/wuxiao/wuxiao/services/workflow"
)

// Targets says where a town's service answers (a base URL, no path).
type Targets interface {
	URL(ctx context.Context, town, service string) (string, error)
}

// Tokens signs in the sample-data identity of a role (per village, or per
// town for town roles) and returns its session token.
type Tokens interface {
	Token(ctx context.Context, role, town, village string) (string, error)
}

// Booker books plans through the services' APIs.
type Booker struct {
	Client  client
	Targets Targets
	Tokens  Tokens
}

// Result is what booking one village did.
type Result struct {
	Village Village
	// Done: the village had its year already (nothing was booked).
	Done bool
	// Counts of what this run booked.
	Entries, Reversals, Payments, Started, Steps, Evidence, Complaints int
	// ProofsOfWork counts complaints the intake let in only with one.
	ProofsOfWork int
	// Completed and Open count the plan's processes as they stand.
	Completed, Open int
	// Deferred lists what could not be booked now and a rerun books
	// (a complaint refused by the intake's rate limit).
	Deferred []string
	Took     time.Duration
}

// Booked reports whether the run booked anything for the village.
func (r Result) Booked() bool {
	return r.Entries+r.Reversals+r.Payments+r.Started+r.Steps+r.Evidence+r.Complaints > 0
}

// villageErr names the village and the step that failed.
func villageErr(v Village, what string, err error) error {
	return fmt.Errorf("village %s %s (%s): %s: %w", v.Code, v.Name, v.Town, what, err)
}

// urls of the village's town.
type urls struct{ workflow, disclosure, complaint string }

func (b *Booker) urls(ctx context.Context, v Village) (urls, error) {
	var u urls
	for _, s := range []struct {
		name string
		dst  *string
	}{{"workflow", &u.workflow}, {"disclosure", &u.disclosure}, {"complaint", &u.complaint}} {
		base, err := b.Targets.URL(ctx, v.Town, s.name)
		if err != nil {
			return u, err
		}
		*s.dst = base
	}
	return u, nil
}

// Book books what of plan is missing. The wallet is booked last and the
// correction is its last entry: a village whose planned mistake is already
// reversed is done, which a rerun finds with public reads alone, signing
// nobody in. Any other state is converged section by section (processes,
// subsidies, complaints, wallet), each record recognised by its key, so an
// interrupted run is completed by the next and nothing is booked twice.
func (b *Booker) Book(ctx context.Context, plan Plan) (Result, error) {
	t0 := time.Now()
	v := plan.Village
	res := Result{Village: v}
	u, err := b.urls(ctx, v)
	if err != nil {
		return res, villageErr(v, "finding the town's services", err)
	}
	years := plan.years()
	wallet, err := b.wallet(ctx, u, v, years)
	if err != nil {
		return res, villageErr(v, "reading the wallet", err)
	}
	if corrected(plan, wallet) {
		res.Done = true
		res.Took = time.Since(t0)
		return res, nil
	}
	tracking, err := b.bookProcesses(ctx, u, plan, &res)
	if err != nil {
		return res, err
	}
	if err := b.bookPayments(ctx, u, plan, years, &res); err != nil {
		return res, err
	}
	if err := b.bookComplaints(ctx, u, plan, &res); err != nil {
		return res, err
	}
	if err := b.bookWallet(ctx, u, plan, wallet, tracking, &res); err != nil {
		return res, err
	}
	res.Took = time.Since(t0)
	return res, nil
}

// years are the calendar years the plan's dates fall in.
func (p Plan) years() []int {
	today, _ := time.Parse(time.DateOnly, p.Today)
	return []int{today.Year() - 1, today.Year()}
}

func (b *Booker) wallet(ctx context.Context, u urls, v Village, years []int) ([]disclosure.PublicEntry, error) {
	var all []disclosure.PublicEntry
	for _, y := range years {
		var w disclosure.PublicWallet
		if err := b.Client.call(ctx, http.MethodGet, fmt.Sprintf("%s/v1/public/villages/%s/wallet?year=%d", u.disclosure, v.Code, y), "", nil, nil, &w); err != nil {
			return nil, err
		}
		all = append(all, w.Entries...)
	}
	return all, nil
}

// sameEntry: a booked entry is the planned one (dates are not compared:
// they move with the day of the run).
func sameEntry(e disclosure.PublicEntry, p Entry) bool {
	return e.Reverses == "" && e.Kind == p.Kind && e.Category == p.Category && e.AmountFen == p.AmountFen && e.Description == p.Description
}

// corrected reports whether the plan's mistake is booked and reversed.
func corrected(p Plan, wallet []disclosure.PublicEntry) bool {
	wrong := p.Entries[p.Correction.Index]
	return slices.ContainsFunc(wallet, func(e disclosure.PublicEntry) bool { return sameEntry(e, wrong) && e.Reversed })
}

// ------------------------------------------------------------ processes

// bookProcesses drives each planned process to its step and returns the
// tracking numbers by process key.
func (b *Booker) bookProcesses(ctx context.Context, u urls, plan Plan, res *Result) (map[string]string, error) {
	v := plan.Village
	reader, err := b.Tokens.Token(ctx, roleSecretary, v.Town, v.Code)
	if err != nil {
		return nil, villageErr(v, "signing in the sample secretary", err)
	}
	var list struct {
		Items []*workflow.Instance `json:"items"`
	}
	if err := b.Client.call(ctx, http.MethodGet, fmt.Sprintf("%s/v1/villages/%s/instances?limit=200", u.workflow, v.Code), reader, nil, nil, &list); err != nil {
		return nil, villageErr(v, "listing its processes", err)
	}
	tracking := map[string]string{}
	for _, p := range plan.Processes {
		i := slices.IndexFunc(list.Items, func(x *workflow.Instance) bool {
			return x.ItemID == p.Start.ItemID && x.Title == p.Start.Title && x.Status != workflow.StatusWithdrawn
		})
		var inst *workflow.Instance
		if i >= 0 {
			inst = list.Items[i]
		} else {
			tok, err := b.Tokens.Token(ctx, p.StartRole, v.Town, v.Code)
			if err != nil {
				return nil, villageErr(v, "signing in the sample "+p.StartRole, err)
			}
			inst = &workflow.Instance{}
			if err := b.Client.call(ctx, http.MethodPost, fmt.Sprintf("%s/v1/villages/%s/instances", u.workflow, v.Code), tok, nil, p.Start, inst); err != nil {
				return nil, villageErr(v, fmt.Sprintf("starting %s (%s)", p.Start.ItemID, p.Start.Title), err)
			}
			res.Started++
		}
		if err := b.drive(ctx, u, v, p, inst, res); err != nil {
			return nil, err
		}
		tracking[p.Key] = inst.TrackingNumber
		if inst.Status == workflow.StatusCompleted {
			res.Completed++
		} else {
			res.Open++
		}
	}
	return tracking, nil
}

// drive records the process's steps that are not recorded yet.
func (b *Booker) drive(ctx context.Context, u urls, v Village, p Process, inst *workflow.Instance, res *Result) error {
	for _, s := range p.Steps {
		if stepDone(inst, s.ID) {
			continue
		}
		if inst.Status != workflow.StatusRunning || inst.Current != s.ID {
			return villageErr(v, fmt.Sprintf("process %s (%s)", inst.TrackingNumber, p.Start.Title),
				fmt.Errorf("is %s at step %q; the plan records %q next (changed by hand? withdraw it to let a rerun start a new one)", inst.Status, inst.Current, s.ID))
		}
		tok, err := b.Tokens.Token(ctx, s.Role, v.Town, v.Code)
		if err != nil {
			return villageErr(v, "signing in the sample "+s.Role, err)
		}
		if s.Evidence != nil && !slices.ContainsFunc(inst.Evidence, func(e workflow.Evidence) bool { return e.StepID == s.ID }) {
			if err := b.Client.call(ctx, http.MethodPost, fmt.Sprintf("%s/v1/instances/%s/evidence", u.workflow, inst.ID), tok, nil, s.Evidence, nil); err != nil {
				return villageErr(v, fmt.Sprintf("attaching evidence to step %s of %s", s.ID, inst.TrackingNumber), err)
			}
			res.Evidence++
		}
		var out struct {
			Instance *workflow.Instance `json:"instance"`
			Warnings []workflow.Warning `json:"warnings"`
		}
		if err := b.Client.call(ctx, http.MethodPost, fmt.Sprintf("%s/v1/instances/%s/steps/%s/complete", u.workflow, inst.ID, s.ID), tok, nil,
			workflow.CompleteRequest{Next: s.Next, Note: "样例数据（自动生成）"}, &out); err != nil {
			return villageErr(v, fmt.Sprintf("recording step %s of %s", s.ID, inst.TrackingNumber), err)
		}
		if out.Instance == nil {
			return villageErr(v, fmt.Sprintf("recording step %s of %s", s.ID, inst.TrackingNumber), errors.New("no instance in the answer"))
		}
		*inst = *out.Instance
		res.Steps++
		for _, w := range out.Warnings {
			res.Deferred = append(res.Deferred, fmt.Sprintf("warning on %s step %s: %s", inst.TrackingNumber, s.ID, w.Message))
		}
	}
	want := workflow.StatusCompleted
	if p.WantCurrent != "" {
		want = workflow.StatusRunning
	}
	if inst.Status != want || inst.Current != p.WantCurrent {
		return villageErr(v, fmt.Sprintf("process %s (%s)", inst.TrackingNumber, p.Start.Title),
			fmt.Errorf("ended %s at %q, want %s at %q", inst.Status, inst.Current, want, p.WantCurrent))
	}
	return nil
}

func stepDone(inst *workflow.Instance, step string) bool {
	return slices.ContainsFunc(inst.Steps, func(r workflow.StepRecord) bool { return r.StepID == step && r.CompletedAt != nil })
}

// ------------------------------------------------------------- subsidies

// publicForm is a payment as the public list shows it, computed with the
// disclosure service's own masking (the key only feeds the hash, which the
// public form leaves out).
func publicForm(p disclosure.PaymentRequest) (disclosure.PublicPayment, error) {
	pay, err := disclosure.NewPayment([]byte("sample-activity: masking only"), disclosure.PaymentInput{ID: "x", Village: p.Village,
		Programme: p.Programme, HouseholdName: p.HouseholdName, IDNumber: p.IDNumber, AmountFen: p.AmountFen, PaidOn: p.PaidOn})
	if err != nil {
		return disclosure.PublicPayment{}, err
	}
	return disclosure.PublicPayments([]disclosure.Payment{pay})[0], nil
}

func (b *Booker) bookPayments(ctx context.Context, u urls, plan Plan, years []int, res *Result) error {
	v := plan.Village
	var listed []disclosure.PublicPayment
	for _, y := range years {
		var out struct {
			Items []disclosure.PublicPayment `json:"items"`
		}
		if err := b.Client.call(ctx, http.MethodGet, fmt.Sprintf("%s/v1/public/villages/%s/subsidies?year=%d", u.disclosure, v.Code, y), "", nil, nil, &out); err != nil {
			return villageErr(v, "reading its subsidy payments", err)
		}
		listed = append(listed, out.Items...)
	}
	for _, p := range plan.Payments {
		pub, err := publicForm(p)
		if err != nil {
			return villageErr(v, "preparing a subsidy payment", err)
		}
		if slices.ContainsFunc(listed, func(x disclosure.PublicPayment) bool {
			return x.Reverses == "" && x.Programme == pub.Programme && x.Name == pub.Name && x.IDNumber == pub.IDNumber && x.AmountFen == pub.AmountFen
		}) {
			continue
		}
		tok, err := b.Tokens.Token(ctx, roleTownFinance, v.Town, v.Code)
		if err != nil {
			return villageErr(v, "signing in the sample town finance officer", err)
		}
		if err := b.Client.call(ctx, http.MethodPost, fmt.Sprintf("%s/v1/villages/%s/subsidies", u.disclosure, v.Code), tok, nil, p, nil); err != nil {
			return villageErr(v, "recording a subsidy payment ("+p.Programme+")", err)
		}
		res.Payments++
	}
	return nil
}

// ------------------------------------------------------------ complaints

func (b *Booker) bookComplaints(ctx context.Context, u urls, plan Plan, res *Result) error {
	v := plan.Village
	tok, err := b.Tokens.Token(ctx, roleTownDiscipline, v.Town, v.Code)
	if err != nil {
		return villageErr(v, "signing in the sample town discipline officer", err)
	}
	var list struct {
		Items []struct {
			Description string `json:"description"`
		} `json:"items"`
	}
	if err := b.Client.call(ctx, http.MethodGet, fmt.Sprintf("%s/v1/villages/%s/complaints?limit=1000", u.complaint, v.Code), tok, nil, nil, &list); err != nil {
		return villageErr(v, "listing its complaints", err)
	}
	for _, c := range plan.Complaints {
		if slices.ContainsFunc(list.Items, func(x struct {
			Description string `json:"description"`
		}) bool {
			return x.Description == c.Description
		}) {
			continue
		}
		solved, err := b.file(ctx, u, v, c)
		if solved {
			res.ProofsOfWork++
		}
		var ae *apiError
		if errors.As(err, &ae) && ae.Status == http.StatusTooManyRequests {
			res.Deferred = append(res.Deferred, fmt.Sprintf("complaint (%s) refused by the intake's rate limit (retry after %ss): a rerun files it", c.Category, ae.Header.Get("Retry-After")))
			continue
		}
		if err != nil {
			return villageErr(v, "filing a complaint ("+string(c.Category)+")", err)
		}
		res.Complaints++
	}
	return nil
}

// file posts a report to the public intake as the report page's script
// does: anonymously, and, when the intake answers 428 (a flooded village),
// once more with the proof of work it asked for, solved with the
// complaint service's own SolvePoW.
// It reports whether it had to solve one.
func (b *Booker) file(ctx context.Context, u urls, v Village, c Complaint) (bool, error) {
	endpoint := fmt.Sprintf("%s/v1/public/villages/%s/complaints", u.complaint, v.Code)
	body := map[string]any{"category": c.Category, "description": c.Description}
	hdr := map[string]string{"X-Forwarded-For": c.ClientAddr}
	err := b.Client.call(ctx, http.MethodPost, endpoint, "", hdr, body, nil)
	var ae *apiError
	if !errors.As(err, &ae) || ae.Status != http.StatusPreconditionRequired {
		return false, err
	}
	var problem struct {
		Challenge complaint.Challenge `json:"challenge"`
	}
	if err := jsonUnmarshal(ae.Body, &problem); err != nil || problem.Challenge.Token == "" {
		return false, fmt.Errorf("428 without a challenge: %s", ae.Body)
	}
	hdr[complaint.HeaderChallenge] = problem.Challenge.Token
	hdr[complaint.HeaderNonce] = complaint.SolvePoW(problem.Challenge.Seed, problem.Challenge.Difficulty)
	return true, b.Client.call(ctx, http.MethodPost, endpoint, "", hdr, body, nil)
}

// ---------------------------------------------------------------- wallet

func (b *Booker) bookWallet(ctx context.Context, u urls, plan Plan, wallet []disclosure.PublicEntry, tracking map[string]string, res *Result) error {
	v := plan.Village
	tok, err := b.Tokens.Token(ctx, roleTownFinance, v.Town, v.Code)
	if err != nil {
		return villageErr(v, "signing in the sample town finance officer", err)
	}
	wrongID := ""
	for i, e := range plan.Entries {
		j := slices.IndexFunc(wallet, func(x disclosure.PublicEntry) bool { return sameEntry(x, e) })
		if j >= 0 {
			if i == plan.Correction.Index {
				wrongID = wallet[j].ID
			}
			continue
		}
		in := e.EntryInput
		if e.LinkProcess != "" {
			in.TrackingNumber = tracking[e.LinkProcess]
		}
		var out disclosure.Entry
		if err := b.Client.call(ctx, http.MethodPost, fmt.Sprintf("%s/v1/villages/%s/ledger", u.disclosure, v.Code), tok, nil, in, &out); err != nil {
			return villageErr(v, "booking wallet entry "+strconv.Quote(e.Description), err)
		}
		if i == plan.Correction.Index {
			wrongID = out.ID
		}
		res.Entries++
	}
	if wrongID == "" {
		return villageErr(v, "reversing the planned mistake", errors.New("its entry is not in the wallet"))
	}
	if err := b.Client.call(ctx, http.MethodPost, fmt.Sprintf("%s/v1/ledger/%s/reverse", u.disclosure, url.PathEscape(wrongID)), tok, nil,
		map[string]string{"reason": plan.Correction.Reason}, nil); err != nil {
		return villageErr(v, "reversing wallet entry "+wrongID, err)
	}
	res.Reversals++
	return nil
}
