package testinfra

import (
	"testing"
	"time"

	"github.com/wuxiao/wuxiao/services/internal/config"
)

// ServiceBase is the configuration of one service instance (a binary's
// run) of town in district fenghua (town code 330213100000), on the test
// infrastructure: a fresh database, the Kafka brokers, the Kratos public
// API, the sample catalog, free loopback listeners, a 5s shutdown, 1 MiB
// bodies, every trace sampled, errors logged only. Tests change what
// they test.
func ServiceBase(t testing.TB, service, town string) config.Base {
	t.Helper()
	return config.Base{
		Service: service, District: "fenghua", Town: town, TownCode: "330213100000",
		CatalogFile: CatalogFile(t), PortalBaseURL: "https://jiandu.example.cn",
		DatabaseURL: Postgres(t), KafkaBrokers: KafkaBrokers(t),
		KratosPublicURL: Require(t, EnvKratosPublicURL),
		HTTPAddr:        FreeAddr(t), MetricsAddr: FreeAddr(t),
		ShutdownTimeout: 5 * time.Second, MaxBodyBytes: 1 << 20, SamplingRatio: 1, LogLevel: "error",
	}
}
