// Package provision talks to the district's shared infrastructure on behalf
// of the operator: PostgreSQL (one database and role per town), Kafka (the
// town's topics), Kratos (village officials' identities), and renders the
// villages' QR codes. Every call is idempotent; the controllers decide when
// to call.
package provision

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Postgres is the district's server and its admin credentials.
type Postgres struct {
	Host          string
	Port          int32
	AdminUser     string
	AdminPassword string
	SSLMode       string
}

// Addr is host:port, as messages name the server.
func (p Postgres) Addr() string {
	port := p.Port
	if port == 0 {
		port = 5432
	}
	return net.JoinHostPort(p.Host, strconv.Itoa(int(port)))
}

func (p Postgres) url(user, password, database string) string {
	sslmode := p.SSLMode
	if sslmode == "" {
		sslmode = "prefer"
	}
	u := url.URL{Scheme: "postgres", User: url.UserPassword(user, password), Host: p.Addr(), Path: "/" + database,
		RawQuery: url.Values{"sslmode": {sslmode}, "connect_timeout": {"5"}}.Encode()}
	return u.String()
}

// TownDatabase is the name of a town's database and of the role owning it:
// wuxiao_<town>. Town names are DNS labels of up to 58 characters, so the
// name may exceed PostgreSQL's 63 bytes, which it would silently truncate
// (and two long names could collide): those get a hash suffix instead.
func TownDatabase(town string) string {
	name := "wuxiao_" + town
	if len(name) <= 63 {
		return name
	}
	sum := sha256.Sum256([]byte(town))
	return name[:54] + "_" + hex.EncodeToString(sum[:4])
}

// TownURL is the URL the town's services connect with.
func (p Postgres) TownURL(town, password string) string {
	return p.url(TownDatabase(town), password, TownDatabase(town))
}

// NewPassword returns a random password (hex, so it never needs quoting).
func NewPassword() string { return RandomHex(24) }

// RandomHex returns n random bytes, hex-encoded.
func RandomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return hex.EncodeToString(b)
}

// Ping connects with a town's URL: the cheap check that the database, the
// role and its password are all as the Secret says.
func Ping(ctx context.Context, townURL string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, townURL)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	return conn.Ping(ctx)
}

// EnsureTownDatabase creates the town's role with password, or sets the
// password of the existing role (the Secret holding it may have been lost),
// then creates the town's database owned by the role unless it exists, and
// keeps other roles from connecting to it. Nothing is ever dropped.
func (p Postgres) EnsureTownDatabase(ctx context.Context, town, password string) error {
	if _, err := hex.DecodeString(password); err != nil || password == "" {
		return errors.New("the town's database password must be non-empty hex") // it is put into DDL as a literal
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, p.url(p.adminUser(), p.AdminPassword, "postgres"))
	if err != nil {
		return fmt.Errorf("connecting to PostgreSQL %s as %s: %w", p.Addr(), p.adminUser(), err)
	}
	defer conn.Close(context.Background())
	name := TownDatabase(town)
	ident := pgx.Identifier{name}.Sanitize()
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)`, name).Scan(&exists); err != nil {
		return fmt.Errorf("PostgreSQL %s: looking up role %s: %w", p.Addr(), name, err)
	}
	stmt := "ALTER ROLE " + ident + " WITH LOGIN PASSWORD '" + password + "'"
	if !exists {
		stmt = "CREATE ROLE " + ident + " WITH LOGIN PASSWORD '" + password + "'"
	}
	if _, err := conn.Exec(ctx, stmt); err != nil && !isCode(err, "42710") { // duplicate_object: another reconcile won
		return fmt.Errorf("PostgreSQL %s: creating role %s: %w", p.Addr(), name, err)
	}
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return fmt.Errorf("PostgreSQL %s: looking up database %s: %w", p.Addr(), name, err)
	}
	if !exists {
		if _, err := conn.Exec(ctx, "CREATE DATABASE "+ident+" OWNER "+ident); err != nil && !isCode(err, "42P04") { // duplicate_database
			return fmt.Errorf("PostgreSQL %s: creating database %s: %w", p.Addr(), name, err)
		}
	}
	// Tenant isolation: by default every role may connect to every database.
	if _, err := conn.Exec(ctx, "REVOKE CONNECT, TEMPORARY ON DATABASE "+ident+" FROM PUBLIC"); err != nil {
		return fmt.Errorf("PostgreSQL %s: restricting database %s: %w", p.Addr(), name, err)
	}
	return nil
}

func (p Postgres) adminUser() string {
	if p.AdminUser == "" {
		return "postgres"
	}
	return p.AdminUser
}

func isCode(err error, code string) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == code
}
