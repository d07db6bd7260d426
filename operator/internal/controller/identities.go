package controller

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/wuxiao/wuxiao/api/identity"
	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
	"github.com/wuxiao/wuxiao/operator/internal/provision"
)

// The people the operator keeps Kratos identities for: a village's
// officials (Village spec.officials, village_provision.go) and a town's
// liaison cadres (Town spec.liaisonCadres, town_cadres.go). Both go
// through syncIdentities, so adoption, recovery codes and deactivation
// follow one set of rules.

// person is one entry of a spec that gets an identity.
type person struct {
	key    string // the official's or cadre's id in the spec
	what   string // for messages, e.g. "official zhang-wei"
	traits provision.OfficialTraits
	meta   provision.OfficialMetadata
}

// identityRecord is what status keeps of a person's identity.
type identityRecord struct {
	key, identityID string
	active          bool
	digest          string
}

// identitySync is one spec's people and what status knew of them.
type identitySync struct {
	k      *provision.Kratos
	people []person
	known  map[string]identityRecord
	// writeRecovery adds (non-nil) and removes (nil) recovery entries, keyed
	// by the people's keys.
	writeRecovery func(map[string]*RecoveryEntry) error
	// sameTenant: an identity with this metadata was made for this very
	// spec (this village, this town's cadres), so it may be adopted.
	sameTenant func(identity.Metadata) bool
}

// syncIdentities gives every person an active identity whose
// metadata_public is theirs, and deactivates the identities of people no
// longer listed. Kratos is called only for a person whose entry changed
// since it was last written (the digest). It returns the records status
// should hold, also with an error (what was done is not redone).
func syncIdentities(ctx context.Context, s identitySync) ([]identityRecord, error) {
	known := s.known
	recovery := map[string]*RecoveryEntry{} // nil value: remove the key
	var out []identityRecord
	// record keeps what was done, so the next attempt does not redo it. New
	// identities count as done only once their recovery code is stored;
	// otherwise the next attempt adopts them again and makes a new code.
	// Likewise a person no longer listed counts as deactivated only once
	// their code is deleted: otherwise the next attempt deactivates them
	// again (Kratos keeps them inactive) and deletes it then, instead of
	// leaving a former official's code readable in the recovery Secret.
	record := func(done []identityRecord) ([]identityRecord, error) {
		err := s.writeRecovery(recovery)
		if err != nil {
			done = slices.DeleteFunc(done, func(id identityRecord) bool {
				e, ok := recovery[id.key]
				return ok && e != nil
			})
			for i := range done {
				if e, ok := recovery[done[i].key]; ok && e == nil {
					done[i].active = true
				}
			}
		}
		return mergeRecords(done, known), err
	}
	fail := func(err error) ([]identityRecord, error) {
		recs, _ := record(out) // the Kratos error is the one to report
		return recs, &unavailable{wuxiaov1.ReasonIdentityUnavailable, err.Error()}
	}
	for _, p := range s.people {
		digest := identityDigest(p.traits, p.meta)
		cur, ok := known[p.key]
		if ok && cur.active && cur.digest == digest {
			out = append(out, cur)
			delete(known, p.key)
			continue
		}
		id := ""
		if ok {
			err := s.k.Update(ctx, cur.identityID, p.traits, p.meta)
			switch {
			case err == nil:
				id = cur.identityID
			case !isNotFound(err):
				return fail(err)
			}
		}
		fresh := false
		if id == "" {
			found, exists, err := s.k.FindByEmail(ctx, p.traits.Email)
			if err != nil {
				return fail(err)
			}
			if exists {
				// Adopt an identity this spec made before its status was
				// written (or in an earlier life), never another tenant's.
				if m := found.Metadata; m.Role != "" && !s.sameTenant(m) {
					recs, err := record(out)
					if err != nil {
						return recs, err
					}
					return recs, stall(wuxiaov1.ReasonInvalidSpec, "%s: login %s already belongs to an identity of %s; give them another e-mail",
						p.what, p.traits.Email, describeScope(m))
				}
				// Users can set their own e-mail trait, so a matching address
				// proves nothing: adopt only an identity the operator made (its
				// admin-only marker) or one that verified the address, or a
				// villager's account could be given an official's role.
				if !found.Managed() && !found.EmailVerified(p.traits.Email) {
					recs, err := record(out)
					if err != nil {
						return recs, err
					}
					return recs, stall(ReasonIdentityConflict, "%s: login %s is taken by Kratos identity %s, which the operator did not create and which has not verified the address, so it is not trusted with the role %s; "+
						"check who owns it: delete that identity (the operator then creates their own), have them verify the address on it, or give them another e-mail",
						p.what, p.traits.Email, found.ID, p.meta.Role)
				}
				if err := s.k.Update(ctx, found.ID, p.traits, p.meta); err != nil {
					return fail(err)
				}
				id = found.ID
			} else {
				if id, err = s.k.Create(ctx, p.traits, p.meta); err != nil {
					return fail(err)
				}
			}
			fresh = true
		}
		if fresh {
			code, link, expires, err := s.k.RecoveryCode(ctx, id)
			if err != nil {
				return fail(err)
			}
			recovery[p.key] = &RecoveryEntry{Login: p.traits.Email, Code: code, Link: link, ExpiresAt: expires.UTC()}
		}
		out = append(out, identityRecord{key: p.key, identityID: id, active: true, digest: digest})
		delete(known, p.key)
	}
	// People no longer listed: deactivated, kept (the audit trail names them).
	for key, cur := range known {
		if cur.active {
			if err := s.k.Deactivate(ctx, cur.identityID); err != nil {
				return fail(err)
			}
			cur.active, cur.digest = false, ""
			recovery[key] = nil
		}
		out = append(out, cur)
		delete(known, key)
	}
	return record(out)
}

// describeScope names whose an identity is, for a conflict message.
func describeScope(m identity.Metadata) string {
	switch {
	case m.Village != "":
		return fmt.Sprintf("town %s village %s", m.Town, m.Village)
	case m.Town != "":
		return fmt.Sprintf("town %s (%s)", m.Town, m.Role)
	case m.Group != "":
		return fmt.Sprintf("the district (%s, group %s)", m.Role, m.Group)
	}
	return fmt.Sprintf("the district (%s)", m.Role)
}

func mergeRecords(done []identityRecord, rest map[string]identityRecord) []identityRecord {
	out := slices.Clone(done)
	for _, id := range rest {
		out = append(out, id)
	}
	slices.SortFunc(out, func(a, b identityRecord) int { return strings.Compare(a.key, b.key) })
	return out
}
