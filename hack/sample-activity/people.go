package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"

	kratos "github.com/ory/kratos-client-go"
)

// SampleName is the name of every identity this tool creates, so that the
// audit trail says honestly who booked the sample data.
const SampleName = "样例数据（自动生成）"

// People are the sample-data identities: one per role and village (per
// role and town for town roles), created through the Kratos admin API with
// metadata_public {role, town, village} as the operator sets it for
// officials, and signed in with the native login flow. Their logins end in
// @sample-data.wuxiao.invalid; the officials the operator provisions are
// never touched. Each run gives an identity a fresh random password (they
// are signed in by this tool only), and a session token is made once per
// identity and run.
type People struct {
	Admin, Public *kratos.APIClient

	mu       sync.Mutex
	sessions map[string]*session
	// Created counts identities created by this run.
	Created int
}

type session struct {
	once  sync.Once
	token string
	err   error
}

// NewPeople talks to Kratos at the given public and admin base URLs.
func NewPeople(publicURL, adminURL string) *People {
	mk := func(u string) *kratos.APIClient {
		c := kratos.NewConfiguration()
		c.Servers = kratos.ServerConfigurations{{URL: u}}
		return kratos.NewAPIClient(c)
	}
	return &People{Admin: mk(adminURL), Public: mk(publicURL), sessions: map[string]*session{}}
}

// sampleLogin is the e-mail address of the sample identity of role in
// town/village.
func sampleLogin(role, town, village string) string {
	scope := village
	if isTownRole(role) {
		scope = "town"
	}
	return fmt.Sprintf("%s.%s.%s@sample-data.wuxiao.invalid", role, scope, town)
}

// Token implements Tokens.
func (p *People) Token(ctx context.Context, role, town, village string) (string, error) {
	login := sampleLogin(role, town, village)
	p.mu.Lock()
	s := p.sessions[login]
	if s == nil {
		s = &session{}
		p.sessions[login] = s
	}
	p.mu.Unlock()
	s.once.Do(func() {
		if isTownRole(role) {
			village = ""
		}
		s.token, s.err = p.signIn(ctx, login, role, town, village)
	})
	return s.token, s.err
}

func (p *People) signIn(ctx context.Context, login, role, town, village string) (string, error) {
	pw, err := password()
	if err != nil {
		return "", err
	}
	meta := map[string]any{"role": role, "town": town}
	if village != "" {
		meta["village"] = village
	}
	body := kratos.CreateIdentityBody{SchemaId: "default", Traits: map[string]any{"email": login, "name": SampleName},
		MetadataPublic: meta, State: ptr("active"),
		Credentials: &kratos.IdentityWithCredentials{Password: &kratos.IdentityWithCredentialsPassword{
			Config: &kratos.IdentityWithCredentialsPasswordConfig{Password: &pw}}}}
	_, resp, err := p.Admin.IdentityAPI.CreateIdentity(ctx).CreateIdentityBody(body).Execute()
	switch {
	case err == nil:
		p.mu.Lock()
		p.Created++
		p.mu.Unlock()
	case resp != nil && resp.StatusCode == http.StatusConflict:
		if err := p.resetPassword(ctx, login, meta, pw); err != nil {
			return "", err
		}
	default:
		return "", fmt.Errorf("creating identity %s through the Kratos admin API: %w", login, kratosErr(resp, err))
	}
	flow, resp, err := p.Public.FrontendAPI.CreateNativeLoginFlow(ctx).Execute()
	if err != nil {
		return "", fmt.Errorf("starting a Kratos native login flow for %s: %w", login, kratosErr(resp, err))
	}
	b := kratos.UpdateLoginFlowWithPasswordMethodAsUpdateLoginFlowBody(kratos.NewUpdateLoginFlowWithPasswordMethod(login, "password", pw))
	done, resp, err := p.Public.FrontendAPI.UpdateLoginFlow(ctx).Flow(flow.Id).UpdateLoginFlowBody(b).Execute()
	if err != nil || done.SessionToken == nil {
		return "", fmt.Errorf("signing in %s through Kratos: %w", login, kratosErr(resp, errors.Join(err, errors.New("no session token"))))
	}
	return *done.SessionToken, nil
}

// resetPassword gives an existing sample identity the new password and
// its role and scope again (a hand-edited identity is put back).
func (p *People) resetPassword(ctx context.Context, login string, meta map[string]any, pw string) error {
	ids, resp, err := p.Admin.IdentityAPI.ListIdentities(ctx).CredentialsIdentifier(login).Execute()
	if err != nil || len(ids) != 1 {
		return fmt.Errorf("finding identity %s through the Kratos admin API: %d found: %w", login, len(ids), kratosErr(resp, err))
	}
	id := ids[0]
	body := kratos.UpdateIdentityBody{SchemaId: id.SchemaId, State: "active",
		Traits: map[string]any{"email": login, "name": SampleName}, MetadataPublic: meta, MetadataAdmin: id.MetadataAdmin,
		Credentials: &kratos.IdentityWithCredentials{Password: &kratos.IdentityWithCredentialsPassword{
			Config: &kratos.IdentityWithCredentialsPasswordConfig{Password: &pw}}}}
	if _, resp, err := p.Admin.IdentityAPI.UpdateIdentity(ctx, id.Id).UpdateIdentityBody(body).Execute(); err != nil {
		return fmt.Errorf("setting the password of %s through the Kratos admin API: %w", login, kratosErr(resp, err))
	}
	return nil
}

func password() (string, error) {
	b := make([]byte, 18)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

func ptr[T any](v T) *T { return &v }

func kratosErr(resp *http.Response, err error) error {
	if resp != nil && resp.Body != nil {
		b, _ := io.ReadAll(resp.Body)
		if len(b) > 0 {
			return fmt.Errorf("%w: %s", err, bytes.TrimSpace(b))
		}
	}
	return err
}
