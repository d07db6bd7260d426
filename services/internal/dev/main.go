// Command dev (run by hack/dev-local.sh, `make dev-local`) runs one town's four services
// locally on embedded defaults: it prepares a database, the sample power
// catalog as the operator would mount it, secrets and signed-in sample
// users, starts workflow, disclosure, complaint and inspection, puts a
// gateway in front of them the way a town's ingress would (the village
// portal and the report page on one host), books some sample data and
// prints where to look. hack/dev-local.sh starts PostgreSQL, Kafka and Kratos
// first and passes their addresses.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"sigs.k8s.io/yaml"

	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
)

// devVillage is the sample village (岩头村 of 溪口镇 in the samples).
var devVillage = "330213100201"

func main() {
	var o options
	flag.StringVar(&o.town, "town", "xikou", "town the services serve")
	flag.StringVar(&o.townName, "town-name", "溪口镇", "the town's name")
	flag.StringVar(&o.townCode, "town-code", "330213100000", "the town's code")
	flag.StringVar(&devVillage, "village", devVillage, "the sample village")
	flag.StringVar(&o.addr, "addr", "127.0.0.1:8080", "the gateway's listen address; the services take the next four ports")
	flag.StringVar(&o.workdir, "workdir", "", "directory for generated files")
	flag.StringVar(&o.bindir, "bin-dir", "", "directory holding the four service binaries")
	flag.BoolVar(&o.noSeed, "no-seed", false, "do not book sample data")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "dev:", err)
		os.Exit(1)
	}
}

type options struct {
	town, townName, townCode, addr, workdir, bindir string
	noSeed                                          bool
}

func need(key string) (string, error) {
	if v := os.Getenv(key); v != "" {
		return v, nil
	}
	return "", fmt.Errorf("%s is not set: run this through `make dev-local` (hack/dev-local.sh)", key)
}

