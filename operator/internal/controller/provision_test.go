package controller

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"image/png"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/makiuchi-d/gozxing"
	gozxingqr "github.com/makiuchi-d/gozxing/qrcode"
	kratos "github.com/ory/kratos-client-go"
	"github.com/segmentio/kafka-go"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
	"github.com/wuxiao/wuxiao/operator/internal/provision"
	"github.com/wuxiao/wuxiao/operator/internal/resources"
)

func getSecret(t *testing.T, ns, name string) *corev1.Secret {
	t.Helper()
	s := &corev1.Secret{}
	must(t, k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, s))
	return s
}

// connect opens a connection with a URL from a town's Secret, as a service would.
func connect(ctx context.Context, url string) (*pgx.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return pgx.Connect(ctx, url)
}

func TestTownProvisionsDatabaseTopicsAndKeys(t *testing.T) {
	ctx := context.Background()
	d := fixture(t)
	// A name of this run only (so the topics are new and get the district's
	// partitions), with a dash (so identifiers need quoting). Cleaned up
	// after the manager stops (cleanups run last-registered first).
	name := "prov-" + runID
	t.Cleanup(func() { dropTown(t, d, name) })
	startManager(t)
	update(t, d, func() { d.Spec.Kafka.Partitions = 2 })
	town := readyTown(t, d, func(town *wuxiaov1.Town) { town.Name = name })
	other := readyTown(t, d)
	ns := town.NamespaceName()

	// The database: the migration role's URL works, and the role owns its
	// database.
	db := getSecret(t, ns, resources.DatabaseSecretName)
	url := string(db.Data[resources.DatabaseSecretKey])
	if town.Status.Database != provision.TownDatabase(town.Name) || !strings.Contains(url, "/"+town.Status.Database+"?") {
		t.Fatalf("status.database %q, url %q", town.Status.Database, url)
	}
	conn, err := connect(ctx, url)
	must(t, err)
	var user, dbname string
	must(t, conn.QueryRow(ctx, "SELECT current_user, current_database()").Scan(&user, &dbname))
	if _, err := conn.Exec(ctx, "CREATE TABLE IF NOT EXISTS provisioned (id int)"); err != nil {
		t.Errorf("the town's role cannot create tables in its database: %v", err)
	}
	_ = conn.Close(ctx)
	if user != "wuxiao_"+town.Name || dbname != "wuxiao_"+town.Name {
		t.Errorf("connected as %s to %s", user, dbname)
	}
	// Tenant isolation: another town's role cannot even connect to it.
	otherURL := string(getSecret(t, other.NamespaceName(), resources.DatabaseSecretName).Data[resources.DatabaseSecretKey])
	if c, err := connect(ctx, strings.Replace(otherURL, "/wuxiao_"+other.Name+"?", "/wuxiao_"+town.Name+"?", 1)); err == nil {
		_ = c.Close(ctx)
		t.Error("town " + other.Name + "'s role connected to town " + town.Name + "'s database")
	}

	// Each service's own role: its URL (with its pool size) works, the role
	// has the connection limit of the budget and may create nothing.
	for _, svc := range wuxiaov1.AllServices {
		s := getSecret(t, ns, resources.DatabaseSecretFor(svc))
		u := string(s.Data[resources.DatabaseSecretKey])
		if !strings.Contains(u, "pool_max_conns="+fmt.Sprint(resources.PoolMaxConns(svc))) || !strings.Contains(u, "/"+town.Status.Database+"?") {
			t.Errorf("%s: url %q", svc, u)
		}
		limit, err := provision.CheckRole(ctx, u)
		if err != nil || limit != resources.ServiceConnLimit(town, svc) {
			t.Errorf("%s: connection limit %d (%v), want %d", svc, limit, err, resources.ServiceConnLimit(town, svc))
		}
		c, err := connect(ctx, strings.Split(u, "&pool_max_conns")[0])
		must(t, err)
		var role string
		must(t, c.QueryRow(ctx, "SELECT current_user").Scan(&role))
		if role != provision.ServiceRole(town.Name, string(svc)) {
			t.Errorf("%s connects as %s", svc, role)
		}
		if _, err := c.Exec(ctx, "CREATE TABLE "+string(svc)+"_own (id int)"); err == nil || !strings.Contains(err.Error(), "42501") {
			t.Errorf("%s's role can create a table in its town's database: %v", svc, err)
		}
		_ = c.Close(ctx)
	}
	if limit, err := provision.CheckRole(ctx, url); err != nil || limit != resources.MigrationConnLimit(town) {
		t.Errorf("migration role: limit %d (%v), want %d", limit, err, resources.MigrationConnLimit(town))
	}

	// The topics: every stream's and its dead-letter topic, with the
	// district's partitions, listed in status.
	want := provision.TownTopics(town.Name)
	if !slices.Equal(town.Status.Topics, want) || len(want) != 2*len(eventsv1.Streams) {
		t.Errorf("status.topics %v, want %v", town.Status.Topics, want)
	}
	kc := &kafka.Client{Addr: kafka.TCP(d.Spec.Kafka.BootstrapServers...), Timeout: 10 * time.Second}
	md, err := kc.Metadata(ctx, &kafka.MetadataRequest{Topics: want})
	must(t, err)
	for _, tp := range md.Topics {
		if tp.Error != nil || len(tp.Partitions) != 2 {
			t.Errorf("topic %s: %d partitions, error %v", tp.Name, len(tp.Partitions), tp.Error)
		}
	}

	// The services' keys, wired into the Deployments.
	keys := map[string]string{}
	for _, name := range []string{resources.IDHashKeySecretName, resources.ChallengeKeySecretName, resources.AuditKeySecretName} {
		k := string(getSecret(t, ns, name).Data[resources.SecretKeyKey])
		if len(k) != 64 {
			t.Errorf("%s: key of %d characters", name, len(k))
		}
		keys[name] = k
	}
	if keys[resources.IDHashKeySecretName] == string(getSecret(t, other.NamespaceName(), resources.IDHashKeySecretName).Data[resources.SecretKeyKey]) {
		t.Error("two towns share an ID hash key")
	}
	envFrom := func(svc wuxiaov1.ServiceName, name string) string {
		dep := &appsv1.Deployment{}
		must(t, k8s.Get(ctx, types.NamespacedName{Namespace: ns, Name: string(svc)}, dep))
		c := dep.Spec.Template.Spec.Containers[0]
		if strings.HasPrefix(name, "init:") {
			c, name = dep.Spec.Template.Spec.InitContainers[0], strings.TrimPrefix(name, "init:")
		}
		for _, e := range c.Env {
			if e.Name == name && e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
				return e.ValueFrom.SecretKeyRef.Name
			}
		}
		return ""
	}
	for _, c := range []struct {
		svc         wuxiaov1.ServiceName
		env, secret string
	}{
		{wuxiaov1.ServiceWorkflow, "WUXIAO_ID_HASH_KEY", resources.IDHashKeySecretName},
		{wuxiaov1.ServiceDisclosure, "WUXIAO_ID_HASH_KEY", resources.IDHashKeySecretName},
		{wuxiaov1.ServiceInspection, "WUXIAO_ID_HASH_KEY", resources.IDHashKeySecretName},
		{wuxiaov1.ServiceComplaint, "WUXIAO_CHALLENGE_KEY", resources.ChallengeKeySecretName},
		{wuxiaov1.ServiceWorkflow, "WUXIAO_CHALLENGE_KEY", resources.ChallengeKeySecretName},
		{wuxiaov1.ServiceDisclosure, "WUXIAO_CHALLENGE_KEY", ""},
		{wuxiaov1.ServiceWorkflow, "WUXIAO_AUDIT_KEY", resources.AuditKeySecretName},
		{wuxiaov1.ServiceInspection, "WUXIAO_AUDIT_KEY", resources.AuditKeySecretName},
		{wuxiaov1.ServiceDisclosure, "WUXIAO_AUDIT_KEY", ""},
		{wuxiaov1.ServiceInspection, "DATABASE_URL", resources.DatabaseSecretFor(wuxiaov1.ServiceInspection)},
		{wuxiaov1.ServiceComplaint, "DATABASE_URL", resources.DatabaseSecretFor(wuxiaov1.ServiceComplaint)},
		{wuxiaov1.ServiceInspection, "init:DATABASE_URL", resources.DatabaseSecretName},
	} {
		if got := envFrom(c.svc, c.env); got != c.secret {
			t.Errorf("%s: %s from Secret %q, want %q", c.svc, c.env, got, c.secret)
		}
	}

	// A lost database Secret is recreated with a new password that works;
	// the keys survive further reconciles unchanged.
	must(t, k8s.Delete(ctx, db))
	eventually(t, wait, func() error {
		s := &corev1.Secret{}
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(db), s); err != nil {
			return err
		}
		if s.UID == db.UID {
			return errors.New("not recreated yet")
		}
		u := string(s.Data[resources.DatabaseSecretKey])
		if u == url {
			return errors.New("the recreated Secret has the lost password")
		}
		c, err := connect(ctx, u)
		if err != nil {
			return fmt.Errorf("the new URL does not work: %w", err)
		}
		return c.Close(ctx)
	})
	// The test server trusts 127.0.0.1, so check the role's password itself.
	now := getSecret(t, ns, resources.DatabaseSecretName)
	if !rolePasswordIs(t, "wuxiao_"+town.Name, string(now.Data[resources.DatabasePasswordKey])) ||
		rolePasswordIs(t, "wuxiao_"+town.Name, string(db.Data[resources.DatabasePasswordKey])) {
		t.Error("the role's password is not the recreated Secret's")
	}
	// A lost service Secret likewise, the other roles untouched; and a
	// change of replicas changes that role's connection limit.
	lost := getSecret(t, ns, resources.DatabaseSecretFor(wuxiaov1.ServiceComplaint))
	keep := getSecret(t, ns, resources.DatabaseSecretFor(wuxiaov1.ServiceWorkflow))
	must(t, k8s.Delete(ctx, lost))
	update(t, town, func() {
		town.Spec.DisplayName = "溪口镇（新）"
		town.Spec.Services = append(town.Spec.Services, wuxiaov1.ServiceTemplate{Name: wuxiaov1.ServiceDisclosure, Replicas: ptr.To(int32(4))})
	})
	eventually(t, wait, func() error {
		s := &corev1.Secret{}
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(lost), s); err != nil {
			return err
		}
		// (It may carry the lost password, read from the cache a moment
		// before the deletion: the role still has it, so it works.)
		if s.UID == lost.UID {
			return errors.New("not recreated yet")
		}
		if _, err := provision.CheckRole(ctx, string(s.Data[resources.DatabaseSecretKey])); err != nil {
			return fmt.Errorf("the recreated complaint URL does not work: %w", err)
		}
		d := getSecret(t, ns, resources.DatabaseSecretFor(wuxiaov1.ServiceDisclosure))
		limit, err := provision.CheckRole(ctx, string(d.Data[resources.DatabaseSecretKey]))
		if err != nil || limit != resources.ServiceConnLimit(town, wuxiaov1.ServiceDisclosure) || limit != (4+2)*resources.ConnectionsPerReplica(wuxiaov1.ServiceDisclosure)+1 {
			return errors.Join(fmt.Errorf("disclosure's limit %d after scaling to 4", limit), err)
		}
		return nil
	})
	if !rolePasswordIs(t, provision.ServiceRole(town.Name, "complaint"), string(getSecret(t, ns, lost.Name).Data[resources.DatabasePasswordKey])) {
		t.Error("the complaint role's password is not the recreated Secret's")
	}
	if now := getSecret(t, ns, keep.Name); string(now.Data[resources.DatabasePasswordKey]) != string(keep.Data[resources.DatabasePasswordKey]) {
		t.Error("the workflow role's password changed when another Secret was lost")
	}
	waitTownReady(t, town)
	for name, k := range keys {
		if got := string(getSecret(t, ns, name).Data[resources.SecretKeyKey]); got != k {
			t.Errorf("%s was rotated by a reconcile", name)
		}
	}
}

