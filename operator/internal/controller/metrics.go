package controller

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	wuxiaov1 "github.com/wuxiao/wuxiao/api/v1alpha1"
)

// Tenant metrics in the manner of Capsule: one series per town-level object
// and condition, so that an alert can name the town that is not Ready.
// Villages are counted per town rather than given series of their own:
// 20,000 villages would be 60,000 series nobody looks at.
var (
	conditionGauge = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "wuxiao_resource_condition",
		Help: "Condition of a District, Town or PowerCatalog: 1 True, 0 False, -1 Unknown.",
	}, []string{"kind", "name", "type"})
	villagesGauge = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "wuxiao_town_villages",
		Help: "Villages in a town's namespace, by readiness.",
	}, []string{"town", "ready"})
	// A District's towns as its status counts them: three gauges rather
	// than one with a state label, since their sum means nothing.
	districtTownsGauge = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "wuxiao_district_towns",
		Help: "Towns that name the District.",
	}, []string{"district"})
	districtReadyTownsGauge = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "wuxiao_district_towns_ready",
		Help: "Towns of the District that are Ready.",
	}, []string{"district"})
	districtTownsOnVersionGauge = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "wuxiao_district_towns_on_version",
		Help: "Towns of the District whose services all run the District's spec.services.version.",
	}, []string{"district"})
	// An info metric: joins a town's series to its district and version.
	townInfoGauge = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "wuxiao_town_info",
		Help: "Always 1: a Town, its District and the services version it runs or moves to.",
	}, []string{"town", "district", "version"})
)

func init() {
	metrics.Registry.MustRegister(conditionGauge, villagesGauge,
		districtTownsGauge, districtReadyTownsGauge, districtTownsOnVersionGauge, townInfoGauge)
}

func recordConditionMetrics(kind, name string, conds []metav1.Condition) {
	types := []string{wuxiaov1.ConditionReady, wuxiaov1.ConditionReconciling, wuxiaov1.ConditionStalled}
	if kind == "Town" {
		// Bad rating rules leave a town Ready: alerts need this one too.
		types = append(types, wuxiaov1.ConditionRatingRulesValid, wuxiaov1.ConditionCalendarValid, wuxiaov1.ConditionNotificationsReady)
	}
	if kind == "PowerCatalog" {
		// An item whose controls cannot be met leaves the catalog Ready.
		types = append(types, wuxiaov1.ConditionItemsRunnable)
	}
	if kind == "District" {
		// Nor does a gateway that is down, or a halted rollout, change a
		// District's Ready.
		types = append(types, wuxiaov1.ConditionGatewayReady, wuxiaov1.ConditionRolloutHalted, wuxiaov1.ConditionCalendarValid,
			wuxiaov1.ConditionNotificationsReady)
	}
	for _, t := range types {
		v := -1.0
		for _, c := range conds {
			if c.Type == t {
				switch c.Status {
				case metav1.ConditionTrue:
					v = 1
				case metav1.ConditionFalse:
					v = 0
				}
			}
		}
		conditionGauge.WithLabelValues(kind, name, t).Set(v)
	}
}

func forgetConditionMetrics(kind, name string) {
	conditionGauge.DeletePartialMatch(prometheus.Labels{"kind": kind, "name": name})
}

func recordVillageMetrics(town string, total, ready int32) {
	villagesGauge.WithLabelValues(town, "true").Set(float64(ready))
	villagesGauge.WithLabelValues(town, "false").Set(float64(total - ready))
}

func forgetTownMetrics(town string) {
	forgetConditionMetrics("Town", town)
	villagesGauge.DeletePartialMatch(prometheus.Labels{"town": town})
	townInfoGauge.DeletePartialMatch(prometheus.Labels{"town": town})
	townInfo.Delete(town)
}

func recordDistrictMetrics(d *wuxiaov1.District) {
	districtTownsGauge.WithLabelValues(d.Name).Set(float64(d.Status.Towns))
	districtReadyTownsGauge.WithLabelValues(d.Name).Set(float64(d.Status.ReadyTowns))
	districtTownsOnVersionGauge.WithLabelValues(d.Name).Set(float64(d.Status.TownsOnVersion))
}

func forgetDistrictMetrics(district string) {
	for _, g := range []*prometheus.GaugeVec{districtTownsGauge, districtReadyTownsGauge, districtTownsOnVersionGauge} {
		g.DeleteLabelValues(district)
	}
}

// townInfo is the labels of each town's wuxiao_town_info series.
var townInfo sync.Map // town name -> [2]string{district, version}

// recordTownInfo keeps one wuxiao_town_info series per town: a new
// version or district replaces the old series.
func recordTownInfo(town *wuxiaov1.Town) {
	now := [2]string{town.Spec.District, town.Status.Version}
	if old, ok := townInfo.Swap(town.Name, now); ok && old != now {
		prev := old.([2]string)
		townInfoGauge.DeleteLabelValues(town.Name, prev[0], prev[1])
	}
	townInfoGauge.WithLabelValues(town.Name, now[0], now[1]).Set(1)
}

// rolloutHaltedGauge is 1 while a District's rollout is halted by the
// rollout gate (condition RolloutHalted), else 0: the RolloutHalted alert.
var rolloutHaltedGauge = prometheus.NewGaugeVec(prometheus.GaugeOpts{
	Name: "wuxiao_rollout_halted",
	Help: "1 while the rollout of a District's services version is halted because a town failed the rollout gate (District condition RolloutHalted), else 0.",
}, []string{"district"})

func init() {
	metrics.Registry.MustRegister(rolloutHaltedGauge)
}

func recordRolloutHalted(district string, halted bool) {
	v := 0.0
	if halted {
		v = 1
	}
	rolloutHaltedGauge.WithLabelValues(district).Set(v)
}

func forgetRolloutHalted(district string) {
	rolloutHaltedGauge.DeleteLabelValues(district)
}
