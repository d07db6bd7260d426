package identity

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	kratos "github.com/ory/kratos-client-go"

	apiidentity "github.com/wuxiao/wuxiao/api/identity"
	"github.com/wuxiao/wuxiao/services/internal/telemetry"
)

// Errors the Admin returns (wrapped; test with errors.Is).
var (
	ErrNotFound = errors.New("identity not found")
	ErrExists   = errors.New("an identity with this e-mail already exists")
)

// Admin manages identities through Kratos' admin API (IdentityAPI). It is
// the only writer of metadata_public: the operator uses it to provision
// officials, tests to set them up. The admin port must never be exposed
// outside the district's network.
type Admin struct {
	api *kratos.APIClient
}

// Account is an identity as the Admin reports it.
type Account struct {
	ID     string
	Email  string
	Name   string
	Active bool
	// Metadata is metadata_public as stored; MetadataErr says why it does
	// not parse or validate (such an account cannot sign in to services).
	Metadata    Metadata
	MetadataErr error
}

// NewAdmin returns an Admin for the Kratos admin API at adminURL; a nil
// httpClient means one with a 10 s timeout.
func NewAdmin(adminURL string, httpClient *http.Client) *Admin {
	if httpClient == nil {
		httpClient = &http.Client{Timeout: 10 * time.Second, Transport: telemetry.HTTPTransport(nil, "kratos")}
	}
	cfg := kratos.NewConfiguration()
	cfg.Servers = kratos.ServerConfigurations{{URL: strings.TrimRight(adminURL, "/")}}
	cfg.HTTPClient = httpClient
	cfg.UserAgent = "wuxiao-identity-admin"
	return &Admin{api: kratos.NewAPIClient(cfg)}
}

// CreateOfficial creates an active identity with traits {email, name} and
// metadata_public meta (validated first). With a password it gets password
// credentials; without one the person sets it through a recovery code
// (RecoveryCode). An existing e-mail gives ErrExists.
func (a *Admin) CreateOfficial(ctx context.Context, email, name string, meta Metadata, password string) (string, error) {
	if err := meta.Validate(); err != nil {
		return "", err
	}
	email = normaliseEmail(email)
	body := kratos.NewCreateIdentityBody("default", map[string]any{apiidentity.TraitEmail: email, apiidentity.TraitName: name})
	body.SetMetadataPublic(meta)
	body.SetState("active")
	if password != "" {
		body.SetCredentials(kratos.IdentityWithCredentials{
			Password: &kratos.IdentityWithCredentialsPassword{
				Config: &kratos.IdentityWithCredentialsPasswordConfig{Password: &password},
			},
		})
	}
	id, resp, err := a.api.IdentityAPI.CreateIdentity(ctx).CreateIdentityBody(*body).Execute()
	if err != nil {
		if resp != nil && resp.StatusCode == http.StatusConflict {
			return "", fmt.Errorf("creating %s: %w", email, ErrExists)
		}
		return "", kratosError("creating identity "+email, resp, err)
	}
	return id.Id, nil
}

// SetMetadata replaces the identity's metadata_public with meta (validated
// first). Services see the change on the identity's next request to Kratos,
// i.e. within their session cache TTL; call RevokeSessions as well to make
// the person sign in again.
func (a *Admin) SetMetadata(ctx context.Context, id string, meta Metadata) error {
	if err := meta.Validate(); err != nil {
		return err
	}
	return a.patch(ctx, id, "setting metadata of", kratos.JsonPatch{Op: "add", Path: "/metadata_public", Value: meta})
}

// Deactivate sets the identity's state to inactive (it is never deleted:
// the audit trail names it) and revokes its sessions. Kratos refuses
// sign-in and session checks of an inactive identity.
func (a *Admin) Deactivate(ctx context.Context, id string) error {
	if err := a.patch(ctx, id, "deactivating", kratos.JsonPatch{Op: "replace", Path: "/state", Value: "inactive"}); err != nil {
		return err
	}
	return a.RevokeSessions(ctx, id)
}