// dropTown removes what a test town of a unique name left on the shared
// PostgreSQL and Kafka (the operator itself never drops anything).
func dropTown(t *testing.T, d *wuxiaov1.District, town string) {
	ctx := context.Background()
	if conn, err := connect(ctx, requireEnv(t, "WUXIAO_TEST_POSTGRES_URL")); err == nil {
		ident := pgx.Identifier{provision.TownDatabase(town)}.Sanitize()
		_, _ = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)")
		_, _ = conn.Exec(ctx, "DROP ROLE IF EXISTS "+ident)
		for _, svc := range wuxiaov1.AllServices {
			_, _ = conn.Exec(ctx, "DROP ROLE IF EXISTS "+pgx.Identifier{provision.ServiceRole(town, string(svc))}.Sanitize())
		}
		_ = conn.Close(ctx)
	}
	kc := &kafka.Client{Addr: kafka.TCP(d.Spec.Kafka.BootstrapServers...), Timeout: 10 * time.Second}
	_, _ = kc.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: provision.TownTopics(town)})
}

// rolePasswordIs checks password against the role's SCRAM-SHA-256 verifier
// (RFC 5802: StoredKey = H(HMAC(SaltedPassword, "Client Key"))).
func rolePasswordIs(t *testing.T, role, password string) bool {
	t.Helper()
	ctx := context.Background()
	conn, err := connect(ctx, requireEnv(t, "WUXIAO_TEST_POSTGRES_URL"))
	must(t, err)
	defer conn.Close(ctx)
	var verifier string
	must(t, conn.QueryRow(ctx, "SELECT rolpassword FROM pg_authid WHERE rolname = $1", role).Scan(&verifier))
	var iter int
	var salt64, stored64, server64 string
	if _, err := fmt.Sscanf(strings.NewReplacer("$", " ", ":", " ").Replace(verifier), "SCRAM-SHA-256 %d %s %s %s", &iter, &salt64, &stored64, &server64); err != nil {
		t.Fatalf("verifier %q: %v", verifier, err)
	}
	salt, err := base64.StdEncoding.DecodeString(salt64)
	must(t, err)
	salted, err := pbkdf2.Key(sha256.New, password, salt, iter, 32)
	must(t, err)
	mac := hmac.New(sha256.New, salted)
	mac.Write([]byte("Client Key"))
	storedKey := sha256.Sum256(mac.Sum(nil))
	return base64.StdEncoding.EncodeToString(storedKey[:]) == stored64
}

