package resources

import (
	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
)

// The town's database roles and the PostgreSQL connection budget.
//
// Each town has a migration role (named like its database; it owns the
// database, the schemas and the tables), whose URL is in the Secret
// DatabaseSecretName and reaches only the Deployments' init containers, and
// one role per service (provision.ServiceRole), whose URL, with the pool
// size, is in DatabaseSecretFor(service) and reaches only that service's
// serving container. What each role may do inside the database is granted
// by the init container (services/internal/store, Grant).
//
// The budget. A replica of a service holds at most
//
//	PoolMaxConns(svc) + SessionsOutsidePool(svc)
//
// connections: its pool, plus the outbox relay's lock session (every
// replica holds one, waiting for or holding the lock, outside the pool).
// Disclosure's portal LISTEN session holds one of its pool's connections
// for as long as it listens, so its pool has one more. An init container holds
// MigrationConnections. So a town at
// steady state holds
//
//	TownConnections = Σ_svc Replicas(svc) × ConnectionsPerReplica(svc)
//	                + Σ_svc MigrationConnections   (one pod starting per Deployment)
//
// and the server holds Σ_towns TownConnections + Kratos' pool (max_conns in
// its DSN) + the operator's checks (one per concurrent Town reconcile).
// With the defaults (2 replicas, pools of 2, disclosure's of 3) a town
// holds 30, and 12 towns
// with Kratos (20) and the operator (2) hold 382 of PostgreSQL's 600
// (hack/postgres.sh): 63.7%, below 80% with room for three towns rolling
// at once (a rolling update adds one replica per Deployment, 13 per town).
// TestConnectionBudget recomputes this.
//
// The roles' CONNECTION LIMITs are hard caps above this: a service's role
// allows every replica, the one a rolling update adds and one terminating,
// at their most, plus the operator's check; the migration role allows an
// init container for every replica and surge pod of every service (all
// pods restarting at once), plus the operator's check.

// DatabaseSecretFor is the Secret holding a service's own database URL
// (key DatabaseSecretKey) and password (DatabasePasswordKey).
func DatabaseSecretFor(svc wuxiaov1.ServiceName) string {
	return DatabaseSecretName + "-" + string(svc)
}

// poolMaxConns is the pool size of each service's replicas (pool_max_conns
// in its URL). Two let a replica's requests go on while a consumer or timer
// holds one (with one, every request waited behind each batch); more do not
// fit 12 towns in the budget while every replica also holds a relay
// session. Disclosure's portal listener keeps one of its pool's connections
// (services/disclosure, portal_listen.go), so its pool has one more.
var poolMaxConns = map[wuxiaov1.ServiceName]int32{
	wuxiaov1.ServiceWorkflow:   2,
	wuxiaov1.ServiceDisclosure: 3,
	wuxiaov1.ServiceComplaint:  2,
	wuxiaov1.ServiceInspection: 2,
}

// sessionsOutsidePool counts the connections a replica opens beside its
// pool: the outbox relay's lock session (services/internal/events, relay.go).
var sessionsOutsidePool = map[wuxiaov1.ServiceName]int32{
	wuxiaov1.ServiceWorkflow:   1,
	wuxiaov1.ServiceDisclosure: 1,
	wuxiaov1.ServiceComplaint:  1,
	wuxiaov1.ServiceInspection: 1,
}

const (
	// MigrationConnections is what an init container holds: one (see
	// platform.Migrate; goose runs SQL migrations on its lock's connection).
	MigrationConnections = int32(1)
	// rollingSurge is the pods a rolling update adds per Deployment
	// (MaxSurge in Deployment), terminatingSlack the old pod that may still
	// hold its connections while shutting down, operatorChecks the
	// operator's own connection as each role (provision.CheckRole).
	rollingSurge     = int32(1)
	terminatingSlack = int32(1)
	operatorChecks   = int32(1)
)

// PoolMaxConns is the pool size of each replica of svc.
func PoolMaxConns(svc wuxiaov1.ServiceName) int32 { return poolMaxConns[svc] }

// ConnectionsPerReplica is the most one replica of svc holds.
func ConnectionsPerReplica(svc wuxiaov1.ServiceName) int32 {
	return poolMaxConns[svc] + sessionsOutsidePool[svc]
}

// Replicas of svc in t: the Town's override, else DefaultReplicas.
func Replicas(t *wuxiaov1.Town, svc wuxiaov1.ServiceName) int32 {
	if r := t.Spec.ServiceFor(svc).Replicas; r != nil {
		return *r
	}
	return DefaultReplicas
}

// ServiceConnLimit is the CONNECTION LIMIT of svc's role in t's database.
func ServiceConnLimit(t *wuxiaov1.Town, svc wuxiaov1.ServiceName) int32 {
	return (Replicas(t, svc)+rollingSurge+terminatingSlack)*ConnectionsPerReplica(svc) + operatorChecks
}

// MigrationConnLimit is the CONNECTION LIMIT of t's migration role.
func MigrationConnLimit(t *wuxiaov1.Town) int32 {
	n := operatorChecks
	for _, svc := range wuxiaov1.AllServices {
		n += (Replicas(t, svc) + rollingSurge) * MigrationConnections
	}
	return n
}

// TownConnections is what t's services hold at steady state, with one
// init container per service (see the budget above).
func TownConnections(t *wuxiaov1.Town) int32 {
	var n int32
	for _, svc := range wuxiaov1.AllServices {
		n += Replicas(t, svc)*ConnectionsPerReplica(svc) + MigrationConnections
	}
	return n
}

// RolloutConnections is what a rolling update of t adds for its duration:
// one more replica of each service.
func RolloutConnections(t *wuxiaov1.Town) int32 {
	var n int32
	for _, svc := range wuxiaov1.AllServices {
		n += rollingSurge * ConnectionsPerReplica(svc)
	}
	return n
}
