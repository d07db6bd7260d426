package controller

import (
	"context"
	"errors"
	"testing"

	"github.com/wuxiao/wuxiao/api/identity"
	"github.com/wuxiao/wuxiao/operator/internal/provision"
)

// A person no longer listed whose code could not be deleted from the
// recovery Secret is deactivated and deleted again on the next attempt
// (the real Kratos; the Secret's writes are the test's, failing once).
func TestRemovedPersonsCodeDeletionRetried(t *testing.T) {
	ctx := context.Background()
	k := provision.NewKratos(requireEnv(t, "WUXIAO_TEST_KRATOS_ADMIN_URL"))
	p := person{key: "qian-li", what: "official qian-li",
		traits: provision.OfficialTraits{Email: "qian.li-" + provision.RandomHex(4) + "@example.cn", Name: "钱立"},
		meta:   provision.OfficialMetadata{Role: identity.RoleSecretary, Town: "retry", Village: "330213999001"}}
	var writes []map[string]*RecoveryEntry
	failNext := false
	sync := func(people []person, known []identityRecord) ([]identityRecord, error) {
		t.Helper()
		m := map[string]identityRecord{}
		for _, r := range known {
			m[r.key] = r
		}
		return syncIdentities(ctx, identitySync{k: k, people: people, known: m,
			sameTenant: func(identity.Metadata) bool { return true },
			writeRecovery: func(e map[string]*RecoveryEntry) error {
				writes = append(writes, e)
				if failNext {
					failNext = false
					return errors.New("the API server refused the write")
				}
				return nil
			}})
	}

	recs, err := sync([]person{p}, nil)
	must(t, err)
	if len(recs) != 1 || !recs[0].active || writes[0][p.key] == nil {
		t.Fatalf("records %+v, writes %+v: the official should be active with a code", recs, writes)
	}
	id := recs[0].identityID

	// Removed from the spec; deleting the code fails.
	failNext = true
	recs, err = sync(nil, recs)
	if err == nil {
		t.Fatal("the failed write was not reported")
	}
	if e, ok := writes[1][p.key]; !ok || e != nil {
		t.Fatalf("first attempt wrote %+v, want the code's deletion", writes[1])
	}
	if got, err := k.Get(ctx, id); err != nil || got.Active {
		t.Fatalf("identity active=%v (%v), want deactivated", got.Active, err)
	}

	// The next attempt deletes it again.
	recs, err = sync(nil, recs)
	must(t, err)
	if e, ok := writes[2][p.key]; !ok || e != nil {
		t.Errorf("the retry wrote %+v: the former official's code is left in the recovery Secret", writes[2])
	}
	if len(recs) != 1 || recs[0].active || recs[0].identityID != id {
		t.Errorf("records %+v after the retry: want the identity kept, inactive", recs)
	}
}