func run(o options) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	env := map[string]string{}
	for _, k := range []string{"WUXIAO_TEST_POSTGRES_URL", "WUXIAO_TEST_KAFKA_BROKERS", "WUXIAO_TEST_KRATOS_PUBLIC_URL", "WUXIAO_TEST_KRATOS_ADMIN_URL"} {
		v, err := need(k)
		if err != nil {
			return err
		}
		env[k] = v
	}
	host, portText, err := net.SplitHostPort(o.addr)
	if err != nil {
		return fmt.Errorf("-addr %q: %w", o.addr, err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		return fmt.Errorf("-addr %q: port: %w", o.addr, err)
	}

	// One database per town, as the operator provisions it; each service
	// keeps its tables in its own schema. Kept between runs.
	dbURL, err := ensureDatabase(ctx, env["WUXIAO_TEST_POSTGRES_URL"], "wuxiao_dev_"+o.town)
	if err != nil {
		return err
	}
	catalog, err := writeCatalog(o.workdir)
	if err != nil {
		return err
	}
	idKey, err := secret(o.workdir, "id-hash-key")
	if err != nil {
		return err
	}
	challengeKey, err := secret(o.workdir, "challenge-key")
	if err != nil {
		return err
	}
	// 32 random bytes in hex, the audit key's format (WUXIAO_AUDIT_KEY).
	auditKey, err := secret(o.workdir, "audit-key")
	if err != nil {
		return err
	}
	users, err := signInSampleUsers(ctx, env["WUXIAO_TEST_KRATOS_PUBLIC_URL"], env["WUXIAO_TEST_KRATOS_ADMIN_URL"], o.town)
	if err != nil {
		return err
	}

	public := "http://" + o.addr
	common := append(os.Environ(),
		"WUXIAO_DISTRICT=fenghua", "WUXIAO_TOWN="+o.town, "WUXIAO_TOWN_CODE="+o.townCode, "WUXIAO_TOWN_NAME="+o.townName,
		"WUXIAO_CATALOG_FILE="+catalog, "WUXIAO_PORTAL_BASE_URL="+public, "DATABASE_URL="+dbURL,
		"KAFKA_BROKERS="+env["WUXIAO_TEST_KAFKA_BROKERS"], "KRATOS_PUBLIC_URL="+env["WUXIAO_TEST_KRATOS_PUBLIC_URL"],
		"WUXIAO_ID_HASH_KEY="+idKey, "WUXIAO_CHALLENGE_KEY="+challengeKey, "WUXIAO_AUDIT_KEY="+auditKey)

	backends := map[string]*url.URL{}
	done := make(chan error, len(devServices))
	var cmds []*exec.Cmd
	for _, s := range devServices {
		addr := net.JoinHostPort(host, strconv.Itoa(port+s.Offset))
		backends[s.Name] = &url.URL{Scheme: "http", Host: addr}
		cmd := exec.CommandContext(ctx, filepath.Join(o.bindir, s.Name))
		// On Ctrl-C the services get SIGTERM and shut down cleanly, as
		// from the deferred stop below, not the default SIGKILL.
		cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
		cmd.Stdout, cmd.Stderr = prefixed(s.Name, os.Stdout), prefixed(s.Name, os.Stderr)
		// Each its own metrics port too (the default :9090 is one per host).
		metrics := net.JoinHostPort(host, strconv.Itoa(port+1000+s.Offset))
		cmd.Env = append(common, "WUXIAO_SERVICE="+s.Name, "HTTP_ADDR="+addr, "METRICS_ADDR="+metrics)
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("starting %s: %w", s.Name, err)
		}
		cmds = append(cmds, cmd)
		go func(name string) { done <- namedErr(name, cmd.Wait()) }(s.Name)
	}
	defer func() {
		for _, c := range cmds {
			_ = c.Process.Signal(syscall.SIGTERM)
		}
		for range cmds {
			select {
			case err := <-done:
				_ = err // every service exits now (namedErr makes even a clean exit an error); nothing to report
			case <-time.After(10 * time.Second):
			}
		}
	}()
	for _, s := range devServices {
		if err := waitReady(ctx, backends[s.Name].String()+"/readyz", done); err != nil {
			return fmt.Errorf("%s did not become ready: %w", s.Name, err)
		}
	}

	srv := &http.Server{Addr: o.addr, Handler: gateway(backends), ReadHeaderTimeout: 10 * time.Second}
	ln, err := new(net.ListenConfig).Listen(ctx, "tcp", o.addr)
	if err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()

	if !o.noSeed {
		if err := seed(ctx, backends, users); err != nil {
			fmt.Fprintln(os.Stderr, "dev: sample data:", err)
		}
	}
	printWelcome(o, public, backends, users)

	select {
	case <-ctx.Done():
		return nil
	case err := <-done:
		return err
	}
}

func namedErr(name string, err error) error {
	if err == nil {
		return fmt.Errorf("%s exited", name)
	}
	return fmt.Errorf("%s: %w", name, err)
}

func waitReady(ctx context.Context, u string, exited <-chan error) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case err := <-exited:
			return err
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// secret returns a random key kept in the work directory between runs.
func secret(dir, name string) (string, error) {
	path := filepath.Join(dir, name)
	if b, err := os.ReadFile(path); err == nil && len(b) >= 32 {
		return strings.TrimSpace(string(b)), nil
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	key := hex.EncodeToString(b)
	return key, os.WriteFile(path, []byte(key), 0o600)
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
	return path, os.WriteFile(path, doc, 0o600)
}

// prefixed writes a service's output line by line with its name in front.
type prefixWriter struct {
	prefix string
	out    *os.File
	buf    []byte
}

func prefixed(name string, out *os.File) *prefixWriter {
	return &prefixWriter{prefix: fmt.Sprintf("%-10s| ", name), out: out}
}

func (w *prefixWriter) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	for {
		i := strings.IndexByte(string(w.buf), '\n')
		if i < 0 {
			return len(p), nil
		}
		if _, err := w.out.WriteString(w.prefix + string(w.buf[:i+1])); err != nil {
			return 0, err
		}
		w.buf = w.buf[i+1:]
	}
}

var errNoToken = errors.New("no session token")