func TestTownStalledWhenPostgresUnreachable(t *testing.T) {
	startManager(t)
	ctx := context.Background()
	// Nothing listens on port 1.
	d := fixture(t, func(d *wuxiaov1.District) { d.Spec.Postgres.Host, d.Spec.Postgres.Port = "127.0.0.1", 1 })
	town := newTown(d)
	must(t, k8s.Create(ctx, town))
	eventually(t, wait, func() error {
		got := &wuxiaov1.Town{}
		must(t, k8s.Get(ctx, client.ObjectKeyFromObject(town), got))
		if err := expectReady(got.Status.Conditions, got.Generation, got.Status.ObservedGeneration, metav1.ConditionFalse, wuxiaov1.ReasonDatabaseUnavailable); err != nil {
			return err
		}
		for _, c := range got.Status.Conditions {
			if c.Type == wuxiaov1.ConditionStalled && (c.Status != metav1.ConditionTrue || !strings.Contains(c.Message, "127.0.0.1:1")) {
				return fmt.Errorf("Stalled=%s %q does not name the server", c.Status, c.Message)
			}
		}
		return nil
	})
	// Nothing that needs the database was deployed.
	deps := &appsv1.DeploymentList{}
	must(t, k8s.List(ctx, deps, client.InNamespace(town.NamespaceName())))
	if len(deps.Items) != 0 {
		t.Errorf("%d Deployments without a database", len(deps.Items))
	}
	// Once the server is back (here: the spec corrected), the town recovers.
	pg := infraPostgres(t)
	update(t, d, func() { d.Spec.Postgres.Host, d.Spec.Postgres.Port = pg.Hostname(), int32(atoi(t, pg.Port())) })
	waitTownReady(t, town)
}

