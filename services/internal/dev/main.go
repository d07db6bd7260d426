// Command dev (run by hack/dev.sh, `make dev`) prepares the local workflow service for `make dev`: a database,
// the sample power catalog as the operator would mount it, and a signed-in
// village secretary, then runs the service in the foreground. hack/dev.sh
// starts PostgreSQL, Kafka and Kratos first and passes their addresses.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	kratos "github.com/ory/kratos-client-go"
	"sigs.k8s.io/yaml"

	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
	"github.com/wuxiao/wuxiao/services/internal/identity"
)

func main() {
	var (
		town, townCode, village, addr, workdir, bin string
	)
	flag.StringVar(&town, "town", "xikou", "town the service serves")
	flag.StringVar(&townCode, "town-code", "330213100000", "the town's code")
	flag.StringVar(&village, "village", "330213100201", "the village of the sample cadre")
	flag.StringVar(&addr, "addr", "127.0.0.1:8080", "listen address")
	flag.StringVar(&workdir, "workdir", "", "directory for generated files")
	flag.StringVar(&bin, "workflow-bin", "", "the workflow binary")
	flag.Parse()
	if err := run(town, townCode, village, addr, workdir, bin); err != nil {
		fmt.Fprintln(os.Stderr, "dev:", err)
		os.Exit(1)
	}
}

func need(key string) (string, error) {
	if v := os.Getenv(key); v != "" {
		return v, nil
	}
	return "", fmt.Errorf("%s is not set: run this through `make dev` (hack/dev.sh)", key)
}

func run(town, townCode, village, addr, workdir, bin string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	pgAdmin, err := need("WUXIAO_TEST_POSTGRES_URL")
	if err != nil {
		return err
	}
	brokers, err := need("WUXIAO_TEST_KAFKA_BROKERS")
	if err != nil {
		return err
	}
	kratosPublic, err := need("WUXIAO_TEST_KRATOS_PUBLIC_URL")
	if err != nil {
		return err
	}
	kratosAdmin, err := need("WUXIAO_TEST_KRATOS_ADMIN_URL")
	if err != nil {
		return err
	}

	// A database of its own, kept between runs.
	dbURL, err := ensureDatabase(ctx, pgAdmin, "wuxiao_dev_"+town)
	if err != nil {
		return err
	}
	catalog, err := writeCatalog(workdir)
	if err != nil {
		return err
	}
	email := "secretary@" + village + ".dev.wuxiao"
	token, err := signIn(ctx, kratosPublic, kratosAdmin, email, town, village)
	if err != nil {
		return err
	}
	keyFile := filepath.Join(workdir, "id-hash-key")
	key, err := os.ReadFile(keyFile)
	if err != nil {
		key = []byte(fmt.Sprintf("dev-only-key-%d-0123456789abcdefghij", time.Now().UnixNano()))
		if err := os.WriteFile(keyFile, key, 0o600); err != nil {
			return err
		}
	}

	fmt.Printf(`
Wuxiao workflow service for town %[1]s on http://%[2]s
  OpenAPI            http://%[2]s/openapi.yaml
  power list         http://%[2]s/v1/catalog
  a flowchart        http://%[2]s/v1/catalog/items/decision-major-matters/flowchart.svg
  metrics            http://%[2]s/metrics
Signed in as the secretary of village %[3]s (%[4]s):
  export TOKEN=%[5]s
  curl -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
       -d '{"itemId":"decision-major-matters","title":"村道硬化"}' http://%[2]s/v1/villages/%[3]s/instances
Stop with Ctrl-C; hack/infra.sh down stops PostgreSQL, Kafka and Kratos.

`, town, addr, village, email, token)

	cmd := exec.CommandContext(ctx, bin)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(),
		"WUXIAO_SERVICE=workflow", "WUXIAO_DISTRICT=fenghua", "WUXIAO_TOWN="+town, "WUXIAO_TOWN_CODE="+townCode,
		"WUXIAO_CATALOG_FILE="+catalog, "WUXIAO_PORTAL_BASE_URL=http://"+addr, "DATABASE_URL="+dbURL,
		"KAFKA_BROKERS="+brokers, "KRATOS_PUBLIC_URL="+kratosPublic, "KRATOS_ADMIN_URL="+kratosAdmin,
		"HTTP_ADDR="+addr, "WUXIAO_ID_HASH_KEY="+string(key))
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	if err := cmd.Run(); err != nil && ctx.Err() == nil {
		return fmt.Errorf("workflow: %w", err)
	}
	return nil
}

func ensureDatabase(ctx context.Context, adminURL, name string) (string, error) {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return "", fmt.Errorf("PostgreSQL: %w", err)
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return "", err
	}
	if !exists {
		if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
			return "", err
		}
	}
	base, query, _ := strings.Cut(adminURL, "?")
	u := base[:strings.LastIndex(base, "/")+1] + name
	if query != "" {
		u += "?" + query
	}
	return u, nil
}

// writeCatalog converts the sample PowerCatalog into the document the
// operator mounts in a town's namespace.
func writeCatalog(dir string) (string, error) {
	data, err := os.ReadFile(filepath.Join("config", "samples", "powercatalog.yaml"))
	if err != nil {
		return "", err
	}
	var pc wuxiaov1.PowerCatalog
	if err := yaml.Unmarshal(data, &pc); err != nil {
		return "", fmt.Errorf("sample catalog: %w", err)
	}
	doc, err := json.MarshalIndent(wuxiaov1.ResolvedCatalog{Name: pc.Name, PowerCatalogSpec: pc.Spec}, "", "  ")
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "catalog.json")
	return path, os.WriteFile(path, doc, 0o644)
}

// signIn makes sure the sample secretary exists (role and scope in
// metadata_public, as the operator will set them) and returns a session token.
func signIn(ctx context.Context, publicURL, adminURL, email, town, village string) (string, error) {
	const password = "wuxiao-dev-password-2026"
	admin := identity.NewAdmin(adminURL, nil)
	meta := identity.Metadata{Role: identity.Role("secretary"), Town: town, Village: village}
	if _, err := admin.CreateOfficial(ctx, email, "示例书记", meta, password); err != nil && !errors.Is(err, identity.ErrExists) {
		return "", fmt.Errorf("creating the sample cadre: %w", err)
	}
	cfg := kratos.NewConfiguration()
	cfg.Servers = kratos.ServerConfigurations{{URL: publicURL}}
	pub := kratos.NewAPIClient(cfg)
	flow, _, err := pub.FrontendAPI.CreateNativeLoginFlow(ctx).Execute()
	if err != nil {
		return "", fmt.Errorf("login flow: %w", err)
	}
	body := kratos.UpdateLoginFlowWithPasswordMethodAsUpdateLoginFlowBody(kratos.NewUpdateLoginFlowWithPasswordMethod(email, "password", password))
	done, _, err := pub.FrontendAPI.UpdateLoginFlow(ctx).Flow(flow.Id).UpdateLoginFlowBody(body).Execute()
	if err != nil || done.SessionToken == nil {
		return "", fmt.Errorf("signing in %s: %v", email, err)
	}
	return *done.SessionToken, nil
}
