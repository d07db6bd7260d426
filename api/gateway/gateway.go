// Package gateway is the contract between the operator, which deploys the
// district gateway once per District, and the gateway binary
// (services/gateway): the settings the operator passes as environment
// variables, and what the gateway expects to find in the cluster.
package gateway

import "github.com/wuxiao/wuxiao/api/settings"

// Environment variables the operator sets on the gateway's container;
// those the towns' services share are named in api/settings.
const (
	// EnvDistrict is the District object's name.
	EnvDistrict = settings.EnvDistrict
	// EnvDistrictName is the district's display name (e.g. 奉化区).
	EnvDistrictName = "WUXIAO_DISTRICT_NAME"
	// EnvKratosPublicURL is Kratos' public API as the gateway reaches it.
	EnvKratosPublicURL = settings.EnvKratosPublicURL
	// EnvPublicHosts and EnvStaffHosts are comma-separated host names the
	// public pages and the staff pages (/auth, /console) answer on; empty:
	// every host serves both.
	EnvPublicHosts = "WUXIAO_GATEWAY_PUBLIC_HOSTS"
	EnvStaffHosts  = "WUXIAO_GATEWAY_STAFF_HOSTS"
	// EnvTrustedProxies are the CIDRs whose X-Forwarded-For is believed.
	EnvTrustedProxies = settings.EnvTrustedProxies
	// EnvHTTPAddr is the listen address (default ":8080").
	EnvHTTPAddr = settings.EnvHTTPAddr
	// EnvMetricsAddr is the listen address of /metrics, which the HTTP
	// listener does not serve (default ":9090").
	EnvMetricsAddr = settings.EnvMetricsAddr
	// EnvOTLPEndpoint is the OTLP/HTTP endpoint for traces (optional).
	EnvOTLPEndpoint = settings.EnvOTLPEndpoint
	// EnvTownGroups is the district's 片组 (District spec.groups) as JSON,
	// group name → town names, e.g. {"pian-1":["xikou","jinping"]}; unset
	// when the district defines none. The console shows a district
	// official limited to a group only that group's towns.
	EnvTownGroups = "WUXIAO_GATEWAY_TOWN_GROUPS"
)

// HTTPPort is the gateway container's port (named "http").
const HTTPPort = settings.HTTPPort

// MetricsPort is the gateway container's /metrics port (named "metrics"),
// for the monitoring namespace only.
const MetricsPort = settings.MetricsPort

// ImageName is the gateway image's name under the District's image
// repository, like the towns' services (<repository>/<name>:<version>).
const ImageName = "gateway"

// StaffGatewayLabel, set to "true" on the gateway's namespace, is what the
// towns' staff services' NetworkPolicies admit.
const StaffGatewayLabel = "wuxiao.io/staff-gateway"

// The gateway finds towns from the cluster-scoped Town objects and each
// town's pods from the EndpointSlices of namespace "town-<name>" labelled
// kubernetes.io/service-name=<service> (workflow, disclosure, complaint,
// inspection), so its ServiceAccount needs get/list/watch on
// towns.wuxiao.io and discovery.k8s.io endpointslices, and nothing else.
