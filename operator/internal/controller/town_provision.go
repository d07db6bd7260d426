package controller

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"

	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
	"github.com/wuxiao/wuxiao/operator/internal/provision"
	"github.com/wuxiao/wuxiao/operator/internal/resources"
)

// ensureKeys creates the town's service keys once, each a step of s. An
// existing key is never replaced: a new ID hash key would make every
// stored hash unmatchable, a new audit key every audit entry unverifiable.
func (r *TownReconciler) ensureKeys(ctx context.Context, s *steps, town *wuxiaov1.Town) {
	for _, name := range []string{resources.IDHashKeySecretName, resources.ChallengeKeySecretName, resources.AuditKeySecretName} {
		s.Go(func() error {
			want := resources.Secret(town, name, map[string][]byte{resources.SecretKeyKey: []byte(provision.RandomHex(32))})
			_, err := applyChild(ctx, r, town, want, func(have, want *corev1.Secret) {
				// Only a missing or unusable key is filled in; the services
				// need at least 32 characters.
				if len(have.Data[resources.SecretKeyKey]) < 32 {
					if have.Data == nil {
						have.Data = map[string][]byte{}
					}
					have.Data[resources.SecretKeyKey] = want.Data[resources.SecretKeyKey]
				}
			})
			return err
		})
	}
}

// dbRole is one login role of a town's database with the Secret holding
// its URL and password.
type dbRole struct {
	secret string
	role   provision.Role
	url    string
	uid    types.UID // of the Secret its password was read from
}

// ensureDatabase gives the town its own database on the district's
// PostgreSQL, with a migration role owning it (Secret wuxiao-database, for
// the init containers) and a role per service (Secret
// wuxiao-database-<service>, for its serving container; see
// resources/database.go), and writes their URLs to those Secrets. In steady
// state it only connects with each URL; the admin credentials are used when
// something is missing or differs: a Secret (a new password is set), a
// role, the database, a password that no longer matches, a connection
// limit the replicas changed. Deleting a Town keeps its database:
// citizens' records are never dropped by the operator. fresh says the
// town's namespace was created in this reconcile, so none of its Secrets
// can exist yet.
func (r *TownReconciler) ensureDatabase(ctx context.Context, town *wuxiaov1.Town, district *wuxiaov1.District, fresh bool) error {
	ps := district.Spec.Postgres
	pg := provision.Postgres{Host: ps.Host, Port: ps.Port, AdminUser: ps.AdminUser, SSLMode: ps.SSLMode}
	roles := []*dbRole{{secret: resources.DatabaseSecretName,
		role: provision.Role{Name: provision.TownDatabase(town.Name), ConnLimit: resources.MigrationConnLimit(town)}}}
	for _, svc := range wuxiaov1.AllServices {
		roles = append(roles, &dbRole{secret: resources.DatabaseSecretFor(svc),
			role: provision.Role{Name: provision.ServiceRole(town.Name, string(svc)), ConnLimit: resources.ServiceConnLimit(town, svc)}})
	}
	urlOf := func(i int, dr *dbRole) string {
		if i == 0 {
			return pg.TownURL(town.Name, dr.role.Password)
		}
		svc := wuxiaov1.AllServices[i-1]
		return pg.ServiceURL(town.Name, string(svc), dr.role.Password, resources.PoolMaxConns(svc))
	}
	provisionRoles := func() error {
		admin, err := r.adminPassword(ctx, district)
		if err != nil {
			return err
		}
		pg.AdminPassword = admin
		services := make([]provision.Role, 0, len(roles)-1)
		for _, dr := range roles[1:] {
			services = append(services, dr.role)
		}
		if err := pg.EnsureTownDatabase(ctx, town.Name, roles[0].role, services...); err != nil {
			return &unavailable{wuxiaov1.ReasonDatabaseUnavailable, fmt.Sprintf("cannot provision database %s on PostgreSQL %s (District %s spec.postgres): %v",
				provision.TownDatabase(town.Name), pg.Addr(), district.Name, err)}
		}
		return nil
	}
	stale := false
	for i, dr := range roles {
		key := types.NamespacedName{Namespace: town.NamespaceName(), Name: dr.secret}
		secret := &corev1.Secret{}
		err := r.Get(ctx, key, secret)
		if apierrors.IsNotFound(err) && !fresh {
			// The cache may lag behind a Secret written a moment ago; a new
			// password would needlessly change the role's.
			err = r.APIReader.Get(ctx, key, secret)
		}
		if err != nil && !apierrors.IsNotFound(err) {
			return err
		}
		dr.uid = secret.UID
		dr.role.Password = string(secret.Data[resources.DatabasePasswordKey])
		if dr.role.Password == "" {
			dr.role.Password = provision.NewPassword()
			stale = true
		}
		dr.url = urlOf(i, dr)
		if string(secret.Data[resources.DatabaseSecretKey]) != dr.url {
			stale = true
		}
	}
	// Each role signs in with its URL, one at a time: a connection each,
	// and the district's PostgreSQL is shared by every town's services.
	// Not again while a recent reconcile did with the same URLs and limits.
	rolesDigest := func() [32]byte {
		var parts []string
		for _, dr := range roles {
			parts = append(parts, dr.url, strconv.Itoa(int(dr.role.ConnLimit)))
		}
		return digest(parts...)
	}
	checked := !stale && r.checks.fresh(town.Name, checkRoles, rolesDigest(), time.Now())
	for _, dr := range roles {
		if stale || checked {
			break
		}
		limit, err := provision.CheckRole(ctx, dr.url)
		stale = err != nil || limit != dr.role.ConnLimit
	}
	if stale {
		r.checks.forget(town.Name, checkRoles)
		if err := provisionRoles(); err != nil {
			return err
		}
	}
	dbSecret := func(dr *dbRole) *corev1.Secret {
		return resources.Secret(town, dr.secret, map[string][]byte{
			resources.DatabaseSecretKey: []byte(dr.url), resources.DatabasePasswordKey: []byte(dr.role.Password)})
	}
	recreated := make([]*corev1.Secret, len(roles))
	idx := make([]int, len(roles))
	for i := range idx {
		idx[i] = i
	}
	if err := each(len(roles), idx, func(i int) error {
		dr := roles[i]
		live, err := applyChild(ctx, r, town, dbSecret(dr), func(have, want *corev1.Secret) { have.Data = want.Data })
		if err != nil {
			return err
		}
		if dr.uid != "" && live.UID != dr.uid {
			// Deleted after its password was read above (this reconcile was
			// already under way): it came back with the lost password,
			// which a lost Secret must not keep.
			recreated[i] = live
		}
		return nil
	}); err != nil {
		return err
	}
	if slices.ContainsFunc(recreated, func(s *corev1.Secret) bool { return s != nil }) {
		for i, dr := range roles {
			if recreated[i] != nil {
				dr.role.Password = provision.NewPassword()
				dr.url = urlOf(i, dr)
			}
		}
		r.checks.forget(town.Name, checkRoles) // the roles change below
		if err := provisionRoles(); err != nil {
			return err
		}
		checked = false // recorded below as ALTER ROLE just set them
		for i, live := range recreated {
			if live == nil {
				continue
			}
			live.Data = dbSecret(roles[i]).Data
			if err := r.Update(ctx, live); err != nil {
				return err
			}
		}
	}
	if !checked {
		// Signed in with these URLs, or just set with them by ALTER ROLE. A
		// sign-in that fails for another reason (pg_hba, the network) is no
		// role's to fix: the services' readiness reports it.
		r.checks.record(town.Name, checkRoles, rolesDigest(), time.Now())
	}
	town.Status.Database = provision.TownDatabase(town.Name)
	return nil
}