// kratosAdmin reads identities as a test, with the client library directly.
func kratosAdmin(t *testing.T) *kratos.APIClient {
	cfg := kratos.NewConfiguration()
	cfg.Servers = kratos.ServerConfigurations{{URL: requireEnv(t, "WUXIAO_TEST_KRATOS_ADMIN_URL")}}
	return kratos.NewAPIClient(cfg)
}

func identityOf(t *testing.T, id string) *kratos.Identity {
	t.Helper()
	ident, resp, err := kratosAdmin(t).IdentityAPI.GetIdentity(context.Background(), id).Execute()
	if err != nil {
		var oe *kratos.GenericOpenAPIError
		if errors.As(err, &oe) {
			t.Fatalf("identity %q: %v: %s", id, err, oe.Body())
		}
		t.Fatalf("identity %q: %v (%v)", id, err, resp)
	}
	return ident
}

func TestVillageOfficialsQRAndRegistration(t *testing.T) {
	startManager(t)
	ctx := context.Background()
	d := fixture(t)
	town := readyTown(t, d)
	v := newVillage(town, "qiaotou", "202")
	v.Spec.Officials = append(v.Spec.Officials, wuxiaov1.Official{ID: "wang-fang", Name: "王芳", Role: wuxiaov1.RoleLiaisonOfficer, Email: "Wang.Fang-" + provision.RandomHex(4) + "@example.cn"})
	must(t, k8s.Create(ctx, v))
	got := waitVillage(t, v, metav1.ConditionTrue, wuxiaov1.ReasonReconciled, "")
	eventually(t, wait, func() error {
		got = getVillage(t, v)
		if got.Status.RegisteredGeneration != got.Generation {
			return fmt.Errorf("registered generation %d, generation %d", got.Status.RegisteredGeneration, got.Generation)
		}
		return nil
	})

	// Identities: one per official, with the metadata services authorise on.
	if len(got.Status.Identities) != 3 {
		t.Fatalf("identities %+v", got.Status.Identities)
	}
	ids := map[string]wuxiaov1.OfficialIdentity{}
	for _, id := range got.Status.Identities {
		ids[id.Official] = id
	}
	for _, o := range got.Spec.Officials {
		st, ok := ids[o.ID]
		if !ok || !st.Active || st.Role != o.Role {
			t.Errorf("official %s: status %+v", o.ID, st)
			continue
		}
		ident := identityOf(t, st.IdentityID)
		meta, _ := ident.MetadataPublic.(map[string]any)
		if meta["role"] != string(o.Role) || meta["town"] != town.Name || meta["village"] != v.Spec.Code || ident.GetState() != "active" {
			t.Errorf("official %s: identity state %s metadata %v", o.ID, ident.GetState(), meta)
		}
		traits, _ := ident.Traits.(map[string]any)
		if traits["name"] != o.Name || traits["email"] != OfficialLogin(got, o) {
			t.Errorf("official %s: traits %v", o.ID, traits)
		}
	}
	// First-login codes are in the village's Secret of the town's recovery
	// namespace, never in status.
	rec := getSecret(t, town.RecoveryNamespaceName(), resources.VillageRecoverySecretName(v.Spec.Code))
	for _, o := range got.Spec.Officials {
		var e RecoveryEntry
		if err := json.Unmarshal(rec.Data[o.ID], &e); err != nil || e.Code == "" || e.Link == "" || e.Login != OfficialLogin(got, o) {
			t.Errorf("recovery entry of %s: %+v (%v)", o.ID, e, err)
		}
		status, _ := json.Marshal(got.Status)
		if e.Code != "" && bytes.Contains(status, []byte(e.Code)) {
			t.Errorf("the recovery code of %s is in the Village's status", o.ID)
		}
	}
	if got.Status.RecoverySecret != town.RecoveryNamespaceName()+"/"+rec.Name {
		t.Errorf("status.recoverySecret %q", got.Status.RecoverySecret)
	}

	// The QR code decodes to the portal address.
	checkQR(t, got, "https://jiandu.example.cn/v/"+v.Spec.Code)

	// The registration event is on the tenant stream, without personal data.
	ev := findEvent(t, d, eventsv1.Topic(town.Name, eventsv1.StreamTenant), VillageEventID(got))
	var reg eventsv1.VillageRegistered
	must(t, json.Unmarshal(ev.Value, &reg))
	if reg.Code != v.Spec.Code || reg.Name != v.Spec.DisplayName || reg.Town != town.Name ||
		!slices.Equal(reg.Roles, []string{"accountant", "director", "liaison-officer"}) || reg.Generation != got.Generation {
		t.Errorf("registration %+v", reg)
	}
	for _, o := range got.Spec.Officials {
		if bytes.Contains(ev.Value, []byte(o.Name)) || (o.Phone != "" && bytes.Contains(ev.Value, []byte(o.Phone))) {
			t.Errorf("the registration event carries %s's personal data: %s", o.ID, ev.Value)
		}
	}

	// An official removed from the spec is deactivated, the others stay.
	removed := ids["li-na"]
	update(t, got, func() {
		got.Spec.Officials = slices.DeleteFunc(got.Spec.Officials, func(o wuxiaov1.Official) bool { return o.ID == "li-na" })
	})
	eventually(t, wait, func() error {
		if s := identityOf(t, removed.IdentityID).GetState(); s != "inactive" {
			return fmt.Errorf("removed official's identity is %s", s)
		}
		g := getVillage(t, v)
		for _, id := range g.Status.Identities {
			if id.Official == "li-na" && id.Active {
				return errors.New("status still lists li-na as active")
			}
		}
		if _, ok := getSecret(t, rec.Namespace, rec.Name).Data["li-na"]; ok {
			return errors.New("li-na's first sign-in code is still in " + rec.Name)
		}
		return nil
	})
	if s := identityOf(t, ids["zhang-wei"].IdentityID).GetState(); s != "active" {
		t.Errorf("a remaining official's identity is %s", s)
	}

	// A new portal address regenerates the QR code.
	update(t, d, func() { d.Spec.PortalBaseURL = "https://jd.example.cn" })
	eventually(t, wait, func() error {
		cm := &corev1.ConfigMap{}
		must(t, k8s.Get(ctx, types.NamespacedName{Namespace: v.Namespace, Name: resources.QRConfigMapName(v.Name)}, cm))
		if cm.Annotations[resources.PortalURLAnnotation] != "https://jd.example.cn/v/"+v.Spec.Code {
			return fmt.Errorf("QR ConfigMap for %s", cm.Annotations[resources.PortalURLAnnotation])
		}
		return nil
	})
	checkQR(t, getVillage(t, v), "https://jd.example.cn/v/"+v.Spec.Code)

	// Archiving the village ends every remaining official's access.
	must(t, k8s.Delete(ctx, getVillage(t, v)))
	eventually(t, wait, func() error {
		if s := identityOf(t, ids["zhang-wei"].IdentityID).GetState(); s != "inactive" {
			return fmt.Errorf("identity of an archived village's official is %s", s)
		}
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(rec), &corev1.Secret{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("the archived village's Secret %s/%s is not deleted (%w)", rec.Namespace, rec.Name, err)
		}
		return nil
	})
}

