// Package settings names the environment variables through which the
// operator configures the towns' services (and, with api/gateway, the
// district gateway), and the values with a meaning of their own: the
// operator writes them into the Deployments it builds, the services read
// them at start-up (services/internal/config). Both sides import this
// package, so a renamed setting cannot leave one side behind.
package settings

// What every town's service is told by the operator.
const (
	// EnvService is the service's name: workflow, disclosure, complaint or
	// inspection (api/v1alpha1.ServiceName).
	EnvService = "WUXIAO_SERVICE"
	// EnvDistrict and EnvTown are the District's and the Town's object names.
	EnvDistrict = "WUXIAO_DISTRICT"
	EnvTown     = "WUXIAO_TOWN"
	// EnvTownCode is the town's 12-digit administrative division code.
	EnvTownCode = "WUXIAO_TOWN_CODE"
	// EnvCatalogFile is the path of the resolved power catalog (JSON),
	// mounted from the town's ConfigMap.
	EnvCatalogFile = "WUXIAO_CATALOG_FILE"
	// EnvPortalBaseURL is the public portal's address.
	EnvPortalBaseURL = "WUXIAO_PORTAL_BASE_URL"
	// EnvDatabaseURL is the PostgreSQL URL of the town's database: the
	// service's own role, or the migration role's in the init container.
	EnvDatabaseURL = "DATABASE_URL"
	// EnvKafkaBrokers are the Kafka bootstrap servers, comma-separated.
	EnvKafkaBrokers = "KAFKA_BROKERS"
	// EnvKratosPublicURL is Ory Kratos' public API.
	EnvKratosPublicURL = "KRATOS_PUBLIC_URL"
	// EnvTrustedProxies are the CIDRs or addresses, comma-separated, whose
	// X-Forwarded-For is believed.
	EnvTrustedProxies = "WUXIAO_TRUSTED_PROXIES"
	// EnvMigrateOnly ("true") and EnvDatabaseAppRole are the init
	// container's mode: migrate with the migration role, grant the
	// service's role its privileges, exit.
	EnvMigrateOnly     = "WUXIAO_MIGRATE_ONLY"
	EnvDatabaseAppRole = "WUXIAO_DATABASE_APP_ROLE"
	// EnvRatingRules carries the inspection service's rating rules
	// (api/ratingrules, JSON or YAML): content rather than a mounted file,
	// so that a change of the rules changes the pod template and rolls the
	// pods. EnvRatingRulesFile names a file instead (dev, tools).
	EnvRatingRules     = "WUXIAO_RATING_RULES"
	EnvRatingRulesFile = "WUXIAO_RATING_RULES_FILE"
	// EnvCalendarFile is the path of the workflow service's working-day
	// calendar (api/workcalendar), mounted from the town's ConfigMap as a
	// directory so that the kubelet updates it in place; the service
	// re-reads it when it changes (no restart).
	EnvCalendarFile = "WUXIAO_CALENDAR_FILE"
	// EnvDistrictViewTown names, to the inspection service, the town whose
	// instance builds the district overview, or NoDistrictView.
	EnvDistrictViewTown = "WUXIAO_DISTRICT_VIEW_TOWN"
	// EnvTownName is the town's display name (溪口镇), which addresses and
	// signs documents; the object name (xikou) is EnvTown.
	EnvTownName = "WUXIAO_TOWN_NAME"
	// EnvDistrictIssuer and EnvTownIssuer are the discipline commissions
	// that sign the inspection service's notices (中共宁波市奉化区纪律检查委员会,
	// 溪口镇纪委), EnvDocumentPrefix the prefix of their numbers (奉纪):
	// District and Town spec.discipline, defaults resolved by the operator.
	EnvDistrictIssuer = "WUXIAO_DISTRICT_ISSUER"
	EnvTownIssuer     = "WUXIAO_TOWN_ISSUER"
	EnvDocumentPrefix = "WUXIAO_DOCUMENT_PREFIX"
	// EnvTownGroup is the 片组 (District spec.groups[].name) the town is
	// in, empty when in none: every service admits a district official
	// limited to a group only when it is this one (api/identity).
	EnvTownGroup = "WUXIAO_TOWN_GROUP"
)

// Where the services listen: HTTP on HTTPPort, /metrics alone on
// MetricsPort, so that neither the gateway nor the Internet reaches it.
const (
	EnvHTTPAddr    = "HTTP_ADDR"
	EnvMetricsAddr = "METRICS_ADDR"

	HTTPPort           = 8080
	MetricsPort        = 9090
	DefaultHTTPAddr    = ":8080" // ":" + HTTPPort
	DefaultMetricsAddr = ":9090" // ":" + MetricsPort
)

// Tracing: the OpenTelemetry variables the operator sets from the
// District's spec.telemetry.
const (
	EnvOTLPEndpoint       = "OTEL_EXPORTER_OTLP_ENDPOINT"
	EnvOTelServiceName    = "OTEL_SERVICE_NAME"
	EnvOTelResourceAttrs  = "OTEL_RESOURCE_ATTRIBUTES"
	EnvTracesSampler      = "OTEL_TRACES_SAMPLER"
	EnvTracesSamplerArg   = "OTEL_TRACES_SAMPLER_ARG"
	TracesSamplerRatioArg = "parentbased_traceidratio" // EnvTracesSampler's value: EnvTracesSamplerArg is the ratio
)

// The secret keys of a town, each generated once by the operator into a
// Secret of the town's namespace (its value under SecretKeyKey) and never
// rotated: a new ID-hash key would make every stored hash unmatchable, a
// new audit key every audit entry unverifiable.
const (
	// EnvIDHashKey keys the hashes of ID numbers (workflow, disclosure,
	// inspection).
	EnvIDHashKey        = "WUXIAO_ID_HASH_KEY"
	IDHashKeySecretName = "wuxiao-id-hash-key" //nolint:gosec // the Secret's name, not its value
	// EnvChallengeKey signs the proof-of-work challenges of the complaint
	// intake and the workflow's application form.
	EnvChallengeKey        = "WUXIAO_CHALLENGE_KEY"
	ChallengeKeySecretName = "wuxiao-challenge-key"
	// EnvAuditKey keys the workflow's audit chain (workflow, and
	// inspection, which verifies it).
	EnvAuditKey        = "WUXIAO_AUDIT_KEY"
	AuditKeySecretName = "wuxiao-audit-key" //nolint:gosec // the Secret's name, not its value
	// SecretKeyKey is the key of the value in each of these Secrets.
	SecretKeyKey = "key"
)

// NoDistrictView, as the town named to run the district projection
// (EnvDistrictViewTown), says that no town's instance runs it (the town
// the District names does not exist, or the district has no town left).
// It cannot be a town's name (a DNS label), and unlike an empty value it
// never makes every instance run the projection. The operator always sets
// the variable, to a town or to this.
const NoDistrictView = "-"

// RunsDistrictView tells whether town's instance runs the district
// projection, given the town named to run it (EnvDistrictViewTown): only
// that town's instance does, so that the district's topics have one
// consumer, not one per town (each holds a Kafka connection per partition
// of every town's two topics). NoDistrictView: none does. Nothing named
// (unset: a lone instance, tools, tests): it does.
func RunsDistrictView(viewTown, town string) bool {
	return viewTown == "" || (viewTown != NoDistrictView && viewTown == town)
}
