package controller

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	"github.com/wuxiao/wuxiao/api/identity"
	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
	"github.com/wuxiao/wuxiao/operator/internal/provision"
	"github.com/wuxiao/wuxiao/operator/internal/resources"
)

// kratosClients keeps one client (and its connection pool) per admin URL.
var kratosClients sync.Map

func kratosFor(adminURL string) *provision.Kratos {
	if k, ok := kratosClients.Load(adminURL); ok {
		return k.(*provision.Kratos)
	}
	k, _ := kratosClients.LoadOrStore(adminURL, provision.NewKratos(adminURL))
	return k.(*provision.Kratos)
}

// OfficialLogin is the login identifier (Kratos' e-mail trait) of an
// official: their e-mail, or for an official known only by phone an address
// under the reserved .invalid domain, unique per village (Kratos' identity
// schema needs an e-mail identifier; the phone is kept as a trait).
func OfficialLogin(v *wuxiaov1.Village, o wuxiaov1.Official) string {
	if o.Email != "" {
		return strings.ToLower(strings.TrimSpace(o.Email))
	}
	return o.Phone + "@" + v.Spec.Code + ".officials.wuxiao.invalid"
}

// RecoveryEntry is what a recovery Secret holds per new official or liaison
// cadre (key: their id; resources.RecoverySecret): what town IT staff hand
// over for the first sign-in. It never appears in status.
type RecoveryEntry struct {
	Login     string    `json:"login"`
	Code      string    `json:"code"`
	Link      string    `json:"link"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// ReasonIdentityConflict (Stalled): an official's login belongs to a
// Kratos identity the operator may not adopt (see ensureIdentities).
const ReasonIdentityConflict = "IdentityConflict"

// ensureIdentities gives every official of the spec an active identity
// whose metadata_public carries {role, town, village}, and deactivates the
// identities of officials no longer listed (syncIdentities, identities.go).
func (r *VillageReconciler) ensureIdentities(ctx context.Context, v *wuxiaov1.Village, town *wuxiaov1.Town, district *wuxiaov1.District) error {
	known := map[string]identityRecord{}
	roles := map[string]wuxiaov1.OfficialRole{}
	for _, id := range v.Status.Identities {
		known[id.Official] = identityRecord{key: id.Official, identityID: id.IdentityID, active: id.Active, digest: id.Digest}
		roles[id.Official] = id.Role
	}
	people := make([]person, 0, len(v.Spec.Officials))
	for _, o := range v.Spec.Officials {
		people = append(people, person{key: o.ID, what: "official " + o.ID,
			traits: provision.OfficialTraits{Email: OfficialLogin(v, o), Name: o.Name, Phone: o.Phone},
			meta:   provision.OfficialMetadata{Role: identity.Role(o.Role), Town: town.Name, Village: v.Spec.Code}})
		roles[o.ID] = o.Role
	}
	recs, err := syncIdentities(ctx, identitySync{
		k: kratosFor(district.Spec.Kratos.AdminURL), people: people, known: known,
		writeRecovery: func(e map[string]*RecoveryEntry) error { return r.writeRecovery(ctx, town, v, e) },
		sameTenant:    func(m identity.Metadata) bool { return m.Town == town.Name && m.Village == v.Spec.Code },
	})
	v.Status.Identities = nil
	for _, rec := range recs {
		v.Status.Identities = append(v.Status.Identities, wuxiaov1.OfficialIdentity{Official: rec.key, IdentityID: rec.identityID,
			Role: roles[rec.key], Active: rec.active, Digest: rec.digest})
	}
	if err != nil {
		return err
	}
	if len(v.Spec.Officials) > 0 {
		v.Status.RecoverySecret = town.RecoveryNamespaceName() + "/" + resources.VillageRecoverySecretName(v.Spec.Code)
	} else {
		v.Status.RecoverySecret = ""
	}
	return nil
}

func identityDigest(t provision.OfficialTraits, m provision.OfficialMetadata) string {
	b, _ := json.Marshal([]any{t, m})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

func isNotFound(err error) bool { return errors.Is(err, provision.ErrIdentityNotFound) }

// writeRecovery adds and removes entries of the village's recovery Secret.
func (r *VillageReconciler) writeRecovery(ctx context.Context, town *wuxiaov1.Town, v *wuxiaov1.Village, entries map[string]*RecoveryEntry) error {
	return writeRecovery(ctx, r.Client, town, resources.VillageRecoverySecretName(v.Spec.Code), entries)
}

// writeRecovery adds (non-nil) and removes (nil) entries of the Secret name
// in the town's recovery namespace (resources.RecoverySecret). Removals
// alone never create it; a Secret left empty is deleted.
func writeRecovery(ctx context.Context, c client.Client, town *wuxiaov1.Town, name string, entries map[string]*RecoveryEntry) error {
	if len(entries) == 0 {
		return nil
	}
	data := map[string][]byte{}
	for key, e := range entries {
		if e != nil {
			b, err := json.Marshal(e)
			if err != nil {
				return err
			}
			data[key] = b
		}
	}
	want := resources.RecoverySecret(town, name, data)
	if len(data) == 0 {
		have := &corev1.Secret{}
		if err := c.Get(ctx, client.ObjectKeyFromObject(want), have); err != nil {
			return client.IgnoreNotFound(err)
		}
		for key := range entries {
			delete(have.Data, key)
		}
		if len(have.Data) == 0 {
			return client.IgnoreNotFound(c.Delete(ctx, have, client.Preconditions{UID: &have.UID, ResourceVersion: &have.ResourceVersion}))
		}
		return c.Update(ctx, have)
	}
	// No owner: the Secret lives in another namespace than its Village, and
	// goes with the recovery namespace when the Town is deleted.
	_, _, err := ensure(ctx, c, nil, nil, want, func(have, want *corev1.Secret) {
		if have.Data == nil {
			have.Data = map[string][]byte{}
		}
		for key, e := range entries {
			if e == nil {
				delete(have.Data, key)
			} else {
				have.Data[key] = want.Data[key]
			}
		}
	})
	return err
}

// ensureQR stores the QR code of the village's portal address, or removes
// it while the portal is disabled.
func (r *VillageReconciler) ensureQR(ctx context.Context, v *wuxiaov1.Village, town *wuxiaov1.Town) error {
	if v.Spec.Portal.Enabled != nil && !*v.Spec.Portal.Enabled {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: v.Namespace, Name: resources.QRConfigMapName(v.Name)}}
		if err := r.Get(ctx, client.ObjectKeyFromObject(cm), cm); err == nil && metav1.IsControlledBy(cm, v) {
			if err := r.Delete(ctx, cm); client.IgnoreNotFound(err) != nil {
				return err
			}
		}
		v.Status.QRConfigMap = ""
		return nil
	}
	png, svg, err := provision.QR(v.Status.PortalURL)
	if err != nil {
		return err
	}
	want := resources.QRConfigMap(v, town.Name, png, svg)
	// The cache keeps a digest of the ConfigMap's data, not the data
	// (CacheOptions): compare that, and write only when it differs.
	cached := &corev1.ConfigMap{}
	if err := r.Get(ctx, client.ObjectKeyFromObject(want), cached); err == nil && qrUpToDate(cached, want, v) {
		v.Status.QRConfigMap = want.Name
		return nil
	}
	_, op, err := ensure(ctx, r.Client, r.Scheme, v, want, func(have, want *corev1.ConfigMap) {
		have.Data, have.BinaryData = want.Data, want.BinaryData
		delete(have.Annotations, CachedDataDigestAnnotation) // the cache's, never written
	})
	if err != nil {
		return err
	}
	// A new village's QR code is in its status (qrConfigMap); an event
	// says when it was redrawn (a new portal address, or an edited
	// ConfigMap put back): one Event per village onboarded was a seventh of
	// the operator's API requests in hack/bench/scale.
	if op == controllerutil.OperationResultUpdated {
		r.Recorder.Eventf(v, want, corev1.EventTypeNormal, "QRCode", "Render", "QR code of %s written to ConfigMap %s", v.Status.PortalURL, want.Name)
	}
	v.Status.QRConfigMap = want.Name
	return nil
}

// qrUpToDate reports whether the cached QR ConfigMap (data replaced by its
// digest) is what ensureQR would write: same data, the labels and
// annotations it sets, and the Village as its controller.
func qrUpToDate(cached, want *corev1.ConfigMap, v *wuxiaov1.Village) bool {
	digest, ok := cached.Annotations[CachedDataDigestAnnotation]
	if !ok || digest != dataDigest(want.Data, want.BinaryData) || !metav1.IsControlledBy(cached, v) {
		return false
	}
	for k, val := range want.Labels {
		if cached.Labels[k] != val {
			return false
		}
	}
	for k, val := range want.Annotations {
		if cached.Annotations[k] != val {
			return false
		}
	}
	return true
}

// register announces the village to the town's services on the tenant
// stream, once per generation, when the town's tenant topic is ready.
func (r *VillageReconciler) register(ctx context.Context, v *wuxiaov1.Village, town *wuxiaov1.Town, district *wuxiaov1.District) error {
	topic := eventsv1.Topic(town.Name, eventsv1.StreamTenant)
	if v.Status.RegisteredGeneration == v.Generation || !slices.Contains(town.Status.Topics, topic) {
		return nil // a change of the town's topics brings the village back
	}
	var roles []string
	for _, o := range v.Spec.Officials {
		if !slices.Contains(roles, string(o.Role)) {
			roles = append(roles, string(o.Role))
		}
	}
	slices.Sort(roles)
	data, err := json.Marshal(eventsv1.VillageRegistered{Code: v.Spec.Code, Name: v.Spec.DisplayName, Kind: string(v.Spec.Kind),
		Town: town.Name, Roles: roles, PortalURL: v.Status.PortalURL, Generation: v.Generation, UID: string(v.UID),
		Thresholds: registeredThresholds(v)})
	if err != nil {
		return err
	}
	ev := eventsv1.Event{
		ID:     VillageEventID(v),
		Source: "/towns/" + town.Name + "/operator", Type: eventsv1.TypeVillageRegistered,
		Subject: v.Spec.Code, Time: time.Now().UTC(), Town: town.Name, Village: v.Spec.Code, Data: data,
	}
	if err := provision.Publish(ctx, district.Spec.Kafka.BootstrapServers, topic, ev); err != nil {
		return &unavailable{wuxiaov1.ReasonKafkaUnavailable, fmt.Sprintf("cannot announce the village on Kafka %s: %v",
			strings.Join(district.Spec.Kafka.BootstrapServers, ","), err)}
	}
	v.Status.RegisteredGeneration = v.Generation
	return nil
}

// villageEventNamespace scopes the ids of the operator's village events.
var villageEventNamespace = uuid.MustParse("5b0f3c1e-9a51-4d0e-9f57-6a1f0d7c2b11")

// VillageEventID is the registration event's id for the Village's uid and
// generation: publishing the same generation again yields the same id, which
// consumers deduplicate.
func VillageEventID(v *wuxiaov1.Village) string {
	return uuid.NewSHA1(villageEventNamespace, []byte(string(v.UID)+"/"+strconv.FormatInt(v.Generation, 10))).String()
}

// deactivateAll ends every official's access when their village is
// archived; it returns nil when there is nothing to do or nowhere to do it.
func (r *VillageReconciler) deactivateAll(ctx context.Context, v *wuxiaov1.Village) error {
	var active []wuxiaov1.OfficialIdentity
	for _, id := range v.Status.Identities {
		if id.Active {
			active = append(active, id)
		}
	}
	if len(active) == 0 {
		return nil
	}
	town := &wuxiaov1.Town{}
	if err := r.Get(ctx, client.ObjectKey{Name: v.Status.Town}, town); err != nil {
		return client.IgnoreNotFound(err)
	}
	district := &wuxiaov1.District{}
	if err := r.Get(ctx, client.ObjectKey{Name: town.Spec.District}, district); err != nil {
		return client.IgnoreNotFound(err)
	}
	k := kratosFor(district.Spec.Kratos.AdminURL)
	for _, id := range active {
		if err := k.Deactivate(ctx, id.IdentityID); err != nil {
			return err
		}
	}
	return nil
}

// archiveEventID is the archival event's id for the Village's uid: every
// publication of it deduplicates.
func archiveEventID(v *wuxiaov1.Village) string {
	return uuid.NewSHA1(villageEventNamespace, []byte(string(v.UID)+"/archived")).String()
}

// announceArchive publishes the village's archival on the tenant stream
// and waits, at most ArchiveAckTimeout from the publication, until every
// service acknowledged it. It returns how long to wait before looking
// again, 0 when the archive may proceed. Nothing is announced for a
// village never registered, or whose Town or District is gone (no service
// knows it); a Kafka that cannot be reached keeps the Village Terminating,
// with a warning event, until it can.
func (r *VillageReconciler) announceArchive(ctx context.Context, v *wuxiaov1.Village) (time.Duration, error) {
	if v.Status.RegisteredGeneration == 0 || len(r.Services) == 0 {
		return 0, nil
	}
	before := v.DeepCopy()
	if v.Status.ArchiveAnnouncedAt == nil {
		town := &wuxiaov1.Town{}
		if err := r.Get(ctx, client.ObjectKey{Name: v.Status.Town}, town); err != nil {
			return 0, client.IgnoreNotFound(err)
		}
		district := &wuxiaov1.District{}
		if err := r.Get(ctx, client.ObjectKey{Name: town.Spec.District}, district); err != nil {
			return 0, client.IgnoreNotFound(err)
		}
		data, err := json.Marshal(eventsv1.VillageArchived{Code: v.Spec.Code, Name: v.Spec.DisplayName, Town: town.Name,
			UID: string(v.UID), Generation: v.Generation})
		if err != nil {
			return 0, err
		}
		ev := eventsv1.Event{ID: archiveEventID(v), Source: "/towns/" + town.Name + "/operator", Type: eventsv1.TypeVillageArchived,
			Subject: v.Spec.Code, Time: time.Now().UTC(), Town: town.Name, Village: v.Spec.Code, Data: data}
		topic := eventsv1.Topic(town.Name, eventsv1.StreamTenant)
		if err := provision.Publish(ctx, district.Spec.Kafka.BootstrapServers, topic, ev); err != nil {
			msg := fmt.Sprintf("cannot announce the archival to the town's services on Kafka %s: %v; the Village stays (Terminating, nothing archived or lost) until it can",
				strings.Join(district.Spec.Kafka.BootstrapServers, ","), err)
			_, err := r.archiveFailed(ctx, v, &unavailable{wuxiaov1.ReasonKafkaUnavailable, msg})
			return 0, err
		}
		now := metav1.Now()
		v.Status.ArchiveAnnouncedAt = &now
		r.Recorder.Eventf(v, nil, corev1.EventTypeNormal, "ArchiveAnnounced", "Archive", "archival published on %s; waiting up to %s for %v to acknowledge",
			topic, r.ArchiveAckTimeout, r.Services)
	}
	pending := pendingArchive(&v.Status, r.Services)
	if len(pending) == 0 {
		return 0, nil
	}
	waited := time.Since(v.Status.ArchiveAnnouncedAt.Time)
	if waited >= r.ArchiveAckTimeout {
		// The archival stays on the tenant stream: a service that was down
		// applies it when it catches up; its records are kept either way.
		r.Recorder.Eventf(v, nil, corev1.EventTypeWarning, "ArchiveUnacknowledged", "Archive",
			"%v did not acknowledge the archival within %s; archiving anyway (they apply it from the tenant stream when they catch up)",
			pending, r.ArchiveAckTimeout)
		return 0, nil
	}
	markProgressing(&v.Status.Conditions, v.Generation, wuxiaov1.ReasonArchiving,
		fmt.Sprintf("waiting for %s to acknowledge the archival (at most %s more)", strings.Join(pending, ", "),
			(r.ArchiveAckTimeout-waited).Round(time.Minute)))
	if err := patchStatus(ctx, r.Client, before, v, &before.Status, &v.Status); err != nil {
		return 0, err
	}
	return min(r.AckPoll, r.ArchiveAckTimeout-waited), nil
}
