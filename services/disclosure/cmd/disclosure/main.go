// Command disclosure runs the town's disclosure service: the village wallets
// ("我们的钱包"), booked by town finance staff and from completed workflow
// processes, and subsidy payments, published with people masked.
// Configuration: flags or the environment the operator sets (see
// services/README.md); --help lists everything.
package main

import (
	"context"
	"os"

	eventsv1 "github.com/wuxiao/wuxiao/api/events/v1"
	"github.com/wuxiao/wuxiao/api/settings"

	"github.com/wuxiao/wuxiao/services/disclosure"
	"github.com/wuxiao/wuxiao/services/internal/config"
	"github.com/wuxiao/wuxiao/services/internal/keys"
	"github.com/wuxiao/wuxiao/services/internal/platform"
)

func main() {
	var (
		base      config.Base
		idHashKey string
	)
	cmd := config.NewRootCommand("disclosure", "Publishes village wallets and subsidy payments", &base,
		func(ctx context.Context) error { return run(ctx, &base, idHashKey) })
	env := base.Env()
	env.String(&idHashKey, "id-hash-key", settings.EnvIDHashKey, "", "secret key for hashing households' ID numbers; at least 32 characters")
	base.AddCheck(func(p *config.Problems) {
		if len(idHashKey) < 32 {
			p.Addf("id-hash-key", settings.EnvIDHashKey, "must be a secret of at least 32 characters (e.g. from `openssl rand -hex 32`)")
		}
	})
	cmd.AddCommand(platform.DeadLettersCommand(&base))
	os.Exit(config.Execute(cmd))
}

func run(ctx context.Context, base *config.Base, idHashKey string) error {
	if base.MigrateOnly { // the init container: migrate as the migration role, grant the service's role
		return platform.Migrate(ctx, base, "disclosure", disclosure.Migrate)
	}
	catalog, err := disclosure.LoadCatalog(base.CatalogFile)
	if err != nil {
		return err
	}
	p, err := platform.Open(ctx, base, "disclosure", disclosure.Migrate)
	if err != nil {
		return err
	}
	defer p.Close(ctx)
	if err := keys.Check(ctx, p.Pool, keys.IDHash.With([]byte(idHashKey))); err != nil {
		return err
	}
	svc := &disclosure.Service{Pool: p.Pool, Town: base.Town, IDHashKey: []byte(idHashKey), Log: p.Log,
		TownCode: base.TownCode, Catalog: catalog, PortalBaseURL: base.PortalBaseURL}
	svc.Routes(p.Server)
	// Completed processes become ledger entries; villages the operator
	// registers get their portal and name.
	// The portal listener spares warm page requests their version read
	// (they fall back to it while it is not listening).
	return p.Run(ctx, eventsv1.StreamDisclosure, []platform.Consume{
		{Stream: eventsv1.StreamWorkflow, Handler: svc.HandleWorkflowEvent},
		{Stream: eventsv1.StreamTenant, Handler: svc.HandleTenantEvent},
	}, svc.ListenPortal)
}
