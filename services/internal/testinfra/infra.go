// Package testinfra gives tests the real PostgreSQL, Kafka and Kratos that
// hack/infra.sh runs. `make test` starts them and exports their addresses;
// a plain `go test` starts them on first use (they stay up for the next run).
// A test never skips for want of them: it fails, saying what is missing.
package testinfra

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Environment variables written by hack/infra.sh.
const (
	EnvPostgresURL     = "WUXIAO_TEST_POSTGRES_URL"
	EnvKafkaBrokers    = "WUXIAO_TEST_KAFKA_BROKERS"
	EnvKratosPublicURL = "WUXIAO_TEST_KRATOS_PUBLIC_URL"
	EnvKratosAdminURL  = "WUXIAO_TEST_KRATOS_ADMIN_URL"
)

// RepoRoot is the checkout's root directory.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", "..", ".."))
}

var (
	upOnce sync.Once
	upErr  error
)

// Require returns the value of one of the Env* variables, bringing the
// infrastructure up first when it is not set.
func Require(t testing.TB, key string) string {
	t.Helper()
	if v := os.Getenv(key); v != "" {
		return v
	}
	upOnce.Do(func() { upErr = up(t.Context()) })
	if upErr != nil {
		t.Fatalf("test infrastructure: %v (run `make test`, or `hack/infra.sh up` and source its env file)", upErr)
	}
	v := os.Getenv(key)
	if v == "" {
		t.Fatalf("test infrastructure: %s is not set after hack/infra.sh up", key)
	}
	return v
}

func up(ctx context.Context) error {
	cmd := exec.CommandContext(ctx, filepath.Join(RepoRoot(), "hack", "infra.sh"), "up")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("hack/infra.sh up: %w", err)
	}
	out, err := exec.CommandContext(ctx, "bash", "-c", ". "+filepath.Join(RepoRoot(), "hack", "lib.sh")+` && echo "${WUXIAO_RUN:-$WUXIAO_CACHE/run}/infra.env"`).Output()
	if err != nil {
		return err
	}
	f, err := os.Open(strings.TrimSpace(string(out)))
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimPrefix(strings.TrimSpace(sc.Text()), "export ")
		if k, v, ok := strings.Cut(line, "="); ok {
			_ = os.Setenv(k, strings.Trim(v, `'"`))
		}
	}
	return sc.Err()
}

// UniqueName returns prefix plus a random suffix, for databases, topics
// and identities that must not collide between tests or runs.
func UniqueName(prefix string) string {
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// Postgres creates a fresh, empty database for the test and returns its URL;
// the database is dropped when the test ends.
func Postgres(t testing.TB) string {
	t.Helper()
	admin := Require(t, EnvPostgresURL)
	name := UniqueName("t_")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("connecting to the test PostgreSQL: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("creating database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, admin)
		if err != nil {
			return
		}
		defer c.Close(ctx)
		_, _ = c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	})
	return replaceDatabase(admin, name)
}

// replaceDatabase swaps the database name in a postgres:// URL.
func replaceDatabase(url, db string) string {
	rest, query, _ := strings.Cut(url, "?")
	i := strings.LastIndex(rest, "/")
	out := rest[:i+1] + db
	if query != "" {
		out += "?" + query
	}
	return out
}
