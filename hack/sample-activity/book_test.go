package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"sigs.k8s.io/yaml"

	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
	"github.com/wuxiao/wuxiao/services/disclosure"
	"github.com/wuxiao/wuxiao/services/workflow"
)

// The integration test books sample villages against the real workflow,
// disclosure and complaint services, run as processes the way `make
// dev-local` runs them (services/internal/dev), on the PostgreSQL, Kafka
// and Kratos of hack/infra.sh (started when the environment does not name
// them, as services/internal/testinfra does; that package is internal to
// services/).

var repoRoot = func() string { r, _ := filepath.Abs("../.."); return r }()

var (
	infraOnce sync.Once
	infraErr  error
)

// infraEnv returns the hack/infra.sh variable key, bringing the
// infrastructure up first when it is not in the environment.
func infraEnv(t *testing.T, key string) string {
	t.Helper()
	if v := os.Getenv(key); v != "" {
		return v
	}
	infraOnce.Do(func() {
		cmd := exec.Command(filepath.Join(repoRoot, "hack", "infra.sh"), "up")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if infraErr = cmd.Run(); infraErr != nil {
			return
		}
		out, err := exec.Command("bash", "-c", ". "+filepath.Join(repoRoot, "hack", "lib.sh")+` && echo "${WUXIAO_RUN:-$WUXIAO_CACHE/run}/infra.env"`).Output()
		if err != nil {
			infraErr = err
			return
		}
		f, err := os.Open(strings.TrimSpace(string(out)))
		if err != nil {
			infraErr = err
			return
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			line := strings.TrimPrefix(strings.TrimSpace(sc.Text()), "export ")
			if k, v, ok := strings.Cut(line, "="); ok {
				_ = os.Setenv(k, strings.Trim(v, `'"`))
			}
		}
	})
	if infraErr != nil {
		t.Fatalf("hack/infra.sh up: %v", infraErr)
	}
	v := os.Getenv(key)
	if v == "" {
		t.Fatalf("%s is not set after hack/infra.sh up", key)
	}
	return v
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// database creates an empty database for the town's services.
func database(t *testing.T) string {
	t.Helper()
	admin := infraEnv(t, "WUXIAO_TEST_POSTGRES_URL")
	name := "t_sample_" + randomHex(5)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("PostgreSQL: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if c, err := pgx.Connect(ctx, admin); err == nil {
			_, _ = c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			_ = c.Close(ctx)
		}
	})
	rest, query, _ := strings.Cut(admin, "?")
	u := rest[:strings.LastIndex(rest, "/")+1] + name
	if query != "" {
		u += "?" + query
	}
	return u
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startServices builds and starts workflow, disclosure and complaint for
// town (code townCode) and returns their base URLs.
func startServices(t *testing.T, town, townCode string) fixedTargets {
	t.Helper()
	dir := t.TempDir()
	names := []string{"workflow", "disclosure", "complaint"}
	args := []string{"build", "-o", dir + "/"}
	for _, n := range names {
		args = append(args, "./services/"+n+"/cmd/"+n)
	}
	build := exec.Command("go", args...)
	build.Dir = repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	data, err := os.ReadFile(filepath.Join(repoRoot, "config", "samples", "powercatalog.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var pc wuxiaov1.PowerCatalog
	if err := yaml.Unmarshal(data, &pc); err != nil {
		t.Fatal(err)
	}
	doc, _ := json.Marshal(wuxiaov1.ResolvedCatalog{Name: pc.Name, PowerCatalogSpec: pc.Spec})
	catalog := filepath.Join(dir, "catalog.json")
	if err := os.WriteFile(catalog, doc, 0o644); err != nil {
		t.Fatal(err)
	}
	common := append(os.Environ(),
		"WUXIAO_DISTRICT=fenghua", "WUXIAO_TOWN="+town, "WUXIAO_TOWN_CODE="+townCode, "WUXIAO_TOWN_NAME=样例镇",
		"WUXIAO_CATALOG_FILE="+catalog, "WUXIAO_PORTAL_BASE_URL=http://127.0.0.1:1", "DATABASE_URL="+database(t),
		"KAFKA_BROKERS="+infraEnv(t, "WUXIAO_TEST_KAFKA_BROKERS"),
		"KRATOS_PUBLIC_URL="+infraEnv(t, "WUXIAO_TEST_KRATOS_PUBLIC_URL"), "KRATOS_ADMIN_URL="+infraEnv(t, "WUXIAO_TEST_KRATOS_ADMIN_URL"),
		"WUXIAO_ID_HASH_KEY="+randomHex(32), "WUXIAO_CHALLENGE_KEY="+randomHex(32), "WUXIAO_AUDIT_KEY="+randomHex(32),
		// As the District trusts the pod gateway (the host) in make dev.
		"WUXIAO_TRUSTED_PROXIES=127.0.0.1/32", "LOG_LEVEL=warn")
	targets := fixedTargets{}
	for _, n := range names {
		addr := freeAddr(t)
		cmd := exec.Command(filepath.Join(dir, n))
		// Each its own metrics port (the default :9090 is one per host).
		cmd.Env = append(common, "WUXIAO_SERVICE="+n, "HTTP_ADDR="+addr, "METRICS_ADDR="+freeAddr(t))
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		t.Cleanup(func() {
			_ = cmd.Process.Signal(os.Interrupt)
			select {
			case <-exited:
			case <-time.After(10 * time.Second):
				_ = cmd.Process.Kill()
			}
			if t.Failed() {
				t.Logf("%s output:\n%s", n, out.String())
			}
		})
		targets[n] = "http://" + addr
		deadline := time.Now().Add(90 * time.Second)
		for {
			resp, err := http.Get(targets[n] + "/readyz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
			}
			select {
			case <-exited:
				t.Fatalf("%s exited:\n%s", n, out.String())
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s not ready after 90s:\n%s", n, out.String())
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	return targets
}

func TestBookingAgainstRealServices(t *testing.T) {
	vs := sampleVillages(t)
	// Two sample villages of one town, served by a town of their own so that
	// the test's identities and topics never meet make dev's.
	v1, v2 := vs[0], vs[1]
	if v1.Town != v2.Town {
		t.Fatalf("samples %s and %s are of different towns", v1.Code, v2.Code)
	}
	town := "sample-" + randomHex(4)
	v1.Town, v2.Town = town, town
	targets := startServices(t, town, v1.Code[:9]+"000")
	people := NewPeople(infraEnv(t, "WUXIAO_TEST_KRATOS_PUBLIC_URL"), infraEnv(t, "WUXIAO_TEST_KRATOS_ADMIN_URL"))
	b := &Booker{Client: client{http: &http.Client{Timeout: 30 * time.Second}}, Targets: targets, Tokens: people}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	now := time.Now()
	plan := NewPlan(v1, now)

	var progress bytes.Buffer
	summary, err := bookAll(ctx, b, []Village{v1}, now, 2, &progress, func() int { return people.Created })
	t.Logf("first run:\n%s%s", progress.String(), summary)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"[1/1] " + v1.Code,
		fmt.Sprintf("booked %d wallet entries (+1 reversal), %d subsidy payments, %d processes started", len(plan.Entries), len(plan.Payments), len(plan.Processes)),
		"(2 completed, 5 open), 2 complaints"} {
		if !strings.Contains(progress.String(), want) {
			t.Errorf("progress lacks %q", want)
		}
	}
	if !strings.Contains(summary, "1 of 1 sample villages booked now") || people.Created != 8 {
		t.Errorf("summary %q, %d identities created (want 8: 5 village roles, 3 town roles)", summary, people.Created)
	}

	secretary := token(t, people, roleSecretary, v1)
	discipline := token(t, people, roleTownDiscipline, v1)

	// The processes are at their steps, with no warning raised.
	var list struct {
		Items []*workflow.Instance `json:"items"`
	}
	get(t, b, targets["workflow"]+"/v1/villages/"+v1.Code+"/instances?limit=200", secretary, &list)
	tracking := map[string]string{}
	for _, p := range plan.Processes {
		i := slices.IndexFunc(list.Items, func(x *workflow.Instance) bool { return x.Title == p.Start.Title })
		if i < 0 {
			t.Errorf("process %s (%s) not listed", p.Key, p.Start.Title)
			continue
		}
		inst := list.Items[i]
		tracking[p.Key] = inst.TrackingNumber
		want := workflow.StatusCompleted
		if p.WantCurrent != "" {
			want = workflow.StatusRunning
		}
		if inst.Status != want || inst.Current != p.WantCurrent {
			t.Errorf("process %s: %s at %q, want %s at %q", p.Key, inst.Status, inst.Current, want, p.WantCurrent)
		}
		if inst.Steps[0].ActorName != SampleName {
			t.Errorf("process %s: first step recorded by %q, want %q", p.Key, inst.Steps[0].ActorName, SampleName)
		}
	}
	if len(list.Items) != len(plan.Processes) {
		t.Errorf("%d processes, want %d", len(list.Items), len(plan.Processes))
	}
	var warnings struct {
		Items []workflow.Warning `json:"items"`
	}
	get(t, b, targets["workflow"]+"/v1/villages/"+v1.Code+"/warnings", discipline, &warnings)
	if len(warnings.Items) != 0 {
		t.Errorf("the sample processes raised %d warnings: %+v", len(warnings.Items), warnings.Items)
	}

	// The wallet: every entry, the mistake reversed, the contract's rent
	// linked to it, and the completed procurement booked by the disclosure
	// service itself from the workflow's event (asynchronously).
	procurement := plan.process("procurement")
	var wallet []disclosure.PublicEntry
	deadline := time.Now().Add(60 * time.Second)
	for {
		wallet, err = b.wallet(ctx, urls{disclosure: targets["disclosure"]}, v1, plan.years())
		if err != nil {
			t.Fatal(err)
		}
		if slices.ContainsFunc(wallet, func(e disclosure.PublicEntry) bool { return e.TrackingNumber == tracking["procurement"] }) || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	for i, e := range plan.Entries {
		j := slices.IndexFunc(wallet, func(x disclosure.PublicEntry) bool { return sameEntry(x, e) })
		if j < 0 {
			t.Errorf("wallet lacks %q", e.Description)
			continue
		}
		if wallet[j].Date != e.Date {
			t.Errorf("%q dated %s, want %s", e.Description, wallet[j].Date, e.Date)
		}
		if e.LinkProcess != "" && wallet[j].TrackingNumber != tracking[e.LinkProcess] {
			t.Errorf("%q carries tracking number %q, want %q", e.Description, wallet[j].TrackingNumber, tracking[e.LinkProcess])
		}
		if (i == plan.Correction.Index) != wallet[j].Reversed {
			t.Errorf("%q reversed: %v", e.Description, wallet[j].Reversed)
		}
	}
	auto := slices.IndexFunc(wallet, func(e disclosure.PublicEntry) bool { return e.TrackingNumber == tracking["procurement"] })
	if auto < 0 || wallet[auto].AmountFen != procurement.Start.AmountFen || wallet[auto].Kind != disclosure.KindSpending {
		t.Errorf("the completed procurement %s is not in the wallet as spending of %d fen: %+v", tracking["procurement"], procurement.Start.AmountFen, wallet)
	}
	if n := len(wallet); n != len(plan.Entries)+2 {
		t.Errorf("%d wallet lines, want %d (entries, the reversal, the procurement)", n, len(plan.Entries)+2)
	}

	// Subsidies: listed publicly, masked.
	var subsidies []disclosure.PublicPayment
	for _, y := range plan.years() {
		var out struct {
			Items []disclosure.PublicPayment `json:"items"`
		}
		get(t, b, fmt.Sprintf("%s/v1/public/villages/%s/subsidies?year=%d", targets["disclosure"], v1.Code, y), "", &out)
		subsidies = append(subsidies, out.Items...)
	}
	masked := regexp.MustCompile(`^330213\*{8}00[0-9][0-9X]$`)
	if len(subsidies) != len(plan.Payments) {
		t.Errorf("%d subsidy payments listed, want %d", len(subsidies), len(plan.Payments))
	}
	for _, s := range subsidies {
		if !masked.MatchString(s.IDNumber) || !strings.Contains(s.Name, "*") || strings.Contains(s.Name, "示例") {
			t.Errorf("payment listed unmasked: %s %s", s.Name, s.IDNumber)
		}
	}

	// Complaints: filed anonymously, visible to town discipline.
	var complaints struct {
		Items []struct {
			Description string `json:"description"`
			Category    string `json:"category"`
		} `json:"items"`
	}
	get(t, b, targets["complaint"]+"/v1/villages/"+v1.Code+"/complaints", discipline, &complaints)
	for _, c := range plan.Complaints {
		if !slices.ContainsFunc(complaints.Items, func(x struct {
			Description string `json:"description"`
			Category    string `json:"category"`
		}) bool {
			return x.Description == c.Description && x.Category == string(c.Category)
		}) {
			t.Errorf("complaint %q not listed: %+v", c.Description, complaints.Items)
		}
	}

	// A second run books nothing, and signs nobody in.
	created := people.Created
	again, err := b.Book(ctx, NewPlan(v1, now))
	if err != nil {
		t.Fatal(err)
	}
	if !again.Done || again.Booked() || people.Created != created {
		t.Errorf("second run: %+v, %d identities created", again, people.Created-created)
	}

	// An interrupted run (here: the processes, the subsidies, the
	// complaints and three wallet entries booked) is completed by the next
	// one without booking anything twice.
	plan2 := NewPlan(v2, now)
	var partial Result
	u := urls{workflow: targets["workflow"], disclosure: targets["disclosure"], complaint: targets["complaint"]}
	if _, err := b.bookProcesses(ctx, u, plan2, &partial); err != nil {
		t.Fatal(err)
	}
	if err := b.bookPayments(ctx, u, plan2, plan2.years(), &partial); err != nil {
		t.Fatal(err)
	}
	if err := b.bookComplaints(ctx, u, plan2, &partial); err != nil {
		t.Fatal(err)
	}
	finance := token(t, people, roleTownFinance, v2)
	for _, e := range plan2.Entries[:3] {
		if err := b.Client.call(ctx, http.MethodPost, u.disclosure+"/v1/villages/"+v2.Code+"/ledger", finance, nil, e.EntryInput, nil); err != nil {
			t.Fatal(err)
		}
	}
	rest, err := b.Book(ctx, plan2)
	if err != nil {
		t.Fatal(err)
	}
	if rest.Done || rest.Started != 0 || rest.Steps != 0 || rest.Evidence != 0 || rest.Payments != 0 || rest.Complaints != 0 ||
		rest.Entries != len(plan2.Entries)-3 || rest.Reversals != 1 || rest.Completed != 2 || rest.Open != 5 {
		t.Errorf("resumed run: %+v", rest)
	}
	w2, err := b.wallet(ctx, u, v2, plan2.years())
	if err != nil {
		t.Fatal(err)
	}
	// The entries and the reversal; the procurement's own entry may still
	// be on its way through Kafka.
	if n := len(w2); n != len(plan2.Entries)+1 && n != len(plan2.Entries)+2 {
		t.Errorf("%d wallet lines after the resumed run, want %d or %d", len(w2), len(plan2.Entries)+1, len(plan2.Entries)+2)
	}
	t.Logf("one village booked in %s, resumed village in %s", progressTook(progress.String()), rest.Took)

	// A flooded village: the intake lets a burst through, then asks for
	// proof of work, which the client solves (each report from its own
	// illustrative address, so only the village's limit applies).
	flooded := Village{Code: vs[2].Code, Name: vs[2].Name, Town: town}
	solved := 0
	for i := 0; i < 24; i++ {
		c := Complaint{Category: plan.Complaints[0].Category, ClientAddr: fmt.Sprintf("198.51.100.%d", 1+i),
			Description: fmt.Sprintf("第%d条测试举报：%s村务公开栏没有更新。", i+1, flooded.Name)}
		pow, err := b.file(ctx, u, flooded, c)
		if err != nil {
			t.Fatalf("report %d: %v", i+1, err)
		}
		if pow {
			solved++
		}
	}
	if solved == 0 {
		t.Error("24 reports to one village in a row, none asked for proof of work: the flood path is untested")
	}
	t.Logf("%d of 24 reports needed proof of work", solved)
}

func token(t *testing.T, p *People, role string, v Village) string {
	t.Helper()
	tok, err := p.Token(context.Background(), role, v.Town, v.Code)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func get(t *testing.T, b *Booker, u, tok string, out any) {
	t.Helper()
	if err := b.Client.call(context.Background(), http.MethodGet, u, tok, nil, nil, out); err != nil {
		t.Fatal(err)
	}
}

func progressTook(s string) string {
	if m := regexp.MustCompile(`in ([0-9.]+s)`).FindStringSubmatch(s); m != nil {
		return m[1]
	}
	return "?"
}