// TestLegacyRecoverySecretMoved: the codes of a town's former single
// recovery Secret move to the recovery namespace, one Secret per village and
// one for the liaison cadres, without replacing a code issued there since;
// the former Secret is deleted.
func TestLegacyRecoverySecretMoved(t *testing.T) {
	startManager(t)
	ctx := context.Background()
	d := fixture(t)
	town := readyTown(t, d)
	entry := func(code string) []byte {
		b, _ := json.Marshal(RecoveryEntry{Login: code + "@example.cn", Code: code, Link: "https://id.example.cn/r?" + code})
		return b
	}
	// Village 201 is live, with officials zhang-wei (whose code was issued
	// since, in the new Secret) and li-na (whose code is only in the legacy
	// Secret, as after an upgrade); 202 was archived; cadre chen is no
	// longer listed. The village is in the operator's cache before the
	// legacy Secret appears, as after an upgrade.
	live := newVillage(town, "legacy-live", "201")
	must(t, k8s.Create(ctx, live))
	waitVillage(t, live, metav1.ConditionTrue, wuxiaov1.ReasonReconciled, "")
	archived := town.Spec.Code[:9] + "202"
	var newer RecoveryEntry
	current := getSecret(t, town.RecoveryNamespaceName(), resources.VillageRecoverySecretName(live.Spec.Code))
	must(t, json.Unmarshal(current.Data["zhang-wei"], &newer))
	delete(current.Data, "li-na")
	must(t, k8s.Update(ctx, current))
	legacy := resources.Secret(town, resources.LegacyRecoverySecretName, map[string][]byte{
		live.Spec.Code + ".zhang-wei": entry("old-zhang"), live.Spec.Code + ".li-na": entry("li-na"),
		live.Spec.Code + ".removed": entry("removed"), archived + ".wang": entry("wang"), "liaison.chen": entry("chen"),
	})
	must(t, controllerutil.SetControllerReference(town, legacy, k8s.Scheme()))
	must(t, k8s.Create(ctx, legacy))
	eventually(t, wait, func() error {
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(legacy), &corev1.Secret{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("the legacy Secret is not deleted (%w)", err)
		}
		return nil
	})
	moved := getSecret(t, town.RecoveryNamespaceName(), resources.VillageRecoverySecretName(live.Spec.Code))
	for key, code := range map[string]string{"zhang-wei": newer.Code, "li-na": "li-na"} {
		var e RecoveryEntry
		if err := json.Unmarshal(moved.Data[key], &e); err != nil || e.Code != code {
			t.Errorf("%s[%s] = %+v (%v), want code %s", moved.Name, key, e, err, code)
		}
	}
	if _, ok := moved.Data["removed"]; ok {
		t.Error("the code of an official no longer listed was moved")
	}
	for _, name := range []string{resources.VillageRecoverySecretName(archived), resources.LiaisonRecoverySecretName} {
		err := k8s.Get(ctx, types.NamespacedName{Namespace: town.RecoveryNamespaceName(), Name: name}, &corev1.Secret{})
		if !apierrors.IsNotFound(err) {
			t.Errorf("Secret %s (%v): the codes of an archived village or a former cadre were moved", name, err)
		}
	}
}

