package provision

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	kratos "github.com/ory/kratos-client-go"

	"github.com/wuxiao/wuxiao/api/identity"
)

// The operator's own small Kratos admin client: services/internal/identity
// has one too, but Go's internal rule keeps the operator from importing it,
// and the operator needs only these few calls.

// ErrIdentityNotFound is returned (wrapped) for an unknown identity id.
var ErrIdentityNotFound = errors.New("identity not found")

// OfficialMetadata is metadata_public as the services read it: the only
// thing they authorise on (api/identity).
type OfficialMetadata = identity.Metadata

// OfficialTraits are the traits of hack/kratos/identity.schema.json.
type OfficialTraits = identity.Traits

// ManagedBy is the marker the operator puts in metadata_admin of the
// identities it creates (or adopts): metadata_admin is readable and
// writable only through the admin API, so, unlike traits, a user cannot
// forge it on an identity of their own.
const ManagedBy = "wuxiao-operator"

// AdminMetadata is the operator's metadata_admin of an identity.
type AdminMetadata struct {
	ManagedBy string `json:"managedBy"`
	Town      string `json:"town,omitempty"`
	Village   string `json:"village,omitempty"`
}

// Identity is an identity as the operator needs to see it.
type Identity struct {
	ID       string
	Active   bool
	Traits   OfficialTraits
	Metadata OfficialMetadata
	Admin    AdminMetadata
	// Verified are the identity's verified addresses (lower case).
	Verified []string
}

// Managed reports whether the operator created or adopted the identity.
func (i Identity) Managed() bool { return i.Admin.ManagedBy == ManagedBy }

// EmailVerified reports whether the identity proved it receives mail at
// email (users can set their e-mail trait to anything; only verification
// shows the address is theirs).
func (i Identity) EmailVerified(email string) bool {
	for _, a := range i.Verified {
		if strings.EqualFold(a, email) {
			return true
		}
	}
	return false
}

// Kratos is a client of one Kratos admin API.
type Kratos struct {
	api  *kratos.APIClient
	addr string
}

// NewKratos returns a client of the admin API at adminURL.
func NewKratos(adminURL string) *Kratos {
	cfg := kratos.NewConfiguration()
	cfg.Servers = kratos.ServerConfigurations{{URL: strings.TrimRight(adminURL, "/")}}
	cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second, Transport: tracedTransport(nil)}
	cfg.UserAgent = "wuxiao-operator"
	return &Kratos{api: kratos.NewAPIClient(cfg), addr: adminURL}
}

// Get returns the identity with id.
func (k *Kratos) Get(ctx context.Context, id string) (Identity, error) {
	ident, resp, err := k.api.IdentityAPI.GetIdentity(ctx, id).Execute()
	if err != nil {
		if resp != nil && resp.StatusCode == http.StatusNotFound {
			return Identity{}, fmt.Errorf("identity %s: %w", id, ErrIdentityNotFound)
		}
		return Identity{}, k.error("reading identity "+id, resp, err)
	}
	return toIdentity(ident), nil
}

// FindByEmail returns the identity whose login identifier is email.
func (k *Kratos) FindByEmail(ctx context.Context, email string) (Identity, bool, error) {
	ids, resp, err := k.api.IdentityAPI.ListIdentities(ctx).CredentialsIdentifier(email).Execute()
	if err != nil {
		return Identity{}, false, k.error("looking up "+email, resp, err)
	}
	for i := range ids {
		if got := toIdentity(&ids[i]); strings.EqualFold(got.Traits.Email, email) {
			// Read it whole: the list may leave out the verifiable addresses.
			got, err := k.Get(ctx, got.ID)
			return got, err == nil, err
		}
	}
	return Identity{}, false, nil
}

// Create creates an active identity without credentials: the official sets
// a password through a recovery code.
func (k *Kratos) Create(ctx context.Context, traits OfficialTraits, meta OfficialMetadata) (string, error) {
	body := kratos.NewCreateIdentityBody("default", traitsMap(traits))
	body.SetMetadataPublic(meta)
	body.SetMetadataAdmin(AdminMetadata{ManagedBy: ManagedBy, Town: meta.Town, Village: meta.Village})
	body.SetState("active")
	id, resp, err := k.api.IdentityAPI.CreateIdentity(ctx).CreateIdentityBody(*body).Execute()
	if err != nil {
		return "", k.error("creating identity "+traits.Email, resp, err)
	}
	return id.Id, nil
}

