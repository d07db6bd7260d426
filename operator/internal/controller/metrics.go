package controller

import (
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
)

func init() {
	metrics.Registry.MustRegister(conditionGauge, villagesGauge)
}

func recordConditionMetrics(kind, name string, conds []metav1.Condition) {
	types := []string{wuxiaov1.ConditionReady, wuxiaov1.ConditionReconciling, wuxiaov1.ConditionStalled}
	if kind == "Town" {
		// Bad rating rules leave a town Ready: alerts need this one too.
		types = append(types, wuxiaov1.ConditionRatingRulesValid)
	}
	if kind == "District" {
		// Nor does a gateway that is down change a District's Ready.
		types = append(types, wuxiaov1.ConditionGatewayReady)
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
