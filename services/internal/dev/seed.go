package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/wuxiao/wuxiao/services/internal/personal"
)

// seedState is what seeding produced, for the welcome text.
type seedState struct {
	TrackingNumber string
	ComplaintCode  string
	ComplaintKey   string
}

var seeded seedState

// seed books sample data through the services' own APIs the first time
// (the database is kept between runs): a year of wallet entries with one
// correction, subsidy payments, a process and a complaint.
func seed(ctx context.Context, backends map[string]*url.URL, users []devUser) error {
	year := time.Now().Year()
	disc := backends["disclosure"].String()
	var wallet struct {
		Entries []json.RawMessage `json:"entries"`
	}
	if err := call(ctx, http.MethodGet, fmt.Sprintf("%s/v1/public/villages/%s/wallet?year=%d", disc, devVillage, year), "", nil, &wallet); err != nil {
		return err
	}
	if len(wallet.Entries) > 0 {
		return nil // seeded on an earlier run
	}
	fmt.Fprintln(os.Stderr, "dev: booking sample data (first run)")
	finance := userWithRole(users, "town-finance").Token
	secretary := userWithRole(users, "secretary").Token

	var started struct {
		TrackingNumber string `json:"trackingNumber"`
	}
	if err := call(ctx, http.MethodPost, backends["workflow"].String()+"/v1/villages/"+devVillage+"/instances", secretary,
		map[string]any{"itemId": "decision-major-matters", "title": "村道硬化工程", "amountFen": 38000000}, &started); err != nil {
		return fmt.Errorf("starting a sample process: %w", err)
	}
	seeded.TrackingNumber = started.TrackingNumber

	entries := []map[string]any{
		{"kind": "income", "category": "contract-income", "amountFen": 12000000, "month": 1, "description": "山林发包收入"},
		{"kind": "income", "category": "subsidy-income", "amountFen": 30000000, "month": 2, "description": "区级美丽乡村补助"},
		{"kind": "spending", "category": "management-expenses", "amountFen": 860000, "month": 2, "description": "村务办公用品"},
		{"kind": "spending", "category": "public-welfare-expenses", "amountFen": 5600000, "month": 3, "description": "老年食堂运营", "counterparty": "岩头村老年协会"},
		{"kind": "spending", "category": "public-welfare-expenses", "amountFen": 38000000, "month": 4, "description": "村道硬化工程", "trackingNumber": started.TrackingNumber},
		{"kind": "spending", "category": "other-expenses", "amountFen": 120000, "month": 4, "description": "误记：重复录入的办公用品"},
	}
	var lastID string
	for _, e := range entries {
		month := e["month"].(int)
		delete(e, "month")
		e["village"] = devVillage
		e["date"] = fmt.Sprintf("%d-%02d-15", year, month)
		var out struct {
			ID string `json:"id"`
		}
		if err := call(ctx, http.MethodPost, disc+"/v1/villages/"+devVillage+"/ledger", finance, e, &out); err != nil {
			return fmt.Errorf("booking a sample entry: %w", err)
		}
		lastID = out.ID
	}
	if err := call(ctx, http.MethodPost, disc+"/v1/ledger/"+lastID+"/reverse", finance,
		map[string]any{"reason": "重复录入，予以冲销"}, nil); err != nil {
		return fmt.Errorf("reversing a sample entry: %w", err)
	}
	for i, p := range []struct{ programme, name string }{
		{"耕地地力保护补贴", "张小明"}, {"耕地地力保护补贴", "王丽华"}, {"高龄老人补贴", "李建国"}, {"高龄老人补贴", "陈秀英"},
	} {
		id := sampleID(i)
		if err := call(ctx, http.MethodPost, disc+"/v1/villages/"+devVillage+"/subsidies", finance, map[string]any{
			"village": devVillage, "programme": p.programme, "householdName": p.name, "idNumber": id,
			"amountFen": 50000 + int64(i)*12000, "paidOn": fmt.Sprintf("%d-03-%02d", year, 10+i),
		}, nil); err != nil {
			return fmt.Errorf("booking a sample payment: %w", err)
		}
	}
	var receipt struct {
		TrackingCode string `json:"trackingCode"`
		Secret       string `json:"secret"`
	}
	if err := call(ctx, http.MethodPost, backends["complaint"].String()+"/v1/public/villages/"+devVillage+"/complaints", "",
		map[string]any{"category": "subsidy", "description": "高龄老人补贴今年三月份没有按时发放到位，请核查。"}, &receipt); err != nil {
		return fmt.Errorf("filing a sample complaint: %w", err)
	}
	seeded.ComplaintCode, seeded.ComplaintKey = receipt.TrackingCode, receipt.Secret
	return nil
}

// sampleID makes a well-formed (checksummed) ID number of Fenghua for the
// i-th sample household.
func sampleID(i int) string {
	first17 := fmt.Sprintf("330283%04d%02d%02d%03d", 1950+i*7, 1+i, 10+i, 100+i*11)
	return first17 + string(personal.IDCheckChar(first17))
}

// call sends a JSON request with an optional bearer token and decodes the
// JSON answer into out (when non-nil).
func call(ctx context.Context, method, u, token string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %s: %s", method, u, resp.Status, bytes.TrimSpace(data))
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

func printWelcome(o options, public string, backends map[string]*url.URL, users []devUser) {
	fmt.Printf(`
Wuxiao: town %[1]s (%[2]s) on %[3]s
  village portal (QR code)   %[3]s/v/%[4]s
  report a problem (码上举报)  %[3]s/r/%[4]s
  staff APIs                 %[3]s/workflow/…  /disclosure/…  /complaint/…  /inspection/…
                             (each service's OpenAPI at /<service>/openapi.yaml)
`, o.town, o.townName, public, devVillage)
	if seeded.TrackingNumber != "" {
		fmt.Printf("  a sample process          %s/v/%s/processes/%s\n", public, devVillage, seeded.TrackingNumber)
	}
	if seeded.ComplaintCode != "" {
		fmt.Printf("  a sample complaint        %s/r/track/%s   (secret %s)\n", public, seeded.ComplaintCode, seeded.ComplaintKey)
	}
	fmt.Println("Signed-in sample users (send as Authorization: Bearer $TOKEN):")
	for _, u := range users {
		fmt.Printf("  %-16s %-32s TOKEN=%s\n", u.Role, u.Email, u.Token)
	}
	fmt.Printf(`For example:
  curl -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
       -d '{"itemId":"decision-major-matters","title":"村道硬化"}' %s/workflow/v1/villages/%s/instances
Services listen directly on %s … %s too. Stop with Ctrl-C; `+"`hack/infra.sh down`"+` stops PostgreSQL, Kafka and Kratos.

`, public, devVillage, backends["workflow"].Host, backends["inspection"].Host)
}