// adminPassword reads the district's PostgreSQL admin password, straight
// from the API server: the operator does not cache foreign Secrets.
func (r *TownReconciler) adminPassword(ctx context.Context, district *wuxiaov1.District) (string, error) {
	ref := district.Spec.Postgres.AdminPasswordSecret
	secret := &corev1.Secret{}
	if err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: ref.Namespace, Name: ref.Name}, secret); err != nil {
		if apierrors.IsNotFound(err) {
			return "", stall(wuxiaov1.ReasonSecretNotFound, "Secret %s/%s named by District %s spec.postgres.adminPasswordSecret does not exist", ref.Namespace, ref.Name, district.Name)
		}
		return "", err
	}
	key := ref.Key
	if key == "" {
		key = "password"
	}
	return string(secret.Data[key]), nil
}

// ensureTopics creates the town's topics (every stream's and its dead-letter
// topic) with the district's partitions and replication factor.
func (r *TownReconciler) ensureTopics(ctx context.Context, town *wuxiaov1.Town, district *wuxiaov1.District) error {
	k := district.Spec.Kafka
	partitions, rf := int(k.Partitions), int(k.ReplicationFactor)
	if partitions == 0 {
		partitions = 3
	}
	if rf == 0 {
		rf = 1
	}
	topics := provision.TownTopics(town.Name)
	// One metadata request (a connection) per reconcile, unless a recent
	// reconcile found every topic with a leader on the same servers.
	d := digest(append([]string{strings.Join(k.BootstrapServers, ","), strconv.Itoa(partitions), strconv.Itoa(rf)}, topics...)...)
	if slices.Equal(town.Status.Topics, topics) && r.checks.fresh(town.Name, checkTopics, d, time.Now()) {
		return nil
	}
	ready, err := provision.EnsureTopics(ctx, k.BootstrapServers, partitions, rf, topics)
	town.Status.Topics = ready
	if err == nil && len(ready) == len(topics) {
		r.checks.record(town.Name, checkTopics, d, time.Now())
	} else {
		r.checks.forget(town.Name, checkTopics)
	}
	if err != nil {
		return &unavailable{wuxiaov1.ReasonKafkaUnavailable, fmt.Sprintf("cannot provision the town's topics on Kafka %s (District %s spec.kafka): %v",
			strings.Join(k.BootstrapServers, ","), district.Name, err)}
	}
	return nil
}
