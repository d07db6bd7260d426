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
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
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
// wuxiao_<town>. Town names are DNS labels of up to 54 characters, so the
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

// TownURL is the URL of the town's migration role, which owns the
// database, its schemas and tables: the Deployments' init containers
// migrate with it (and the operator checks it); no serving process uses it.
func (p Postgres) TownURL(town, password string) string {
	return p.url(TownDatabase(town), password, TownDatabase(town))
}

// ServiceRole is the name of a service's own role in a town's database:
// <town database>_<service>, with a hash instead of the town name's tail
// when that exceeds PostgreSQL's 63 bytes (as TownDatabase does).
func ServiceRole(town, service string) string {
	name := TownDatabase(town) + "_" + service
	if len(name) <= 63 {
		return name
	}
	sum := sha256.Sum256([]byte(town))
	suffix := "_" + hex.EncodeToString(sum[:4]) + "_" + service
	return name[:63-len(suffix)] + suffix
}

// ServiceURL is the URL a service's replicas connect with: its own role,
// the town's database, and poolMaxConns, the size of each replica's pool
// (pgxpool reads pool_max_conns; 0 leaves pgxpool's default).
func (p Postgres) ServiceURL(town, service, password string, poolMaxConns int32) string {
	u := p.url(ServiceRole(town, service), password, TownDatabase(town))
	if poolMaxConns > 0 {
		u += "&pool_max_conns=" + strconv.Itoa(int(poolMaxConns))
	}
	return u
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
	_, err := CheckRole(ctx, townURL)
	return err
}

// CheckRole connects with a URL from a town's Secret (pool settings such as
// pool_max_conns are the services' and left out) and returns the role's
// CONNECTION LIMIT (-1: none), so that a changed budget is applied.
func CheckRole(ctx context.Context, url string) (connLimit int32, err error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return 0, err
	}
	conn, err := pgx.ConnectConfig(ctx, cfg.ConnConfig)
	if err != nil {
		return 0, err
	}
	defer conn.Close(context.Background())
	err = conn.QueryRow(ctx, "SELECT rolconnlimit FROM pg_roles WHERE rolname = current_user").Scan(&connLimit)
	return connLimit, err
}

// Role is a login role of a town's database: its name, its password (hex)
// and its CONNECTION LIMIT (-1: none).
type Role struct {
	Name      string
	Password  string
	ConnLimit int32
}

// EnsureTownDatabase creates the town's migration role (named like the
// database) and the services' roles with their passwords and connection
// limits, or sets those of existing roles (a Secret holding a password may
// have been lost, a budget may have changed), then creates the town's
// database owned by the migration role unless it exists, keeps other roles
// from connecting to it, and lets each service's role connect to it, and
// nothing more: what a service's role may do inside is granted by the
// init containers as the migration role (services/internal/store, Grant).
// Nothing is ever dropped; a database created before the services had
// roles of their own keeps its tables, owned by the migration role.
func (p Postgres) EnsureTownDatabase(ctx context.Context, town string, owner Role, services ...Role) (err error) {
	name := TownDatabase(town)
	ctx, span := start(ctx, "postgresql ensure town database", trace.SpanKindClient,
		attribute.String("db.system.name", "postgresql"), attribute.String("db.namespace", name),
		attribute.String("server.address", p.Addr()), attribute.Int("wuxiao.roles", 1+len(services)))
	defer func() { finish(span, err) }()
	if owner.Name == "" {
		owner.Name = name
	}
	if owner.Name != name {
		return fmt.Errorf("the migration role of town %s must be named %s", town, name)
	}
	all := append([]Role{owner}, services...)
	for _, r := range all {
		if _, err := hex.DecodeString(r.Password); err != nil || r.Password == "" {
			return fmt.Errorf("role %s: the password must be non-empty hex", r.Name) // it is put into DDL as a literal
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, p.url(p.adminUser(), p.AdminPassword, "postgres"))
	if err != nil {
		return fmt.Errorf("connecting to PostgreSQL %s as %s: %w", p.Addr(), p.adminUser(), err)
	}
	defer conn.Close(context.Background())
	for _, r := range all {
		if err := p.ensureRole(ctx, conn, r); err != nil {
			return err
		}
	}
	ident := pgx.Identifier{name}.Sanitize()
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return fmt.Errorf("PostgreSQL %s: looking up database %s: %w", p.Addr(), name, err)
	}
	if !exists {
		if _, err := conn.Exec(ctx, "CREATE DATABASE "+ident+" OWNER "+ident); err != nil && !isCode(err, "42P04") { // duplicate_database
			return fmt.Errorf("PostgreSQL %s: creating database %s: %w", p.Addr(), name, err)
		}
	}
	// Tenant isolation: by default every role may connect to every database.
	stmts := []string{"REVOKE CONNECT, TEMPORARY ON DATABASE " + ident + " FROM PUBLIC"}
	for _, r := range services {
		stmts = append(stmts, "GRANT CONNECT ON DATABASE "+ident+" TO "+pgx.Identifier{r.Name}.Sanitize())
	}
	for _, st := range stmts {
		if _, err := conn.Exec(ctx, st); err != nil {
			return fmt.Errorf("PostgreSQL %s: %s: %w", p.Addr(), st, err)
		}
	}
	return nil
}

// ensureRole creates r or sets its password and limit. A role of a town
// may do nothing beyond logging in: no superuser, no creating databases or
// roles, no replication, no bypassing row security.
func (p Postgres) ensureRole(ctx context.Context, conn *pgx.Conn, r Role) error {
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)`, r.Name).Scan(&exists); err != nil {
		return fmt.Errorf("PostgreSQL %s: looking up role %s: %w", p.Addr(), r.Name, err)
	}
	limit := r.ConnLimit
	if limit == 0 {
		limit = -1
	}
	verb := "ALTER"
	if !exists {
		verb = "CREATE"
	}
	stmt := verb + " ROLE " + pgx.Identifier{r.Name}.Sanitize() +
		" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS CONNECTION LIMIT " +
		strconv.Itoa(int(limit)) + " PASSWORD '" + r.Password + "'"
	if _, err := conn.Exec(ctx, stmt); err != nil && !isCode(err, "42710") { // duplicate_object: another reconcile won
		return fmt.Errorf("PostgreSQL %s: creating role %s: %w", p.Addr(), r.Name, err)
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
