package testinfra

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	kratos "github.com/ory/kratos-client-go"
)

// KratosIdentity is a test identity created by KratosUser.
type KratosIdentity struct {
	ID       string
	Email    string
	Name     string
	Password string
	// Role, Town and Village are what metadata_public holds (unvalidated:
	// tests also create malformed accounts).
	Role, Town, Village string
}

// KratosAdmin is a client of the test Kratos' admin API.
func KratosAdmin(t testing.TB) *kratos.APIClient {
	t.Helper()
	return kratosClient(Require(t, EnvKratosAdminURL))
}

// KratosPublic is a client of the test Kratos' public API.
func KratosPublic(t testing.TB) *kratos.APIClient {
	t.Helper()
	return kratosClient(Require(t, EnvKratosPublicURL))
}

func kratosClient(url string) *kratos.APIClient {
	cfg := kratos.NewConfiguration()
	cfg.Servers = kratos.ServerConfigurations{{URL: strings.TrimRight(url, "/")}}
	cfg.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	return kratos.NewAPIClient(cfg)
}

// KratosUser creates an identity in the test Kratos with a random e-mail and
// password and metadata_public {"role", "town", "village"} (empty values
// left out; no metadata at all when role is empty), signs it in through a
// native login flow and returns the session token. The identity is deleted
// when the test ends.
func KratosUser(t testing.TB, role, town, village string) (string, KratosIdentity) {
	t.Helper()
	var meta any
	if role != "" {
		m := map[string]any{"role": role}
		if town != "" {
			m["town"] = town
		}
		if village != "" {
			m["village"] = village
		}
		meta = m
	}
	token, u := KratosUserWithMetadata(t, meta)
	u.Role, u.Town, u.Village = role, town, village
	return token, u
}

// KratosUserWithMetadata is KratosUser with any metadata_public (nil: none).
func KratosUserWithMetadata(t testing.TB, metadataPublic any) (string, KratosIdentity) {
	t.Helper()
	admin := KratosAdmin(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	u := KratosIdentity{
		Email:    UniqueName("user-") + "@test.wuxiao.invalid",
		Name:     UniqueName("Test User "),
		Password: UniqueName("pw-"),
	}
	body := kratos.NewCreateIdentityBody("default", map[string]any{"email": u.Email, "name": u.Name})
	if metadataPublic != nil {
		body.SetMetadataPublic(metadataPublic)
	}
	body.SetCredentials(kratos.IdentityWithCredentials{Password: &kratos.IdentityWithCredentialsPassword{
		Config: &kratos.IdentityWithCredentialsPasswordConfig{Password: &u.Password},
	}})
	id, resp, err := admin.IdentityAPI.CreateIdentity(ctx).CreateIdentityBody(*body).Execute()
	if err != nil {
		t.Fatalf("creating Kratos identity %s: %v", u.Email, kratosErrBody(resp, err))
	}
	u.ID = id.Id
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if r, err := admin.IdentityAPI.DeleteIdentity(ctx, u.ID).Execute(); err != nil && (r == nil || r.StatusCode != http.StatusNotFound) {
			t.Errorf("deleting Kratos identity %s: %v", u.ID, err)
		}
	})
	return KratosLogin(t, u.Email, u.Password), u
}

// KratosLogin signs in with a password through a native (API) login flow
// and returns the session token.
func KratosLogin(t testing.TB, email, password string) string {
	t.Helper()
	pub := KratosPublic(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	flow, resp, err := pub.FrontendAPI.CreateNativeLoginFlow(ctx).Execute()
	if err != nil {
		t.Fatalf("creating a native login flow: %v", kratosErrBody(resp, err))
	}
	pw := kratos.NewUpdateLoginFlowWithPasswordMethod(email, "password", password)
	done, resp, err := pub.FrontendAPI.UpdateLoginFlow(ctx).Flow(flow.Id).
		UpdateLoginFlowBody(kratos.UpdateLoginFlowWithPasswordMethodAsUpdateLoginFlowBody(pw)).Execute()
	if err != nil {
		t.Fatalf("signing in %s: %v", email, kratosErrBody(resp, err))
	}
	if done.SessionToken == nil || *done.SessionToken == "" {
		t.Fatalf("signing in %s: Kratos returned no session token", email)
	}
	return *done.SessionToken
}

func kratosErrBody(resp *http.Response, err error) error {
	if oe, ok := err.(*kratos.GenericOpenAPIError); ok && len(oe.Body()) > 0 {
		status := ""
		if resp != nil {
			status = resp.Status + ": "
		}
		return &kratosErr{status + strings.TrimSpace(string(oe.Body()))}
	}
	return err
}

type kratosErr struct{ s string }

func (e *kratosErr) Error() string { return e.s }
