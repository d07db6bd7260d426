// Package settings names the environment variables through which the
// operator configures the services, and the values with a meaning of their
// own: the operator writes them into the Deployments it builds, the
// services read them at start-up. Both sides import this package, so a
// renamed setting cannot leave one side behind.
package settings

const (
	// EnvDistrictViewTown names, to the inspection service, the town whose
	// instance builds the district overview, or NoDistrictView.
	EnvDistrictViewTown = "WUXIAO_DISTRICT_VIEW_TOWN"
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
