package controller

import (
	"crypto/sha256"
	"strings"
	"sync"
	"time"
)

// RecheckInterval is how long a town's reconciles trust what an earlier
// one verified outside the cluster — that each database role signs in
// with its Secret's URL and has its connection limit, that the town's
// topics have leaders — as long as what was verified is unchanged. Signing
// in as a town's five roles cost five PostgreSQL connections (a backend
// and a SCRAM exchange each) on every reconcile, and a town reconciles a
// dozen times while its villages onboard: ~1.2 s of the 7 s that 12 towns
// with 347 villages took (hack/bench/scale). A changed URL, password,
// limit, server or topic list is checked at once; drift made behind the
// operator's back (a role altered by hand, a topic deleted) is found by
// the town's first reconcile after this interval (a town with rating
// rules, a calendar or notification channels reconciles at least every
// RatingRulesResync; any other on a change), or at once after an
// operator restart.
const RecheckInterval = 5 * time.Minute

// Kinds of recentChecks.
const (
	checkRoles  = "roles"  // each role signs in and has its limit
	checkTopics = "topics" // each topic exists with leaders
)

// recentChecks remembers, per town and kind of check, a digest of what was
// verified and when.
type recentChecks struct{ m sync.Map } // "<town>/<kind>" -> verified

type verified struct {
	digest [sha256.Size]byte
	at     time.Time
}

// digest of the parts that were verified (passwords included: the
// operator keeps no plain copy of them here).
func digest(parts ...string) [sha256.Size]byte {
	return sha256.Sum256([]byte(strings.Join(parts, "\x00")))
}

// fresh reports whether kind was verified for town with the same digest
// less than RecheckInterval ago.
func (c *recentChecks) fresh(town, kind string, d [sha256.Size]byte, now time.Time) bool {
	v, ok := c.m.Load(town + "/" + kind)
	return ok && v.(verified).digest == d && now.Sub(v.(verified).at) < RecheckInterval
}

func (c *recentChecks) record(town, kind string, d [sha256.Size]byte, now time.Time) {
	c.m.Store(town+"/"+kind, verified{digest: d, at: now})
}

// forget drops what was verified for town (failed, or the Town is gone).
func (c *recentChecks) forget(town, kind string) { c.m.Delete(town + "/" + kind) }