func checkQR(t *testing.T, v *wuxiaov1.Village, want string) {
	t.Helper()
	if v.Status.QRConfigMap != resources.QRConfigMapName(v.Name) {
		t.Fatalf("status.qrConfigMap %q", v.Status.QRConfigMap)
	}
	cm := &corev1.ConfigMap{}
	must(t, k8s.Get(context.Background(), types.NamespacedName{Namespace: v.Namespace, Name: v.Status.QRConfigMap}, cm))
	img, err := png.Decode(bytes.NewReader(cm.BinaryData[resources.QRPNGKey]))
	must(t, err)
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	must(t, err)
	res, err := gozxingqr.NewQRCodeReader().Decode(bmp, nil)
	if err != nil {
		t.Fatalf("the PNG does not decode as a QR code: %v", err)
	}
	if res.GetText() != want {
		t.Errorf("QR code encodes %q, want %q", res.GetText(), want)
	}
	svg := cm.Data[resources.QRSVGKey]
	var doc struct {
		XMLName xml.Name `xml:"svg"`
		Title   string   `xml:"title"`
		Paths   []struct {
			D string `xml:"d,attr"`
		} `xml:"path"`
	}
	if err := xml.Unmarshal([]byte(svg), &doc); err != nil || doc.Title != want || len(doc.Paths) != 1 || !strings.HasPrefix(doc.Paths[0].D, "M") {
		t.Errorf("SVG is not a QR drawing of %s: %v %.200s", want, err, svg)
	}
}