// RevokeSessions revokes every session of the identity.
func (a *Admin) RevokeSessions(ctx context.Context, id string) error {
	resp, err := a.api.IdentityAPI.DeleteIdentitySessions(ctx, id).Execute()
	if err != nil && (resp == nil || resp.StatusCode != http.StatusNotFound) {
		return kratosError("revoking sessions of "+id, resp, err)
	}
	return nil
}

func (a *Admin) patch(ctx context.Context, id, what string, patches ...kratos.JsonPatch) error {
	_, resp, err := a.api.IdentityAPI.PatchIdentity(ctx, id).JsonPatch(patches).Execute()
	if err != nil {
		if resp != nil && resp.StatusCode == http.StatusNotFound {
			return fmt.Errorf("%s %s: %w", what, id, ErrNotFound)
		}
		return kratosError(what+" "+id, resp, err)
	}
	return nil
}

// Get returns the identity with id, or ErrNotFound.
func (a *Admin) Get(ctx context.Context, id string) (Account, error) {
	ident, resp, err := a.api.IdentityAPI.GetIdentity(ctx, id).Execute()
	if err != nil {
		if resp != nil && resp.StatusCode == http.StatusNotFound {
			return Account{}, fmt.Errorf("identity %s: %w", id, ErrNotFound)
		}
		return Account{}, kratosError("reading identity "+id, resp, err)
	}
	return account(ident), nil
}

// FindByEmail returns the identity whose login identifier is email, or
// ErrNotFound.
func (a *Admin) FindByEmail(ctx context.Context, email string) (Account, error) {
	email = normaliseEmail(email)
	ids, resp, err := a.api.IdentityAPI.ListIdentities(ctx).CredentialsIdentifier(email).Execute()
	if err != nil {
		return Account{}, kratosError("looking up "+email, resp, err)
	}
	for i := range ids {
		if acc := account(&ids[i]); strings.EqualFold(acc.Email, email) {
			return acc, nil
		}
	}
	return Account{}, fmt.Errorf("%s: %w", email, ErrNotFound)
}

// RecoveryCode creates a one-time recovery code (valid 1 h) and the link of
// the recovery flow to enter it in, for town IT staff to hand to the person
// (first sign-in or forgotten password).
func (a *Admin) RecoveryCode(ctx context.Context, id string) (code, link string, err error) {
	body := kratos.NewCreateRecoveryCodeForIdentityBody(id)
	body.SetExpiresIn("1h")
	rc, resp, err := a.api.IdentityAPI.CreateRecoveryCodeForIdentity(ctx).CreateRecoveryCodeForIdentityBody(*body).Execute()
	if err != nil {
		if resp != nil && resp.StatusCode == http.StatusNotFound {
			return "", "", fmt.Errorf("recovery code for %s: %w", id, ErrNotFound)
		}
		return "", "", kratosError("creating a recovery code for "+id, resp, err)
	}
	return rc.RecoveryCode, rc.RecoveryLink, nil
}

func account(id *kratos.Identity) Account {
	acc := Account{ID: id.Id, Active: id.State == nil || *id.State == "active"}
	if traits, ok := id.Traits.(map[string]any); ok {
		acc.Email, _ = traits[apiidentity.TraitEmail].(string)
		acc.Name, _ = traits[apiidentity.TraitName].(string)
	}
	acc.Metadata, acc.MetadataErr = parseMetadata(id.MetadataPublic)
	if acc.MetadataErr == nil {
		acc.MetadataErr = acc.Metadata.Validate()
	}
	return acc
}

func normaliseEmail(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// kratosError adds Kratos' own message to a failed admin call.
func kratosError(what string, resp *http.Response, err error) error {
	var oe *kratos.GenericOpenAPIError
	if errors.As(err, &oe) {
		if m, ok := oe.Model().(kratos.ErrorGeneric); ok {
			msg := m.Error.Message
			if m.Error.Reason != nil && *m.Error.Reason != "" {
				msg += ": " + *m.Error.Reason
			}
			return fmt.Errorf("%s: Kratos %s: %s", what, resp.Status, msg)
		}
		if b := strings.TrimSpace(string(oe.Body())); b != "" && resp != nil {
			return fmt.Errorf("%s: Kratos %s: %s", what, resp.Status, b)
		}
	}
	return fmt.Errorf("%s: %w", what, err)
}