// Update sets the identity's traits and metadata and makes it active.
func (k *Kratos) Update(ctx context.Context, id string, traits OfficialTraits, meta OfficialMetadata) error {
	return k.patch(ctx, id, "updating",
		kratos.JsonPatch{Op: "replace", Path: "/traits", Value: traitsMap(traits)},
		kratos.JsonPatch{Op: "add", Path: "/metadata_public", Value: meta},
		kratos.JsonPatch{Op: "add", Path: "/metadata_admin", Value: AdminMetadata{ManagedBy: ManagedBy, Town: meta.Town, Village: meta.Village}},
		kratos.JsonPatch{Op: "replace", Path: "/state", Value: "active"})
}

// Deactivate makes the identity inactive (never deleted: the audit trail
// names it) and revokes its sessions.
func (k *Kratos) Deactivate(ctx context.Context, id string) error {
	err := k.patch(ctx, id, "deactivating", kratos.JsonPatch{Op: "replace", Path: "/state", Value: "inactive"})
	if errors.Is(err, ErrIdentityNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	resp, err := k.api.IdentityAPI.DeleteIdentitySessions(ctx, id).Execute()
	if err != nil && (resp == nil || resp.StatusCode != http.StatusNotFound) {
		return k.error("revoking sessions of "+id, resp, err)
	}
	return nil
}

// RecoveryCode creates a one-time code, and the link of the recovery flow to
// enter it in, for the official's first sign-in.
func (k *Kratos) RecoveryCode(ctx context.Context, id string) (code, link string, expires time.Time, err error) {
	body := kratos.NewCreateRecoveryCodeForIdentityBody(id)
	body.SetExpiresIn("24h")
	rc, resp, err := k.api.IdentityAPI.CreateRecoveryCodeForIdentity(ctx).CreateRecoveryCodeForIdentityBody(*body).Execute()
	if err != nil {
		return "", "", time.Time{}, k.error("creating a recovery code for "+id, resp, err)
	}
	return rc.RecoveryCode, rc.RecoveryLink, rc.GetExpiresAt(), nil
}

func (k *Kratos) patch(ctx context.Context, id, what string, patches ...kratos.JsonPatch) error {
	_, resp, err := k.api.IdentityAPI.PatchIdentity(ctx, id).JsonPatch(patches).Execute()
	if err != nil {
		if resp != nil && resp.StatusCode == http.StatusNotFound {
			return fmt.Errorf("%s %s: %w", what, id, ErrIdentityNotFound)
		}
		return k.error(what+" identity "+id, resp, err)
	}
	return nil
}

func traitsMap(t OfficialTraits) map[string]any {
	m := map[string]any{identity.TraitEmail: t.Email, identity.TraitName: t.Name}
	if t.Phone != "" {
		m[identity.TraitPhone] = t.Phone
	}
	return m
}

func toIdentity(id *kratos.Identity) Identity {
	out := Identity{ID: id.Id, Active: id.State == nil || *id.State == "active"}
	if m, ok := id.Traits.(map[string]any); ok {
		out.Traits.Email, _ = m[identity.TraitEmail].(string)
		out.Traits.Name, _ = m[identity.TraitName].(string)
		out.Traits.Phone, _ = m[identity.TraitPhone].(string)
	}
	if id.MetadataPublic != nil {
		// As the services read it; metadata that does not decode is
		// different from what the operator writes, which is all it needs
		// to know.
		if b, err := json.Marshal(id.MetadataPublic); err == nil {
			_ = json.Unmarshal(b, &out.Metadata)
		}
	}
	if m, ok := id.MetadataAdmin.(map[string]any); ok {
		out.Admin.ManagedBy, _ = m["managedBy"].(string)
		out.Admin.Town, _ = m["town"].(string)
		out.Admin.Village, _ = m["village"].(string)
	}
	for _, a := range id.VerifiableAddresses {
		if a.Verified {
			out.Verified = append(out.Verified, strings.ToLower(a.Value))
		}
	}
	return out
}

// error names the Kratos admin API and adds Kratos' own message.
func (k *Kratos) error(what string, resp *http.Response, err error) error {
	var oe *kratos.GenericOpenAPIError
	if errors.As(err, &oe) && resp != nil {
		if m, ok := oe.Model().(kratos.ErrorGeneric); ok {
			msg := m.Error.Message
			if m.Error.Reason != nil && *m.Error.Reason != "" {
				msg += ": " + *m.Error.Reason
			}
			return fmt.Errorf("Kratos admin API %s: %s: %s: %s", k.addr, what, resp.Status, msg)
		}
		if b := strings.TrimSpace(string(oe.Body())); b != "" {
			return fmt.Errorf("Kratos admin API %s: %s: %s: %s", k.addr, what, resp.Status, b)
		}
	}
	return fmt.Errorf("Kratos admin API %s: %s: %w", k.addr, what, err)
}
