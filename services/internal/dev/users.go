package main

import (
	"context"
	"errors"
	"fmt"

	kratos "github.com/ory/kratos-client-go"

	"github.com/wuxiao/wuxiao/services/internal/identity"
)

// devUser is a sample user of `make dev-local`, signed in.
type devUser struct {
	Role, Name, Email, Village string
	Token                      string
}

// sampleUsers are the people a developer needs to try every service: the
// village secretary starts processes, town finance books the wallet, town
// discipline handles complaints and inspection.
func sampleUsers(town string) []devUser {
	return []devUser{
		{Role: "secretary", Name: "示例书记", Email: "secretary@" + devVillage + ".dev.wuxiao", Village: devVillage},
		{Role: "town-finance", Name: "示例财务", Email: "finance@" + town + ".dev.wuxiao"},
		{Role: "town-discipline", Name: "示例纪检", Email: "discipline@" + town + ".dev.wuxiao"},
	}
}

const devPassword = "wuxiao-dev-password-2026" //nolint:gosec // the sample users' password in a developer's local Kratos (make dev-local), not a real credential

// signInSampleUsers makes sure the sample users exist (role and scope in
// metadata_public, as the operator sets them) and signs each in.
func signInSampleUsers(ctx context.Context, publicURL, adminURL, town string) ([]devUser, error) {
	admin := identity.NewAdmin(adminURL, nil)
	cfg := kratos.NewConfiguration()
	cfg.Servers = kratos.ServerConfigurations{{URL: publicURL}}
	pub := kratos.NewAPIClient(cfg)
	users := sampleUsers(town)
	for i := range users {
		u := &users[i]
		meta := identity.Metadata{Role: identity.Role(u.Role), Town: town, Village: u.Village}
		if _, err := admin.CreateOfficial(ctx, u.Email, u.Name, meta, devPassword); err != nil && !errors.Is(err, identity.ErrExists) {
			return nil, fmt.Errorf("creating the sample %s: %w", u.Role, err)
		}
		flow, _, err := pub.FrontendAPI.CreateNativeLoginFlow(ctx).Execute()
		if err != nil {
			return nil, fmt.Errorf("login flow: %w", err)
		}
		body := kratos.UpdateLoginFlowWithPasswordMethodAsUpdateLoginFlowBody(kratos.NewUpdateLoginFlowWithPasswordMethod(u.Email, "password", devPassword))
		done, _, err := pub.FrontendAPI.UpdateLoginFlow(ctx).Flow(flow.Id).UpdateLoginFlowBody(body).Execute()
		if err != nil || done.SessionToken == nil {
			return nil, fmt.Errorf("signing in %s: %w", u.Email, errors.Join(err, errNoToken))
		}
		u.Token = *done.SessionToken
	}
	return users, nil
}

func userWithRole(users []devUser, role string) devUser {
	for _, u := range users {
		if u.Role == role {
			return u
		}
	}
	return devUser{}
}