// findEvent reads topic from the start until the message with ce_id id.
func findEvent(t *testing.T, d *wuxiaov1.District, topic, id string) kafka.Message {
	t.Helper()
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: d.Spec.Kafka.BootstrapServers, Topic: topic,
		GroupID: "operator-test-" + provision.RandomHex(6), StartOffset: kafka.FirstOffset, MaxWait: 200 * time.Millisecond})
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	for {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("no event %s on %s: %v", id, topic, err)
		}
		headers := map[string]string{}
		for _, h := range m.Headers {
			headers[h.Key] = string(h.Value)
		}
		if headers["ce_id"] == id {
			if headers["ce_type"] != eventsv1.TypeVillageRegistered || string(m.Key) != headers["ce_village"] {
				t.Errorf("event headers %v key %s", headers, m.Key)
			}
			return m
		}
	}
}

func TestVillageStalledWhenKratosUnreachable(t *testing.T) {
	startManager(t)
	ctx := context.Background()
	d := fixture(t)
	town := readyTown(t, d)
	update(t, d, func() { d.Spec.Kratos.AdminURL = "http://127.0.0.1:1" })
	v := newVillage(town, "kratos-down", "203")
	must(t, k8s.Create(ctx, v))
	got := waitVillage(t, v, metav1.ConditionFalse, wuxiaov1.ReasonIdentityUnavailable, "http://127.0.0.1:1")
	for _, c := range got.Status.Conditions {
		if c.Type == wuxiaov1.ConditionStalled && c.Status != metav1.ConditionTrue {
			t.Errorf("Stalled=%s", c.Status)
		}
	}
	if len(got.Status.Identities) != 0 {
		t.Errorf("identities recorded without Kratos: %+v", got.Status.Identities)
	}
	// Kratos back (here: the spec corrected): the village recovers by itself.
	update(t, d, func() { d.Spec.Kratos.AdminURL = requireEnv(t, "WUXIAO_TEST_KRATOS_ADMIN_URL") })
	got = waitVillage(t, v, metav1.ConditionTrue, wuxiaov1.ReasonReconciled, "")
	if len(got.Status.Identities) != 2 {
		t.Errorf("identities %+v", got.Status.Identities)
	}
}
