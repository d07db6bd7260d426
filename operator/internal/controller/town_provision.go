package controller

import (
	"context"
	"errors"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"

	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
	"github.com/wuxiao/wuxiao/operator/internal/provision"
	"github.com/wuxiao/wuxiao/operator/internal/resources"
)

// unavailable is a dependency outside the cluster (PostgreSQL, Kafka,
// Kratos) that cannot be reached or refuses: the object reports Stalled with
// a message naming the server, and the work queue retries with exponential
// backoff, since the cause may go away without anyone touching the object.
type unavailable struct{ reason, msg string }

func (u *unavailable) Error() string { return u.reason + ": " + u.msg }

// ensureKeys creates the town's service keys once. An existing key is never
// replaced: a new ID hash key would make every stored hash unmatchable.
func (r *TownReconciler) ensureKeys(ctx context.Context, town *wuxiaov1.Town) error {
	for _, name := range []string{resources.IDHashKeySecretName, resources.ChallengeKeySecretName} {
		want := resources.Secret(town, name, map[string][]byte{resources.SecretKeyKey: []byte(provision.RandomHex(32))})
		if _, err := applyChild(ctx, r, town, want, func(have, want *corev1.Secret) {
			// Only a missing or unusable key is filled in; the services
			// need at least 32 characters.
			if len(have.Data[resources.SecretKeyKey]) < 32 {
				if have.Data == nil {
					have.Data = map[string][]byte{}
				}
				have.Data[resources.SecretKeyKey] = want.Data[resources.SecretKeyKey]
			}
		}); err != nil {
			return err
		}
	}
	return nil
}

// ensureDatabase gives the town its own database and role on the district's
// PostgreSQL and writes their URL to the Secret the services read. In steady
// state it only connects with that URL; the admin credentials are used when
// something is missing: the Secret (a new password is set), the role, the
// database, or a password that no longer matches. Deleting a Town keeps its
// database: citizens' records are never dropped by the operator.
func (r *TownReconciler) ensureDatabase(ctx context.Context, town *wuxiaov1.Town, district *wuxiaov1.District) error {
	ps := district.Spec.Postgres
	pg := provision.Postgres{Host: ps.Host, Port: ps.Port, AdminUser: ps.AdminUser, SSLMode: ps.SSLMode}
	key := types.NamespacedName{Namespace: town.NamespaceName(), Name: resources.DatabaseSecretName}
	secret := &corev1.Secret{}
	err := r.Get(ctx, key, secret)
	if apierrors.IsNotFound(err) {
		// The cache may lag behind a Secret written a moment ago; a new
		// password would needlessly change the role's.
		err = r.APIReader.Get(ctx, key, secret)
	}
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	password := string(secret.Data[resources.DatabasePasswordKey])
	url := pg.TownURL(town.Name, password)
	if password == "" || string(secret.Data[resources.DatabaseSecretKey]) != url || provision.Ping(ctx, url) != nil {
		if password == "" {
			password = provision.NewPassword()
			url = pg.TownURL(town.Name, password)
		}
		admin, err := r.adminPassword(ctx, district)
		if err != nil {
			return err
		}
		pg.AdminPassword = admin
		if err := pg.EnsureTownDatabase(ctx, town.Name, password); err != nil {
			return &unavailable{wuxiaov1.ReasonDatabaseUnavailable, fmt.Sprintf("cannot provision database %s on PostgreSQL %s (District %s spec.postgres): %v",
				provision.TownDatabase(town.Name), pg.Addr(), district.Name, err)}
		}
	}
	want := resources.Secret(town, resources.DatabaseSecretName, map[string][]byte{
		resources.DatabaseSecretKey: []byte(url), resources.DatabasePasswordKey: []byte(password)})
	if _, err := applyChild(ctx, r, town, want, func(have, want *corev1.Secret) { have.Data = want.Data }); err != nil {
		return err
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
	ready, err := provision.EnsureTopics(ctx, k.BootstrapServers, partitions, rf, provision.TownTopics(town.Name))
	town.Status.Topics = ready
	if err != nil {
		return &unavailable{wuxiaov1.ReasonKafkaUnavailable, fmt.Sprintf("cannot provision the town's topics on Kafka %s (District %s spec.kafka): %v",
			strings.Join(k.BootstrapServers, ","), district.Name, err)}
	}
	return nil
}

func isUnavailable(err error) (*unavailable, bool) {
	var u *unavailable
	return u, errors.As(err, &u)
}
